"""`promote --channel`: point a channel at one of its earlier releases (the rollback verb).

The version path's rule, keyed by commit (`releases.Ledger[str]`, `channels.passed_over`):
- every live release of the channel that is not the target's past (what the channel held,
  and anything newer) gets a yank event, written before the channel tag, so no re-run of
  its release moves the channel back; a yanked target gets a restore event;
- every check comes first: the target is a release of this channel, its index records that
  commit, and every image of it is still in the registry. `dry_run` stops there;
- after writing, it lists again: a release of the channel that appeared meanwhile and is
  not the target's past is yanked too, and the channel put back on the target if that
  release moved it (its run listed before the yank).
A later push that descends from the target moves the channel forward as usual.
"""

from __future__ import annotations

from functools import partial

from release_pipeline.errors import InvalidInput, NotFound, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.channels import Ancestry, passed_over, short
from release_pipeline.rules.manifests import Manifest
from release_pipeline.rules.releases import Ledger
from release_pipeline.rules.specs import ChannelPromoteSpec
from release_pipeline.rules.tags import ChannelScheme
from release_pipeline.verbs.channel import holding, move_channel, read_holding, stale_tags
from release_pipeline.verbs.converge import CONVERGE_ROUNDS, put_all
from release_pipeline.verbs.promote import check_images
from release_pipeline.verbs.report import PromoteReport


async def promote_channel(
    spec: ChannelPromoteSpec,
    client: RegistryClient,
    is_ancestor: Ancestry,
    *,
    dry_run: bool = False,
) -> PromoteReport:
    repo, scheme = spec.image.repository, spec.scheme
    listed = await client.list_tags(repo)
    ledger = Ledger.read(scheme, listed)
    target = _release(spec, ledger)
    manifest = await client.get_manifest(repo, scheme.release_tag(target))
    if holding(manifest).revision != target:
        raise RegistryError(f"{scheme.release_tag(target)} holds an index of another commit")
    await check_images(client, repo, scheme.release_tag(target), manifest)
    held = await read_holding(client, repo, scheme.tag) if scheme.tag in listed else None

    restore = [target] if ledger.marked(target) else []
    markers = {ledger.restore_tag(v): manifest for v in restore}
    ledger = ledger.with_tags(markers)
    yank = passed_over(target, ledger.versions, ledger, is_ancestor)
    markers |= await _yank_events(client, repo, scheme, ledger, yank)
    written = {t: m.digest for t, m in markers.items()}
    late: list[str] = []
    if dry_run:
        written |= dict.fromkeys(stale_tags(scheme, manifest, held), manifest.digest)
    else:
        await put_all(client, repo, markers)  # events first: a racing re-run sees them
        written |= await move_channel(client, repo, scheme, manifest, None, None)
        late, settled = await _settle(
            client, repo, scheme, ledger.with_tags(markers), target, manifest, is_ancestor
        )
        written |= settled
    return PromoteReport(
        image=str(spec.image),
        flavor=spec.flavor,
        tag=scheme.tag,
        source=spec.source,
        digest=manifest.digest,
        pinned=f"{spec.image}@{manifest.digest}",
        version=target,
        yanked=[*yank, *late],
        written=list(written),
        tags=written,
        reason=_reason(scheme.tag, target, yank, restore, late),
        dry_run=dry_run,
        previous=None if held is None else held.digest,
        previous_version=None if held is None else held.revision,
        after=manifest.digest,
        after_version=target,
        restored=restore,
        released_meanwhile=late,
        already_current=held is not None and held.digest == manifest.digest,
    )


def _release(spec: ChannelPromoteSpec, ledger: Ledger[str]) -> str:
    """The one release of the channel whose commit `spec.source` names (or starts)."""
    found = sorted(v for v in ledger.versions if v.startswith(spec.source))
    if not found:
        raise NotFound(
            f"{spec.image} has no release {spec.source} of channel {spec.scheme.tag} "
            "(`release-pipeline status --channel` lists them)"
        )
    if len(found) > 1:
        raise InvalidInput(
            "from", f"{spec.source} starts {len(found)} releases of the channel: give more digits"
        )
    return found[0]


async def _yank_events(
    client: RegistryClient,
    repo: str,
    scheme: ChannelScheme,
    ledger: Ledger[str],
    releases: list[str],
) -> dict[str, Manifest]:
    """One yank event per release, holding that release's index (one GET each)."""
    tags = [scheme.release_tag(r) for r in releases]
    indexes = await map_concurrently(partial(client.get_manifest, repo), tags)
    return {ledger.yank_tag(r): m for r, m in zip(releases, indexes, strict=True)}


async def _settle(
    client: RegistryClient,
    repo: str,
    scheme: ChannelScheme,
    seen: Ledger[str],
    target: str,
    manifest: Manifest,
    is_ancestor: Ancestry,
) -> tuple[list[str], dict[str, str]]:
    """List again: yank the releases that appeared while this ran and are not the target's
    past, then put the channel back on the target if one of them moved it."""
    late: list[str] = []
    written: dict[str, str] = {}
    try:
        for _ in range(CONVERGE_ROUNDS):
            now = Ledger.read(scheme, await client.list_tags(repo))
            arrived = now.versions - seen.versions
            new = passed_over(target, arrived, now, is_ancestor)
            if not new:
                written |= await move_channel(client, repo, scheme, manifest, None, None)
                return late, written
            try:
                events = await _yank_events(client, repo, scheme, now, new)
            except NotFound:  # listed, not readable yet: its release is mid-PUT
                continue
            await put_all(client, repo, events)
            written |= {t: m.digest for t, m in events.items()}
            late += new
            seen = now.with_tags(events)
    except RegistryError as exc:
        raise type(exc)(
            f"{scheme.tag} was rolled back to {short(target)}, but checking for releases made "
            f"meanwhile failed ({exc}); run the same promote again"
        ) from None
    raise RegistryError(
        f"{scheme.tag} did not settle after {CONVERGE_ROUNDS} rounds; run the same promote again"
    )


def _reason(tag: str, target: str, yank: list[str], restore: list[str], late: list[str]) -> str:
    name = short(target)
    parts = []
    if restore:
        parts.append(f"{name} was yanked: a restore event puts it back.")
    if yank:
        names = ", ".join(map(short, yank))
        parts.append(
            f"{names} {'is' if len(yank) == 1 else 'are'} not in {name}'s past: each gets a yank "
            f"event, so no re-run of its release moves {tag} back."
        )
    else:
        parts.append(f"no release of {tag} is newer than {name}: nothing to yank.")
    if late:
        names = ", ".join(map(short, late))
        parts.append(f"{names} was released while this rollback ran: passed over and yanked too.")
    return " ".join(parts)
