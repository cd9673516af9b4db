"""Whole runs of the example callers through the reusable workflows, and what they called.

Shared by the tests/test_workflow_*.py files that run a caller end to end with
support/actions_runner.py: every `run:` script in bash, in a scratch git repository of the
TestPlanIt-shaped fixture, with recording `dagger`, `colima` and `docker` on PATH. Every
recorded `dagger call` is checked against the module's registration (support/registration.py),
so a call the module would reject fails the test whose run made it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from support.actions_runner import CANARY_TOKEN, OPS_CANARY_TOKEN, Run, run_caller
from support.registration import registration
from support.scratch_repo import git
from support.workflows import DaggerCall, disagreements, load, parse_call

MODULE = "github.com/OWNER/release-pipeline@" + "0" * 40
"""The module pin of the example callers (a placeholder commit)."""


OPS = "TestPlanIt/private-ops"
"""The SaaS callers' ops repository; tests stand a bare repository from ops_repository() in."""

WORKERS_DEPLOYMENT = """\
# The shared worker pool of every tenant.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: multitenant-workers
  namespace: testplanit
spec:
  template:
    spec:
      serviceAccountName: multitenant-workers
      containers:
        - name: workers
          image: ghcr.io/testplanit/testplanit:latest-workers
"""


def ops_repository(tmp_path: Path) -> Path:
    """A bare repository like TestPlanIt's ops repository: `main` with the workers Deployment
    under k8s/ naming the floating tag, as it did on 2026-04-22."""
    work = tmp_path / "ops-work"
    (work / "k8s").mkdir(parents=True)
    (work / "k8s" / "multitenant-workers.yaml").write_text(WORKERS_DEPLOYMENT)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "workers")
    bare = tmp_path / "ops.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    return bare


def release_run(caller: Path, repo: Path, tmp_path: Path, tag: str = "v0.22.8", **kw: Any) -> Run:
    if "repositories" not in kw:
        kw["repositories"] = {OPS: ops_repository(tmp_path)}
    run = run_caller(caller, repo, tmp_path, ref_name=tag, stand_ins=("colima", "docker"), **kw)
    assert CANARY_TOKEN not in run.text and OPS_CANARY_TOKEN not in run.text
    return run


def calls_of(run: Run, job: str) -> list[DaggerCall]:
    return [parse_call(argv) for entry in run.jobs[job] for argv in entry.calls]


def assert_agree(calls: list[DaggerCall]) -> None:
    assert calls
    for call in calls:
        assert disagreements(call, registration()) == [], call


def derived_caller(tmp_path: Path, base: Path, **changes: Any) -> Path:
    """A caller like `base` with some `with:` values changed (None removes one)."""
    caller = copy.deepcopy(load(base))
    (job,) = caller["jobs"].values()
    for key, value in changes.items():
        if value is None:
            job["with"].pop(key, None)
        else:
            job["with"][key] = value
    caller["on"] = caller.pop(True)
    path = tmp_path / f"caller-{len(list(tmp_path.glob('caller-*')))}.yml"
    path.write_text(yaml.safe_dump(caller, sort_keys=False))
    return path


def flavors(caller: Path) -> list[dict[str, str]]:
    (job,) = load(caller)["jobs"].values()
    result: list[dict[str, str]] = json.loads(job["with"]["flavors"])
    return result
