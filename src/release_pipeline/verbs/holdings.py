"""Read what the rule in `releases.py` needs, and no more: the registry side of that rule.

A tag list settles everything while nothing is yanked. Once a version is yanked, its index
digest matters (a version holding the same index is yanked too), so it is read: one HEAD of
the version tag per yanked version, and one per version a question is about whose digest no
earlier read gave. Versions of one commit share their index, so none is read twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial

from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.releases import EventScheme, Ledger, Releases
from release_pipeline.rules.versions import Version


async def read_releases(
    client: RegistryClient,
    repo: str,
    scheme: EventScheme[Version],
    tags: Iterable[str],
    *,
    known: Mapping[Version, str] | None = None,
    about: Iterable[Version] = (),
) -> Releases:
    """The releases of `scheme`'s flavor, with the digests of every yanked version and, once
    something is yanked, of each of `about`. `known`: digests the caller already read."""
    releases = Releases(Ledger.read(scheme, tags), dict(known or {}))
    releases = await with_digests(client, repo, releases, releases.ledger.marked_versions())
    return await with_digests(client, repo, releases, releases.unsettled(about))


async def with_digests(
    client: RegistryClient, repo: str, releases: Releases, versions: Iterable[Version]
) -> Releases:
    """`releases` with the digests of `versions` (one HEAD each, none for those known)."""
    wanted = [v for v in dict.fromkeys(versions) if v not in releases.digests]
    tags = [releases.ledger.scheme.release_tag(v) for v in wanted]
    heads = await map_concurrently(partial(client.head_manifest, repo), tags)
    return releases.with_digests({v: d for v, d in zip(wanted, heads, strict=True) if d})


async def settled(client: RegistryClient, repo: str, releases: Releases) -> Releases:
    """`releases` once `newest_live` is decided: digests read newest first, as needed."""
    while (version := releases.next_unsettled()) is not None:
        read = await with_digests(client, repo, releases, [version])
        if version not in read.digests:  # listed, but gone: no release to consider
            read = Releases(
                Ledger(
                    read.ledger.scheme,
                    read.ledger.versions - {version},
                    read.ledger.yanks,
                    read.ledger.restores,
                ),
                read.digests,
            )
        releases = read
    return releases


async def find_version(
    client: RegistryClient, repo: str, releases: Releases, digest: str | None
) -> tuple[Releases, Version | None]:
    """The version whose index is `digest` (newest stable first, as `Releases.holding` names
    it), one HEAD per version tried, stopping at the first stable match; None for no digest
    (a floating tag that does not exist). Every verb that names what a floating tag holds
    asks here, so `status` and `promote` never name one digest differently."""
    if digest is None:
        return releases, None
    found = releases.holding(digest)
    if found is not None and found.stable:
        return releases, found
    for version in releases.versions:
        if version in releases.digests:
            continue
        releases = await with_digests(client, repo, releases, [version])
        if releases.digests.get(version) == digest and version.stable:
            break
    return releases, releases.holding(digest)
