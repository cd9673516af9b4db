"""Seed real registries for the end-to-end release tests, and check them back, by raw HTTP.

Pushing a per-arch image with skopeo costs a few tenths of a second; the fault and race
tests need hundreds of fresh repositories and commits. So this uploads the blobs of the
umoci-built base images (`support.image_layouts.build_image`, built once per session) and PUTs a
per-commit manifest whose config carries the commit as a label: real OCI images in a real
registry, written and read back with urllib only (nothing from `release_pipeline`).
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from support.commands import run_json, sha_of
from support.image_layouts import build_image as _build_image
from support.images import (
    DOCKER_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
    fetch_raw,
    list_tags_raw,
    put_manifest_raw,
)
from support.raw_http import raw_request

REVISION = "org.opencontainers.image.revision"
Creds = tuple[str, str] | None


@dataclass(frozen=True)
class _Base:
    layer: bytes
    layer_descriptor: dict[str, Any]
    config: dict[str, Any]


_bases: dict[str, _Base] = {}
_lock = threading.Lock()


def _base(arch: str) -> _Base:
    with _lock:
        if arch not in _bases:
            layout = _build_image(arch=arch, seed="seeding")
            index = json.loads((layout / "index.json").read_text())
            manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]))
            layer = manifest["layers"][0]
            _bases[arch] = _Base(
                _blob(layout, layer["digest"]),
                layer,
                json.loads(_blob(layout, manifest["config"]["digest"])),
            )
        return _bases[arch]


def _blob(layout: Any, digest: str) -> bytes:
    data: bytes = (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
    return data


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(host: str, repo: str, data: bytes, creds: Creds = None) -> str:
    """Monolithic upload (POST then PUT ?digest=) of one blob; returns its digest."""
    digest = digest_of(data)
    start = raw_request("POST", f"http://{host}/v2/{repo}/blobs/uploads/", creds=creds, data=b"")
    assert start.status == 202, (start.status, start.body[:300])
    location = urllib.parse.urljoin(f"http://{host}/", start.headers["Location"])
    sep = "&" if "?" in location else "?"
    done = raw_request(
        "PUT",
        f"{location}{sep}digest={urllib.parse.quote(digest)}",
        headers={"Content-Type": "application/octet-stream"},
        data=data,
        creds=creds,
    )
    assert done.status == 201, (done.status, done.body[:300])
    return digest


def sha_arch_tag(flavor: str, sha: str, arch: str) -> str:
    return "-".join(p for p in (flavor, "sha", sha[:8], arch) if p)


def seed_commit(
    host: str,
    repo: str,
    sha: str,
    *,
    archs: tuple[str, ...] = ("amd64", "arm64"),
    flavor: str = "workers",
    creds: Creds = None,
    labels: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Push the per-arch images CI builds for commit `sha`; returns {arch: manifest digest}.

    Each image config carries the commit as its revision label, plus `labels`; `config`
    overrides top-level config fields (e.g. a forged `architecture`)."""
    pushed = seed_commits(
        host, repo, [sha], archs=archs, flavor=flavor, creds=creds, labels=labels, config=config
    )
    return pushed[sha]


def seed_commits(
    host: str,
    repo: str,
    shas: list[str],
    *,
    archs: tuple[str, ...] = ("amd64", "arm64"),
    flavor: str = "workers",
    creds: Creds = None,
    workers: int = 1,
    labels: dict[str, str] | None = None,
    config: dict[str, Any] | None = None,
) -> dict[str, dict[str, str]]:
    """seed_commit for many commits: each layer uploaded once, `workers` threads."""
    for arch in archs:
        upload_blob(host, repo, _base(arch).layer, creds)

    def one(sha: str) -> dict[str, str]:
        return {
            arch: _push_commit_image(
                host, repo, sha, arch, flavor, creds, labels or {}, config or {}
            )
            for arch in archs
        }

    if workers == 1:
        return {sha: one(sha) for sha in shas}
    with ThreadPoolExecutor(workers) as pool:
        return dict(zip(shas, pool.map(one, shas), strict=True))


def _push_commit_image(
    host: str,
    repo: str,
    sha: str,
    arch: str,
    flavor: str,
    creds: Creds,
    labels: dict[str, str],
    overrides: dict[str, Any],
) -> str:
    base = _base(arch)
    config = copy.deepcopy(base.config) | overrides
    config.setdefault("config", {}).setdefault("Labels", {}).update({REVISION: sha, **labels})
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": upload_blob(host, repo, config_raw, creds),
            "size": len(config_raw),
        },
        "layers": [base.layer_descriptor],
    }
    raw = json.dumps(manifest, separators=(",", ":")).encode()
    tag = sha_arch_tag(flavor, sha, arch)
    assert put_manifest_raw(host, repo, tag, raw, OCI_MANIFEST, creds=creds) == digest_of(raw)
    return digest_of(raw)


def check_release(
    host: str,
    repo: str,
    version: str,
    sha: str,
    arch_digests: dict[str, str],
    *,
    flavor: str = "workers",
    latest: bool | None = True,
    creds: Creds = None,
) -> str:
    """Assert, by raw HTTP, every tag of a release holds what it must; return the index digest.

    latest=True: `latest-F` must be this index; False: it must not be; None: not checked.
    """
    f = f"-{flavor}" if flavor else ""
    tags = set(list_tags_raw(host, repo, creds=creds))
    for arch, digest in arch_digests.items():
        for tag in (
            f"{version}{f}-{arch}",
            f"v{version}{f}-{arch}",
            sha_arch_tag(flavor, sha, arch),
        ):
            assert tag in tags, f"{tag} missing"
            assert fetch_raw(host, repo, tag, creds=creds)[2] == digest, tag
    index_tags = [sha_arch_tag(flavor, sha, ""), f"{version}{f}", f"v{version}{f}"]
    fetched = [fetch_raw(host, repo, t, creds=creds) for t in index_tags]
    digests = {d for _, _, d in fetched}
    assert len(digests) == 1, f"index tags disagree: {dict(zip(index_tags, digests, strict=False))}"
    index_digest = digests.pop()
    body = json.loads(fetched[0][0])
    children = {m["platform"]["architecture"]: m["digest"] for m in body["manifests"]}
    assert children == arch_digests, children
    for child in children.values():  # every child is in the registry
        assert fetch_raw(host, repo, child, creds=creds)[2] == child
    if latest is not None:
        latest_tag = "-".join(p for p in ("latest", flavor) if p)
        held = fetch_raw(host, repo, latest_tag, creds=creds)[2] if latest_tag in tags else None
        assert (held == index_digest) is latest, f"{latest_tag} is {held}, index {index_digest}"
    return index_digest


def assert_every_index_complete(host: str, repo: str, creds: Creds = None) -> None:
    """No multi-arch tag references a child that is not in the registry."""
    for tag in list_tags_raw(host, repo, creds=creds):
        body, media_type, _ = fetch_raw(host, repo, tag, creds=creds)
        if media_type in (OCI_INDEX, DOCKER_LIST):
            for child in json.loads(body)["manifests"]:
                assert fetch_raw(host, repo, child["digest"], creds=creds)[2] == child["digest"]


def merged_release(
    host: str, repo: str, capsys: pytest.CaptureFixture[str], version: str, commit: str, *flags: str
) -> Any:
    """A release as CI makes one: the per-arch images of `commit` as publish-platform pushes
    them, then `release-pipeline merge`; its JSON report."""
    flavor = next((f.split("=", 1)[1] for f in flags if f.startswith("--flavor=")), "workers")
    seed_commit(host, repo, sha_of(commit), flavor=flavor)
    code, report, err = run_json(
        capsys,
        "merge",
        f"--image={host}/{repo}",
        f"--version={version}",
        f"--sha={sha_of(commit)}",
        *flags,
    )
    assert code == 0, err
    return report
