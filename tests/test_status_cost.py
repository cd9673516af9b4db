"""Where `status` reads a version's revision and creation time, and what that costs.

`merge` records on each image's entry of the index it writes what it read from that image's
config: the revision once checked against the commit, and the `created` label. So `status`
reads a version merge released with one request. Versions merge did not write (an index by
other tools, a version tag holding one image) and images without a revision label have their
labels read from an image and its config. Expected values come from the seeds and from raw
HTTP of the configs (support.images), never from the client under test.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import ProxyFactory
from seeding import seed_commit
from support.commands import run_json as run
from support.commands import sha_of
from support.images import OCI_INDEX, fetch_config, fetch_raw, push_image, put_manifest_raw
from support.proxy import WRITE_METHODS
from support.registry import Registry

REPO = "status/cost"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
NO_REVISION_LABEL = "dev.release-pipeline.no-revision-label"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def merge(capsys: pytest.CaptureFixture[str], host: str, version: str, commit: str) -> Any:
    code, report, err = run(
        capsys, "merge", f"--image={host}/{REPO}", f"--version={version}", f"--sha={sha_of(commit)}"
    )
    assert code == 0, err
    return report


def push_docker_commit(host: str, commit: str, labels: dict[str, str]) -> None:
    """Docker schema 2 images, as `docker build` pushes them: merge makes a Docker list."""
    for arch in ("amd64", "arm64"):
        tag = f"workers-sha-{sha_of(commit)[:8]}-{arch}"
        push_image(host, REPO, tag, arch=arch, labels=labels, docker_format=True, seed=commit)


def entries(host: str, tag: str) -> list[dict[str, Any]]:
    manifests: list[dict[str, Any]] = json.loads(fetch_raw(host, REPO, tag)[0])["manifests"]
    return manifests


def labels_of(host: str, image_digest: str) -> dict[str, str]:
    """An image's config labels, by raw HTTP."""
    labels: dict[str, str] = fetch_config(host, REPO, image_digest)["config"]["Labels"]
    return labels


def kinds(requests: list[tuple[str, str]]) -> dict[str, int]:
    """Requests by kind, as the benchmark counts them."""
    counted = {"listing": 0, "HEAD": 0, "manifest GET": 0, "blob GET": 0, "write": 0}
    for method, path in requests:
        if method in WRITE_METHODS:
            counted["write"] += 1
        elif "/tags/list" in path:
            counted["listing"] += 1
        elif method == "HEAD":
            counted["HEAD"] += 1
        else:
            counted["manifest GET" if "/manifests/" in path else "blob GET"] += 1
    return counted


def test_status_of_released_versions_costs_one_request_per_version(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = registry.host
    created = {
        "a": "2026-01-01T00:00:00Z",
        "b": None,  # the images carry no created label
        "c": "2026-03-01T00:00:00Z",
        "d": "2026-04-01T00:00:00Z",
    }
    releases = {"1.0.0": "a", "1.1.0": "b", "1.2.0-rc.1": "c", "1.2.0": "c", "2.0.0": "d"}
    for commit, time in created.items():
        labels = {} if time is None else {CREATED: time}
        if commit == "d":
            push_docker_commit(host, commit, {REVISION: sha_of(commit), **labels})
        else:
            seed_commit(host, REPO, sha_of(commit), labels=labels)
    for version, commit in releases.items():
        merge(capsys, host, version, commit)
    assert fetch_raw(host, REPO, "2.0.0-workers")[1] == DOCKER_LIST

    proxy = proxy_factory(host)
    code, report, err = run(capsys, "status", f"--image={proxy.host}/{REPO}")
    assert code == 0, err
    assert [v["version"] for v in report["versions"]] == [
        "2.0.0",
        "1.2.0",
        "1.2.0-rc.1",
        "1.1.0",
        "1.0.0",
    ]
    # One listing, one HEAD of latest-workers, one GET of each version's index: nothing else.
    requests = proxy.counted()
    assert kinds(requests) == {
        "listing": 1,
        "HEAD": 1,
        "manifest GET": len(releases),
        "blob GET": 0,
        "write": 0,
    }
    assert len(requests) == 1 + 1 + len(report["versions"])

    for row in report["versions"]:
        commit = releases[row["version"]]
        body, _, digest = fetch_raw(host, REPO, f"{row['version']}-workers")
        assert row["digest"] == digest
        for entry in json.loads(body)["manifests"]:  # every platform's config says the same
            labels = labels_of(host, entry["digest"])
            assert row["revision"] == labels[REVISION] == sha_of(commit), row
            assert row["created"] == labels.get(CREATED) == created[commit], row


def test_versions_merge_did_not_write_have_their_labels_read_from_the_images(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    host = registry.host
    times = {c: f"2026-0{i}-01T00:00:00Z" for i, c in enumerate("abcd", start=1)}
    # 1.0.0: released by merge.
    seed_commit(host, REPO, sha_of("a"), labels={CREATED: times["a"]})
    merge(capsys, host, "1.0.0", "a")
    # 2.0.0: an index written by other tools, plain entries (as `imagetools create` makes).
    images = seed_commit(host, REPO, sha_of("b"), labels={CREATED: times["b"]})
    children = []
    for arch, digest in images.items():
        body, media_type, _ = fetch_raw(host, REPO, digest)
        platform = {"architecture": arch, "os": "linux"}
        children.append(
            {"mediaType": media_type, "digest": digest, "size": len(body), "platform": platform}
        )
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": children})
    put_manifest_raw(host, REPO, "2.0.0-workers", index.encode(), OCI_INDEX)
    # 3.0.0: a version tag holding one image, put there by hand.
    single = seed_commit(host, REPO, sha_of("c"), labels={CREATED: times["c"]})["amd64"]
    put_manifest_raw(host, REPO, "3.0.0-workers", *fetch_raw(host, REPO, single)[:2])
    # 4.0.0: released by merge from images with no revision label: their entries record
    # that, and the created time, so status needs nothing more than the index.
    for arch in ("amd64", "arm64"):
        tag = f"workers-sha-{sha_of('d')[:8]}-{arch}"
        push_image(host, REPO, tag, arch=arch, labels={CREATED: times["d"]}, seed="d")
    unverified = merge(capsys, host, "4.0.0", "d")["revision_unverified"]
    assert len(unverified) == 2
    assert [e["annotations"] for e in entries(host, "4.0.0-workers")] == [
        {NO_REVISION_LABEL: "true", CREATED: times["d"]}
    ] * 2

    proxy = proxy_factory(host)
    code, report, err = run(capsys, "status", f"--image={proxy.host}/{REPO}")
    assert code == 0, err
    got = [(v["version"], v["revision"], v["created"]) for v in report["versions"]]
    assert got == [
        ("4.0.0", sha_of("d"), times["d"]),  # revision: the index's annotation
        ("3.0.0", sha_of("c"), times["c"]),
        ("2.0.0", sha_of("b"), times["b"]),
        ("1.0.0", sha_of("a"), times["a"]),
    ]
    assert labels_of(host, single) == {REVISION: sha_of("c"), CREATED: times["c"]}
    # Per version: its index, then (not for 1.0.0 and 4.0.0, which merge wrote) a platform
    # image, unless the version tag is one, and that image's config.
    assert kinds(proxy.counted()) == {
        "listing": 1,
        "HEAD": 1,
        "manifest GET": 4 + 1,
        "blob GET": 2,
        "write": 0,
    }


@pytest.mark.parametrize(
    "created",
    ["2026-01-01T00:00:00Z", None, "2026-01-01\n::error::x"],
    ids=["created", "no-created", "hostile-created"],
)
def test_a_rerun_rebuilds_the_recorded_index_and_reads_no_config(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    created: str | None,
) -> None:
    host = registry.host
    seed_commit(host, REPO, sha_of("a"), labels={} if created is None else {CREATED: created})
    first = merge(capsys, host, "1.0.0", "a")
    recorded = {REVISION: sha_of("a")} | (
        {CREATED: created} if created == "2026-01-01T00:00:00Z" else {}
    )
    assert [e["annotations"] for e in entries(host, "1.0.0-workers")] == [recorded] * 2

    proxy = proxy_factory(host)
    again = merge(capsys, proxy.host, "1.0.0", "a")
    assert again["written"] == [] and again["index_digest"] == first["index_digest"]
    assert again["revision_unverified"] == []
    # The re-run budget (benchmark workload 2): tag list, per-arch tags, the SHA index,
    # HEADs of the other tags; no config, no write.
    assert kinds(proxy.counted()) == {
        "listing": 1,
        "HEAD": 7,
        "manifest GET": 3,
        "blob GET": 0,
        "write": 0,
    }


def test_unlabelled_releases_cost_status_one_get_each_and_reruns_write_nothing(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16 item 6: 4 versions merged from images with no revision label cost status
    1 listing + 1 HEAD + 4 GETs, and a re-run writes nothing."""
    host = registry.host
    for n, commit in enumerate("abcd"):
        for arch in ("amd64", "arm64"):
            tag = f"workers-sha-{sha_of(commit)[:8]}-{arch}"
            push_image(
                host, REPO, tag, arch=arch, labels={CREATED: "2026-05-01T00:00:00Z"}, seed=commit
            )
        merge(capsys, host, f"1.{n}.0", commit)
    proxy = proxy_factory(host)
    code, report, err = run(capsys, "status", f"--image={proxy.host}/{REPO}")
    assert code == 0, err
    assert [(v["revision"], v["created"]) for v in report["versions"]] == [
        (sha_of(c), "2026-05-01T00:00:00Z") for c in "dcba"
    ]
    assert kinds(proxy.counted()) == {
        "listing": 1,
        "HEAD": 1,
        "manifest GET": 4,
        "blob GET": 0,
        "write": 0,
    }
    assert merge(capsys, host, "1.3.0", "d")["written"] == []
