"""Benchmarks: what a release costs in registry requests, bytes and time, next to its peers.

Starts Debian's docker-registry on loopback, seeds it directly (never through the counting
proxy), then runs each workload through the harness's counting proxy (tests/support/proxy.py)
for the project and for the command-line tools of the workflow it replaces (`skopeo copy`
for the per-arch version tags, `docker manifest create` + `docker manifest push` for each
multi-arch tag). Prints one table per workload with the project's targets, PASS or MISS, and
exits 1 when the project misses one. See benchmarks/README.md for what is measured and how.

Usage: python3 benchmarks/run.py [--runs N] [--verbose] [--no-auth] [--oci]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import status_cost  # noqa: E402 - workload 6, in its own module
from attested import attested_refs  # noqa: E402
from metering import Exchange, Meter, start_metered_proxy  # noqa: E402
from naming import FLAVOR, FOUR, TWO, sha_for, token  # noqa: E402
from output import Check, describe, print_peer_steps, print_table  # noqa: E402
from peers import Peers  # noqa: E402
from project_worker import run_project, worker  # noqa: E402
from samples import Row, Sample, measure  # noqa: E402
from seeder import Seeder, direct_merge, release_history  # noqa: E402
from support.proxy import Proxy  # noqa: E402
from support.registry import REGISTRY_BIN, TEST_CREDS, Registry, start_registry  # noqa: E402
from support.tokens import TokenServer  # noqa: E402

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


# ---------------------------------------------------------------------------------------
# The workloads


@dataclass
class Env:
    """A registry with its counting proxy, seeder and peers (one per auth mode)."""

    registry: Registry
    proxy: Proxy
    meter: Meter
    seeder: Seeder
    peers: Peers
    creds: tuple[str, str] | None = None


@dataclass
class Bench:
    runs: int
    verbose: bool
    checks: list[Check] = field(default_factory=list)
    first_api: int | None = None
    first_peer_api: int | None = None

    def check(self, text: str, value: float, limit: float, fmt: str = "{:.0f}") -> Check:
        c = Check(text, fmt.format(value), value <= limit)
        self.checks.append(c)
        return c

    def project(self, env: Env, op: str, repo: str, **job: Any) -> Sample:
        job |= {"op": op, "image": f"{env.proxy.host}/{repo}", "repo": repo, "creds": env.creds}
        return measure(env.meter, lambda: run_project(job))

    def release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str], **job: Any
    ) -> Sample:
        return self.project(
            env, "merge", repo, version=version, sha=sha, platforms=list(platforms), **job
        )

    def peer_release(
        self, env: Env, repo: str, version: str, sha: str, platforms: Sequence[str]
    ) -> Sample:
        steps = env.peers.release_cmds(env.proxy.host, repo, version, sha, platforms)
        return env.peers.perform(env.meter, steps)

    def paired_releases(
        self, env: Env, name: str, version: str, platforms: Sequence[str], passes: int = 1
    ) -> tuple[list[list[Sample]], list[list[Sample]]]:
        """Per run, seed twin repositories alike; the project releases into one and the peers
        into the other, `passes` times each. Returns (ours, theirs), indexed [pass][run]."""
        ours: list[list[Sample]] = [[] for _ in range(passes)]
        theirs: list[list[Sample]] = [[] for _ in range(passes)]
        for i in range(self.runs):
            sha = sha_for(f"{name}-{i}")
            repo_p, repo_d = f"bench/{name}-p{i}", f"bench/{name}-d{i}"
            for repo in (repo_p, repo_d):
                env.seeder.per_arch(repo, sha, platforms)
            for n in range(passes):
                ours[n].append(self.release(env, repo_p, version, sha, platforms))
                theirs[n].append(self.peer_release(env, repo_d, version, sha, platforms))
        return ours, theirs

    def cross_check(self, samples: Iterable[Sample]) -> str:
        """The client's own count (client.stats.by_method) against the proxy's."""
        for s in samples:
            stats = s.extra.get("stats", {})
            if sum(stats.values()) != s.everything:
                seen = {m: n for m, n in s.by_method().items() if n}
                return (
                    f"WARNING: client.stats.by_method {stats} != proxy {seen} "
                    f"+ {s.tokens} token requests"
                )
        return "client.stats.by_method agrees with the proxy's count in every run"

    def show_requests(self, label: str, sample: Sample) -> None:
        print(f"  {label}:")
        for line in describe(sample.exchanges):
            print(f"    {line}")

    # 1 and 2 -------------------------------------------------------------------------

    def first_release_and_rerun(self, env: Env) -> None:
        version = "0.22.8"
        (ours, rerun_ours), (theirs, rerun_theirs) = self.paired_releases(
            env, "first", version, TWO, passes=2
        )
        if not all(s.extra["report"]["latest_moved"] for s in ours):
            raise SystemExit("workload 1: the project did not move latest")
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        self.first_api = rows[0].worst(lambda s: s.api)
        self.first_peer_api = rows[1].worst(lambda s: s.api)
        print_table(
            f"Workload 1: first two-platform release ({version}: 4 per-arch version tags, "
            f"3 multi-arch tags, latest) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests (excl. /v2/ pings, tokens) <= {T_FIRST}",
                    self.first_api,
                    T_FIRST,
                )
            ],
            [
                self.cross_check(ours),
                f"peers: {rows[1].cell(lambda s: s.api)} API requests, "
                f"{rows[1].cell(lambda s: s.api + s.pings)} with their /v2/ pings "
                "(the brief expected 41 / 61)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
        print_peer_steps(theirs[0])
        if self.verbose:
            self.show_requests("peer requests (run 1)", theirs[0])

        rows = [
            Row("project: merge (re-run)", rerun_ours),
            Row("peers: same commands (fresh job state)", rerun_theirs),
        ]
        print_table(
            f"Workload 2: re-run of the same release [{self.runs} runs]",
            rows,
            [
                self.check("project writes == 0", rows[0].worst(lambda s: s.writes), 0),
                self.check(
                    f"project API requests (excl. /v2/ pings, tokens) <= {T_RERUN}",
                    rows[0].worst(lambda s: s.api),
                    T_RERUN,
                ),
            ],
            [self.cross_check(rerun_ours)],
        )
        self.show_requests("project requests (run 1)", rerun_ours[0])

    # 1, with token auth (no target: what GHCR-style auth adds) -------------------------

    def first_release_with_auth(self, env: Env) -> None:
        version = "0.22.8"
        (ours,), (theirs,) = self.paired_releases(env, "auth", version, TWO)
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        print_table(
            "Workload 1 again, with Bearer-token auth (GHCR-style token server; "
            f"informational, no target) [{self.runs} runs]",
            rows,
            [],
            [
                self.cross_check(ours),
                "401 = challenged requests (counted in API/ping); tok = token-server requests",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
        print_peer_steps(theirs[0])

    # 3 ------------------------------------------------------------------------------

    def rollback(self, env: Env) -> None:
        older, newer = "0.22.7", "0.22.8"
        ours, copy_all, recreate = [], [], []
        for i in range(self.runs):
            repos = [f"bench/rollback-{kind}{i}" for kind in ("p", "s", "d")]
            for repo in repos:
                for version in (older, newer):
                    sha = sha_for(f"rollback-{version}")
                    env.seeder.per_arch(repo, sha, TWO)
                    direct_merge(env.registry.host, repo, version, sha, TWO)
            ours.append(self.project(env, "promote", repos[0], source=f"{older}-{FLAVOR}"))
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
        marker_check = Check(
            f"the yank marker {marker} is written", "yes" if yanked else "no", yanked
        )
        self.checks.append(marker_check)
        print_table(
            f"Workload 3: rollback of latest-{FLAVOR} from {newer} to {older} [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests, yank marker included <= {T_ROLLBACK}",
                    rows[0].worst(lambda s: s.api),
                    T_ROLLBACK,
                ),
                marker_check,
            ],
            [
                self.cross_check(ours),
                "peers write no yank marker; docker manifest re-creates the list from the "
                "per-arch tags (a new digest, not the release's index)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])

    # 4 ------------------------------------------------------------------------------

    def big_repository(self, env: Env) -> None:
        repo = "bench/big"
        t0 = time.perf_counter()
        env.seeder.many_tags(repo, release_history(SEED_TAGS))
        seeded = time.perf_counter() - t0
        ours, theirs = [], []
        for i in range(self.runs):
            # Each run is a new newest release into the same big repository.
            version, sha = f"1.0.{2 * i}", sha_for(f"big-p{i}")
            env.seeder.per_arch(repo, sha, TWO)
            ours.append(self.release(env, repo, version, sha, TWO, decision_from=env.registry.host))
            version, sha = f"1.0.{2 * i + 1}", sha_for(f"big-d{i}")
            env.seeder.per_arch(repo, sha, TWO)
            theirs.append(self.peer_release(env, repo, version, sha, TWO))
        listings = [listing_pages(s.exchanges) for s in ours]
        worst_pages = max(max(pages) for pages in listings)
        decision = [s.extra["decision_cpu"] for s in ours]
        cpu = [s.cpu or 0.0 for s in ours]
        rows = [Row("project: merge", ours), Row("peers (read no tag list)", theirs)]
        print_table(
            f"Workload 4: the release into a repository holding {SEED_TAGS:,} tags "
            f"(proxy pages of {PAGE_SIZE}) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"tag-list requests per listing <= {T_PAGES_PER_LISTING}",
                    worst_pages,
                    T_PAGES_PER_LISTING,
                ),
                self.check(
                    f"project CPU for the decision (Ledger, newest_live) < {T_DECISION_CPU:g} s",
                    max(decision),
                    T_DECISION_CPU - 1e-9,
                    "{:.4f} s",
                ),
            ],
            [
                self.cross_check(ours),
                f"seeded {SEED_TAGS:,} tags in {seeded:.1f} s (direct PUTs of one manifest, "
                "8 threads)",
                f"tag listings per merge: {sorted({len(p) for p in listings})}; requests per "
                f"listing (run 1): {listings[0]}",
                f"tags listed at decision time: {sorted({s.extra['decision_tags'] for s in ours})}",
                f"decision CPU: median {statistics.median(decision) * 1000:.1f} ms, "
                f"max {max(decision) * 1000:.1f} ms",
                f"whole merge() CPU (process_time, incl. HTTP and JSON): median "
                f"{statistics.median(cpu):.3f} s, max {max(cpu):.3f} s",
                f"vs workload 1: +{rows[0].worst(lambda s: s.api) - (self.first_api or 0)} "
                "API requests",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])

    # 5 ------------------------------------------------------------------------------

    def four_platforms(self, env: Env) -> None:
        version = "0.22.8"
        (ours,), (theirs,) = self.paired_releases(env, "four", version, FOUR)
        rows = [
            Row("project: merge", ours),
            Row("peers: skopeo copy + docker manifest", theirs),
        ]
        added = len(FOUR) - len(TWO)
        ours_now, theirs_now = rows[0].worst(lambda s: s.api), rows[1].worst(lambda s: s.api)
        growth = (ours_now - (self.first_api or 0)) / added
        peer_growth = (theirs_now - (self.first_peer_api or 0)) / added
        print_table(
            f"Workload 5: first release on four platforms ({', '.join(FOUR)}) [{self.runs} runs]",
            rows,
            [
                self.check(
                    f"project API requests added per extra platform <= {T_PER_PLATFORM}",
                    growth,
                    T_PER_PLATFORM,
                    "{:.1f}",
                )
            ],
            [
                self.cross_check(ours),
                f"vs workload 1 (two platforms): project {self.first_api} -> {ours_now}, "
                f"peers {self.first_peer_api} -> {theirs_now} ({peer_growth:.1f} per platform)",
            ],
        )
        self.show_requests("project requests (run 1)", ours[0])
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


def check_tools() -> str:
    """Fail early when a tool is missing; return the versions, for the report."""
    missing = [t for t in ("docker", "skopeo", "umoci") if shutil.which(t) is None]
    if not Path(REGISTRY_BIN).exists():
        missing.append("docker-registry")
    if missing:
        raise SystemExit(f"missing tools: {', '.join(missing)} (benchmarks/run installs them)")
    versions = []
    for cmd in (["docker", "--version"], ["skopeo", "--version"], [REGISTRY_BIN, "--version"]):
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
        versions.append(proc.stdout.strip().replace("version ", ""))
    return "; ".join(versions)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per workload (default 5)")
    parser.add_argument("--verbose", action="store_true", help="also print the peers' requests")
    parser.add_argument("--no-auth", action="store_true", help="skip the token-auth variant")
    parser.add_argument(
        "--oci",
        action="store_true",
        help="OCI per-arch image manifests (default: Docker schema 2, which every docker CLI "
        "reads; docker 20.10's `manifest create` cannot read OCI manifests)",
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    versions = check_tools()
    started = time.perf_counter()
    bench = Bench(args.runs, args.verbose)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rp-bench-")))
        work.chmod(0o755)  # skopeo runs as nobody and keeps its state below

        def proxied(
            upstream: Registry, page_size: int | None = None, tokens: TokenServer | None = None
        ) -> Any:
            proxy, meter = start_metered_proxy(upstream.host, page_size, tokens)
            stack.callback(proxy.stop)
            return proxy, meter

        registry = start_registry(work / "registry")
        stack.callback(registry.stop)
        seeder = Seeder(registry, docker_format=not args.oci)
        seeder.push_templates(FOUR)
        proxy, meter = proxied(registry)
        peers = Peers(work / "peers")
        plain = Env(registry, proxy, meter, seeder, peers)
        paged_proxy, paged_meter = proxied(registry, PAGE_SIZE)
        paged = Env(registry, paged_proxy, paged_meter, seeder, peers)
        print(f"{versions}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
        print(
            f"docker-registry on {registry.host} (anonymous); counting proxy {proxy.host}; "
            f"paging proxy {paged_proxy.host} (page_size={PAGE_SIZE}); {args.runs} runs per "
            f"workload, wall = median; skopeo runs as "
            f"{'nobody' if peers.as_nobody else 'this user'} with a fresh blob-info cache per "
            "release"
        )
        bench.first_release_and_rerun(plain)
        bench.rollback(plain)
        bench.big_repository(paged)
        bench.checks += [
            Check(*c) for c in status_cost.workload(registry.host, "bench/big", args.runs)
        ]
        bench.four_platforms(plain)
        attested_refs(bench, plain)
        if not peers.cache_used():
            print("\nWARNING: skopeo's private blob-info cache was not used")
        if not args.no_auth:
            tokens = TokenServer(work / "tokens", {TEST_CREDS[0]: TEST_CREDS[1]})
            stack.callback(tokens.stop)
            registry = start_registry(work / "registry-token", token=tokens)
            stack.callback(registry.stop)
            seeder = Seeder(registry, tokens, TEST_CREDS, docker_format=not args.oci)
            seeder.push_templates(TWO)
            proxy, meter = proxied(registry, tokens=tokens)
            peers = Peers(work / "peers-auth", TEST_CREDS, proxy.host)
            bench.first_release_with_auth(
                Env(registry, proxy, meter, seeder, peers, creds=TEST_CREDS)
            )
    missed = [c for c in bench.checks if not c.ok]
    print(
        f"\n{len(bench.checks) - len(missed)}/{len(bench.checks)} project targets met; "
        f"total {time.perf_counter() - started:.0f} s"
    )
    for c in missed:
        print(f"  MISSED: {c.text} ({c.value})")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
