"""`promote`: point a floating tag at an existing release, digest kept (the rollback verb).

With `release.py`, the place with policy; what counts as a release, live or yanked is
`releases.py`'s rule, the one `status` and `merge` read. Moving `latest-F` to version V:
- every live version newer than V gets a yank event (written before the floating tag), so
  a re-run of its release never moves `latest-F` back; a yanked V gets a restore event, so
  it counts as live again for every verb;
- every check comes first: V is a stable release of this flavor, every image of its index
  is still in the registry, the tags to write are this flavor's. A refused promote writes
  nothing, and `--dry-run` decides exactly what the real run writes;
- after writing, it lists again and converges (`converge.py`): a version released while the
  rollback ran is passed over and yanked too, and the report lists it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from release_pipeline.errors import InvalidInput, NotFound, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.manifests import Manifest
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.specs import PromoteSpec, flavor_hint, flavor_name
from release_pipeline.rules.tags import TagScheme, version_flavor
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.converge import Converged, converge, put_all
from release_pipeline.verbs.holdings import find_version, read_releases
from release_pipeline.verbs.report import PromoteReport

# Error path only: how many other flavors' version tags are tried to name the flavor a
# digest belongs to.
MAX_OWNER_LOOKUPS = 50


async def promote(
    spec: PromoteSpec, client: RegistryClient, *, dry_run: bool = False
) -> PromoteReport:
    """Point a floating tag at an existing release, digest kept: the rollback verb.

    Every read and check happens before the first write; `dry_run` stops there and reports
    the same decision (`yanked`, `restored` and `written` are what it would write)."""
    repo = spec.image.repository
    listed = await client.list_tags(repo)
    releases = await read_releases(client, repo, spec.scheme, listed)
    manifest, version, releases = await _source(spec, client, listed, releases)
    await check_images(client, repo, spec.source, manifest)
    held = await client.head_manifest(repo, spec.target) if spec.target in listed else None
    if spec.target == spec.scheme.latest:
        decided = await _rollback(spec, client, releases, manifest, version, held)
    else:
        decided = await _other_floating(spec, client, releases, manifest, version, held)

    # Named as `status` names it: a restore reads no digest of the version latest holds.
    _, previous_version = await find_version(client, repo, decided.releases, held)
    writes = dict(decided.markers)
    if held != manifest.digest:
        writes[spec.target] = manifest
    settled = Converged(manifest.digest, decided.holds)
    if not dry_run:
        # Events first: a release re-run racing this rollback then already sees them.
        await put_all(client, repo, decided.markers)
        if spec.target in writes:
            await client.put_manifest(repo, spec.target, manifest)
        if spec.target == spec.scheme.latest:
            settled = await converge(
                client,
                repo,
                spec.target,
                decided.releases.with_tags(decided.markers),
                manifest.digest,
                decided.holds,
                rollback_to=version,
                rerun="run the same promote again",
            )
    written = {t: m.digest for t, m in writes.items()} | settled.written
    reason = decided.reason + _late_reason(spec, settled, version)
    return PromoteReport(
        image=str(spec.image),
        flavor=spec.flavor,
        tag=spec.target,
        source=spec.source,
        digest=manifest.digest,
        pinned=f"{spec.image}@{manifest.digest}",
        version=str(version),
        yanked=[str(v) for v in [*decided.yank, *settled.yanked]],
        written=list(written),
        tags=written,
        reason=reason,
        dry_run=dry_run,
        previous=held,
        previous_version=_str(previous_version),
        after=settled.digest,
        after_version=_str(settled.version),
        restored=[str(v) for v in decided.restore],
        released_meanwhile=[str(v) for v in settled.yanked],
        already_current=held == manifest.digest,
    )


@dataclass(frozen=True)
class _Decision:
    releases: Releases  # what was read, digests included
    holds: Version | None  # the version the floating tag names once this is written
    yank: list[Version]
    restore: list[Version]
    markers: dict[str, Manifest]  # event tag -> what it holds (the version's index)
    reason: str


async def _source(
    spec: PromoteSpec, client: RegistryClient, listed: list[str], releases: Releases
) -> tuple[Manifest, Version, Releases]:
    """The release `--from` names, and its bytes: a version of this flavor, or a tag or
    digest holding one's index (the newest stable version holding it)."""
    repo = spec.image.repository
    if spec.version is not None:
        if spec.version not in releases.ledger.versions:
            raise _not_a_release(spec, listed, spec.version)
        manifest = await client.get_manifest(repo, spec.source)
        return manifest, spec.version, releases.with_digests({spec.version: manifest.digest})
    if not spec.source.startswith("sha256:") and spec.source not in listed:
        raise NotFound(
            f"{spec.image}:{spec.source} is not in the registry "
            "(`release-pipeline status` lists the releases)"
        )
    manifest = await client.get_manifest(repo, spec.source)
    releases, version = await find_version(client, repo, releases, manifest.digest)
    if version is None:
        raise await _owner_error(spec, client, listed, manifest.digest)
    return manifest, version, releases


def _not_a_release(spec: PromoteSpec, listed: list[str], version: Version) -> Exception:
    owners = sorted(
        {
            flavor
            for tag in listed
            if (flavor := version_flavor(tag)) is not None
            and flavor != spec.flavor
            and TagScheme(flavor).version_of(tag) == version
        }
    )
    if owners:
        return InvalidInput(
            "from",
            f"{version} is no release of {flavor_name(spec.flavor)}; "
            f"{' and '.join(map(flavor_name, owners))} has it: add {flavor_hint(owners[0])}",
        )
    return NotFound(
        f"{spec.image} has no release {version} of {flavor_name(spec.flavor)} "
        "(`release-pipeline status` lists the releases)"
    )


async def _owner_error(
    spec: PromoteSpec, client: RegistryClient, listed: list[str], digest: str
) -> Exception:
    """`--from` holds no release of this flavor: name the flavor whose release it is."""
    others = [
        (version, tag, flavor)
        for tag in listed
        if not tag.startswith("v")
        and (flavor := version_flavor(tag)) is not None
        and flavor != spec.flavor
        and (version := TagScheme(flavor).version_of(tag)) is not None
    ]
    others.sort(reverse=True)
    for _, tag, flavor in others[:MAX_OWNER_LOOKUPS]:
        if await client.head_manifest(spec.image.repository, tag) == digest:
            return InvalidInput(
                "from",
                f"holds a release of {flavor_name(flavor)}, not of {flavor_name(spec.flavor)}: "
                f"add {flavor_hint(flavor)}",
            )
    return RegistryError(
        f"{spec.source} is not the index of any release of {flavor_name(spec.flavor)}; "
        "a floating tag carries released versions only"
    )


async def check_images(client: RegistryClient, repo: str, source: str, manifest: Manifest) -> None:
    """Everything the floating tag's PUT needs is still there: each manifest of an index (one
    HEAD each), or a single-platform image's config and layers (one HEAD per blob). Else the
    PUT would fail after the events were written, or leave a tag no one can pull."""
    if manifest.is_index:
        wanted, what = manifest.children(), "manifests of its index"
        check = partial(_has_manifest, client, repo)
    else:
        wanted, what = manifest.blobs(), "blobs of its image"
        check = partial(client.has_blob, repo)
    found = await map_concurrently(check, [d.digest for d in wanted])
    gone = [d.digest for d, ok in zip(wanted, found, strict=True) if not ok]
    if gone:
        raise RegistryError(
            f"{source}: {len(gone)} of the {len(wanted)} {what} are gone "
            f"from the registry (first: {gone[0]}); nothing written: choose another release"
        )


async def _has_manifest(client: RegistryClient, repo: str, digest: str) -> bool:
    return await client.head_manifest(repo, digest) == digest


async def _rollback(
    spec: PromoteSpec,
    client: RegistryClient,
    releases: Releases,
    manifest: Manifest,
    version: Version,
    held: str | None,
) -> _Decision:
    """Moving `latest-F` to `version`: its restore (when yanked) and the yanks it causes."""
    repo, latest, digest = spec.image.repository, spec.target, manifest.digest
    if not version.stable:
        raise RegistryError(
            f"{spec.source} is prerelease {version}; {latest} carries stable versions only"
        )
    ledger = releases.ledger
    restore = sorted({*releases.yanked_as(digest), *([version] if ledger.marked(version) else [])})
    markers = {ledger.restore_tag(v): manifest for v in restore}
    releases = releases.with_tags(markers)
    newer = [
        v for v in releases.versions if v > version and v.stable and not releases.ledger.marked(v)
    ]
    tags = [releases.ledger.scheme.release_tag(v) for v in newer]
    indexes = dict(
        zip(newer, await map_concurrently(partial(client.get_manifest, repo), tags), strict=True)
    )
    releases = releases.with_digests({v: m.digest for v, m in indexes.items()})
    yank = releases.passed_over(version, digest)
    markers |= {releases.ledger.yank_tag(v): indexes[v] for v in yank}
    return _Decision(
        releases,
        version,
        yank,
        restore,
        markers,
        _reason(latest, version, yank, restore, held, digest),
    )


async def _other_floating(
    spec: PromoteSpec,
    client: RegistryClient,
    releases: Releases,
    manifest: Manifest,
    version: Version,
    held: str | None,
) -> _Decision:
    """Another floating tag of this flavor (`canary-workers`): it carries what it is told
    (prereleases too), yanks nothing, and never overwrites a tag holding another image."""
    if held is not None and held != manifest.digest:
        releases, holder = await find_version(client, spec.image.repository, releases, held)
        if holder is None:
            raise InvalidInput(
                "to",
                f"holds an image that is no release of {flavor_name(spec.flavor)} "
                "(another image's tag?); promote never overwrites it",
            )
    reason = f"{spec.target} is not {spec.scheme.latest}: no version is yanked."
    if held == manifest.digest:
        reason = f"{spec.target} already holds {version}: nothing written."
    return _Decision(releases, version, [], [], {}, reason)


def _reason(
    latest: str,
    version: Version,
    yank: list[Version],
    restore: list[Version],
    held: str | None,
    digest: str,
) -> str:
    parts = []
    if restore:
        names = ", ".join(map(str, restore))
        parts.append(
            f"{names} {'was' if len(restore) == 1 else 'were'} yanked: a restore event puts "
            f"{'it' if len(restore) == 1 else 'them'} back, so no later release moves "
            f"{latest} below {version}."
        )
    if yank:
        names = ", ".join(map(str, yank))
        parts.append(
            f"{names} {'is' if len(yank) == 1 else 'are'} newer than {version} and live: "
            f"each gets a yank event, so no re-run of its release moves {latest} back."
        )
    else:
        parts.append(f"no live version is newer than {version}: nothing to yank.")
    if held == digest:
        parts.append(f"{latest} already holds {version}'s index: it is not written again.")
    return " ".join(parts)


def _late_reason(spec: PromoteSpec, settled: Converged, version: Version) -> str:
    notes = []
    if settled.yanked:
        names = ", ".join(map(str, settled.yanked))
        notes.append(f" {names} was released while this rollback ran: passed over and yanked too.")
    if settled.version is not None and settled.version != version:
        notes.append(
            f" {settled.version} is the newest live version now; {spec.target} points at it."
        )
    return "".join(notes)


def _str(version: Version | None) -> str | None:
    return None if version is None else str(version)
