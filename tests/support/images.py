"""Put tiny real images into a registry and read registries back, as an independent client.

Images (built by support.image_layouts) are pushed with skopeo, the same kind of client a CI
job uses. The raw helpers (fetch_raw, list_tags_raw, ...) go through support.raw_http and
deliberately share nothing with src/release_pipeline: end-to-end tests use them to check what
the pipeline did.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .image_layouts import LAYOUT_REF, build_image
from .image_tools import ImagePushError, run_tool, workspace_dir
from .raw_http import RawResponse, raw_request

__all__ = [
    "ACCEPT_MANIFESTS",
    "DOCKER_LIST",
    "DOCKER_MANIFEST",
    "MANIFEST_TYPES",
    "OCI_INDEX",
    "OCI_MANIFEST",
    "copy_all_to_layout",
    "fetch_blob_raw",
    "fetch_config",
    "fetch_raw",
    "list_tags_raw",
    "push_arch_images",
    "push_image",
    "put_manifest_raw",
    "tag_digests",
]

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_TYPES = (OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)
"""All four types: registry 2.8 404s an index or downgrades a list when one is missing."""


# ---------------------------------------------------------------------------------------------
# Pushing and copying with skopeo


def push_image(
    host: str,
    repo: str,
    tag: str,
    *,
    arch: str,
    os: str = "linux",
    variant: str | None = None,
    labels: dict[str, str] | None = None,
    docker_format: bool = False,
    creds: tuple[str, str] | None = None,
    seed: str = "",
) -> str:
    """Push a tiny single-platform image to host/repo:tag; return its manifest digest.

    OCI manifest by default, Docker v2 schema 2 with docker_format. The digest is the one
    skopeo wrote for the manifest it PUT, i.e. what the registry stores.
    """
    layout = build_image(arch=arch, os=os, variant=variant, labels=labels, seed=seed)
    with tempfile.TemporaryDirectory(dir=workspace_dir() / "tmp") as tmp:
        digestfile = Path(tmp) / "digest"
        cmd = [
            "skopeo", "--insecure-policy", "copy", "--quiet",
            "--dest-tls-verify=false",
            "--format", "v2s2" if docker_format else "oci",
            "--digestfile", str(digestfile),
        ]  # fmt: skip
        cmd += ["--dest-creds", f"{creds[0]}:{creds[1]}"] if creds else ["--dest-no-creds"]
        cmd += [f"oci:{layout}:{LAYOUT_REF}", f"docker://{host}/{repo}:{tag}"]
        try:
            run_tool(cmd)
        except ImagePushError as exc:
            if creds:  # never leak the password into a test report
                raise ImagePushError(str(exc).replace(creds[1], "***")) from None
            raise
        return digestfile.read_text().strip()


def push_arch_images(
    host: str,
    repo: str,
    sha8: str,
    flavor: str = "workers",
    archs: Sequence[str] = ("amd64", "arm64"),
    seed: str = "",
    docker_format: bool = False,
    creds: tuple[str, str] | None = None,
) -> dict[str, str]:
    """Push per-arch images tagged like the CI does: `{flavor}-sha-{sha8}-{arch}`.

    An arch may carry a variant ("arm/v7" -> tag suffix "armv7"). Returns {tag: digest}.
    The image content depends on flavor, sha8 and seed, so two commits give two digests.
    """
    pushed: dict[str, str] = {}
    for platform in archs:
        arch, _, variant = platform.partition("/")
        tag = f"{flavor}-sha-{sha8}-{platform.replace('/', '')}"
        pushed[tag] = push_image(
            host,
            repo,
            tag,
            arch=arch,
            variant=variant or None,
            docker_format=docker_format,
            creds=creds,
            seed=f"{flavor}:{sha8}:{seed}",
        )
    return pushed


def copy_all_to_layout(host: str, repo: str, tag: str, layout: Path) -> None:
    """`skopeo copy --all` of host/repo:tag, every child, into an OCI layout (tag `release`):
    a real client judging whether what the project wrote is complete and readable."""
    run_tool(
        [
            "skopeo", "--insecure-policy", "copy", "--all", "--quiet", "--src-tls-verify=false",
            f"docker://{host}/{repo}:{tag}", f"oci:{layout}:release",
        ]
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Raw HTTP (independent verification)


def _check(resp: RawResponse, what: str) -> RawResponse:
    if not 200 <= resp.status < 300:
        raise AssertionError(f"{what}: HTTP {resp.status}: {resp.body[:500]!r}")
    return resp


def fetch_raw(
    host: str, repo: str, ref: str, *, creds: tuple[str, str] | None = None
) -> tuple[bytes, str, str]:
    """GET a manifest by tag or digest: (exact bytes, media type, sha256 digest of the bytes).

    The digest is computed from the bytes, not copied from Docker-Content-Digest, so callers
    verify rather than trust; a mismatch with a registry-given digest raises.
    """
    resp = _check(
        raw_request(
            "GET",
            f"http://{host}/v2/{repo}/manifests/{ref}",
            headers={"Accept": ACCEPT_MANIFESTS},
            creds=creds,
        ),
        f"GET manifest {repo}:{ref}",
    )
    digest = "sha256:" + hashlib.sha256(resp.body).hexdigest()
    given = resp.headers.get("Docker-Content-Digest")
    if given and given != digest:
        raise AssertionError(f"{repo}:{ref}: registry says {given}, bytes hash to {digest}")
    if ref.startswith("sha256:") and ref != digest:
        raise AssertionError(f"{repo}@{ref}: bytes hash to {digest}")
    media_type = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
    return resp.body, media_type, digest


def fetch_blob_raw(
    host: str, repo: str, digest: str, *, creds: tuple[str, str] | None = None
) -> bytes:
    """GET a blob and check it hashes to its digest."""
    resp = _check(
        raw_request("GET", f"http://{host}/v2/{repo}/blobs/{digest}", creds=creds),
        f"GET blob {repo}@{digest}",
    )
    actual = "sha256:" + hashlib.sha256(resp.body).hexdigest()
    if actual != digest:
        raise AssertionError(f"blob {digest} hashes to {actual}")
    return resp.body


def fetch_config(
    host: str, repo: str, ref: str, *, creds: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The image config (architecture, os, variant, config.Labels...) of a per-arch manifest."""
    body, _, _ = fetch_raw(host, repo, ref, creds=creds)
    manifest = json.loads(body)
    config: dict[str, Any] = json.loads(
        fetch_blob_raw(host, repo, manifest["config"]["digest"], creds=creds)
    )
    return config


def list_tags_raw(
    host: str, repo: str, *, creds: tuple[str, str] | None = None, max_pages: int = 1000
) -> list[str]:
    """Every tag of repo, sorted, following Link rel="next" pages. [] for an unknown repo."""
    tags: list[str] = []
    path: str | None = f"/v2/{repo}/tags/list"
    pages = 0
    while path is not None:
        pages += 1
        if pages > max_pages:
            raise AssertionError(f"tag list of {repo} still paging after {max_pages} pages")
        resp = raw_request("GET", f"http://{host}{path}", creds=creds)
        if resp.status == 404 and pages == 1:
            return []
        _check(resp, f"GET tags of {repo}")
        tags.extend(resp.json().get("tags") or [])
        match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", resp.headers.get("Link", ""))
        path = None
        if match:
            nxt = urllib.parse.urlsplit(match.group(1))
            path = nxt.path + (f"?{nxt.query}" if nxt.query else "")
    return sorted(tags)


def tag_digests(host: str, repo: str, *, creds: tuple[str, str] | None = None) -> dict[str, str]:
    """Every tag of repo and the digest it points at: a snapshot to compare before/after."""
    return {
        t: fetch_raw(host, repo, t, creds=creds)[2] for t in list_tags_raw(host, repo, creds=creds)
    }


def put_manifest_raw(
    host: str,
    repo: str,
    ref: str,
    body: bytes,
    media_type: str,
    *,
    creds: tuple[str, str] | None = None,
) -> str:
    """PUT manifest bytes under a tag (or digest); return the digest the registry answered."""
    resp = _check(
        raw_request(
            "PUT",
            f"http://{host}/v2/{repo}/manifests/{ref}",
            headers={"Content-Type": media_type},
            data=body,
            creds=creds,
        ),
        f"PUT manifest {repo}:{ref}",
    )
    return str(resp.headers.get("Docker-Content-Digest", ""))
