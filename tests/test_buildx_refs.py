"""Per-arch refs as `docker buildx` pushes them (an index: the image plus its provenance
attestation), merged, re-run, promoted and rolled back on the real registry.

Results are read back by raw HTTP and by skopeo; the refs are written by raw HTTP in
exactly buildx's shape (tests/buildx_refs.py).
"""

from __future__ import annotations

import json

import pytest
from buildx_refs import ATTESTATION_DIGEST, ATTESTATION_TYPE, push_buildx_arch
from support.images import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    copy_all_to_layout,
    fetch_raw,
    tag_digests,
)
from test_release_e2e import REPO, cli, digest_of, merge, promote, sha

ARCHS = ("amd64", "arm64")


def push_buildx_commit(host, n, **kwargs):
    """Both platforms of commit n under workers-sha-S-ARCH, labelled with the commit."""
    return {
        arch: push_buildx_arch(
            host,
            REPO,
            f"workers-sha-{sha(n)[:8]}-{arch}",
            arch=arch,
            revision=sha(n),
            seed=f"buildx{n}",
            **kwargs,
        )
        for arch in ARCHS
    }


def test_buildx_refs_merge_keep_attestations_rerun_promote_and_roll_back(
    registry, proxy_factory, capsys, tmp_path
):
    host = registry.host
    one, two = push_buildx_commit(host, 1), push_buildx_commit(host, 2)
    code, report, err = merge(capsys, host, "1.0.0", 1)
    assert code == 0, err

    # Per-arch version tags hold the buildx index itself, digest kept; the report says so.
    for arch, ref in one.items():
        for tag in (f"1.0.0-workers-{arch}", f"v1.0.0-workers-{arch}"):
            assert digest_of(host, tag) == ref.index
        assert report["platforms"][f"linux/{arch}"] == ref.index
    assert report["revision_unverified"] == []

    # The multi-arch index lists the platform images, then their attestations, as buildx
    # itself orders them, each attestation still naming its image.
    body, media_type, index_digest = fetch_raw(host, REPO, "1.0.0-workers")
    assert (media_type, index_digest) == (OCI_INDEX, report["index_digest"])
    entries = json.loads(body)["manifests"]
    images, attestations = entries[:2], entries[2:]
    assert [(e["digest"], e["platform"]["architecture"]) for e in images] == [
        (one[a].image, a) for a in ARCHS
    ]
    assert [e["digest"] for e in attestations] == [one[a].attestation for a in ARCHS]
    for entry in attestations:
        assert entry["platform"] == {"architecture": "unknown", "os": "unknown"}
        assert entry["annotations"][ATTESTATION_TYPE] == "attestation-manifest"
    assert [e["annotations"][ATTESTATION_DIGEST] for e in attestations] == [
        one[a].image for a in ARCHS
    ]
    for entry in entries:  # every child is in the registry, with the size the index says
        raw, child_type, digest = fetch_raw(host, REPO, entry["digest"])
        assert (digest, len(raw), child_type) == (entry["digest"], entry["size"], OCI_MANIFEST)

    # skopeo copies the whole release, every child included, into an OCI layout.
    layout = tmp_path / "layout"
    copy_all_to_layout(host, REPO, "1.0.0-workers", layout)
    blobs = {f"sha256:{p.name}" for p in (layout / "blobs" / "sha256").iterdir()}
    assert {e["digest"] for e in entries} | {index_digest} <= blobs
    copied = json.loads((layout / "index.json").read_text())["manifests"]
    assert [m["digest"] for m in copied] == [index_digest]

    # A re-run writes nothing and costs one request more per platform than plain images.
    proxy = proxy_factory(host)
    code, again, err = cli(
        capsys, "merge", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0, err
    methods = [m for m, _ in proxy.counted()]
    assert [m for m in methods if m not in ("GET", "HEAD")] == []
    assert len(methods) == 11 + len(ARCHS)
    assert again["written"] == [] and again["index_digest"] == report["index_digest"]
    assert again["revision_unverified"] == []

    # A newer release, then a rollback to 1.0.0 and a roll-forward by a newer version.
    code, newer, _ = merge(capsys, host, "1.1.0", 2)
    assert code == 0 and newer["latest_moved"] is True
    assert newer["platforms"]["linux/arm64"] == two["arm64"].index
    code, rollback, err = promote(capsys, host, "--from", "1.0.0-workers")
    assert code == 0, err
    assert rollback["yanked"] == ["1.1.0"]
    assert digest_of(host, "latest-workers") == report["index_digest"]
    code, _, err = promote(capsys, host, "--from", "1.1.0-workers-amd64")
    assert code == 2 and "invalid from" in err and "per-arch" in err
    assert digest_of(host, "latest-workers") == report["index_digest"]


def test_a_docker_list_with_one_image_and_its_attestation_is_accepted(registry, capsys):
    host = registry.host
    refs = push_buildx_commit(host, 3, index_type=DOCKER_LIST)
    code, report, err = merge(capsys, host, "3.0.0", 3)
    assert code == 0, err
    assert digest_of(host, "3.0.0-workers-amd64") == refs["amd64"].index
    assert report["platforms"]["linux/amd64"] == refs["amd64"].index
    children = json.loads(fetch_raw(host, REPO, "3.0.0-workers")[0])["manifests"]
    assert {c["digest"] for c in children} == {
        d for r in refs.values() for d in (r.image, r.attestation)
    }


@pytest.mark.parametrize(
    "shape,message",
    [
        ({"images": 2}, "index of 2 platform images"),
        ({"subject": "sha256:" + "0" * 64}, "not the image"),
    ],
)
def test_a_refused_per_arch_index_writes_nothing(registry, capsys, shape, message):
    host = registry.host
    push_buildx_arch(
        host, REPO, f"workers-sha-{sha(4)[:8]}-amd64", arch="amd64", revision=sha(4), seed="a"
    )
    push_buildx_arch(
        host,
        REPO,
        f"workers-sha-{sha(4)[:8]}-arm64",
        arch="arm64",
        revision=sha(4),
        seed="b",
        **shape,
    )
    before = tag_digests(host, REPO)
    code, _, err = merge(capsys, host, "4.0.0", 4)
    assert code == 1 and message in err and f"workers-sha-{sha(4)[:8]}-arm64" in err
    assert tag_digests(host, REPO) == before


def test_source_url_sets_the_index_annotation(registry, capsys):
    host = registry.host
    push_buildx_commit(host, 5)
    url = "https://github.com/testplanit/testplanit"
    code, planned, err = cli(
        capsys, "plan", "--image", f"{host}/{REPO}", "--version", "5.0.0", "--sha", sha(5),
        "--source-url", url,
    )  # fmt: skip
    assert code == 0, err
    code, merged, err = merge(capsys, host, "5.0.0", 5, "--source-url", url)
    assert code == 0, err
    assert merged["index_digest"] == planned["index_digest"]
    annotations = json.loads(fetch_raw(host, REPO, "5.0.0-workers")[0])["annotations"]
    assert annotations == {
        "org.opencontainers.image.revision": sha(5),
        "org.opencontainers.image.source": url,
    }


@pytest.mark.parametrize(
    "url", ["ftp://example.org/x", "https://user:token@github.com/a/b", "not a url"]
)
def test_a_bad_source_url_exits_2_before_any_request(capsys, url):
    # Port 1 has no registry: a request would fail with exit 1, not 2.
    code, _, err = cli(
        capsys, "merge", "--image", f"127.0.0.1:1/{REPO}", "--version", "1.0.0", "--sha", sha(1),
        "--source-url", url,
    )  # fmt: skip
    assert code == 2 and "invalid source_url" in err and "token" not in err


def test_immutability_holds_for_buildx_refs(registry, capsys):
    host = registry.host
    first = push_buildx_commit(host, 6)
    push_buildx_commit(host, 7)
    code, report, _ = merge(capsys, host, "6.0.0", 6)
    assert code == 0
    before = tag_digests(host, REPO)
    code, _, err = merge(capsys, host, "6.0.0", 7)  # same version, another commit
    assert code == 1 and f"6.0.0-workers-amd64 is {first['amd64'].index}" in err
    assert f"6.0.0-workers is {report['index_digest']}" in err
    assert tag_digests(host, REPO) == before
