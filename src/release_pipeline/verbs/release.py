"""The release's registry phase, written as the runbook: plan and merge.

With `promote.py` (the rollback verb), the one place with policy: which tags a release
writes, when they may be overwritten, and when the floating `latest-F` tag moves. The
primitives it uses (`RegistryClient`, `manifests`, `tags`) know none of it.

Order of a merge, and why:
1. Read the tag list once (fresh: merge runs after the builds) and the per-arch images.
2. Decide every write and find every conflict before the first write, so a refused release
   writes nothing.
3. Write per-arch version tags, then the multi-arch tags, then `latest-F`: a reader never
   sees a tag whose content is not complete underneath it.
4. After moving `latest-F`, list again and converge on the newest live version, so
   concurrent releases end with the newest one (a registry has no compare-and-swap).
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
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.specs import ReleaseSpec
from release_pipeline.rules.tags import ReleaseTags
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.converge import converge, put_all
from release_pipeline.verbs.holdings import read_releases, settled
from release_pipeline.verbs.per_arch import PerArchRef, read_config, read_per_arch
from release_pipeline.verbs.report import ReleaseReport


async def plan(
    spec: ReleaseSpec,
    client: RegistryClient,
    *,
    force: bool = False,
    source_url: str | None = None,
) -> ReleaseReport:
    """What `merge` would write and why; reads only."""
    return await merge(spec, client, force=force, dry_run=True, source_url=source_url)


async def merge(
    spec: ReleaseSpec,
    client: RegistryClient,
    *,
    force: bool = False,
    dry_run: bool = False,
    source_url: str | None = None,
) -> ReleaseReport:
    """Tag the per-arch images of `spec.sha` as this version and publish its multi-arch index.

    `source_url` sets the index's `org.opencontainers.image.source` annotation; without it,
    the images' common source label does.
    """
    tags = spec.tags
    done = await publish(spec, client, force=force, dry_run=dry_run, source_url=source_url)
    index, writes = done.index, dict(done.writes)
    latest = await _settle_latest(
        spec, client, index, done.listed, anything_written=bool(writes), dry_run=dry_run
    )
    if latest.written:
        writes[tags.latest] = index

    result = dict(done.tags)
    if latest.digest == index.digest:
        result[tags.latest] = index.digest
    return ReleaseReport(
        image=str(spec.image),
        version=str(spec.version),
        sha=spec.sha,
        flavor=spec.flavor,
        platforms=done.platforms,
        index_digest=index.digest,
        pinned=f"{spec.image}@{index.digest}",
        tags=result,
        written=list(writes),
        unchanged=[t for t in result if t not in writes],
        replaced=done.replaced,
        latest_moved=latest.written and not dry_run,
        latest_reason=latest.reason,
        dry_run=dry_run,
        revision_unverified=done.revision_unverified,
    )


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


# --- the rules ---------------------------------------------------------------------------


def _latest_decision(spec: ReleaseSpec, releases: Releases, digest: str) -> tuple[bool, str]:
    """Whether this release moves `latest-F`, with the one-sentence reason."""
    latest, version = spec.tags.latest, spec.version
    if not version.stable:
        return False, f"{version} is a prerelease; {latest} carries stable versions only."
    if releases.ledger.marked(version):
        return False, (
            f"{version} was yanked by a rollback; {latest} stays where it is "
            f"(promote --from {version} puts it back)."
        )
    if shared := releases.yanked_as(digest):
        names = ", ".join(map(str, shared))
        return False, (
            f"{version} is the index yanked as {names} (the same images); {latest} stays where "
            f"it is: to put it back, promote --from {version}."
        )
    newest = releases.newest_live()
    if newest is not None and newest > version:
        return False, f"{newest} is newer than {version}; {latest} never moves backwards."
    return True, f"{version} is the newest stable version; {latest} now points at it."


@dataclass(frozen=True)
class _Latest:
    written: bool  # this run PUT latest-F (a dry run: would PUT it)
    digest: str | None  # where latest-F points after the run, when known
    reason: str


async def _settle_latest(
    spec: ReleaseSpec,
    client: RegistryClient,
    index: Manifest,
    listed: set[str],
    *,
    anything_written: bool,
    dry_run: bool,
) -> _Latest:
    """Move `latest-F` to this release only if it is the newest live version."""
    repo, latest, version = spec.image.repository, spec.tags.latest, spec.version
    releases = await _releases(spec, client, [*listed, spec.tags.index[1]], index.digest)
    move, reason = _latest_decision(spec, releases, index.digest)
    held = None
    if releases.live(version) and not anything_written:
        # A re-run: latest may already be ours (or left on ours by an interrupted run).
        held = await client.head_manifest(repo, latest) if latest in listed else None
    if move and held == index.digest:
        return _Latest(
            False, held, f"{version} is the newest stable version; {latest} already points at it."
        )
    if move:
        if dry_run:  # nothing moved: say what would
            would = f"{version} is the newest stable version; {latest} would point at it."
            return _Latest(True, index.digest, would)
        await client.put_manifest(repo, latest, index)
        digest, settled = await _converge(spec, client, releases, index)
        if settled != version:
            reason = (
                f"{version} was newest when this release read the tags, but {settled} "
                f"is now; {latest} points at {settled}."
            )
        return _Latest(True, digest, reason)
    if held == index.digest and not dry_run:
        # An earlier run of this release moved latest, then failed before its re-list could
        # put it on a newer version that landed meanwhile: finish that step now.
        digest, settled = await _converge(spec, client, releases, index)
        if digest != index.digest:
            return _Latest(
                True,
                digest,
                f"an earlier run left {latest} on {version}; {latest} points at {settled}.",
            )
    return _Latest(False, held, reason)


async def _releases(
    spec: ReleaseSpec, client: RegistryClient, listed: list[str], digest: str
) -> Releases:
    """The rule's view, this release included: digests read only once something is yanked."""
    known = {spec.version: digest}
    releases = await read_releases(client, spec.image.repository, spec.scheme, listed, known=known)
    return await settled(client, spec.image.repository, releases)


async def _converge(
    spec: ReleaseSpec, client: RegistryClient, releases: Releases, ours: Manifest
) -> tuple[str, Version]:
    """After moving latest, make sure it ends on the newest live version; return where.

    Another release may have published a newer version (or a rollback yanked ours) between
    our tag list and our PUT. Every release does this check after its own PUT, so the last
    writer always writes the newest live version that any of them saw."""
    done = await converge(
        client,
        spec.image.repository,
        spec.tags.latest,
        releases,
        ours.digest,
        spec.version,
        rerun="re-run this release",
    )
    return done.digest, done.version or spec.version


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
