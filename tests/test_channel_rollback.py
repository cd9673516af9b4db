"""Rolling a channel back, and reading it, against a real registry: `promote --channel` and
`status --channel`.

The incident for branches: `docs` moved to a broken commit. On-call moves it back to an
earlier commit; the newer releases get yank events, so a re-run of their workflows cannot
undo the rollback, while a fix pushed on top moves the channel forward as usual.
"""

from __future__ import annotations

import asyncio
import json

import anyio
from channel_history import Commits
from conftest import ProxyFactory
from seeding import seed_commits
from support.faults import Faults
from support.images import fetch_raw, tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import (
    channel_promote_spec,
    channel_spec,
    channel_status_spec,
)
from release_pipeline.verbs.channel import release_channel
from release_pipeline.verbs.channel_rollback import promote_channel
from release_pipeline.verbs.channel_status import channel_status
from release_pipeline.verbs.report import ChannelReport, PromoteReport, StatusReport

REVISION = "org.opencontainers.image.revision"


async def ship(host: str, repo: str, sha: str, git: Commits) -> ChannelReport:
    spec = channel_spec(f"{host}/{repo}", "docs", sha, flavor="docs")
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await release_channel(spec, client, git.is_ancestor)


async def roll(
    host: str, repo: str, sha: str, git: Commits, *, dry_run: bool = False
) -> PromoteReport:
    spec = channel_promote_spec(f"{host}/{repo}", "docs", sha, flavor="docs")
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await promote_channel(spec, client, git.is_ancestor, dry_run=dry_run)


async def look(host: str, repo: str, git: Commits) -> StatusReport:
    spec = channel_status_spec(f"{host}/{repo}", "docs", flavor="docs")
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await channel_status(spec, client, git.is_ancestor)


def docs_revision(host: str, repo: str) -> str:
    revision: str = json.loads(fetch_raw(host, repo, "docs")[0])["annotations"][REVISION]
    return revision


async def test_a_rollback_sticks_until_a_fix_is_pushed(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    host, repo, git = registry.host, "channel-rollback/docs", Commits()
    good, bad, worse = git.line(3)
    seed_commits(host, repo, [good, bad, worse], flavor="docs")
    for sha in (good, bad, worse):
        await ship(host, repo, sha, git)

    before = await look(host, repo, git)
    assert [v.version for v in before.versions] == [worse, bad, good]
    assert before.latest.version == worse and before.rollback_candidates == [bad, good]

    proxy = proxy_factory(host)
    dry = await roll(proxy.host, repo, good, git, dry_run=True)
    assert not [p for m, p in proxy.counted() if m in WRITE_METHODS]
    report = await roll(proxy.host, repo, good, git)
    assert report.written == dry.written, (report.written, dry.written)
    assert report.yanked == sorted([bad, worse]) and report.previous_version == worse
    assert report.written[:2] == [f"docs_{r}-yanked" for r in sorted([bad, worse])]
    assert report.written[-1] == "docs" and docs_revision(host, repo) == good
    # Only new event tags and the channel's own tags were written: nothing else changed.
    assert {p.rsplit("/", 1)[1] for m, p in proxy.counted() if m == "PUT"} == set(report.written)

    after = await look(host, repo, git)
    assert after.latest.version == good and after.rollback_candidates == []
    assert [(v.version, v.yanked) for v in after.versions] == [
        (worse, True),
        (bad, True),
        (good, False),
    ]

    rerun = await ship(host, repo, worse, git)  # the bad push's workflow, re-run
    assert not rerun.moved and "yanked by a rollback" in rerun.reason
    assert docs_revision(host, repo) == good

    (fix,) = git.line(1, prefix="fix", parent=worse)
    seed_commits(host, repo, [fix], flavor="docs")
    forward = await ship(host, repo, fix, git)
    assert forward.moved and docs_revision(host, repo) == fix

    restored = await roll(host, repo, bad, git)  # back to a yanked one: a restore event
    assert restored.restored == [bad] and restored.yanked == [fix]
    assert docs_revision(host, repo) == bad
    assert f"docs_{bad}-1_restored" in tag_digests(host, repo)


async def test_a_release_racing_a_rollback_never_undoes_it(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """A push released while on-call rolls back: once the rollback's re-list sees it, it is
    passed over and yanked too, and the channel ends on the target whichever request lands
    first. A push whose release tag lands after that re-list is like any later push: it
    descends from the target, and moves the channel (unyanked)."""
    for trial in range(4):
        host, repo, git = registry.host, f"channel-rollback/race{trial}", Commits()
        good, bad, late = git.line(3, prefix=f"r{trial}-")
        seed_commits(host, repo, [good, bad, late], flavor="docs")
        for sha in (good, bad):
            await ship(host, repo, sha, git)
        proxy = proxy_factory(host, faults=Faults(rate=0.5, seed=trial, kinds=("delay",)))
        with anyio.fail_after(60):
            rollback, release = await asyncio.gather(
                roll(proxy.host, repo, good, git), ship(proxy.host, repo, late, git)
            )
        yanked = f"docs_{late}-yanked" in tag_digests(host, repo)
        assert docs_revision(host, repo) == (good if yanked else late), rollback.reason
        assert yanked == (late in rollback.yanked), (rollback.reason, release.reason)
