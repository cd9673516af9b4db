"""Workload 6: what `status` costs, for 10 versions and in a repository of 10,000 tags.

`status` is what the on-call person runs first in an incident, often against a rate-limited
registry, so its price is counted per call: registry requests by kind (a tag listing's
pages, HEADs, manifest GETs, config blob GETs), the CPU of the call and its wall time.

Set-up goes straight to the registry and is not counted: per-commit images seeded by raw
HTTP (tests/seeding.py, each config with revision and created labels), then releases made by
the project's own `merge`, and a rollback by `promote`, so the versions shown include a
yanked one. Their indexes are as `merge` writes them, recording the labels on each entry;
the benchmark checks every version shown reports both, so the figure is not that of
unlabelled images. The measured calls go through the harness's counting proxy
(tests/support/proxy.py); the big repository's proxy pages tag lists by 1,000, as
registries do.

The bound, issue 11's: one tag listing, plus one HEAD of the floating tag, plus at most two
requests per version shown. (Versions `merge` wrote cost one, their index; the bound leaves
room for versions whose labels must be read from an image.)
"""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass

import anyio
from seeding import seed_commits
from support.proxy import Proxy, start_proxy

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import promote_spec, release_spec, status_spec
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.release import merge
from release_pipeline.verbs.report import StatusReport
from release_pipeline.verbs.status import status

FLAVOR = "workers"
SMALL_REPO = "bench/status10"
RELEASES = 10  # the 10 versions of the small repository
BIG_RELEASES = 20  # newest in the big repository: `status`'s default limit shows exactly them
PAGE_SIZE = 1000
CPU_TARGET = 1.0


@dataclass
class Call:
    requests: dict[str, int]  # listing, HEAD, manifest GET, blob GET, other
    listing_pages: int
    total: int
    client_total: int  # the client's own count, to cross-check the proxy's
    versions: int
    labelled: int  # versions shown with both a revision and a created time
    cpu: float
    wall: float


def workload(host: str, big_repo: str, runs: int) -> list[tuple[str, str, bool]]:
    """Measure `status` in a fresh 10-version repository and in `big_repo` (10,000 tags).

    Returns the checks as (text, value, ok) for the benchmark's target summary.
    """
    small_versions = [f"1.{i}.0" for i in range(RELEASES)]
    big_versions = [f"9.{i}.0" for i in range(BIG_RELEASES)]  # newer than anything there
    _release(host, SMALL_REPO, small_versions)
    _release(host, big_repo, big_versions)
    checks = []
    for label, repo, page_size in (
        (f"{RELEASES} versions", SMALL_REPO, None),
        ("a repository of 10,000+ tags", big_repo, PAGE_SIZE),
    ):
        proxy = start_proxy(host, page_size=page_size)
        try:
            calls = [_measure(proxy, repo) for _ in range(runs)]
        finally:
            proxy.stop()
        worst = max(calls, key=lambda c: c.total)
        bound = worst.listing_pages + 1 + 2 * worst.versions
        _print(label, repo, page_size, calls)
        checks.append(
            (
                f"status, {label}: requests <= listing + 1 + 2 per version shown ({bound})",
                str(worst.total),
                worst.total <= bound,
            )
        )
        labelled = min(c.labelled for c in calls)
        checks.append(
            (
                f"status, {label}: every version shown has its revision and created time",
                f"{labelled} of {worst.versions}",
                labelled == worst.versions > 0,
            )
        )
        cpu = max(c.cpu for c in calls)
        checks.append(
            (f"status, {label}: CPU < {CPU_TARGET:g} s", f"{cpu:.3f} s", cpu < CPU_TARGET)
        )
        for text, value, ok in checks[-3:]:  # as output.print_table prints every workload's targets
            print(f"  target: {text.split(': ', 1)[1]:<60} {value:>12}  {'PASS' if ok else 'MISS'}")
    return checks


def _release(host: str, repo: str, versions: list[str]) -> None:
    """Release each version from its own commit, then roll latest back by three versions."""
    shas = [hashlib.sha1(f"{repo} {v}".encode()).hexdigest() for v in versions]
    seed_commits(
        host, repo, shas, workers=4, labels={"org.opencontainers.image.created": "2026-11-30"}
    )

    async def main() -> None:
        async with RegistryClient(host, secure=False) as client:
            for version, sha in zip(versions, shas, strict=True):
                await merge(release_spec(f"{host}/{repo}", version, sha, FLAVOR), client)
            back = promote_spec(f"{host}/{repo}", f"{versions[-4]}-{FLAVOR}", None, FLAVOR)
            await promote(back, client)

    anyio.run(main)


def _measure(proxy: Proxy, repo: str) -> Call:
    proxy.reset()

    async def main() -> tuple[StatusReport, int, float, float]:
        spec = status_spec(f"{proxy.host}/{repo}", FLAVOR)
        async with RegistryClient(proxy.host, secure=False, push=False) as client:
            c0, t0 = time.thread_time(), time.perf_counter()  # proxy threads not included
            report = await status(spec, client)
            cpu, wall = time.thread_time() - c0, time.perf_counter() - t0
            return report, client.stats.total, cpu, wall

    report, client_total, cpu, wall = anyio.run(main)
    labelled = sum(1 for v in report.versions if v.revision and v.created)
    kinds = {"listing": 0, "HEAD": 0, "manifest GET": 0, "blob GET": 0, "other": 0}
    for method, path in proxy.counted():
        if "/tags/list" in path:
            kind = "listing"
        elif method == "HEAD":
            kind = "HEAD"
        elif method == "GET":
            kind = "manifest GET" if "/manifests/" in path else "blob GET"
        else:
            kind = "other"
        kinds[kind] += 1
    total = sum(kinds.values())
    return Call(
        kinds, kinds["listing"], total, client_total, len(report.versions), labelled, cpu, wall
    )


def _print(label: str, repo: str, page_size: int | None, calls: list[Call]) -> None:
    paging = f"proxy pages of {page_size}" if page_size else "one page"
    print(f"\nWorkload 6: status, {label} ({repo}, {paging}) [{len(calls)} runs]")
    first = calls[0]
    for kind, count in first.requests.items():
        print(f"  {kind:<13} {count:>5}")
    print(f"  {'total':<13} {first.total:>5}  for {first.versions} versions shown")
    spread = sorted({c.total for c in calls})
    agree = all(c.total == c.client_total for c in calls)
    print(
        f"  requests per run: {spread}; client.stats agrees with the proxy: "
        f"{'yes' if agree else 'NO'}"
    )
    print(
        f"  CPU of the call: median {statistics.median(c.cpu for c in calls) * 1000:.1f} ms, "
        f"max {max(c.cpu for c in calls) * 1000:.1f} ms; wall median "
        f"{statistics.median(c.wall for c in calls):.3f} s"
    )
