"""Rollbacks racing releases and other rollbacks, and rollbacks through a 30% fault proxy.

The rule after any `promote` or `merge` ends: the floating tag names the newest live
version, where every yank event counts. Each trial gets a fresh repository; the end state is
read by raw HTTP, and "newest live" is computed here from the raw tag list (versions minus
those with a yank event), not by the code under test.
"""

from __future__ import annotations

import random
import re

import anyio
from conftest import ProxyFactory
from seeding import seed_commits
from support.commands import sha_of
from support.faults import Faults
from support.images import fetch_raw, list_tags_raw, tag_digests
from support.proxy import WRITE_METHODS
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.errors import RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import promote_spec, release_spec
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.release import merge
from release_pipeline.verbs.report import PromoteReport, ReleaseReport

TRIALS = 20


async def do_merge(host: str, repo: str, version: str) -> ReleaseReport:
    spec = release_spec(f"{host}/{repo}", version, sha_of(version))
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await merge(spec, client)


async def do_promote(host: str, repo: str, source: str) -> PromoteReport:
    spec = promote_spec(f"{host}/{repo}", source)
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await promote(spec, client)


async def history(host: str, repo: str, versions: list[str], *, unreleased: list[str]) -> None:
    """Per-arch images for every version (one commit each), then merges of `versions`."""
    shas = [sha_of(v) for v in [*versions, *unreleased]]
    await anyio.to_thread.run_sync(lambda: seed_commits(host, repo, shas, workers=4))
    for version in versions:
        await do_merge(host, repo, version)


def newest_live(host: str, repo: str) -> str:
    """From the raw tag list: the newest stable version whose newest yank event (`-yanked`
    is generation 1, `-G_yanked` G) is not newer than its newest restore (`-G_restored`)."""
    tags = set(list_tags_raw(host, repo))
    versions = [t.removesuffix("-workers") for t in tags if re.fullmatch(r"[0-9.]+-workers", t)]

    def generation(version: str, word: str) -> int:
        found = [0] + [
            int(m[1] or 1)
            for t in tags
            if (m := re.fullmatch(rf"{re.escape(version)}-workers-(?:([0-9]+)_)?{word}", t))
        ]
        return max(found)

    live = [v for v in versions if generation(v, "yanked") <= generation(v, "restored")]
    return max(live, key=lambda v: tuple(map(int, v.split("."))))


def holds(host: str, repo: str, tag: str) -> str:
    return fetch_raw(host, repo, tag)[2]


async def jittered(delay: float, call):  # type: ignore[no-untyped-def]
    await anyio.sleep(delay)
    return await call


async def test_a_rollback_racing_a_release_ends_on_the_newest_live_version_every_time(
    registry: Registry,
) -> None:
    host, rng, outcomes = registry.host, random.Random(14), set()
    for trial in range(TRIALS):
        repo = f"race/promote-merge-{trial}"
        await history(host, repo, ["1.0.0", "1.1.0"], unreleased=["1.2.0"])
        results: dict[str, object] = {}

        async def run(name: str, delay: float, call, results=results) -> None:  # type: ignore[no-untyped-def]
            results[name] = await jittered(delay, call)

        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "promote", rng.uniform(0, 0.03), do_promote(host, repo, "1.0.0"))
            tg.start_soon(run, "merge", rng.uniform(0, 0.03), do_merge(host, repo, "1.2.0"))
        tags = set(list_tags_raw(host, repo))
        assert "1.1.0-workers-yanked" in tags, trial
        expected = newest_live(host, repo)
        assert holds(host, repo, "latest-workers") == holds(host, repo, f"{expected}-workers")
        # 1.2.0 is either passed over too (and the rollback says so) or latest: never lost.
        rolled = results["promote"]
        assert isinstance(rolled, PromoteReport)
        if "1.2.0-workers-yanked" in tags:
            assert expected == "1.0.0" and "1.2.0" in rolled.yanked, trial
        else:
            assert expected == "1.2.0", trial
        outcomes.add(expected)
    assert outcomes  # every trial checked the rule (both outcomes are allowed)


async def test_two_rollbacks_at_once_end_on_the_newest_live_version_every_time(
    registry: Registry,
) -> None:
    host, rng, outcomes = registry.host, random.Random(15), set()
    for trial in range(TRIALS):
        repo = f"race/promote-promote-{trial}"
        await history(host, repo, ["1.0.0", "1.1.0", "1.2.0"], unreleased=[])
        async with anyio.create_task_group() as tg:
            tg.start_soon(jittered, rng.uniform(0, 0.03), do_promote(host, repo, "1.0.0"))
            tg.start_soon(jittered, rng.uniform(0, 0.03), do_promote(host, repo, "1.1.0"))
        tags = set(list_tags_raw(host, repo))
        assert {"1.1.0-workers-yanked", "1.2.0-workers-yanked"} <= tags, trial
        # 1.0.0, or 1.1.0 when its rollback listed after the other's yank: it puts it back.
        expected = newest_live(host, repo)
        restored = "1.1.0-workers-1_restored" in tags
        assert expected == ("1.1.0" if restored else "1.0.0"), trial
        assert holds(host, repo, "latest-workers") == holds(host, repo, f"{expected}-workers")
        outcomes.add(expected)
    assert outcomes


async def test_a_rollback_through_30_percent_faults_ends_right_and_overwrites_nothing(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    host, injected = registry.host, 0
    proxy = proxy_factory(host)
    for seed in range(TRIALS):
        repo = f"faults/promote-{seed}"
        await history(host, repo, ["1.0.0", "1.1.0"], unreleased=[])
        before = tag_digests(host, repo)
        proxy.reset()
        faults = Faults(rate=0.3, seed=seed, retry_after="0", delay=0.01)
        proxy.faults = faults
        for _attempt in range(5):  # what CI does: re-run a failed rollback
            try:
                await do_promote(proxy.host, repo, "1.0.0")
                break
            except RegistryError:
                continue
        else:
            raise AssertionError(f"seed {seed}: 5 runs of the rollback all failed")
        proxy.faults = None
        injected += faults.total
        after = tag_digests(host, repo)
        written = {p.rsplit("/", 1)[1] for m, p in proxy.counted() if m in WRITE_METHODS}
        assert written <= {"1.1.0-workers-yanked", "latest-workers"}, (seed, written)
        assert {t: d for t, d in after.items() if before.get(t) != d} == {
            "1.1.0-workers-yanked": before["1.1.0-workers"],
            "latest-workers": before["1.0.0-workers"],
        }, seed
    assert injected > 50
