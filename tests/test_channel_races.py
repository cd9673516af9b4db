"""Concurrent channel releases against a real registry: the channel ends on the newest commit.

The same races the version path survives (`test_races.py`): many releases at once through a
proxy that delays or fails requests, a slow older run that writes last, a run whose re-list
fails after its move, and its re-run. End states are checked by raw HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random

import anyio
import pytest
from channel_history import Commits
from conftest import ProxyFactory
from seeding import assert_every_index_complete, seed_commits
from support.faults import Faults
from support.hostile_answers import Answer, Hostile
from support.images import fetch_raw
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.errors import RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.rules.specs import channel_spec
from release_pipeline.verbs.channel import release_channel
from release_pipeline.verbs.report import ChannelReport

REVISION = "org.opencontainers.image.revision"
TRIALS = 6
HANG_GUARD = 120.0


async def ship(
    host: str, repo: str, sha: str, git: Commits, retry: RetryPolicy = RETRY
) -> ChannelReport:
    spec = channel_spec(f"{host}/{repo}", "edge", sha, flavor="workers")
    async with RegistryClient(host, secure=False, retry=retry) as client:
        return await release_channel(spec, client, git.is_ancestor)


def held(host: str, repo: str) -> str:
    body = fetch_raw(host, repo, "edge-workers")[0]
    revision: str = json.loads(body)["annotations"][REVISION]
    return revision


@pytest.mark.parametrize(
    "kinds", [("delay",), ("delay", "500", "503", "reset", "drop_after_write")]
)
async def test_concurrent_channel_releases_end_on_the_newest_commit(
    registry: Registry, proxy_factory: ProxyFactory, kinds: tuple[str, ...]
) -> None:
    """Eight pushes to a branch and four re-runs of older ones, all at once, in every trial."""
    proxy = proxy_factory(registry.host)
    moved = settled = 0
    for trial in range(TRIALS):
        repo, git = f"channel-races/{kinds[-1]}{trial}", Commits()
        line = git.line(8, prefix=f"t{trial}-")
        seed_commits(registry.host, repo, line, workers=8)
        rng = random.Random(trial)
        runs = line + rng.sample(line[:-1], 4)
        rng.shuffle(runs)
        proxy.faults = Faults(rate=0.3, seed=trial, kinds=kinds, delay=0.01)

        async def one(sha: str, stagger: float) -> ChannelReport:
            await anyio.sleep(stagger)
            return await ship(proxy.host, repo, sha, git)  # noqa: B023

        with anyio.fail_after(HANG_GUARD):
            reports = await asyncio.gather(*(one(s, rng.uniform(0, 0.03)) for s in runs))
        moved += sum(r.moved for r in reports)
        settled += sum("newer live release" in r.reason for r in reports)
        assert held(registry.host, repo) == line[-1], (trial, [r.reason for r in reports])
    print(
        f"\n{TRIALS} trials x 12 concurrent channel releases ({', '.join(kinds)}): all ended "
        f"on the newest commit; the channel moved {moved} times, a re-list corrected it "
        f"{settled} times"
    )


async def test_a_slow_older_release_never_leaves_the_channel_behind(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """The incident's race for branches: an older push's run reads the channel before the
    newer one exists, then writes late. Its re-list puts the channel back on the newer."""
    repo, git = "channel-races/slow", Commits()
    old, new = git.line(2)
    seed_commits(registry.host, repo, [old, new])
    slow = proxy_factory(registry.host, faults=Faults(rate=1.0, kinds=("delay",), delay=0.25))
    slow_run = asyncio.ensure_future(ship(slow.host, repo, old, git))
    while not any("/manifests/" in p for _, p in slow.requests):  # noqa: ASYNC110
        await anyio.sleep(0.01)
    fast = await ship(registry.host, repo, new, git)
    late = await slow_run
    assert fast.moved and late.moved, (fast.reason, late.reason)
    assert "is a newer live release" in late.reason and late.revision == new
    assert held(registry.host, repo) == new


async def test_a_rerun_repairs_a_channel_left_behind_by_a_failed_re_list(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """The slow older run moves the channel back, then cannot list (the registry fails): the
    error says so, and re-running that same release puts the channel on the newer commit."""
    repo, git = "channel-races/repair", Commits()
    old, new = git.line(2)
    seed_commits(registry.host, repo, [old, new])
    hold = Faults(
        rate=1.0, kinds=("delay",), methods=frozenset({"PUT"}), path="/edge-workers$", delay=1.5
    )
    proxy = proxy_factory(registry.host, faults=hold)
    slow_run = asyncio.ensure_future(ship(proxy.host, repo, old, git, RetryPolicy(attempts=2)))
    while not any(m == "PUT" and p.endswith("/edge-workers") for m, p in proxy.requests):  # noqa: ASYNC110
        await anyio.sleep(0.01)
    proxy.faults = Faults(rate=1.0, kinds=("500",), path="/tags/list")
    await ship(registry.host, repo, new, git)
    with pytest.raises(RegistryError, match="re-run this release to settle edge-workers"):
        await slow_run
    assert held(registry.host, repo) == old  # the window a failed re-list leaves open

    rerun = await ship(registry.host, repo, old, git)
    assert rerun.revision == new and "edge-workers" in rerun.written
    assert held(registry.host, repo) == new
    again = await ship(registry.host, repo, old, git)
    assert not again.moved and again.written == []


async def test_a_manifest_put_refused_by_the_link_race_is_sent_again(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """Debian's registry answered 400 DIGEST_INVALID to an index PUT while another release
    PUT one of its children under a per-arch channel tag (the first race trial above, before
    the retry). The proxy turns the first two manifest PUTs into that answer; the release
    sends them again and completes. A refusal that stays is reported, not retried forever."""
    repo, git = "channel-races/link", Commits()
    (sha,) = git.line(1)
    seed_commits(registry.host, repo, [sha])
    refused = {"left": 2}

    def link_race(answer: Answer) -> None:
        if answer.method == "PUT" and "/manifests/" in answer.path and refused["left"]:
            refused["left"] -= 1
            answer.status = 400
            answer.body = json.dumps(
                {"errors": [{"code": "DIGEST_INVALID", "message": "provided digest did not"}]}
            ).encode()

    proxy = proxy_factory(registry.host, hostile=Hostile(rewrite=link_race))
    report = await ship(proxy.host, repo, sha, git)
    assert report.moved and refused["left"] == 0
    assert held(registry.host, repo) == sha

    seed_commits(registry.host, "channel-races/link2", [sha])
    refused["left"] = 100
    with pytest.raises(RegistryError, match="DIGEST_INVALID"):
        await ship(proxy.host, "channel-races/link2", sha, git, RetryPolicy(attempts=3))
    assert refused["left"] == 97  # three attempts of the first PUT, then the error


@pytest.mark.parametrize(
    "broken",
    [
        "workers-sha-{sha8}",
        "edge-workers_{sha}",
        "edge-workers-amd64",
        "edge-workers-arm64",
        "edge-workers",
    ],
)
async def test_a_channel_release_cut_at_any_write_never_moves_back_and_a_rerun_finishes(
    registry: Registry, proxy_factory: ProxyFactory, broken: str
) -> None:
    """A kill point at each write: one tag's PUT fails for good. The release fails, every
    index the registry holds is complete, the channel still holds the older commit or already
    the newer one (never anything else), and re-running the release finishes it."""
    repo, git = f"channel-races/cut{len(broken)}", Commits()
    old, new = git.line(2, prefix=f"cut {broken}")
    seed_commits(registry.host, repo, [old, new])
    await ship(registry.host, repo, old, git)
    tag = broken.format(sha8=new[:8], sha=new)
    faults = Faults(rate=1.0, kinds=("500",), methods=frozenset({"PUT"}), path=f"/{tag}$")
    proxy = proxy_factory(registry.host, faults=faults)
    with pytest.raises(RegistryError, match="answered 500"):
        await ship(proxy.host, repo, new, git, RetryPolicy(attempts=2, base_delay=0.001))
    assert faults.injected == {"500": 2}
    assert_every_index_complete(registry.host, repo)
    assert held(registry.host, repo) == old  # the channel tag is the last write

    rerun = await ship(registry.host, repo, new, git)
    assert rerun.moved and rerun.revision == new
    assert held(registry.host, repo) == new
    for arch in ("amd64", "arm64"):
        child = fetch_raw(registry.host, repo, f"edge-workers-{arch}")[2]
        assert child == fetch_raw(registry.host, repo, f"workers-sha-{new[:8]}-{arch}")[2]
