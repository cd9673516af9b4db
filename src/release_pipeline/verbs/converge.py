"""After a verb moved a floating tag: list again and end on the newest live version.

A registry has no compare-and-swap, so `merge` and `promote` both finish this way: the last
writer re-lists after its own PUT and writes the newest live version any of them saw
(`releases.Releases.newest_live`). Event tags are always written before the floating tag,
so a writer that lists after another's events sees them.

A rollback also passes over what was released while it ran: a version newer than its target
that appears in the re-list (its release read the tags before the rollback's events) gets a
yank event too, and the rollback reports it. Those events land after the rollback's floating
tag, so it then reads the tag again (that release may have moved it, having listed before
the events) and puts it back. A version whose tags land after the rollback's last re-list is
like any newer release: its own `merge` moves the floating tag to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import anyio

from release_pipeline.errors import NotFound, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.manifests import Manifest
from release_pipeline.rules.releases import Releases
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.holdings import read_releases, settled

CONVERGE_ROUNDS = 5


@dataclass
class Converged:
    digest: str  # what the floating tag holds at the end
    version: Version | None  # the version that is
    yanked: list[Version] = field(default_factory=list)  # late versions this run passed over
    written: dict[str, str] = field(default_factory=dict)  # tags this step PUT -> digest


async def converge(
    client: RegistryClient,
    repo: str,
    tag: str,
    releases: Releases,
    digest: str,
    version: Version | None,
    *,
    rollback_to: Version | None = None,
    rerun: str,
) -> Converged:
    """End `tag` on the newest live version; `releases`: what the caller read before writing
    (its digests are reused), `digest`/`version`: what the caller wrote. `rollback_to`: pass
    over versions newer than it that appear meanwhile. `rerun`: what settles it by hand."""
    done = Converged(digest, version)
    seen = releases.ledger.versions
    try:
        for round_ in range(CONVERGE_ROUNDS):
            listed = await client.list_tags(repo)
            now = await read_releases(
                client, repo, releases.ledger.scheme, listed, known=releases.digests
            )
            if rollback_to is not None:
                yanked = len(done.yanked)
                now = await _pass_over_late(client, repo, now, seen, rollback_to, done)
                if len(done.yanked) > yanked:
                    # These events come after our floating tag: the release they yank may
                    # have moved it since, and listed before seeing them. Read what it holds.
                    done.digest = await client.head_manifest(repo, tag) or done.digest
                    done.version = None
            now = await settled(client, repo, now)
            newest = now.newest_live()
            if newest is None or newest == done.version or now.digests.get(newest) == done.digest:
                done.version = done.version if newest is None else newest
                return done
            try:
                manifest = await client.get_manifest(repo, now.ledger.scheme.release_tag(newest))
            except NotFound:
                # Listed but not readable yet: its release is mid-PUT, or the registry lags
                # behind its own writes (GHCR). Look again shortly.
                await anyio.sleep(0.05 * 2**round_)
                continue
            if manifest.digest != done.digest:  # versions of one commit share their index
                await client.put_manifest(repo, tag, manifest)
                done.written[tag] = manifest.digest
            done.digest, done.version = manifest.digest, newest
            releases = now
    except RegistryError as exc:
        raise type(exc)(
            f"{tag} now points at {done.version or done.digest}, but checking for a newer "
            f"release failed ({exc}); {rerun} to settle {tag}"
        ) from None
    raise RegistryError(
        f"{tag} did not settle after {CONVERGE_ROUNDS} rounds of concurrent releases "
        f"(or a newer version stayed unreadable); {rerun} to settle it"
    )


async def _pass_over_late(
    client: RegistryClient,
    repo: str,
    now: Releases,
    seen: frozenset[Version],
    target: Version,
    done: Converged,
) -> Releases:
    """Yank the versions newer than the rollback's target that it had not seen and that are
    live: released while it ran, passed over like the ones it saw."""
    late = [
        v
        for v in sorted(now.ledger.versions - seen)
        if v > target and now.live(v) and v not in done.yanked
    ]
    tags = [now.ledger.scheme.release_tag(v) for v in late]
    read = await map_concurrently(partial(_readable, client, repo), tags)
    # One not readable yet (its release is mid-PUT) is passed over in a later round.
    found = {v: m for v, m in zip(late, read, strict=True) if m is not None}
    now = now.with_digests({v: m.digest for v, m in found.items()})
    markers: dict[str, Manifest] = {}
    for v, index in found.items():
        if now.live(v) and index.digest != done.digest:
            markers[now.ledger.yank_tag(v)] = index
            done.yanked.append(v)
    await put_all(client, repo, markers)
    done.written |= {t: m.digest for t, m in markers.items()}
    return now.with_tags(markers)


async def _readable(client: RegistryClient, repo: str, tag: str) -> Manifest | None:
    try:
        return await client.get_manifest(repo, tag)
    except NotFound:
        return None


async def put_all(client: RegistryClient, repo: str, writes: dict[str, Manifest]) -> None:
    """PUT each tag's exact bytes, concurrently (bounded): independent writes of one step."""
    await map_concurrently(partial(_put, client, repo), list(writes.items()))


async def _put(client: RegistryClient, repo: str, write: tuple[str, Manifest]) -> None:
    await client.put_manifest(repo, *write)
