"""Workloads 1 to 5 (and 1 again with token auth): releases, a re-run, a rollback, a
release into a big repository, and four platforms, each with its targets (issue 5).

Each prints its table and records its targets in the Bench; workloads 4 and 5 compare with
workload 1's figures, which `first_release_and_rerun` keeps on the Bench.
"""

from __future__ import annotations

import statistics
import time

from bench import Bench, Env
from metering import Exchange
from naming import FLAVOR, FOUR, TWO, sha_for, token
from output import Check, print_peer_steps, print_table
from samples import Row, Sample
from seeder import direct_merge, release_history

SEED_TAGS = 10_000
PAGE_SIZE = 1000

# Project targets (issue 5).
T_FIRST = 15
T_RERUN = 12
# 7 + one HEAD per manifest of the --from index (2 platforms): see docs/rollback.md
T_ROLLBACK = 7 + 2
T_PAGES_PER_LISTING = 11
T_DECISION_CPU = 1.0
T_PER_PLATFORM = 4


def merge_rows(ours: list[Sample], theirs: list[Sample]) -> list[Row]:
    """Our merge against the peers' commands, the pair workloads 1 and 5 compare."""
    return [Row("project: merge", ours), Row("peers: skopeo copy + docker manifest", theirs)]


def first_release_and_rerun(bench: Bench, env: Env) -> None:
    """Workloads 1 and 2: the first two-platform release, then the same release again."""
    version = "0.22.8"
    (ours, rerun_ours), (theirs, rerun_theirs) = bench.paired_releases(
        env, "first", version, TWO, passes=2
    )
    if not all(s.extra["report"]["latest_moved"] for s in ours):
        raise SystemExit("workload 1: the project did not move latest")
    rows = merge_rows(ours, theirs)
    bench.first_api = rows[0].worst(lambda s: s.api)
    bench.first_peer_api = rows[1].worst(lambda s: s.api)
    print_table(
        f"Workload 1: first two-platform release ({version}: 4 per-arch version tags, "
        f"3 multi-arch tags, latest) [{bench.runs} runs]",
        rows,
        [
            bench.check(
                f"project API requests (excl. /v2/ pings, tokens) <= {T_FIRST}",
                bench.first_api,
                T_FIRST,
            )
        ],
        [
            bench.cross_check(ours),
            f"peers: {rows[1].cell(lambda s: s.api)} API requests, "
            f"{rows[1].cell(lambda s: s.api + s.pings)} with their /v2/ pings "
            "(the brief expected 41 / 61)",
        ],
    )
    bench.show_requests("project requests (run 1)", ours[0])
    print_peer_steps(theirs[0])
    if bench.verbose:
        bench.show_requests("peer requests (run 1)", theirs[0])

    rows = [
        Row("project: merge (re-run)", rerun_ours),
        Row("peers: same commands (fresh job state)", rerun_theirs),
    ]
    print_table(
        f"Workload 2: re-run of the same release [{bench.runs} runs]",
        rows,
        [
            bench.check("project writes == 0", rows[0].worst(lambda s: s.writes), 0),
            bench.check(
                f"project API requests (excl. /v2/ pings, tokens) <= {T_RERUN}",
                rows[0].worst(lambda s: s.api),
                T_RERUN,
            ),
        ],
        [bench.cross_check(rerun_ours)],
    )
    bench.show_requests("project requests (run 1)", rerun_ours[0])


def first_release_with_auth(bench: Bench, env: Env) -> None:
    """Workload 1 behind a token server: no target, it shows what GHCR-style auth adds."""
    version = "0.22.8"
    (ours,), (theirs,) = bench.paired_releases(env, "auth", version, TWO)
    rows = merge_rows(ours, theirs)
    print_table(
        "Workload 1 again, with Bearer-token auth (GHCR-style token server; "
        f"informational, no target) [{bench.runs} runs]",
        rows,
        [],
        [
            bench.cross_check(ours),
            "401 = challenged requests (counted in API/ping); tok = token-server requests",
        ],
    )
    bench.show_requests("project requests (run 1)", ours[0])
    print_peer_steps(theirs[0])


def rollback(bench: Bench, env: Env) -> None:
    """Workload 3: `promote --from` the older release, against two peer ways to move latest."""
    older, newer = "0.22.7", "0.22.8"
    ours, copy_all, recreate = [], [], []
    for i in range(bench.runs):
        repos = [f"bench/rollback-{kind}{i}" for kind in ("p", "s", "d")]
        for repo in repos:
            for version in (older, newer):
                sha = sha_for(f"rollback-{version}")
                env.seeder.per_arch(repo, sha, TWO)
                direct_merge(env.registry.host, repo, version, sha, TWO)
        ours.append(bench.project(env, "promote", repos[0], source=f"{older}-{FLAVOR}"))
        ref = f"{env.proxy.host}/{repos[1]}"
        copy = env.peers.skopeo_copy(
            f"docker://{ref}:{older}-{FLAVOR}",
            f"docker://{ref}:latest-{FLAVOR}",
            all_images=True,
        )
        copy_all.append(env.peers.perform(env.meter, [("skopeo copy --all", copy)]))
        ref = f"{env.proxy.host}/{repos[2]}"
        sources = [f"{ref}:{older}-{FLAVOR}-{token(p)}" for p in TWO]
        create = ["docker", "manifest", "create", "--insecure", f"{ref}:latest-{FLAVOR}"]
        push = ["docker", "manifest", "push", "--insecure", f"{ref}:latest-{FLAVOR}"]
        steps = [("docker manifest create", create + sources), ("docker manifest push", push)]
        recreate.append(env.peers.perform(env.meter, steps))
    marker = f"{newer}-{FLAVOR}-yanked"
    yanked = all(
        s.extra["report"]["yanked"] == [newer] and marker in s.extra["report"]["written"]
        for s in ours
    )
    rows = [
        Row(f"project: promote --from {older}-{FLAVOR}", ours),
        Row("peer: skopeo copy --all (no marker)", copy_all),
        Row("peer: docker manifest (no marker)", recreate),
    ]
    marker_check = Check(f"the yank marker {marker} is written", "yes" if yanked else "no", yanked)
    bench.checks.append(marker_check)
    print_table(
        f"Workload 3: rollback of latest-{FLAVOR} from {newer} to {older} [{bench.runs} runs]",
        rows,
        [
            bench.check(
                f"project API requests, yank marker included <= {T_ROLLBACK}",
                rows[0].worst(lambda s: s.api),
                T_ROLLBACK,
            ),
            marker_check,
        ],
        [
            bench.cross_check(ours),
            "peers write no yank marker; docker manifest re-creates the list from the "
            "per-arch tags (a new digest, not the release's index)",
        ],
    )
    bench.show_requests("project requests (run 1)", ours[0])


def big_repository(bench: Bench, env: Env) -> None:
    """Workload 4: the release into a big repository, whose tag list comes in pages."""
    repo = "bench/big"
    t0 = time.perf_counter()
    env.seeder.many_tags(repo, release_history(SEED_TAGS))
    seeded = time.perf_counter() - t0
    ours, theirs = [], []
    for i in range(bench.runs):
        # Each run is a new newest release into the same big repository.
        version, sha = f"1.0.{2 * i}", sha_for(f"big-p{i}")
        env.seeder.per_arch(repo, sha, TWO)
        ours.append(bench.release(env, repo, version, sha, TWO, decision_from=env.registry.host))
        version, sha = f"1.0.{2 * i + 1}", sha_for(f"big-d{i}")
        env.seeder.per_arch(repo, sha, TWO)
        theirs.append(bench.peer_release(env, repo, version, sha, TWO))
    listings = [listing_pages(s.exchanges) for s in ours]
    worst_pages = max(max(pages) for pages in listings)
    decision = [s.extra["decision_cpu"] for s in ours]
    cpu = [s.cpu or 0.0 for s in ours]
    rows = [Row("project: merge", ours), Row("peers (read no tag list)", theirs)]
    print_table(
        f"Workload 4: the release into a repository holding {SEED_TAGS:,} tags "
        f"(proxy pages of {PAGE_SIZE}) [{bench.runs} runs]",
        rows,
        [
            bench.check(
                f"tag-list requests per listing <= {T_PAGES_PER_LISTING}",
                worst_pages,
                T_PAGES_PER_LISTING,
            ),
            bench.check(
                f"project CPU for the decision (Ledger, newest_live) < {T_DECISION_CPU:g} s",
                max(decision),
                T_DECISION_CPU - 1e-9,
                "{:.4f} s",
            ),
        ],
        [
            bench.cross_check(ours),
            f"seeded {SEED_TAGS:,} tags in {seeded:.1f} s (direct PUTs of one manifest, 8 threads)",
            f"tag listings per merge: {sorted({len(p) for p in listings})}; requests per "
            f"listing (run 1): {listings[0]}",
            f"tags listed at decision time: {sorted({s.extra['decision_tags'] for s in ours})}",
            f"decision CPU: median {statistics.median(decision) * 1000:.1f} ms, "
            f"max {max(decision) * 1000:.1f} ms",
            f"whole merge() CPU (process_time, incl. HTTP and JSON): median "
            f"{statistics.median(cpu):.3f} s, max {max(cpu):.3f} s",
            f"vs workload 1: +{rows[0].worst(lambda s: s.api) - (bench.first_api or 0)} "
            "API requests",
        ],
    )
    bench.show_requests("project requests (run 1)", ours[0])


def four_platforms(bench: Bench, env: Env) -> None:
    """Workload 5: what each platform past workload 1's two adds."""
    version = "0.22.8"
    (ours,), (theirs,) = bench.paired_releases(env, "four", version, FOUR)
    rows = merge_rows(ours, theirs)
    added = len(FOUR) - len(TWO)
    ours_now, theirs_now = rows[0].worst(lambda s: s.api), rows[1].worst(lambda s: s.api)
    growth = (ours_now - (bench.first_api or 0)) / added
    peer_growth = (theirs_now - (bench.first_peer_api or 0)) / added
    print_table(
        f"Workload 5: first release on four platforms ({', '.join(FOUR)}) [{bench.runs} runs]",
        rows,
        [
            bench.check(
                f"project API requests added per extra platform <= {T_PER_PLATFORM}",
                growth,
                T_PER_PLATFORM,
                "{:.1f}",
            )
        ],
        [
            bench.cross_check(ours),
            f"vs workload 1 (two platforms): project {bench.first_api} -> {ours_now}, "
            f"peers {bench.first_peer_api} -> {theirs_now} ({peer_growth:.1f} per platform)",
        ],
    )
    bench.show_requests("project requests (run 1)", ours[0])
    print_peer_steps(theirs[0])


def listing_pages(exchanges: list[Exchange]) -> list[int]:
    """Requests per tag listing: a listing starts with a tags/list GET without `last=`."""
    pages: list[int] = []
    for ex in exchanges:
        if ex.method == "GET" and ex.path.split("?")[0].endswith("/tags/list"):
            if "last=" not in ex.path or not pages:
                pages.append(0)
            pages[-1] += 1
    return pages or [0]
