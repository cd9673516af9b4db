"""The project's side: one fresh `run.py --worker` process per run, through its library API.

The harness proxy runs as threads of the benchmark process, so measuring there would count
the proxy's CPU too; the worker's CPU time is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from naming import FLAVOR
from samples import Sample
from support.images import list_tags_raw

ROOT = Path(__file__).resolve().parent.parent
RUN = Path(__file__).resolve().with_name("run.py")  # its --worker option runs worker()


def project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    return env


def run_project(job: dict[str, Any]) -> Sample:
    """Run merge or promote in a fresh interpreter (its CPU time is then its own)."""
    proc = subprocess.run(
        [sys.executable, str(RUN), "--worker"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=project_env(),
        timeout=300,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"project {job['op']} failed ({proc.returncode}):\n{proc.stderr}")
    out = json.loads(proc.stdout)
    return Sample([], 0, 0.0, call=out["call"], cpu=out["cpu"], extra=out)


def worker() -> None:
    """The measured side: read a job on stdin, print what happened as JSON."""
    import anyio

    from release_pipeline.registry.auth import Credentials
    from release_pipeline.registry.client import RegistryClient
    from release_pipeline.rules.releases import Ledger, Releases
    from release_pipeline.rules.specs import promote_spec, release_spec
    from release_pipeline.rules.tags import TagScheme
    from release_pipeline.verbs.promote import promote
    from release_pipeline.verbs.release import merge

    job = json.load(sys.stdin)
    creds = Credentials(*job["creds"]) if job.get("creds") else None

    async def main() -> dict[str, Any]:
        if job["op"] == "merge":
            spec = release_spec(job["image"], job["version"], job["sha"], FLAVOR, job["platforms"])
            async with RegistryClient.for_image(spec.image, creds) as client:
                c0, t0 = time.process_time(), time.perf_counter()
                report: Any = await merge(spec, client)
                call, cpu = time.perf_counter() - t0, time.process_time() - c0
                stats = dict(client.stats.by_method)
        else:
            pspec = promote_spec(job["image"], job["source"], None, FLAVOR)
            async with RegistryClient.for_image(pspec.image, creds) as client:
                c0, t0 = time.process_time(), time.perf_counter()
                report = await promote(pspec, client)
                call, cpu = time.perf_counter() - t0, time.process_time() - c0
                stats = dict(client.stats.by_method)
        return {"call": call, "cpu": cpu, "stats": stats, "report": report.model_dump()}

    out = anyio.run(main)
    if job.get("decision_from"):
        # The tag list as the merge read it (read again directly, not through the proxy).
        tags = list_tags_raw(job["decision_from"], job["repo"])
        c0 = time.process_time()
        newest = Releases(Ledger.read(TagScheme(FLAVOR), tags)).newest_live()
        out["decision_cpu"] = time.process_time() - c0
        out["decision_tags"] = len(tags)
        out["decision_newest"] = str(newest)
    print(json.dumps(out))
