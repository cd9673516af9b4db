"""Manifests as bytes: parse and check what a registry sent, and build the multi-arch index.

Everything here is pure. A manifest is kept as the exact bytes the registry holds, because
its digest is the hash of those bytes: re-tagging by PUTting them unchanged keeps it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from release_pipeline.errors import RegistryError, shown
from release_pipeline.rules.inputs import Platform, is_digest, is_platform

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
# All four, always: registries downgrade or 404 when a type is missing from Accept.
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
# The distribution spec lets registries refuse manifests over 4 MiB; a bigger answer is hostile.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# The OCI keys the release writes as image labels (`labels.py`) and index annotations, and
# reads back (`merge`, `status`): one spelling for both sides.
VERSION = "org.opencontainers.image.version"
REVISION = "org.opencontainers.image.revision"
SOURCE = "org.opencontainers.image.source"
CREATED = "org.opencontainers.image.created"
# On an index entry `merge` wrote: the image's config had no revision label (so `status`
# needs no config read to know it). Value "true".
NO_REVISION_LABEL = "dev.release-pipeline.no-revision-label"
# How BuildKit ties an attestation manifest to the image it describes, inside one index
# (moby/buildkit docs/attestations/attestation-storage.md).
REFERENCE_TYPE = "vnd.docker.reference.type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
ATTESTATION_MANIFEST = "attestation-manifest"

# Label and annotation values come from whoever pushed the image, and what the release copies
# into an index or reports reaches CI logs and job summaries. The one rule for what it copies
# or shows: short, printable, no whitespace and no `::` (so no line break, and nothing a
# reader might take as a workflow command). Anything else reads as absent. Error messages
# that must name such a value quote it through `errors.shown`, clipped and defused.
_PLAIN = re.compile(r"[!-~]{1,128}")


def plain(value: str | None) -> str | None:
    """`value` if the release may copy or show it, else None."""
    ok = value is not None and _PLAIN.fullmatch(value) is not None and "::" not in value
    return value if ok else None


def digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_attestation(self) -> bool:
        return self.annotations.get(REFERENCE_TYPE) == ATTESTATION_MANIFEST


@dataclass(frozen=True)
class Manifest:
    """A manifest's exact bytes, with the media type and digest that go with them."""

    raw: bytes
    media_type: str
    digest: str

    @classmethod
    def parse(cls, raw: bytes, content_type: str, where: str) -> Manifest:
        """Check bytes from a registry: JSON object of a known type, under the size limit."""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{where}: manifest is larger than 4 MiB")
        body = json_object(raw, where)
        media_type = body.get("mediaType") or content_type.split(";")[0].strip()
        if not isinstance(media_type, str) or media_type not in INDEX_TYPES | IMAGE_TYPES:
            raise RegistryError(
                f"{where}: unsupported manifest media type {shown(str(media_type))!r}"
            )
        _check_text(body, where)
        manifest = cls(raw, media_type, digest_of(raw))
        if manifest.is_index:
            manifest.children()  # validate now, before anything trusts it
        return manifest

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.raw), platform)

    def config(self) -> Descriptor:
        body = json_object(self.raw, self.digest)
        return _descriptor(body.get("config"), self.digest, "config")

    def blobs(self) -> list[Descriptor]:
        """An image manifest's config and layers: the blobs its PUT needs in the repository."""
        body = json_object(self.raw, self.digest)
        layers = body.get("layers")
        if not isinstance(layers, list):
            raise RegistryError(f"{self.digest}: image manifest has no layers list")
        found = [_descriptor(e, self.digest, "layer") for e in layers]
        # Foreign (non-distributable) layers live elsewhere: no registry stores or checks them.
        return [self.config(), *(d for d in found if "foreign" not in d.media_type)]

    def children(self) -> list[Descriptor]:
        body = json_object(self.raw, self.digest)
        entries = body.get("manifests")
        if not isinstance(entries, list):
            raise RegistryError(f"{self.digest}: index has no manifests list")
        children = []
        for entry in entries:
            child = _descriptor(entry, self.digest, "index child")
            if child.media_type not in IMAGE_TYPES | INDEX_TYPES:
                raise RegistryError(
                    f"{self.digest}: index child {child.digest} has unknown media type "
                    f"{shown(child.media_type)!r}"
                )
            children.append(child)
        return children

    def annotation(self, key: str) -> str | None:
        annotations = json_object(self.raw, self.digest).get("annotations")
        value = annotations.get(key) if isinstance(annotations, dict) else None
        return value if isinstance(value, str) else None


def split_per_arch(index: Manifest, where: str) -> tuple[Descriptor, tuple[Descriptor, ...]]:
    """The one platform image in a per-arch index, and the attestation manifests about it.

    `docker buildx` (provenance on by default) pushes a per-arch build as an index holding
    the image plus attestation manifests (platform unknown/unknown) that name the image by
    digest. Anything else in a per-arch index would make "the image for this platform"
    ambiguous, so it is refused.
    """
    children = index.children()
    images = [c for c in children if not c.is_attestation]
    attestations = tuple(c for c in children if c.is_attestation)
    if len(images) != 1:
        raise RegistryError(
            f"{where} is an index of {len(images)} platform images; a per-arch tag must hold "
            "one image (an index may add only attestation manifests about it)"
        )
    image = images[0]
    if image.media_type not in IMAGE_TYPES:
        raise RegistryError(f"{where}: its platform entry {image.digest} is not an image manifest")
    for attestation in attestations:
        subject = attestation.annotations.get(REFERENCE_DIGEST)
        if attestation.platform is None:  # the multi-arch index copies it: it needs one
            raise RegistryError(
                f"{where}: attestation manifest {attestation.digest} has no valid platform"
            )
        if subject != image.digest or attestation.media_type not in IMAGE_TYPES:
            raise RegistryError(
                f"{where}: attestation manifest {attestation.digest} is about "
                f"{shown(str(subject))}, not the image {image.digest} in this index"
            )
    return image, attestations


@dataclass(frozen=True)
class ImageConfig:
    platform: Platform
    source: str | None
    revision: str | None  # the commit the image says it was built from
    created: str | None  # when it says it was built (as labelled: not yet checked by `plain`)


def parse_config(raw: bytes, where: str) -> ImageConfig:
    """The platform, and the source, revision and created labels an image config declares.

    The platform must follow the grammar `--platform` enforces (a GOARCH name, an os word,
    a `vN` variant): merge's refusals name it, so anything else is refused here, quoted."""
    body = json_object(raw, where)
    arch, os_ = body.get("architecture"), body.get("os")
    variant = body.get("variant") or None
    if not isinstance(arch, str) or not isinstance(os_, str) or not arch or not os_:
        raise RegistryError(f"{where}: image config has no architecture/os")
    if variant is not None and not isinstance(variant, str):
        raise RegistryError(f"{where}: image config variant is not a string")
    if not is_platform(os_, arch, variant):
        named = shown("/".join(p for p in (os_, arch, variant) if p))
        raise RegistryError(
            f"{where}: image config names platform {named!r}, which is not os/GOARCH[/vN]"
        )
    if arch == "arm64" and variant == "v8":
        variant = None
    labels = config_labels(raw, where)
    return ImageConfig(
        Platform(os_, arch, variant),
        labels.get(SOURCE),
        labels.get(REVISION),
        labels.get(CREATED),
    )


def build_index(
    children: list[Descriptor],
    revision: str,
    source: str | None,
    attestations: Iterable[Descriptor] = (),
) -> Manifest:
    """The one multi-arch index for a commit's images, with their attestations.

    Its bytes depend on the children and the commit only, never on the version or the
    clock, so every version released from one commit shares it and re-runs rebuild it
    exactly: the SHA tag and the version tags then agree by digest. Attestation manifests
    go after every image, as BuildKit orders them, so runtimes that take the first match
    never pick one.
    """
    images = sorted(children, key=lambda c: str(c.platform))
    order = {c.digest: i for i, c in enumerate(images)}
    extra = sorted(
        attestations,
        key=lambda a: (order.get(a.annotations.get(REFERENCE_DIGEST, ""), -1), a.digest),
    )
    everything = [*images, *extra]
    docker = all(c.media_type == DOCKER_MANIFEST for c in everything)
    entries = [_entry(child) for child in everything]
    body: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": entries,
    }
    if not docker:
        annotations = {REVISION: revision}
        if source:
            annotations[SOURCE] = source
        body["annotations"] = annotations
    raw = json.dumps(body, separators=(",", ":")).encode()
    return Manifest(raw, body["mediaType"], digest_of(raw))


def _entry(child: Descriptor) -> dict[str, Any]:
    if child.platform is None:
        raise ValueError("index children need a platform")
    platform: dict[str, str] = {
        "architecture": child.platform.architecture,
        "os": child.platform.os,
    }
    if child.platform.variant:
        platform["variant"] = child.platform.variant
    entry: dict[str, Any] = {
        "mediaType": child.media_type,
        "digest": child.digest,
        "size": child.size,
        "platform": platform,
    }
    if child.annotations:
        entry["annotations"] = dict(sorted(child.annotations.items()))
    return entry


def _check_text(value: object, where: str) -> None:
    """Refuse a manifest with a string (key or value) holding a control character or `::`.

    The release copies manifests byte for byte (per-arch version tags, `promote`, the
    floating tag), so whatever text one holds, an annotation, a platform, a URL, would be
    written again under tags this release owns and read by every later reader and log.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and ("::" in item or not item.isprintable()):
            raise RegistryError(
                f"{where}: manifest holds text with control characters or a double colon "
                f"({shown(item, 40)!r}); refusing to read or copy it"
            )


def json_object(raw: bytes, where: str) -> dict[str, Any]:
    """Registry bytes that must be one JSON object; anything else is a clear error."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RegistryError(f"{where}: registry sent invalid JSON") from None
    if not isinstance(body, dict):
        raise RegistryError(f"{where}: registry sent JSON that is not an object")
    return body


def _descriptor(entry: object, where: str, what: str) -> Descriptor:
    if not isinstance(entry, dict):
        raise RegistryError(f"{where}: {what} descriptor is missing")
    media_type, digest, size = entry.get("mediaType"), entry.get("digest"), entry.get("size")
    if (
        not isinstance(media_type, str)
        or not isinstance(digest, str)
        or not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
    ):
        raise RegistryError(f"{where}: {what} descriptor needs mediaType, sha256 digest and size")
    if not is_digest(digest):
        raise RegistryError(
            f"{where}: {what} digest {shown(digest)!r} is not sha256: and 64 lower-case hex digits"
        )
    return Descriptor(media_type, digest, size, _platform(entry.get("platform")), _strings(entry))


# An attestation manifest's platform, as BuildKit writes it: the one entry outside the
# `--platform` grammar that an index may carry (and the multi-arch index copies).
_UNKNOWN_PLATFORM = Platform("unknown", "unknown")


def _platform(value: object) -> Platform | None:
    """An index entry's platform when it follows the grammar, else None (no platform)."""
    if not isinstance(value, dict):
        return None
    os_, arch, variant = value.get("os"), value.get("architecture"), value.get("variant") or None
    if not isinstance(os_, str) or not isinstance(arch, str) or not isinstance(variant, str | None):
        return None
    platform = Platform(os_, arch, variant)
    ok = platform == _UNKNOWN_PLATFORM or is_platform(os_, arch, variant)
    return platform if ok else None


def _strings(entry: dict[str, Any]) -> dict[str, str]:
    """An entry's annotations that the release may copy (into the multi-arch index, with
    the attestations) or read: keys and values that pass `plain`; the rest read as absent."""
    annotations = entry.get("annotations")
    if not isinstance(annotations, dict):
        return {}
    return {
        k: v
        for k, v in annotations.items()
        if isinstance(k, str) and isinstance(v, str) and plain(k) and plain(v)
    }


def platform_images(index: Manifest) -> list[Descriptor]:
    """An index's platform images, without the attestation manifests buildx adds beside them."""
    return [c for c in index.children() if c.media_type in IMAGE_TYPES and not c.is_attestation]


def config_labels(raw: bytes, where: str) -> dict[str, str]:
    """The labels an image config declares (`config.Labels`); non-string values are dropped."""
    config = json_object(raw, where).get("config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {k: v for k, v in labels.items() if isinstance(k, str) and isinstance(v, str)}
