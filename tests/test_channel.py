"""Channel releases against a real registry: the channel tag moves only forward in git history.

Each test seeds per-arch images by raw HTTP (`seeding`), runs `verbs.channel` with the
ancestry of a generated history (`channel_history.Commits`), and checks by raw HTTP what
every tag holds.
"""

from __future__ import annotations

import json

from channel_history import Commits
from conftest import ProxyFactory
from history import seed_docs
from seeding import seed_commit
from support.images import fetch_raw, list_tags_raw
from support.proxy import WRITE_METHODS
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import channel_spec
from release_pipeline.verbs.channel import release_channel
from release_pipeline.verbs.report import ChannelReport

REVISION = "org.opencontainers.image.revision"


async def ship(
    host: str, repo: str, sha: str, git: Commits, *, force: bool = False, dry_run: bool = False
) -> ChannelReport:
    spec = channel_spec(f"{host}/{repo}", "docs", sha, flavor="docs")
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await release_channel(spec, client, git.is_ancestor, force=force, dry_run=dry_run)


def channel_holds(host: str, repo: str, sha: str, arch_digests: dict[str, str]) -> None:
    """`docs` is commit `sha`'s index (its revision annotation says so) and each `docs-ARCH`
    that commit's image."""
    body, _, digest = fetch_raw(host, repo, "docs")
    assert json.loads(body)["annotations"][REVISION] == sha
    assert fetch_raw(host, repo, f"docs-sha-{sha[:8]}")[2] == digest
    assert fetch_raw(host, repo, f"docs_{sha}")[2] == digest
    for arch, image in arch_digests.items():
        assert fetch_raw(host, repo, f"docs-{arch}")[2] == image, arch


async def test_the_channel_moves_to_descendants_only(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    host, repo, git = registry.host, "channels/forward", Commits()
    old, new = git.line(2)
    images = {sha: seed_commit(host, repo, sha, flavor="docs") for sha in (old, new)}

    first = await ship(host, repo, old, git)
    assert first.moved and first.previous is None and first.revision == old
    assert first.written == [
        f"docs-sha-{old[:8]}",
        f"docs_{old}",
        "docs-amd64",
        "docs-arm64",
        "docs",
    ]
    channel_holds(host, repo, old, images[old])

    second = await ship(host, repo, new, git)
    assert second.moved and second.previous_revision == old, second.reason
    assert second.reason == f"{new[:8]} descends from {old[:8]}; docs now points at {new[:8]}."
    channel_holds(host, repo, new, images[new])

    # The older push's workflow re-run: its tags are there already; the channel stays.
    proxy = proxy_factory(host)
    rerun = await ship(proxy.host, repo, old, git)
    assert not rerun.moved and rerun.written == []
    assert f"{old[:8]} does not descend from {new[:8]}" in rerun.reason
    assert not [p for m, p in proxy.counted() if m in WRITE_METHODS]
    channel_holds(host, repo, new, images[new])

    # --force moves it, and the newer live release takes it back: a rollback is `promote`.
    forced = await ship(host, repo, old, git, force=True)
    assert forced.moved and forced.forced and forced.reason.startswith("--force:")
    assert forced.revision == new and "promote rolls a channel back" in forced.reason
    channel_holds(host, repo, new, images[new])


async def test_a_dry_run_says_what_would_move_and_writes_nothing(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    host, repo, git = registry.host, "channels/dry", Commits()
    (sha,) = git.line(1)
    seed_commit(host, repo, sha, flavor="docs")
    proxy = proxy_factory(host)
    report = await ship(proxy.host, repo, sha, git, dry_run=True)
    assert report.moved and report.dry_run and report.revision == sha
    assert report.written == [f"docs-sha-{sha[:8]}", f"docs_{sha}", *DOCS_FLOATING]
    assert not [p for m, p in proxy.counted() if m in WRITE_METHODS]
    assert "docs" not in list_tags_raw(host, repo)


DOCS_FLOATING = ["docs-amd64", "docs-arm64", "docs"]


async def test_a_channel_that_other_tooling_left_is_adopted(registry: Registry) -> None:
    """TestPlanIt's `docs`, `docs-amd64`, `docs-arm64` were written by imagetools with no
    revision anywhere: nothing shows a commit is older, so the first channel release moves
    them, and says so; from then on the index records its commit."""
    host, repo, git = registry.host, "channels/adopt", Commits()
    left = seed_docs(host, repo)
    (sha,) = git.line(1)
    images = seed_commit(host, repo, sha, flavor="docs")
    report = await ship(host, repo, sha, git)
    assert report.moved and report.previous == left["docs"]
    assert report.reason.startswith("docs held an index that records no commit")
    channel_holds(host, repo, sha, images)
    assert fetch_raw(host, repo, "v0.12.1-docs")[2] == left["v0.12.1-docs"]  # untouched


async def test_a_force_pushed_branch_leaves_the_channel_until_forced(registry: Registry) -> None:
    host, repo, git = registry.host, "channels/rewritten", Commits()
    base, ahead = git.line(2)
    rewritten = git.commit("rewritten", parent=base)  # main force-pushed to another child
    for sha in (ahead, rewritten):
        seed_commit(host, repo, sha, flavor="docs")
    await ship(host, repo, ahead, git)
    report = await ship(host, repo, rewritten, git)
    assert not report.moved and "a rewritten branch" in report.reason
    assert json.loads(fetch_raw(host, repo, "docs")[0])["annotations"][REVISION] == ahead
    forced = await ship(host, repo, rewritten, git, force=True)
    assert forced.moved and forced.forced and forced.revision == rewritten, forced.reason
    # The old line's release is no descendant of the rewritten one: it stays behind.
    assert json.loads(fetch_raw(host, repo, "docs")[0])["annotations"][REVISION] == rewritten
