"""Concurrent releases into one repository against a real registry: latest ends on the newest.

A registry has no compare-and-swap on tags, so `merge` re-lists after moving `latest-F` and
converges on the newest live version. These tests race real `merge` calls (each with its own
client and connection pool) and check the end state by raw HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from itertools import groupby

import anyio
from conftest import ProxyFactory
from seeding import check_release, digest_of, seed_commit, seed_commits
from support.commands import sha_of
from support.faults import Faults
from support.images import (
    ACCEPT_MANIFESTS,
    OCI_INDEX,
    OCI_MANIFEST,
    fetch_raw,
    list_tags_raw,
    put_manifest_raw,
)
from support.raw_http import raw_request
from support.registry import Registry
from support.retry import RETRY

from release_pipeline.errors import RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs.release import merge
from release_pipeline.verbs.report import ReleaseReport

TRIALS = 20
# 20 releases: 16 stable, 4 prereleases. `1.10.0` beats `1.9.x` (no string order), and the
# prereleases sort above or between stable versions without ever getting latest.
VERSIONS = [
    "0.9.0",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "1.2.0",
    "1.2.1",
    "1.2.10",
    "1.2.9",
    "1.3.0",
    "1.4.0",
    "1.5.0",
    "1.6.0",
    "1.7.0",
    "1.8.0",
    "1.9.0",
    "1.10.0",
    "1.10.1-rc.1",
    "1.11.0-beta.2",
    "2.0.0-rc.1",
    "2.0.0-alpha",
]
NEWEST_STABLE = "1.10.0"


# A hang guard per trial, not a speed target (speed is measured in benchmarks/): 20 releases
# whose every request is bounded by RETRY reach it only if one of them never ends.
TRIAL_HANG_GUARD = 120.0


async def release(host: str, repo: str, version: str, sha: str) -> ReleaseReport:
    spec = release_spec(f"{host}/{repo}", version, sha)
    async with RegistryClient(host, secure=False, retry=RETRY) as client:
        return await merge(spec, client)


async def test_20_concurrent_releases_end_on_the_newest_stable_in_20_of_20_trials(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    assert len(VERSIONS) == 20
    # Jittered delays on half the requests shuffle the interleavings from trial to trial.
    proxy = proxy_factory(registry.host)
    results: list[str] = []
    moved = corrected = 0
    started = time.monotonic()
    for trial in range(TRIALS):
        repo = f"races/trial{trial:02d}"
        rng = random.Random(trial)
        order = VERSIONS[:]
        rng.shuffle(order)
        shas = {v: sha_of(f"{trial} {v}") for v in order}
        seed_commits(registry.host, repo, list(shas.values()), workers=8)
        proxy.faults = Faults(rate=0.5, seed=trial, kinds=("delay",), delay=0.01)

        async def one(version: str, stagger: float) -> ReleaseReport:
            await anyio.sleep(stagger)
            return await release(proxy.host, repo, version, shas[version])  # noqa: B023

        with anyio.fail_after(TRIAL_HANG_GUARD):
            reports = await asyncio.gather(*(one(v, rng.uniform(0, 0.03)) for v in order))
        moved += sum(r.latest_moved for r in reports)
        corrected += sum("is now" in r.latest_reason for r in reports)
        newest_index = fetch_raw(registry.host, repo, f"{NEWEST_STABLE}-workers")[2]
        latest = fetch_raw(registry.host, repo, "latest-workers")[2]
        tags = set(list_tags_raw(registry.host, repo))
        assert all(f"{v}-workers" in tags and f"v{v}-workers" in tags for v in VERSIONS)
        results.append("ok" if latest == newest_index else "WRONG")
    elapsed = time.monotonic() - started
    print(
        f"\n{TRIALS} trials x {len(VERSIONS)} concurrent releases in {elapsed:.1f}s: "
        f"{results.count('ok')}/{TRIALS} ended on {NEWEST_STABLE}; "
        f"latest moved {moved} times, converge corrected it in {corrected} releases"
    )
    assert results == ["ok"] * TRIALS


async def test_a_slow_older_release_never_leaves_latest_behind(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """The incident's race: an older version's run reads the tags before the newer one exists,
    then writes late. Its own re-list after the PUT puts latest back on the newer version."""
    repo = "races/slow"
    old_sha, new_sha = sha_of("slow old"), sha_of("fast new")
    old = seed_commit(registry.host, repo, old_sha)
    new = seed_commit(registry.host, repo, new_sha)
    slow = proxy_factory(registry.host, faults=Faults(rate=1.0, kinds=("delay",), delay=0.25))
    seen: list[str | None] = []

    def poll() -> str | None:
        if "latest-workers" not in list_tags_raw(registry.host, repo):
            return None
        # Registry 2.8 rewrites a tag's link file in place: a read that lands mid-write can
        # get a 404 or 500. A deployment's poller retries; so does this one, next round.
        resp = raw_request(
            "GET",
            f"http://{registry.host}/v2/{repo}/manifests/latest-workers",
            headers={"Accept": ACCEPT_MANIFESTS},
        )
        return digest_of(resp.body) if resp.status == 200 else None

    async def watch() -> None:  # what a deployment polling latest-workers would see
        while True:
            seen.append(await anyio.to_thread.run_sync(poll))
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        slow_run = asyncio.ensure_future(release(slow.host, repo, "1.4.0", old_sha))
        # Its next request (reading the per-arch images) shows its tag list was answered,
        # without 1.5.0 in it.
        while not any("/manifests/" in p for _, p in slow.requests):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        fast = await release(registry.host, repo, "1.5.0", new_sha)
        assert fast.latest_moved
        slow_report = await slow_run
        group.cancel_scope.cancel()
    seen.append(poll())  # after both runs: what the poller settles on

    assert slow_report.latest_moved  # it did move latest, to 1.4.0, and then corrected it
    assert "1.5.0 is now" in slow_report.latest_reason, slow_report.latest_reason
    new_index = check_release(registry.host, repo, "1.5.0", new_sha, new, latest=True)
    old_index = check_release(registry.host, repo, "1.4.0", old_sha, old, latest=False)
    assert "latest-workers" in slow_report.written  # twice: its own index, then 1.5.0's
    assert "latest-workers" not in slow_report.tags  # it names 1.5.0's content, not 1.4.0's
    # The window a registry without compare-and-swap leaves: latest briefly named 1.4.0.
    names = {new_index: "1.5.0", old_index: "1.4.0"}
    runs = [(name, len(list(group))) for name, group in groupby(names.get(d) for d in seen)]
    print(f"\nlatest-workers as a poller saw it, every ~10 ms: {runs}")
    assert seen[-1] == new_index


async def test_a_release_that_starts_after_a_newer_one_does_not_touch_latest(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    repo = "races/late"
    old_sha, new_sha = sha_of("late old"), sha_of("late new")
    seed_commit(registry.host, repo, old_sha)
    seed_commit(registry.host, repo, new_sha)
    await release(registry.host, repo, "2.0.0", new_sha)
    latest = fetch_raw(registry.host, repo, "latest-workers")[2]
    proxy = proxy_factory(registry.host)
    report = await release(proxy.host, repo, "1.9.9", old_sha)
    assert not report.latest_moved and "never moves backwards" in report.latest_reason
    assert not any(p.endswith("/latest-workers") for m, p in proxy.counted() if m == "PUT")
    assert fetch_raw(registry.host, repo, "latest-workers")[2] == latest


async def test_a_rerun_repairs_latest_left_behind_by_a_run_that_failed_to_converge(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """The slow older run moves latest back, then cannot re-list (the registry fails): the
    error says so, and re-running that same release puts latest on the newest version."""
    repo = "races/repair"
    old_sha, new_sha = sha_of("repair old"), sha_of("repair new")
    old = seed_commit(registry.host, repo, old_sha)
    new = seed_commit(registry.host, repo, new_sha)
    hold = Faults(
        rate=1.0, kinds=("delay",), methods=frozenset({"PUT"}), path="/latest-", delay=1.5
    )
    proxy = proxy_factory(registry.host, faults=hold)
    spec = release_spec(f"{proxy.host}/{repo}", "1.4.0", old_sha)
    policy = RetryPolicy(attempts=2, base_delay=0.001)
    async with RegistryClient(proxy.host, secure=False, retry=policy) as client:
        slow_run = asyncio.ensure_future(merge(spec, client))
        while not any(m == "PUT" and "/latest-" in p for m, p in proxy.requests):  # noqa: ASYNC110
            await anyio.sleep(0.01)
        # While the slow run's PUT of latest is held at the proxy, the registry starts
        # failing tag lists and 1.5.0 is released (directly, in well under the hold).
        proxy.faults = Faults(rate=1.0, kinds=("500",), path="/tags/list")
        await release(registry.host, repo, "1.5.0", new_sha)
        try:
            await slow_run
        except RegistryError as exc:
            message = str(exc)
        else:
            raise AssertionError("the slow run should have failed its re-list")
    assert "latest-workers" in message and "1.4.0" in message and "re-run" in message, message
    old_index = check_release(registry.host, repo, "1.4.0", old_sha, old, latest=True)
    assert old_index  # latest moved backwards: the window the failed re-list left open

    report = await release(registry.host, repo, "1.4.0", old_sha)  # the re-run
    assert report.latest_moved and report.written == ["latest-workers"], report
    check_release(registry.host, repo, "1.5.0", new_sha, new, latest=True)
    again = await release(registry.host, repo, "1.4.0", old_sha)  # and nothing after that
    assert not again.latest_moved and again.written == []


async def test_converge_waits_for_a_newer_version_that_is_listed_but_not_readable_yet(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """Registry 2.8 creates a tag's directory (listed) before its `current` link (readable),
    and GHCR can 404 a tag right after its PUT: a newer release caught mid-PUT is looked at
    again, not taken as a failure."""
    repo = "races/midput"
    ours_sha, newer_sha = sha_of("midput ours"), sha_of("midput newer")
    seed_commit(registry.host, repo, ours_sha)
    newer = seed_commit(registry.host, repo, newer_sha)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(fetch_raw(registry.host, repo, digest)[0]),
                    "platform": {"architecture": arch, "os": "linux"},
                }
                for arch, digest in newer.items()
            ],
        }
    ).encode()
    hold = Faults(
        rate=1.0, kinds=("delay",), methods=frozenset({"PUT"}), path="/latest-", delay=0.3
    )
    proxy = proxy_factory(registry.host, faults=hold)
    run = asyncio.ensure_future(release(proxy.host, repo, "1.1.0", ours_sha))
    while not any(m == "PUT" and "/latest-" in p for m, p in proxy.requests):  # noqa: ASYNC110
        await anyio.sleep(0.01)
    # 1.2.0's PUT is half done: its tag directory exists, its `current` link does not yet.
    tag_dir = (
        registry.root / f"docker/registry/v2/repositories/{repo}/_manifests/tags/1.2.0-workers"
    )
    (tag_dir / "index" / "sha256" / digest_of(index).split(":")[1]).mkdir(parents=True)
    assert "1.2.0-workers" in list_tags_raw(registry.host, repo)
    # The held PUT lands, the re-list sees 1.2.0 and cannot read it; then 1.2.0's PUT ends.
    while not any(m == "GET" and p.endswith("/1.2.0-workers") for m, p in proxy.requests):  # noqa: ASYNC110
        await anyio.sleep(0.01)
    await anyio.sleep(0.1)
    assert put_manifest_raw(registry.host, repo, "1.2.0-workers", index, OCI_INDEX)
    report = await run
    assert report.latest_moved and "1.2.0 is now" in report.latest_reason, report.latest_reason
    assert fetch_raw(registry.host, repo, "latest-workers")[2] == digest_of(index)
    gets = [p for m, p in proxy.requests if m == "GET" and p.endswith("/1.2.0-workers")]
    assert len(gets) >= 2  # it was read again after the 404
