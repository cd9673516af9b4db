"""A release's immutable tags: check every one, then write them in order.

Split from `release.py` so that holds the one moving tag's policy (when `latest-F` moves)
and this the write that comes before it, which a channel's release (`channel.py`) makes too:
every per-arch and multi-arch tag decided and checked before the first PUT, so a refused
release writes nothing, then written per-arch first, so a reader never sees a tag whose
content is not complete underneath it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Protocol

from release_pipeline.errors import RegistryError, RevisionMismatch, TagConflict
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.inputs import ImageRef, Platform, source_url_or_none
from release_pipeline.rules.manifests import (
    CREATED,
    NO_REVISION_LABEL,
    REVISION,
    SOURCE,
    Manifest,
    build_index,
    plain,
)
from release_pipeline.rules.tags import ReleaseTags
from release_pipeline.verbs.converge import put_all
from release_pipeline.verbs.per_arch import PerArchRef, read_config, read_per_arch


class Publishable(Protocol):
    """What `publish` needs of a release: a version's (`ReleaseSpec`) or a channel's."""

    @property
    def image(self) -> ImageRef: ...
    @property
    def sha(self) -> str: ...
    @property
    def tags(self) -> ReleaseTags: ...


@dataclass(frozen=True)
class Published:
    """The immutable tags of one release, written (or, in a dry run, decided)."""

    listed: set[str]  # the tag list read first
    index: Manifest
    platforms: dict[str, str]  # platform -> per-arch manifest digest
    # every immutable tag and what it holds after the run, in write order: per-arch SHA
    # tags, per-arch version tags, multi-arch tags
    tags: dict[str, str]
    writes: dict[str, Manifest]  # what this run PUT (dry run: would PUT)
    replaced: dict[str, str]  # tag -> digest it held before --force overwrote it
    revision_unverified: list[str]


async def publish(
    spec: Publishable,
    client: RegistryClient,
    *,
    force: bool = False,
    dry_run: bool = False,
    source_url: str | None = None,
) -> Published:
    """Write every immutable tag of a release after checking them all: per-arch tags, then
    the multi-arch index. A conflict (a tag holding another digest) refuses the release
    with nothing written, unless `force`."""
    repo, tags = spec.image.repository, spec.tags
    listed = set(await client.list_tags(repo))
    missing = [t for t in tags.sha_arch.values() if t not in listed]
    if missing:
        raise RegistryError(
            f"per-arch images missing from {spec.image}: {', '.join(missing)} "
            "(publish-platform pushes them before merge)"
        )
    platforms = list(tags.sha_arch)
    fetched = await map_concurrently(
        partial(read_per_arch, client, repo), [tags.sha_arch[p] for p in platforms]
    )
    images = dict(zip(platforms, fetched, strict=True))

    # What each tag holds now. The SHA index is read whole: if it is what we would build,
    # the image configs need not be read again (a re-run stays cheap).
    sha_tag = tags.index[0]
    held_sha_index = await client.get_manifest(repo, sha_tag) if sha_tag in listed else None
    others = [t for p in platforms for t in tags.version_arch[p]] + list(tags.index[1:])
    current: dict[str, str | None] = dict.fromkeys(others)
    present = [t for t in others if t in listed]
    heads = await map_concurrently(partial(client.head_manifest, repo), present)
    current.update(zip(present, heads, strict=True))
    current[sha_tag] = held_sha_index.digest if held_sha_index else None

    # Only a merge writes the SHA index, after reading every config: when the held one is
    # byte for byte what these images make (children, attestations, and the annotations it
    # records from their configs: which revisions it checked, which creation times it
    # copied), those checks and copies were made on these very images. A child's digest
    # pins its manifest, which pins its config, so what was read from that config then is
    # still what it says now.
    recorded = _recorded_annotations(spec, held_sha_index)
    held_source = held_sha_index.annotation(SOURCE) if held_sha_index else None
    source = source_url or source_url_or_none(held_source)
    index = _index(spec, images, source, recorded)
    desired = _desired(spec, images, index)
    if held_sha_index is None or any(current[t] != m.digest for t, m in desired.items()):
        # Something will be written: check each image is the platform and commit it claims.
        unmarked = _unmarked(held_sha_index)
        labelled, recorded = await _verified_images(spec, client, images, unmarked)
        index = _index(spec, images, source_url or labelled, recorded)
        desired = _desired(spec, images, index)

    conflicts = [
        (t, held, m.digest)
        for t, m in desired.items()
        if (held := current[t]) is not None and held != m.digest
    ]
    if conflicts and not force:
        raise TagConflict(conflicts)
    writes = {t: m for t, m in desired.items() if current[t] != m.digest}
    per_arch_writes = {t: m for t, m in writes.items() if t not in tags.index}
    index_writes = {t: m for t, m in writes.items() if t in tags.index}
    if not dry_run:
        await put_all(client, repo, per_arch_writes)
        await put_all(client, repo, index_writes)

    # Write order throughout: the per-arch SHA tags (pushed before merge), the per-arch
    # version tags, the multi-arch tags. Every tag listed and not written is unchanged,
    # the per-arch SHA tags included, as the table says.
    result = {tag: images[p].manifest.digest for p, tag in tags.sha_arch.items()}
    result |= {t: m.digest for t, m in desired.items()}
    return Published(
        listed=listed,
        index=index,
        platforms={str(p): images[p].manifest.digest for p in platforms},
        tags=result,
        writes=writes,
        replaced={t: held for t, held, _ in conflicts},
        revision_unverified=sorted(
            tags.sha_arch[p]
            for p in platforms
            if REVISION not in recorded.get(images[p].image.digest, {})
        ),
    )


def _index(
    spec: Publishable,
    images: dict[Platform, PerArchRef],
    source: str | None,
    recorded: dict[str, dict[str, str]],
) -> Manifest:
    """The index of the platform images and their attestations (as `imagetools create`
    copies them). Each child carries the annotations recorded from its config (`_recordable`),
    so `status` reads a version's revision and creation time from its index alone."""
    children = [
        replace(ref.image.descriptor(platform), annotations=recorded.get(ref.image.digest, {}))
        for platform, ref in images.items()
    ]
    attestations = [a for ref in images.values() for a in ref.attestations]
    return build_index(children, spec.sha, source, attestations)


def _desired(
    spec: Publishable, images: dict[Platform, PerArchRef], index: Manifest
) -> dict[str, Manifest]:
    tags = spec.tags
    desired = {t: images[p].manifest for p in images for t in tags.version_arch[p]}
    return desired | dict.fromkeys(tags.index, index)


def _recordable(
    spec: Publishable, revision: str | None, created: str | None, *, mark_unlabelled: bool
) -> dict[str, str]:
    """What a child descriptor records from its image's config: the revision label once it
    is checked to name this commit (an image without it is reported unverified, and its
    entry says it had none, `NO_REVISION_LABEL`, so `status` reads nothing more), and the
    creation time when it is a value the release copies at all (`plain`)."""
    recorded = {REVISION: spec.sha} if revision == spec.sha else {}
    if revision is None and mark_unlabelled:
        recorded[NO_REVISION_LABEL] = "true"
    if (time := plain(created)) is not None:
        recorded[CREATED] = time
    return recorded


def _recorded_annotations(spec: Publishable, index: Manifest | None) -> dict[str, dict[str, str]]:
    """Per child digest, what a held SHA index records from the configs, as `merge` would
    record it: anything else it carries is left out, so the index rebuilt from this is not
    the held one and the configs are read again."""
    if index is None or not index.is_index:
        return {}
    recorded = (
        (
            c.digest,
            _recordable(
                spec,
                c.annotations.get(REVISION),
                c.annotations.get(CREATED),
                mark_unlabelled=c.annotations.get(NO_REVISION_LABEL) == "true",
            ),
        )
        for c in index.children()
    )
    return {digest: annotations for digest, annotations in recorded if annotations}


def _unmarked(index: Manifest | None) -> frozenset[str]:
    """Entries of a held SHA index that record neither a revision nor its absence: written
    before `NO_REVISION_LABEL` existed (or by another tool). They stay as they are: the SHA
    index is immutable, and adding the mark would rewrite it."""
    if index is None or not index.is_index:
        return frozenset()
    return frozenset(
        c.digest
        for c in index.children()
        if REVISION not in c.annotations and NO_REVISION_LABEL not in c.annotations
    )


async def _verified_images(
    spec: Publishable,
    client: RegistryClient,
    images: dict[Platform, PerArchRef],
    unmarked: frozenset[str],
) -> tuple[str | None, dict[str, dict[str, str]]]:
    """Check each image's config: the platform it is tagged for, and no other commit's
    revision label. Returns the images' common source label and, per image digest, the
    annotations recorded from its config (`_recordable`)."""
    repo = spec.image.repository
    platforms = list(images)
    configs = await map_concurrently(
        partial(read_config, client, repo), [images[p] for p in platforms]
    )
    sources, mismatches = set(), []
    recorded: dict[str, dict[str, str]] = {}
    for platform, config in zip(platforms, configs, strict=True):
        tag = spec.tags.sha_arch[platform]
        if config.platform != platform:
            raise RegistryError(
                f"{tag} is an image for {config.platform}, not {platform}: nothing written"
            )
        if config.revision is not None and config.revision != spec.sha:
            mismatches.append((tag, config.revision))
        digest = images[platform].image.digest
        recorded[digest] = _recordable(
            spec, config.revision, config.created, mark_unlabelled=digest not in unmarked
        )
        sources.add(source_url_or_none(config.source))  # the --source-url rule
    if mismatches:
        raise RevisionMismatch(mismatches, spec.sha)
    return (sources.pop() if len(sources) == 1 else None), recorded
