"""`channel`: a release keyed by a branch: the SHA tags and index, then the channel tag.

The immutable part is `release.publish`, as for a version. Then the channel (`docs`,
`edge-workers`, and its per-arch `docs-amd64` ...) moves by `rules.channels`: only to a
commit that descends from the one it holds, as git in the caller's checkout answers
(`Ancestry`). Order, and why:
1. Publish the per-arch and SHA tags (a refused release writes nothing).
2. Read what the channel holds: one GET of the channel tag, whose index records its commit.
3. If it moves: write the release tag `C-F_SHA` (the ledger other releases list), then the
   per-arch channel tags, then the channel tag.
4. List again and let a release that appeared meanwhile and is newer take the channel
   (`settle`): a registry has no compare-and-swap, and the last writer's list sees every
   release tag written before its own channel tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import anyio

from release_pipeline.errors import NotFound, RegistryError, TagConflict
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.channels import (
    Ancestry,
    Decision,
    Holding,
    decide,
    settle_target,
    short,
)
from release_pipeline.rules.manifests import REVISION, Manifest, platform_images
from release_pipeline.rules.releases import Ledger
from release_pipeline.rules.specs import ChannelSpec
from release_pipeline.rules.tags import ChannelScheme
from release_pipeline.verbs.converge import CONVERGE_ROUNDS
from release_pipeline.verbs.publish import publish
from release_pipeline.verbs.report import ChannelReport

_SHA = re.compile(r"[0-9a-f]{40}")


async def release_channel(
    spec: ChannelSpec,
    client: RegistryClient,
    is_ancestor: Ancestry,
    *,
    force: bool = False,
    dry_run: bool = False,
    source_url: str | None = None,
) -> ChannelReport:
    """Publish commit `spec.sha`'s index and move the channel to it when the rule allows.
    `force` also overwrites conflicting SHA tags, as `merge --force` does."""
    repo, scheme = spec.image.repository, spec.scheme
    done = await publish(spec, client, force=force, dry_run=dry_run, source_url=source_url)
    ledger = Ledger.read(scheme, done.listed)
    held = await read_holding(client, repo, scheme.tag) if scheme.tag in done.listed else None
    decision = decide(scheme.tag, ledger, spec.sha, held, is_ancestor, force=force)
    writes = {t: m.digest for t, m in done.writes.items()}
    revision = None if held is None else held.revision
    if decision.move:
        record = scheme.release_tag(spec.sha)
        if record in done.listed:
            recorded = await client.head_manifest(repo, record)
            if recorded not in (None, done.index.digest) and not force:
                raise TagConflict([(record, recorded, done.index.digest)])
        else:
            recorded = None
        if dry_run:
            moved = {} if recorded == done.index.digest else {record: done.index.digest}
            moved |= dict.fromkeys(stale_tags(scheme, done.index, held), done.index.digest)
            revision = spec.sha
        else:
            moved = await move_channel(client, repo, scheme, done.index, record, recorded)
            settled = await settle(
                client, repo, scheme, ledger, spec.sha, is_ancestor, "re-run this release"
            )
            moved |= settled.written
            decision = _late(decision, scheme.tag, spec.sha, settled.revision)
            revision = settled.revision
        writes |= moved
    return ChannelReport(
        image=str(spec.image),
        channel=scheme.tag,
        sha=spec.sha,
        flavor=spec.flavor,
        platforms=done.platforms,
        index_digest=done.index.digest,
        pinned=f"{spec.image}@{done.index.digest}",
        tags=done.tags | writes,
        written=list(writes),
        replaced=done.replaced,
        moved=scheme.tag in writes,
        forced=decision.forced,
        reason=decision.reason,
        dry_run=dry_run,
        previous=None if held is None else held.digest,
        previous_revision=None if held is None else held.revision,
        revision=revision,
        revision_unverified=done.revision_unverified,
    )


def _late(decision: Decision, tag: str, sha: str, revision: str | None) -> Decision:
    if revision is None or revision == sha:
        return decision
    return Decision(
        decision.move,
        f"{decision.reason} {short(revision)} is a newer live release; {tag} points at it "
        "(promote rolls a channel back).",
        decision.forced,
    )


def stale_tags(scheme: ChannelScheme, index: Manifest, held: Holding | None) -> list[str]:
    """The channel tags a move to `index` writes (a dry run's answer: per-arch tags are
    counted as written unless the channel already holds this index)."""
    if held is not None and held.digest == index.digest:
        return []
    platforms = [c.platform for c in platform_images(index) if c.platform is not None]
    return scheme.floating_tags(platforms)


async def read_holding(client: RegistryClient, repo: str, tag: str) -> Holding | None:
    """What channel `tag` holds: its digest and the commit its index records (the index's
    revision annotation, else its first platform entry's: what `merge` checked against the
    image's label). A value that is no full SHA reads as none. One GET: the annotation is in
    the bytes, where the config's label would cost two more requests per read."""
    try:
        return holding(await client.get_manifest(repo, tag))
    except NotFound:
        return None


def holding(manifest: Manifest) -> Holding:
    """A channel's index and the commit it records."""
    revision = manifest.annotation(REVISION) if manifest.is_index else None
    if revision is None and manifest.is_index:
        images = platform_images(manifest)
        revision = images[0].annotations.get(REVISION) if images else None
    valid = revision is not None and _SHA.fullmatch(revision) is not None
    return Holding(manifest.digest, revision if valid else None)


async def move_channel(
    client: RegistryClient,
    repo: str,
    scheme: ChannelScheme,
    index: Manifest,
    record: str | None,
    recorded: str | None,
) -> dict[str, str]:
    """Point the channel at `index`: its release tag first (when `record` is given and does
    not hold it yet), then each per-arch channel tag, then the channel tag."""
    written: dict[str, str] = {}
    if record is not None and recorded != index.digest:
        await client.put_manifest(repo, record, index)
        written[record] = index.digest
    for child in platform_images(index):
        if child.platform is None:
            continue  # an entry with no valid platform gets no per-arch channel tag
        tag = scheme.arch_tag(child.platform)
        if await client.head_manifest(repo, tag) != child.digest:
            await client.put_manifest(repo, tag, await client.get_manifest(repo, child.digest))
            written[tag] = child.digest
    if await client.head_manifest(repo, scheme.tag) != index.digest:
        await client.put_manifest(repo, scheme.tag, index)
        written[scheme.tag] = index.digest
    return written


@dataclass
class Settled:
    revision: str | None  # the commit the channel holds at the end
    written: dict[str, str] = field(default_factory=dict)  # tags this step PUT -> digest


async def settle(
    client: RegistryClient,
    repo: str,
    scheme: ChannelScheme,
    seen: Ledger[str],
    current: str,
    is_ancestor: Ancestry,
    rerun: str,
) -> Settled:
    """After moving the channel to `current`: list again, and move it on to a newer release
    that appeared meanwhile (`seen`: the ledger read before writing), or back to the newest
    live one before it when a rollback yanked `current` meanwhile."""
    done = Settled(current)
    try:
        for round_ in range(CONVERGE_ROUNDS):
            now = Ledger.read(scheme, await client.list_tags(repo))
            target = settle_target(current, seen, now, is_ancestor)
            if target == current:
                return done
            try:
                index = await client.get_manifest(repo, scheme.release_tag(target))
            except NotFound:  # listed, not readable yet (mid-PUT, or a lagging registry)
                await anyio.sleep(0.05 * 2**round_)
                continue
            if holding(index).revision != target:
                raise RegistryError(
                    f"{scheme.release_tag(target)} holds an index of another commit"
                )
            done.written |= await move_channel(client, repo, scheme, index, None, None)
            current = done.revision = target
    except RegistryError as exc:
        raise type(exc)(
            f"{scheme.tag} now points at {short(current)}, but checking for a newer release "
            f"failed ({exc}); {rerun} to settle {scheme.tag}"
        ) from None
    raise RegistryError(
        f"{scheme.tag} did not settle after {CONVERGE_ROUNDS} rounds of concurrent releases; "
        f"{rerun} to settle it"
    )
