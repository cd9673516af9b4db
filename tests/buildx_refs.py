"""Per-arch refs shaped exactly as `docker buildx build --push` leaves them, by raw HTTP.

With provenance on (its default), BuildKit pushes one platform's build as an OCI index: the
image manifest (with its platform), then an attestation manifest whose descriptor has
platform unknown/unknown and the annotations `vnd.docker.reference.type:
attestation-manifest` and `vnd.docker.reference.digest: <image digest>`. The attestation
manifest's config is an image config for unknown/unknown whose diff_ids are the statement
digests, and each layer is an in-toto statement (`application/vnd.in-toto+json`, annotated
with its predicate type) whose subject is the image. Shape read in moby/buildkit
(exporter/containerimage/writer.go, docs/attestations/attestation-storage.md).

The image and attestation manifests are PUT by digest (buildx tags only the index). The
`images` and `subject` knobs make the malformed shapes merge must refuse. Nothing here
uses `release_pipeline`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from seeding import digest_of, upload_blob
from support.image_layouts import build_image
from support.images import OCI_INDEX, OCI_MANIFEST, put_manifest_raw

ATTESTATION_TYPE = "vnd.docker.reference.type"
ATTESTATION_DIGEST = "vnd.docker.reference.digest"
IN_TOTO = "application/vnd.in-toto+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PROVENANCE = "https://slsa.dev/provenance/v0.2"
REVISION = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class BuildxRef:
    index: str  # digest under the tag
    image: str  # the platform image's manifest digest
    attestation: str  # the attestation manifest's digest


def push_buildx_arch(
    host: str,
    repo: str,
    tag: str,
    *,
    arch: str,
    variant: str | None = None,
    revision: str | None = None,
    seed: str = "",
    index_type: str = OCI_INDEX,
    images: int = 1,
    subject: str | None = None,
) -> BuildxRef:
    """Push one platform's buildx output under `tag`. `revision` labels the image;
    `images` > 1 adds more platform images to the index; `subject` makes the attestation
    name another digest than the image's."""
    labels = {REVISION: revision} if revision else None
    descriptors = [
        _push_image(host, repo, arch, variant, labels, f"{seed}:{n}") for n in range(images)
    ]
    image = descriptors[0]
    attestation = _push_attestation(host, repo, image["digest"], arch)
    attestation["annotations"] = {
        ATTESTATION_DIGEST: subject or image["digest"],
        ATTESTATION_TYPE: "attestation-manifest",
    }
    attestation["platform"] = {"architecture": "unknown", "os": "unknown"}
    index = {"schemaVersion": 2, "mediaType": index_type, "manifests": [*descriptors, attestation]}
    raw = json.dumps(index, indent=2).encode()
    put_manifest_raw(host, repo, tag, raw, index_type)
    return BuildxRef(digest_of(raw), image["digest"], attestation["digest"])


def _push_image(
    host: str,
    repo: str,
    arch: str,
    variant: str | None,
    labels: dict[str, str] | None,
    seed: str,
) -> dict[str, Any]:
    layout = build_image(arch=arch, variant=variant, labels=labels, seed=seed)
    index = json.loads((layout / "index.json").read_text())
    raw = _blob(layout, index["manifests"][0]["digest"])
    manifest = json.loads(raw)
    for blob in (manifest["config"], *manifest["layers"]):
        upload_blob(host, repo, _blob(layout, blob["digest"]))
    digest = put_manifest_raw(host, repo, digest_of(raw), raw, OCI_MANIFEST)
    platform = {"architecture": arch, "os": "linux"} | ({"variant": variant} if variant else {})
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw), "platform": platform}


def _push_attestation(host: str, repo: str, image_digest: str, arch: str) -> dict[str, Any]:
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": PROVENANCE,
        "subject": [
            {
                "name": f"pkg:docker/{repo}?platform=linux%2F{arch}",
                "digest": {"sha256": image_digest.split(":", 1)[1]},
            }
        ],
        "predicate": {"buildType": "https://mobyproject.org/buildkit@v1", "builder": {"id": ""}},
    }
    statement_raw = json.dumps(statement).encode()
    layer = {
        "mediaType": IN_TOTO,
        "digest": upload_blob(host, repo, statement_raw),
        "size": len(statement_raw),
        "annotations": {"in-toto.io/predicate-type": PROVENANCE},
    }
    config_raw = json.dumps(
        {
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
        }
    ).encode()
    config = {
        "mediaType": OCI_CONFIG,
        "digest": upload_blob(host, repo, config_raw),
        "size": len(config_raw),
    }
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
    raw = json.dumps(manifest, indent=2).encode()
    digest = put_manifest_raw(host, repo, digest_of(raw), raw, OCI_MANIFEST)
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw)}


def _blob(layout: Any, digest: str) -> bytes:
    data: bytes = (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).read_bytes()
    return data
