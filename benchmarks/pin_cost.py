"""Workload 8: what `pin` costs over an ops repository of 500 manifest files.

`pin` runs in a release or rollback job, and in the ops repository's CI on every change
(`--check`), so its price is counted per call: registry requests by kind and CPU. The tree
(written once, not measured): 500 files of Deployments (CRLF in some, comments, an
initContainer, a sidecar of another image, a production container of the same repository
in some) and CronJobs, plus a kustomization. Every workers reference is pinned by the
first call; the second call (a re-run) finds them pinned and writes nothing.

The targets: the registry side is one tag listing (the yank rule needs it) plus one HEAD
of the version tag per image pinned, whatever the number of files; < 1 s CPU per call.
CPU is `time.thread_time()` of the calling thread (the proxy's threads left out).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path

import anyio
from seeding import seed_commits
from support.proxy import Proxy, start_proxy

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import pin_spec, release_spec
from release_pipeline.verbs.pin import pin
from release_pipeline.verbs.pin_tree import LocalManifests
from release_pipeline.verbs.release import merge

REPO = "bench/pin"
FILES = 500
CPU_TARGET = 1.0


def manifest(image: str, n: int) -> str:
    eol = "\r\n" if n % 3 == 0 else "\n"
    if n % 5 == 0:
        lines = [
            "apiVersion: batch/v1",
            "kind: CronJob",
            f"metadata: {{name: job-{n}}}",
            "spec:",
            '  schedule: "0 3 * * *"',
            "  jobTemplate:",
            "    spec:",
            "      template:",
            "        spec:",
            "          containers:",
            f"          - {{name: job, image: '{image}:latest-workers'}}",
        ]
    else:
        lines = [
            f"# service {n}: queue consumers",
            "apiVersion: apps/v1",
            "kind: Deployment",
            f"metadata:\n  name: workers-{n}".replace("\n", eol),
            "spec:",
            "  template:",
            "    spec:",
            "      initContainers:",
            "        - name: migrate",
            f'          image: "{image}:latest-workers"  # migrations',
            "      containers:",
            "        - name: workers",
            f"          image: {image}:latest-workers",
            "        - name: cache",
            "          image: docker.io/valkey/valkey:8",
        ]
        if n % 2:
            lines += ["        - name: web", f"          image: {image}:latest"]
    return eol.join(lines) + eol


def workload(host: str, runs: int) -> list[tuple[str, str, bool]]:
    sha = hashlib.sha1(b"bench pin").hexdigest()
    seed_commits(host, REPO, [sha])
    anyio.run(_merge, host, sha)
    proxy = start_proxy(host)
    image = f"{proxy.host}/{REPO}"
    checks = []
    try:
        samples = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as scratch:
                root = Path(scratch)
                for n in range(FILES):
                    (root / f"svc-{n:03}.yaml").write_text(manifest(image, n), newline="")
                first = _measure(proxy, image, root)
                again = _measure(proxy, image, root)
                samples.append((first, again))
    finally:
        proxy.stop()
    (changes, written, requests, cpu), (_, rewritten, rerun_requests, rerun_cpu) = samples[0]
    print(f"\nWorkload 8: pin over {FILES} manifest files ({REPO}) [{runs} runs]")
    print(f"  first call: {changes} references pinned in {written} files; requests {requests}")
    print(f"  re-run: {rewritten} files written; requests {rerun_requests}")
    worst_cpu = max(max(a[3], b[3]) for a, b in samples)
    print(
        f"  CPU of the call: first {cpu * 1000:.0f} ms, re-run {rerun_cpu * 1000:.0f} ms; "
        f"worst of all runs {worst_cpu * 1000:.0f} ms"
    )
    worst = max(len(s[0][2]) for s in samples)
    checks.append(
        (
            "pin: requests <= 1 listing + 1 HEAD per image pinned (2)",
            str(worst),
            worst <= 2,
        )
    )
    checks.append(("pin: re-run writes no file", str(rewritten), rewritten == 0))
    checks.append((f"pin: CPU < {CPU_TARGET:g} s", f"{worst_cpu:.3f} s", worst_cpu < CPU_TARGET))
    for text, value, ok in checks:
        print(f"  target: {text.split(': ', 1)[1]:<60} {value:>12}  {'PASS' if ok else 'MISS'}")
    return checks


async def _merge(host: str, sha: str) -> None:
    async with RegistryClient(host, secure=False) as client:
        await merge(release_spec(f"{host}/{REPO}", "0.22.7", sha, "workers"), client)


def _measure(proxy: Proxy, image: str, root: Path) -> tuple[int, int, list[str], float]:
    proxy.reset()

    async def main() -> tuple[int, int, float]:
        spec = pin_spec(image, "workers", "0.22.7")
        async with RegistryClient(proxy.host, secure=False, push=False) as client:
            c0 = time.thread_time()
            report = await pin(spec, client, LocalManifests(root))
            return len(report.changes), len(report.written), time.thread_time() - c0

    changes, written, cpu = anyio.run(main)
    requests = [f"{method} {path.split('/')[-1]}" for method, path in proxy.counted()]
    return changes, written, requests, cpu
