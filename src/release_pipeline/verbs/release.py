"""The release's registry phase, written as the runbook: plan and merge.

With `promote.py` (the rollback verb), the one place with policy: which tags a release
writes, when they may be overwritten, and when the floating `latest-F` tag moves. The
primitives it uses (`RegistryClient`, `manifests`, `tags`) know none of it.

Order of a merge, and why (`publish.py` writes the immutable tags; this module, `latest-F`):
1. Read the tag list once (fresh: merge runs after the builds) and the per-arch images.
2. Decide every write and find every conflict before the first write, so a refused release
   writes nothing.
3. Write per-arch version tags, then the multi-arch tags, then `latest-F`: a reader never
   sees a tag whose content is not complete underneath it.
4. After moving `latest-F`, list again and converge on the newest live version, so
   concurrent releases end with the newest one (a registry has no compare-and-swap).
"""

from __future__ import annotations

from dataclasses import dataclass

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.manifests import Manifest
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.specs import ReleaseSpec
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.converge import converge
from release_pipeline.verbs.holdings import read_releases, settled
from release_pipeline.verbs.publish import publish
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
