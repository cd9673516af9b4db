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
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import pin_cost  # noqa: E402 - workload 8
import status_cost  # noqa: E402 - workload 6, in its own module
import workloads  # noqa: E402 - workloads 1 to 5
from attested import attested_refs  # noqa: E402 - workload 7
from bench import Bench, Env  # noqa: E402
from metering import start_metered_proxy  # noqa: E402
from naming import FOUR, TWO  # noqa: E402
from output import Check  # noqa: E402
from peers import Peers  # noqa: E402
from project_worker import worker  # noqa: E402
from seeder import Seeder  # noqa: E402
from support.registry import REGISTRY_BIN, TEST_CREDS, Registry, start_registry  # noqa: E402
from support.tokens import TokenServer  # noqa: E402


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
        paged_proxy, paged_meter = proxied(registry, workloads.PAGE_SIZE)
        paged = Env(registry, paged_proxy, paged_meter, seeder, peers)
        print(f"{versions}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs")
        print(
            f"docker-registry on {registry.host} (anonymous); counting proxy {proxy.host}; "
            f"paging proxy {paged_proxy.host} (page_size={workloads.PAGE_SIZE}); "
            f"{args.runs} runs per workload, wall = median; skopeo runs as "
            f"{'nobody' if peers.as_nobody else 'this user'} with a fresh blob-info cache per "
            "release"
        )
        workloads.first_release_and_rerun(bench, plain)
        workloads.rollback(bench, plain)
        workloads.big_repository(bench, paged)
        bench.checks += [
            Check(*c) for c in status_cost.workload(registry.host, "bench/big", args.runs)
        ]
        workloads.four_platforms(bench, plain)
        attested_refs(bench, plain)
        bench.checks += [Check(*c) for c in pin_cost.workload(registry.host, args.runs)]
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
            workloads.first_release_with_auth(
                bench, Env(registry, proxy, meter, seeder, peers, creds=TEST_CREDS)
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
