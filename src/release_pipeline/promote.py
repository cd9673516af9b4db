"""`promote`: point a floating tag at an existing release, digest kept (the rollback verb).

With `release.py`, the place with policy. Moving `latest-F` back yanks the newer live
versions it passes over (a marker tag each, written before the floating tag), so that a
re-run of one of their releases, which never moves `latest-F` to a yanked version, cannot
undo the rollback.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from .concurrency import map_concurrently
from .errors import RegistryError
from .manifests import Manifest
from .registry import RegistryClient
from .release import put_all
from .report import PromoteReport
from .specs import PromoteSpec
from .tags import TagScheme
from .versions import Version


async def promote(
    spec: PromoteSpec, client: RegistryClient, *, dry_run: bool = False
) -> PromoteReport:
    """Point a floating tag at an existing release, digest kept: the rollback verb.

    Moving `latest-F` back yanks the newer versions it passes over (a marker tag each), so
    that re-running one of their releases cannot undo the rollback. Every read and check
    happens before the first write; `dry_run` stops there and reports the same decision.
    """
    decided = await _promotion(spec, client)
    if not dry_run:
        # Markers first: a release re-run racing this rollback then already sees them.
        await put_all(client, spec.image.repository, decided.markers)
        await client.put_manifest(spec.image.repository, spec.target, decided.manifest)
    writes = {**decided.markers, spec.target: decided.manifest}
    return PromoteReport(
        image=str(spec.image),
        flavor=spec.flavor,
        tag=spec.target,
        source=spec.source,
        digest=decided.manifest.digest,
        pinned=f"{spec.image}@{decided.manifest.digest}",
        version=None if decided.version is None else str(decided.version),
        yanked=[str(v) for v in decided.yank],
        written=list(writes),
        tags={tag: manifest.digest for tag, manifest in writes.items()},
        reason=decided.reason,
        dry_run=dry_run,
    )


@dataclass(frozen=True)
class _Promotion:
    manifest: Manifest  # what the floating tag will hold
    version: Version | None
    yank: list[Version]
    markers: dict[str, Manifest]  # yank marker -> the passed-over version's index
    reason: str


async def _promotion(spec: PromoteSpec, client: RegistryClient) -> _Promotion:
    """Everything `promote` writes, decided from reads only."""
    repo, scheme = spec.image.repository, spec.scheme
    catalog = scheme.catalog(await client.list_tags(repo))
    manifest = await client.get_manifest(repo, spec.source)
    version = scheme.version_of(spec.source)
    if spec.target != scheme.latest:
        reason = f"{spec.target} is not {scheme.latest}: no version is yanked."
        return _Promotion(manifest, version, [], {}, reason)
    if not manifest.is_index:
        raise RegistryError(
            f"{spec.source} is a single-platform image; {spec.target} must name a multi-arch index"
        )
    if version is None:
        newest_first = sorted(catalog.versions, reverse=True)
        version = await released_as(client, repo, scheme, newest_first, manifest.digest)
        if version is None:
            raise RegistryError(
                f"{manifest.digest} is not the index of any released version; "
                "latest carries released versions only"
            )
    if not version.stable:
        raise RegistryError(
            f"{spec.source} is prerelease {version}; {spec.target} carries stable versions only"
        )
    yank = sorted(v for v in catalog.live() if v > version)
    markers = {scheme.yank_marker(v): scheme.version_tags(v)[0] for v in yank}
    indexes = await map_concurrently(partial(client.get_manifest, repo), list(markers.values()))
    if yank:
        names = ", ".join(map(str, yank))
        reason = (
            f"{names} {'is' if len(yank) == 1 else 'are'} newer than {version} and live: "
            f"each gets a yank marker, so no re-run of its release moves {spec.target} back."
        )
    else:
        reason = f"no live version is newer than {version}: nothing to yank."
    return _Promotion(manifest, version, yank, dict(zip(markers, indexes, strict=True)), reason)


async def released_as(
    client: RegistryClient, repo: str, scheme: TagScheme, versions: list[Version], digest: str
) -> Version | None:
    """The first of `versions` (newest first) whose index is `digest`: a digest names no
    version, and every version of one commit shares its index."""
    for version in versions:
        if await client.head_manifest(repo, scheme.version_tags(version)[0]) == digest:
            return version
    return None
