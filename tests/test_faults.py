"""`merge` against a real registry behind a fault-injecting proxy: it ends right or fails clean.

Every check of the end state goes through raw HTTP to the registry itself (seeding.py,
support.images), never through the client under test.
"""

from __future__ import annotations

import time
from collections import Counter

import anyio
import pytest
from conftest import ProxyFactory, RegistryFactory
from seeding import assert_every_index_complete, check_release, seed_commit
from support.commands import sha_of
from support.faults import Faults
from support.images import fetch_raw, tag_digests
from support.registry import Registry
from support.retry import RETRY
from support.tokens import TokenServer

from release_pipeline.cli import app as cli
from release_pipeline.errors import RegistryError, ReleaseError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs.release import merge
from release_pipeline.verbs.report import ReleaseReport

# The bound each request gets: at most ATTEMPTS sends; between two, a sleep of at most
# max_delay (jittered exponential backoff) or the Retry-After the registry sent.
RUNS = 100
WHOLE_RERUNS = 3  # a merge that still fails is re-run as a whole at most this many times
# A hang guard per merge, not a speed target (the team measures speed in benchmarks/): the
# policy above bounds one merge's sleeps to a few seconds, so only a retry loop that never
# ends, or a request that never returns, can reach it, however loaded the machine is.
MERGE_HANG_GUARD = 60.0


async def release(
    host: str, repo: str, version: str, sha: str, retry: RetryPolicy = RETRY
) -> tuple[ReleaseReport, int]:
    """One merge with its own client; returns the report and the requests it sent."""
    spec = release_spec(f"{host}/{repo}", version, sha)
    async with RegistryClient(host, secure=False, retry=retry) as client:
        return await merge(spec, client), client.stats.total


async def test_100_seeded_merges_under_30_percent_faults_end_in_the_right_state(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(registry.host)
    injected: Counter[str] = Counter()
    reruns: dict[int, list[str]] = {}
    worst = 0
    started = time.monotonic()
    for seed in range(RUNS):
        repo, sha = f"faults/run{seed:03d}", sha_of(f"run {seed}")
        digests = seed_commit(registry.host, repo, sha)
        if seed % 2:  # half the runs move latest off an older release already there
            old_sha = sha_of(f"old {seed}")
            old = seed_commit(registry.host, repo, old_sha)
            await release(registry.host, repo, "0.9.0", old_sha)
        # Every kind of fault, on every kind of request, 30% of them, seeded per run.
        faults = Faults(rate=0.3, seed=seed, retry_after="0", delay=0.02)
        proxy.faults = faults
        for attempt in range(1 + WHOLE_RERUNS):
            try:
                with anyio.fail_after(MERGE_HANG_GUARD):
                    _, count = await release(proxy.host, repo, f"1.{seed}.0", sha)
            except ReleaseError as exc:
                reruns.setdefault(seed, []).append(str(exc))
                assert attempt < WHOLE_RERUNS, f"run {seed} failed {attempt + 1} times: {exc}"
            else:
                worst = max(worst, count)
                break
        proxy.faults = None
        injected += faults.injected
        check_release(registry.host, repo, f"1.{seed}.0", sha, digests, latest=True)
        if seed % 2:
            check_release(registry.host, repo, "0.9.0", old_sha, old, latest=False)
    elapsed = time.monotonic() - started
    sent = len(proxy.counted())  # by the merges under faults, retries included
    retries = sum(injected.values()) - injected["delay"]  # each other fault costs one retry
    print(
        f"\n{RUNS} merges under faults in {elapsed:.1f}s (seeding included): {sent} requests "
        f"through the faulty proxy, {retries} of them retries (most in one merge: {worst}); "
        f"faults {dict(sorted(injected.items()))}; re-run as a whole: {len(reruns)} {reruns}"
    )
    assert set(injected) == {"429", "500", "502", "503", "reset", "delay", "drop_after_write"}


@pytest.mark.parametrize(
    ("retry_after", "policy", "at_least", "below"),
    [
        ("1", RetryPolicy(attempts=3, base_delay=0.001), 1.0, 3.0),
        ("30", RetryPolicy(attempts=3, base_delay=0.001, max_retry_after=0.3), 0.3, 2.0),
    ],
    ids=["honoured", "capped"],
)
async def test_retry_after_is_honoured_and_capped(
    registry: Registry,
    proxy_factory: ProxyFactory,
    retry_after: str,
    policy: RetryPolicy,
    at_least: float,
    below: float,
) -> None:
    seed_commit(registry.host, "faults/ra", sha_of("ra"))
    faults = Faults(sequence=["429"], retry_after=retry_after)
    proxy = proxy_factory(registry.host, faults=faults)
    async with RegistryClient(proxy.host, secure=False, retry=policy) as client:
        started = time.monotonic()
        tags = await client.list_tags("faults/ra")
        elapsed = time.monotonic() - started
    assert len(tags) == 2
    assert faults.injected == {"429": 1} and client.stats.total == 2
    assert at_least <= elapsed < below, elapsed


async def test_retry_after_as_an_http_date(registry: Registry, proxy_factory: ProxyFactory) -> None:
    import email.utils

    seed_commit(registry.host, "faults/ra", sha_of("ra"))
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    proxy = proxy_factory(registry.host, faults=Faults(sequence=["429"], retry_after=when))
    async with RegistryClient(proxy.host, secure=False, retry=RETRY) as client:
        started = time.monotonic()
        await client.list_tags("faults/ra")
        assert 0.9 <= time.monotonic() - started < 4  # second resolution of the date


async def test_retries_are_bounded(registry: Registry, proxy_factory: ProxyFactory) -> None:
    """A registry that always fails: exactly `attempts` sends, then a clear error."""
    seed_commit(registry.host, "faults/down", sha_of("down"))
    for kind in ("503", "reset", "429"):
        proxy = proxy_factory(registry.host, faults=Faults(rate=1.0, kinds=(kind,)))
        policy = RetryPolicy(attempts=4, base_delay=0.001)
        async with RegistryClient(proxy.host, secure=False, retry=policy) as client:
            started = time.monotonic()
            with pytest.raises(RegistryError) as caught:
                await client.list_tags("faults/down")
            assert client.stats.total == 4, kind
        assert time.monotonic() - started < 2
        assert "faults/down" in str(caught.value) or "tags/list" in str(caught.value)


async def test_a_failing_token_service_is_retried_within_the_bound(
    registry_factory: RegistryFactory, token_server: TokenServer, proxy_factory: ProxyFactory
) -> None:
    """The token request gets the same bounded retries as every other, then says so."""
    front = proxy_factory(token_server.host, faults=Faults(rate=1.0, kinds=("503",)))
    realm = {"auth": {"token": {"realm": f"http://{front.host}/token"}}}
    registry = registry_factory(token=token_server, extra_config=realm)
    policy = RetryPolicy(attempts=3, base_delay=0.001)
    async with RegistryClient(registry.host, secure=False, retry=policy) as client:
        with pytest.raises(RegistryError) as caught:
            await client.list_tags("faults/token")
    assert [m for m, path in front.requests if path.startswith("/token")] == ["GET"] * 3
    assert str(caught.value) == (
        f"the token service of {registry.host} answered 503 to all 3 attempts"
    )


@pytest.mark.parametrize(
    "broken",
    [
        "1.1.0-workers-amd64",
        "v1.1.0-workers-arm64",
        "workers-sha-{sha8}",
        "1.1.0-workers",
        "v1.1.0-workers",
        "latest-workers",
    ],
)
async def test_a_merge_cut_at_any_write_leaves_a_consistent_registry_and_a_rerun_finishes(
    registry: Registry, proxy_factory: ProxyFactory, broken: str
) -> None:
    """One tag's PUT fails for good (retries exhausted): the merge fails, no tag names a
    missing child, latest is untouched, and a re-run completes the release."""
    repo = "faults/cut"
    old_sha, sha = sha_of("cut old"), sha_of("cut new")
    old = seed_commit(registry.host, repo, old_sha)
    await release(registry.host, repo, "1.0.0", old_sha)
    old_index = fetch_raw(registry.host, repo, "latest-workers")[2]
    new = seed_commit(registry.host, repo, sha)
    tag = broken.format(sha8=sha[:8])
    faults = Faults(rate=1.0, kinds=("500",), methods=frozenset({"PUT"}), path=f"/{tag}$")
    proxy = proxy_factory(registry.host, faults=faults)
    policy = RetryPolicy(attempts=2, base_delay=0.001)
    with pytest.raises(RegistryError, match=f"write {repo}:{tag}: registry answered 500"):
        await release(proxy.host, repo, "1.1.0", sha, policy)
    assert faults.injected == {"500": 2}
    assert_every_index_complete(registry.host, repo)
    assert fetch_raw(registry.host, repo, "latest-workers")[2] == old_index
    await release(registry.host, repo, "1.1.0", sha)
    check_release(registry.host, repo, "1.1.0", sha, new, latest=True)
    check_release(registry.host, repo, "1.0.0", old_sha, old, latest=False)


def test_cli_merge_against_a_registry_that_refuses_every_write(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    repo = "faults/readonly"
    old_sha, sha = sha_of("ro old"), sha_of("ro new")
    seed_commit(registry.host, repo, old_sha)
    args = ["merge", f"--image={registry.host}/{repo}", "--version=1.0.0", f"--sha={old_sha}"]
    assert cli.run(args) == 0
    new = seed_commit(registry.host, repo, sha)
    before = tag_digests(registry.host, repo)
    capsys.readouterr()

    proxy = proxy_factory(registry.host, refuse_writes=True)
    args = ["merge", f"--image={proxy.host}/{repo}", "--version=1.1.0", f"--sha={sha}"]
    assert cli.run(args) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("release-pipeline: merge failed: ")
    assert "403" in err and "DENIED" in err and proxy.host in err, err
    assert "1.1.0-workers" in err  # names what it could not write
    after = tag_digests(registry.host, repo)
    assert after == before  # latest-workers untouched, nothing half-written
    assert_every_index_complete(registry.host, repo)
    assert {m for m, _ in proxy.counted()} <= {"GET", "HEAD", "PUT"}

    proxy.refuse_writes = False  # the faults clear: a re-run completes the release
    assert cli.run(args) == 0
    check_release(registry.host, repo, "1.1.0", sha, new, latest=True)
