"""End-to-end: merge, plan and promote against a real registry, checked by raw HTTP and skopeo.

Nothing here trusts the project's own client to check its work: every result is read back
with `support.images.fetch_raw` (urllib) or `skopeo inspect --raw`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.images import fetch_config, fetch_raw, list_tags_raw, push_image, tag_digests

from release_pipeline.cli.app import run

REPO = "testplanit/testplanit"
SOURCE_URL = "https://github.com/testplanit/testplanit"


def sha(n: int) -> str:
    return f"{n:08x}" + "ab" * 16


def push_commit(host, n, *, archs=("amd64", "arm64"), flavor="workers", fmt=False, labels=True):
    """Per-arch images of commit n under F-sha-S-ARCH, as publish-platform leaves them."""
    digests = {}
    for platform in archs:
        arch, _, variant = platform.partition("/")
        tag = "-".join(p for p in (flavor, "sha", sha(n)[:8], arch + variant) if p)
        digests[platform] = push_image(
            host,
            REPO,
            tag,
            arch=arch,
            variant=variant or None,
            docker_format=fmt,
            labels={"org.opencontainers.image.source": SOURCE_URL} if labels else None,
            seed=f"{flavor}{n}",
        )
    return digests


def cli(capsys, *args):
    code = run([*args, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def merge(capsys, host, version, n, *extra):
    return cli(
        capsys, "merge", "--image", f"{host}/{REPO}", "--version", version, "--sha", sha(n), *extra
    )


def promote(capsys, host, *args):
    return cli(capsys, "promote", "--image", f"{host}/{REPO}", *args)


def digest_of(host, tag):
    return fetch_raw(host, REPO, tag)[2]


def skopeo_raw(host, tag):
    out = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{host}/{REPO}:{tag}"],
        check=True,
        capture_output=True,
    )
    return out.stdout


def test_first_release_publishes_every_tag_with_digests_kept(registry, capsys):
    host = registry.host
    per_arch = push_commit(host, 1)
    code, report, err = merge(capsys, host, "v0.22.8", 1)
    assert code == 0, err

    # Per-arch version tags are the very manifests pushed under the SHA tags: digest kept.
    for platform, arch in (("amd64", "amd64"), ("arm64", "arm64")):
        for tag in (f"0.22.8-workers-{arch}", f"v0.22.8-workers-{arch}"):
            assert digest_of(host, tag) == per_arch[platform]
    # One index, the same digest under the SHA, version and latest tags.
    index_tags = ["workers-sha-00000001", "0.22.8-workers", "v0.22.8-workers", "latest-workers"]
    digests = {digest_of(host, t) for t in index_tags}
    assert digests == {report["index_digest"]}
    raw = skopeo_raw(host, "0.22.8-workers")
    index = json.loads(raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    children = {(c["platform"]["os"], c["platform"]["architecture"]): c for c in index["manifests"]}
    assert set(children) == {("linux", "amd64"), ("linux", "arm64")}
    for (_, arch), child in children.items():
        assert child["digest"] == per_arch[arch]
        body, media_type, _ = fetch_raw(host, REPO, child["digest"])
        assert child["size"] == len(body) and child["mediaType"] == media_type
        assert fetch_config(host, REPO, child["digest"])["architecture"] == arch
    assert index["annotations"] == {
        "org.opencontainers.image.revision": sha(1),
        "org.opencontainers.image.source": SOURCE_URL,
    }

    assert report["version"] == "0.22.8" and report["sha"] == sha(1)
    assert report["platforms"] == {
        "linux/amd64": per_arch["amd64"],
        "linux/arm64": per_arch["arm64"],
    }
    assert report["pinned"] == f"{host}/{REPO}@{report['index_digest']}"
    assert report["latest_moved"] is True and report["dry_run"] is False
    assert set(report["tags"]) == set(list_tags_raw(host, REPO))
    assert report["tags"]["latest-workers"] == report["index_digest"]
    assert sorted(report["written"]) == sorted(
        set(report["tags"]) - {"workers-sha-00000001-amd64", "workers-sha-00000001-arm64"}
    )


def test_rerun_writes_nothing_and_reports_the_same(registry, proxy_factory, capsys):
    push_commit(registry.host, 1)
    code, first, _ = merge(capsys, registry.host, "1.0.0", 1)
    assert code == 0
    proxy = proxy_factory(registry.host)
    code, again, _ = cli(
        capsys, "merge", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0
    assert [m for m, _ in proxy.counted() if m in ("PUT", "POST", "PATCH", "DELETE")] == []
    assert again["written"] == [] and again["latest_moved"] is False
    assert again["index_digest"] == first["index_digest"]
    assert {k: v for k, v in again["tags"].items()} == first["tags"]
    assert "already points" in again["latest_reason"]


def test_latest_moves_for_newer_stays_for_older_and_prerelease(registry, capsys):
    host = registry.host
    for n in (1, 2, 3, 4):
        push_commit(host, n)
    assert merge(capsys, host, "1.1.0", 1)[1]["latest_moved"] is True
    first = digest_of(host, "latest-workers")

    code, older, _ = merge(capsys, host, "1.0.5", 2)
    assert code == 0 and older["latest_moved"] is False
    assert "1.1.0 is newer" in older["latest_reason"]
    assert digest_of(host, "1.0.5-workers") == older["index_digest"]
    assert digest_of(host, "latest-workers") == first

    code, pre, _ = merge(capsys, host, "2.0.0-rc.1", 3)
    assert code == 0 and pre["latest_moved"] is False and "prerelease" in pre["latest_reason"]
    assert digest_of(host, "2.0.0-rc.1-workers") == pre["index_digest"]
    assert "latest-workers" not in pre["tags"]
    assert digest_of(host, "latest-workers") == first

    code, newer, _ = merge(capsys, host, "1.2.0", 4)
    assert code == 0 and newer["latest_moved"] is True
    assert digest_of(host, "latest-workers") == newer["index_digest"]


def test_rc_then_final_from_one_commit_promotes_the_tested_images(registry, capsys):
    push_commit(registry.host, 7)
    _, rc, _ = merge(capsys, registry.host, "3.0.0-rc.1", 7)
    code, final, _ = merge(capsys, registry.host, "3.0.0", 7)
    assert code == 0
    assert final["index_digest"] == rc["index_digest"]
    assert final["platforms"] == rc["platforms"]
    assert "workers-sha-00000007" in final["unchanged"]
    assert digest_of(registry.host, "latest-workers") == rc["index_digest"]


def test_overwrite_of_an_immutable_tag_is_refused_and_writes_nothing(registry, capsys):
    host = registry.host
    push_commit(host, 1)
    push_commit(host, 2)
    _, first, _ = merge(capsys, host, "1.0.0", 1)
    before = tag_digests(host, REPO)

    code, _, err = merge(capsys, host, "1.0.0", 2)  # same version, other commit
    assert code == 1
    assert "1.0.0-workers" in err and first["index_digest"] in err
    assert f"1.0.0-workers-amd64 is {first['platforms']['linux/amd64']}" in err
    after = tag_digests(host, REPO)
    assert after == before

    code, forced, err = merge(capsys, host, "1.0.0", 2, "--force")
    assert code == 0, err
    assert digest_of(host, "1.0.0-workers") == forced["index_digest"] != first["index_digest"]
    assert forced["replaced"]["1.0.0-workers"] == first["index_digest"]


def test_plan_writes_nothing_and_exits_like_merge(registry, proxy_factory, capsys):
    host = registry.host
    push_commit(host, 1)
    push_commit(host, 2)
    proxy = proxy_factory(host)
    code, planned, _ = cli(
        capsys, "plan", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0 and planned["dry_run"] is True
    assert {m for m, _ in proxy.counted()} <= {"GET", "HEAD"}
    assert list_tags_raw(host, REPO) == sorted(
        [
            "workers-sha-00000001-amd64",
            "workers-sha-00000001-arm64",
            "workers-sha-00000002-amd64",
            "workers-sha-00000002-arm64",
        ]
    )
    _, merged, _ = merge(capsys, host, "1.0.0", 1)
    assert sorted(planned["written"]) == sorted(merged["written"])
    assert planned["index_digest"] == merged["index_digest"]
    code, _, err = cli(
        capsys, "plan", "--image", f"{host}/{REPO}", "--version", "1.0.0", "--sha", sha(2)
    )
    assert code == 1 and "1.0.0-workers" in err


def test_rollback_sticks_until_a_newer_version(registry, capsys):
    host = registry.host
    for n in (1, 2, 3):
        push_commit(host, n)
    _, good, _ = merge(capsys, host, "1.0.0", 1)
    _, bad, _ = merge(capsys, host, "1.1.0", 2)
    assert digest_of(host, "latest-workers") == bad["index_digest"]

    code, rollback, err = promote(capsys, host, "--from", "1.0.0-workers")
    assert code == 0, err
    assert rollback["yanked"] == ["1.1.0"] and rollback["version"] == "1.0.0"
    assert digest_of(host, "latest-workers") == good["index_digest"] == rollback["digest"]
    assert digest_of(host, "1.1.0-workers-yanked") == bad["index_digest"]

    code, rerun, _ = merge(capsys, host, "1.1.0", 2)  # a CI retry of the broken release
    assert code == 0 and rerun["latest_moved"] is False and "yanked" in rerun["latest_reason"]
    assert digest_of(host, "latest-workers") == good["index_digest"]

    code, fixed, _ = merge(capsys, host, "1.1.1", 3)
    assert code == 0 and fixed["latest_moved"] is True
    assert digest_of(host, "latest-workers") == fixed["index_digest"]


def test_promote_by_digest_finds_the_version_and_can_move_other_floating_tags(registry, capsys):
    host = registry.host
    push_commit(host, 1)
    push_commit(host, 2)
    _, one, _ = merge(capsys, host, "1.0.0", 1)
    merge(capsys, host, "2.0.0", 2)
    code, by_digest, err = promote(capsys, host, "--from", one["index_digest"])
    assert code == 0, err
    assert by_digest["version"] == "1.0.0" and by_digest["yanked"] == ["2.0.0"]
    code, canary, _ = promote(
        capsys,
        host,
        "--from",
        "2.0.0-workers",
        "--to",
        "canary-workers",
    )
    assert code == 0 and canary["yanked"] == []
    assert digest_of(host, "canary-workers") == digest_of(host, "2.0.0-workers")
    code, _, err = promote(
        capsys,
        host,
        "--from",
        "2.0.0-workers",
        "--to",
        "1.0.0-workers",
    )
    assert code == 2 and "invalid to" in err


def test_a_wrongly_built_arch_is_refused_before_any_write(registry, capsys):
    host = registry.host
    push_image(host, REPO, "workers-sha-00000001-amd64", arch="amd64", seed="a")
    push_image(host, REPO, "workers-sha-00000001-arm64", arch="amd64", seed="b")  # wrong arch
    code, _, err = merge(capsys, host, "1.0.0", 1)
    assert code == 1
    assert "linux/amd64, not linux/arm64" in err and "nothing written" in err
    assert len(list_tags_raw(host, REPO)) == 2


def test_a_missing_platform_image_is_a_clear_error(registry, capsys):
    push_commit(registry.host, 1, archs=("amd64",))
    code, _, err = merge(capsys, registry.host, "1.0.0", 1)
    assert code == 1 and "workers-sha-00000001-arm64" in err and "publish-platform" in err


def test_docker_children_make_a_docker_manifest_list(registry, capsys):
    host = registry.host
    push_commit(host, 1, fmt=True)
    code, report, _ = merge(capsys, host, "1.0.0", 1)
    assert code == 0
    body, media_type, digest = fetch_raw(host, REPO, "1.0.0-workers")
    assert media_type == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert digest == report["index_digest"] and "annotations" not in json.loads(body)


def test_production_flavor_and_extra_platforms(registry, capsys):
    host = registry.host
    digests = push_commit(host, 1, flavor="", archs=("amd64", "arm/v7", "ppc64le"))
    code, report, err = cli(
        capsys,
        "merge",
        "--image",
        f"{host}/{REPO}",
        "--version",
        "2.1.0",
        "--sha",
        sha(1),
        "--flavor",
        "",
        "--platform",
        "linux/amd64",
        "--platform",
        "linux/arm/v7",
        "--platform",
        "linux/ppc64le",
    )
    assert code == 0, err
    assert digest_of(host, "2.1.0-armv7") == digests["arm/v7"]
    assert digest_of(host, "latest") == digest_of(host, "sha-00000001") == report["index_digest"]
    index = json.loads(skopeo_raw(host, "v2.1.0"))
    platforms = {
        (c["platform"]["architecture"], c["platform"].get("variant")) for c in index["manifests"]
    }
    assert platforms == {("amd64", None), ("arm", "v7"), ("ppc64le", None)}


def test_tag_list_pagination_sees_a_newer_version_on_a_later_page(registry, proxy_factory, capsys):
    host = registry.host
    for n in (1, 2):
        push_commit(host, n)
    merge(capsys, host, "9.0.0", 2)  # '9.0.0-workers' sorts after the first page
    proxy = proxy_factory(host, page_size=3)
    code, report, err = cli(
        capsys, "merge", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0, err
    assert report["latest_moved"] is False and "9.0.0 is newer" in report["latest_reason"]
    listings = [p for m, p in proxy.counted() if "/tags/list" in p]
    assert len(listings) >= 3 and any("last=" in p for p in listings)


def test_first_release_request_budget(registry, proxy_factory, capsys):
    push_commit(registry.host, 1)
    proxy = proxy_factory(registry.host)
    code, _, _ = cli(
        capsys, "merge", "--image", f"{proxy.host}/{REPO}", "--version", "1.0.0", "--sha", sha(1)
    )
    assert code == 0
    requests = proxy.counted()
    assert len(requests) <= 15, requests
    # No layer is moved: the only blobs read are the two small configs.
    assert len([p for _, p in requests if "/blobs/" in p]) == 2


def test_console_script_runs_as_a_module(registry):
    push_commit(registry.host, 1)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "release_pipeline",
            "merge",
            "--image",
            f"{registry.host}/{REPO}",
            "--version",
            "1.0.0",
            "--sha",
            sha(1),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "latest-workers" in done.stdout and "pinned:" in done.stdout


@pytest.mark.parametrize(
    "argv",
    [
        ["merge", "--image", "127.0.0.1:1/x", "--version", "1.2", "--sha", "a" * 40],
        ["plan", "--image", "127.0.0.1:1/x", "--version", "1.2.3", "--sha", "abc"],
    ],
)
def test_invalid_input_exits_2_before_contacting_anything(argv, capsys):
    assert run(argv) == 2  # port 1 has no registry: any request would fail with exit 1
    assert "invalid" in capsys.readouterr().err
