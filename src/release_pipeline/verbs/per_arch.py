"""Reading a per-arch SHA tag, in either shape publishers leave it.

`publish-platform` (and `docker push`) leave an image manifest; `docker buildx` with its
default provenance leaves an index holding that image plus attestation manifests. Both are
read here into one value, so merge, the reuse rule and the revision rule treat them alike:
the tag's own bytes are what per-arch version tags copy (digest kept), the platform image
is what the multi-arch index lists and whose config is checked, and the attestations
travel into the multi-arch index with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from release_pipeline.errors import AuthError, NotFound, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.manifests import (
    MAX_MANIFEST_BYTES,
    Descriptor,
    ImageConfig,
    Manifest,
    parse_config,
)
from release_pipeline.rules.manifests import split_per_arch as split


@dataclass(frozen=True)
class PerArchRef:
    tag: str
    manifest: Manifest  # what the tag holds: an image manifest or a one-image index
    image: Manifest  # the platform image (the same as `manifest` for a plain image)
    attestations: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Held:
    """What a per-arch tag holds, as the reuse rule needs it."""

    tag: str
    digest: str  # under the tag (the index's digest for a buildx index)
    config: ImageConfig | None  # of the platform image; None when `unusable`
    unusable: str | None = None  # why no platform image could be read (a refused shape)


async def read_per_arch(client: RegistryClient, repository: str, tag: str) -> PerArchRef:
    """The tag's manifest and its platform image: one request, two for an index."""
    return await _expand(client, repository, tag, await client.get_manifest(repository, tag))


async def _expand(
    client: RegistryClient, repository: str, tag: str, manifest: Manifest
) -> PerArchRef:
    if not manifest.is_index:
        return PerArchRef(tag, manifest, manifest, ())
    image, attestations = split(manifest, tag)
    platform_image = await client.get_manifest(repository, image.digest)
    if platform_image.is_index:
        raise RegistryError(f"{tag}: its platform entry {image.digest} is an index, not an image")
    return PerArchRef(tag, manifest, platform_image, attestations)


async def read_config(client: RegistryClient, repository: str, ref: PerArchRef) -> ImageConfig:
    """The platform image's config: its platform and its source and revision labels."""
    blob = await client.get_blob(
        repository, ref.image.config().digest, max_bytes=MAX_MANIFEST_BYTES
    )
    return parse_config(blob, ref.tag)


async def held(client: RegistryClient, repository: str, tag: str) -> Held | None:
    """What `tag` holds now, or None when it does not exist."""
    try:
        manifest = await client.get_manifest(repository, tag)
    except NotFound:
        return None
    try:
        ref = await _expand(client, repository, tag, manifest)
        config = await read_config(client, repository, ref)
    except AuthError:
        raise
    except RegistryError as exc:  # a refused shape or a missing child: --force may replace it
        return Held(tag, manifest.digest, None, str(exc))
    return Held(tag, manifest.digest, config)
