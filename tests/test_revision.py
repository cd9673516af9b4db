"""The revision rule of `merge`, on the real registry, through the CLI and the Dagger module.

Per-arch images whose `org.opencontainers.image.revision` label names another commit are
refused before any write; images with no label are merged and reported unverified; a
re-run stays cheap and still catches an image swapped under a SHA tag.
"""

from __future__ import annotations

import json

import pytest
from buildx_refs import push_buildx_arch
from dagger.mod._exceptions import FunctionError
from support.images import copy_all_to_layout, fetch_raw, push_image, tag_digests
from test_dagger_module import call
from test_release_e2e import REPO, cli, merge, sha

from release_pipeline.cli.app import run
from release_pipeline.errors import InvalidInput, RevisionMismatch

REVISION = "org.opencontainers.image.revision"


def sha_arch(n, arch):
    return f"workers-sha-{sha(n)[:8]}-{arch}"


def push(host, n, arch, revision, *, buildx=False, seed=""):
    """One per-arch image of commit n's tag, labelled `revision` (None: no label)."""
    tag, seed = sha_arch(n, arch), seed or f"{arch}{revision}"
    if buildx:
        return push_buildx_arch(host, REPO, tag, arch=arch, revision=revision, seed=seed).index
    labels = {REVISION: revision} if revision else None
    return push_image(host, REPO, tag, arch=arch, labels=labels, seed=seed)


@pytest.mark.parametrize("buildx", [False, True], ids=["image", "buildx-index"])
def test_images_of_another_commit_are_refused_and_nothing_is_written(registry, capsys, buildx):
    host = registry.host
    push(host, 1, "amd64", sha(1), buildx=buildx)
    push(host, 1, "arm64", sha(2), buildx=buildx)
    before = tag_digests(host, REPO)
    for extra in ((), ("--force",)):  # --force overwrites tags; it never mislabels commits
        code, _, err = merge(capsys, host, "1.0.0", 1, *extra)
        assert code == 1
        assert f"{sha_arch(1, 'arm64')} has {REVISION}={sha(2)}, expected {sha(1)}" in err
        assert "nothing written" in err and sha_arch(1, "amd64") not in err
    code, _, err = cli(
        capsys, "plan", "--image", f"{host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 1 and sha(2) in err
    assert tag_digests(host, REPO) == before


def test_unlabelled_images_are_merged_and_reported_unverified(registry, proxy_factory, capsys):
    host = registry.host
    push(host, 1, "amd64", None)  # another build tool, no revision label
    push(host, 1, "arm64", sha(1))
    code, report, err = merge(capsys, host, "1.0.0", 1)
    assert code == 0, err
    assert report["revision_unverified"] == [sha_arch(1, "amd64")]
    # The index records which children were checked against the commit, and which had no
    # revision label (so status reads nothing more).
    children = json.loads(fetch_raw(host, REPO, "1.0.0-workers")[0])["manifests"]
    recorded = {c["platform"]["architecture"]: c.get("annotations") for c in children}
    unlabelled = {"dev.release-pipeline.no-revision-label": "true"}
    assert recorded == {"amd64": unlabelled, "arm64": {REVISION: sha(1)}}

    # A re-run reads no config (11 requests, no writes) and reports the same.
    proxy = proxy_factory(host)
    code, again, _ = cli(
        capsys, "merge", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0 and len(proxy.counted()) == 11
    assert not [p for _, p in proxy.counted() if "/blobs/" in p]
    assert again["written"] == [] and again["revision_unverified"] == [sha_arch(1, "amd64")]

    # The same commit as another version writes tags, so the configs are read again.
    code, final, _ = merge(capsys, host, "1.0.1", 1)
    assert code == 0 and final["revision_unverified"] == [sha_arch(1, "amd64")]
    assert final["index_digest"] == report["index_digest"]

    # The table says it too.
    assert run(["plan", "--image", f"{host}/{REPO}", "--version", "1.0.1", "--sha", sha(1)]) == 0
    table = capsys.readouterr().out
    assert f"revision not verified (no {REVISION} label): {sha_arch(1, 'amd64')}" in table


def test_a_rerun_still_refuses_an_image_swapped_under_a_sha_tag(registry, capsys):
    host = registry.host
    push(host, 1, "amd64", sha(1))
    push(host, 1, "arm64", sha(1))
    code, _, _ = merge(capsys, host, "1.0.0", 1)
    assert code == 0
    push(host, 1, "arm64", sha(2))  # e.g. a publish with --force from another commit
    before = tag_digests(host, REPO)
    code, _, err = merge(capsys, host, "1.0.0", 1)
    assert code == 1 and f"{REVISION}={sha(2)}, expected {sha(1)}" in err
    assert tag_digests(host, REPO) == before


async def test_the_dagger_merge_applies_the_same_rule(registry):
    host, state = registry.host, {"image": f"{registry.host}/{REPO}"}
    push(host, 1, "amd64", sha(1), buildx=True)
    push(host, 1, "arm64", sha(2))
    before = tag_digests(host, REPO)
    with pytest.raises(FunctionError) as err:
        await call(state, "merge", {"version": "1.0.0", "sha": sha(1)})
    assert isinstance(err.value.__cause__, RevisionMismatch)
    assert err.value.__cause__.mismatches == [(sha_arch(1, "arm64"), sha(2))]
    assert tag_digests(host, REPO) == before

    push(host, 3, "amd64", None, buildx=True)
    push(host, 3, "arm64", sha(3))
    url = "https://github.com/testplanit/testplanit"
    with pytest.raises(FunctionError) as bad:
        await call(state, "plan", {"version": "3.0.0", "sha": sha(3), "source_url": "ftp://x"})
    assert isinstance(bad.value.__cause__, InvalidInput)
    assert bad.value.__cause__.field == "source_url"
    merged = await call(state, "merge", {"version": "3.0.0", "sha": sha(3), "source_url": url})
    assert merged["revision_unverified"] == [sha_arch(3, "amd64")]
    assert json.loads(merged["json"])["revision_unverified"] == [sha_arch(3, "amd64")]
    index = json.loads(fetch_raw(host, REPO, "3.0.0-workers")[0])
    assert index["annotations"]["org.opencontainers.image.source"] == url


def test_labelled_docker_images_make_a_list_real_clients_copy(registry, capsys, tmp_path):
    host = registry.host
    for arch in ("amd64", "arm64"):
        push_image(
            host, REPO, sha_arch(1, arch), arch=arch, labels={REVISION: sha(1)}, docker_format=True
        )
    code, report, err = merge(capsys, host, "1.0.0", 1)
    assert code == 0 and report["revision_unverified"] == [], err
    body, media_type, _ = fetch_raw(host, REPO, "1.0.0-workers")
    assert media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert [c["annotations"] for c in json.loads(body)["manifests"]] == [{REVISION: sha(1)}] * 2
    layout = tmp_path / "layout"
    copy_all_to_layout(host, REPO, "1.0.0-workers", layout)
    # skopeo parsed the list (annotated children included) and copied both platforms; an OCI
    # layout holds OCI manifests, so it converted them and their digests change.
    top = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    copied = json.loads((layout / "blobs" / "sha256" / top.split(":")[1]).read_text())
    assert sorted(m["platform"]["architecture"] for m in copied["manifests"]) == [
        "amd64",
        "arm64",
    ]


def test_a_hostile_label_cannot_write_workflow_commands_into_the_log(registry, capsys):
    host = registry.host
    push(host, 1, "amd64", sha(1))
    push(host, 1, "arm64", "::error title=x::pwned\n::add-mask::" + "y" * 200)
    code, _, err = merge(capsys, host, "1.0.0", 1)
    assert code == 1 and sha_arch(1, "arm64") in err and "pwned" in err
    assert "::" not in err and "y" * 100 not in err
