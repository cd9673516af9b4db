"""Registry histories the rollback tests start from, written by raw HTTP (urllib only).

- `seed_legacy`: what TestPlanIt's old workflow left: one single-platform image per commit
  under every version tag, the SHA tag and the floating tag of its flavor, no per-arch tags,
  no revision label or annotation.
- `seed_docs`: another image sharing the repository (`docs`, `docs-amd64`, `docs-arm64`,
  `v0.12.1-docs`), which every verb must leave alone and no `status` may list.
"""

from __future__ import annotations

import copy
import json

from seeding import _base, digest_of, upload_blob
from support.images import OCI_MANIFEST, put_manifest_raw

DOCS_TAGS = ("docs", "docs-amd64", "docs-arm64", "v0.12.1-docs")


def image(host: str, repo: str, seed: str, *, arch: str = "arm64", labels: dict[str, str]) -> bytes:
    """Upload one single-platform OCI image's blobs; return its manifest bytes (not tagged)."""
    base = _base(arch)
    upload_blob(host, repo, base.layer)
    config = copy.deepcopy(base.config)
    config.setdefault("config", {})["Labels"] = {"test.seed": seed, **labels}
    raw_config = json.dumps(config, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": upload_blob(host, repo, raw_config),
            "size": len(raw_config),
        },
        "layers": [base.layer_descriptor],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def put(host: str, repo: str, raw: bytes, tags: list[str]) -> str:
    for tag in tags:
        assert put_manifest_raw(host, repo, tag, raw, OCI_MANIFEST) == digest_of(raw)
    return digest_of(raw)


def seed_legacy(
    host: str, repo: str, version: str, sha: str, *, flavor: str = "workers", latest: bool = True
) -> str:
    """One release as the old workflow pushed it (arm64 only); returns the image digest."""
    f = f"-{flavor}" if flavor else ""
    sha_tag = "-".join(p for p in (flavor, "sha", sha[:8]) if p)
    tags = [f"{version}{f}", f"v{version}{f}", sha_tag]
    if latest:
        tags.append(f"latest{f}")
    return put(host, repo, image(host, repo, f"{flavor}:{sha}", labels={}), tags)


def seed_docs(host: str, repo: str) -> dict[str, str]:
    """The docs image's tags; returns tag -> digest."""
    return {
        tag: put(host, repo, image(host, repo, f"docs:{tag}", labels={}), [tag])
        for tag in DOCS_TAGS
    }
