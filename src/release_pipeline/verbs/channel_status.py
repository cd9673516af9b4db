"""`status --channel`: the commit a channel holds, its releases and where a rollback can go.

Read-only, and the same report as a flavor's `status`, keyed by commit: one tag listing,
one GET of the channel tag (its index records the commit), then one GET per release shown
(its digest, and the creation time `merge` recorded on its entries). Releases are ordered by
git history (a descendant first), as `rules.channels` reads it; the rollback candidates are
the live releases in the past of the commit the channel holds, newest first: the ones
`promote --channel --from` moves it back to without restoring anything.
"""

from __future__ import annotations

from functools import cmp_to_key, partial

from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.concurrency import map_concurrently
from release_pipeline.rules.channels import Ancestry
from release_pipeline.rules.manifests import CREATED, plain, platform_images
from release_pipeline.rules.releases import Ledger
from release_pipeline.rules.specs import ChannelStatusSpec
from release_pipeline.verbs.channel import holding, read_holding
from release_pipeline.verbs.report import LatestStatus, StatusReport, VersionStatus


def newest_first(releases: set[str] | frozenset[str], is_ancestor: Ancestry) -> list[str]:
    """A descendant before its ancestors; releases of diverged lines keep SHA order."""

    def order(a: str, b: str) -> int:
        if a == b:
            return 0
        if is_ancestor(b, a) is True:
            return -1
        return 1 if is_ancestor(a, b) is True else (-1 if a < b else 1)

    return sorted(releases, key=cmp_to_key(order))


async def channel_status(
    spec: ChannelStatusSpec, client: RegistryClient, is_ancestor: Ancestry
) -> StatusReport:
    repo, scheme = spec.image.repository, spec.scheme
    listed = await client.list_tags(repo)
    ledger = Ledger.read(scheme, listed)
    held = await read_holding(client, repo, scheme.tag) if scheme.tag in listed else None
    ordered = newest_first(ledger.versions, is_ancestor)
    shown = ordered[: spec.limit]
    indexes = await map_concurrently(
        partial(client.get_manifest, repo), [scheme.release_tag(r) for r in shown]
    )
    rows = []
    for release, index in zip(shown, indexes, strict=True):
        images = platform_images(index) if index.is_index else []
        created = plain(images[0].annotations.get(CREATED)) if images else None
        marked = ledger.marked(release)
        rows.append(
            VersionStatus(
                version=release,
                digest=index.digest,
                revision=holding(index).revision,
                created=created,
                prerelease=False,
                yanked=marked,
                live=not marked,
                yanked_by=release if marked else None,
            )
        )
    current = None if held is None else held.revision
    candidates = [
        r
        for r in ordered
        if current is not None
        and r != current
        and not ledger.marked(r)
        and is_ancestor(r, current) is True
    ]
    return StatusReport(
        image=str(spec.image),
        flavor=spec.flavor,
        latest=LatestStatus(
            tag=scheme.tag,
            digest=None if held is None else held.digest,
            version=current if current in ledger.versions else None,
        ),
        versions=rows,
        rollback_candidates=candidates[: spec.limit],
    )
