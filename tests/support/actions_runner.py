"""Run a caller workflow (examples/) through the reusable workflow it calls, the way GitHub would
for the parts that decide anything: every `run:` script executes for real in bash, in a scratch
git repository, jobs in order, matrix jobs once per entry, `if:` conditions, job outputs and
`needs` wired through. Only what needs GitHub is stood in for:

- `${{ }}` expressions: tests/support/expressions.py, a small evaluator for the forms used
  (context paths, literals, `||`, `==`, `!=`, `fromJSON(...)[...]`);
- the actions: `actions/checkout` becomes `git checkout --detach REF` in the scratch repository,
  or, for another `repository:`, a clone of the local repository the test stands in for it;
  the Dagger CLI install, the registry login, attestation and the cosign install do nothing;
  `dagger` and `cosign` are recorders on PATH (tests/support/workflows.py, FAKE_DAGGER), and so
  is `gh` (it answers `pr create` with a pull request URL);
- the step that pip-installs release-pipeline from the pinned commit (no network here) puts a
  `release-pipeline` on PATH instead: the real CLI from this checkout, or a recorder;
- the OIDC token endpoint: a loopback HTTP server handing out a JWT whose job_workflow_ref and
  job_workflow_sha are what GitHub derives from the caller's `uses:` line (tests/support/oidc.py).

The scratch repository is tests/support/scratch_repo.py's.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.expressions import as_env, substitute
from support.oidc import OIDC_REQUEST_TOKEN, oidc_server
from support.scratch_repo import git
from support.stand_ins import GH_TOOL, REAL_TOOL, RECORD_TOOL
from support.workflows import FAKE_DAGGER, REUSABLE, ROOT, load, parse_outputs, triggers

CANARY_TOKEN = "canary-token-5f1d"
OPS_CANARY_TOKEN = "ops-canary-token-93c0"  # the callers' secrets.OPS_REPO_TOKEN
ACTOR = "octo[bot]"
REPOSITORY = "TestPlanIt/testplanit"


@dataclass
class StepResult:
    name: str
    status: str  # "success", "failure", "skipped"
    log: str = ""


@dataclass
class JobRun:
    name: str
    matrix: dict[str, Any]
    runs_on: Any
    timeout: Any
    status: str = "success"
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    calls: list[list[str]] = field(default_factory=list)  # dagger argv, in order

    @property
    def log(self) -> str:
        return "\n".join(f"[{s.name}: {s.status}]\n{s.log}" for s in self.steps)


@dataclass
class Run:
    caller: dict[str, Any]
    reusable: dict[str, Any]
    inputs: dict[str, Any]
    jobs: dict[str, list[JobRun]]
    tool_calls: list[list[str]]  # [command, *argv] of every stood-in command, in order
    installs: list[str]  # what the install step would have pip-installed
    # OWNER/NAME -> the local repository a checkout of it clones
    repositories: dict[str, Path] = field(default_factory=dict)

    def job(self, name: str) -> JobRun:
        (only,) = self.jobs[name]
        return only

    @property
    def calls(self) -> list[list[str]]:
        return [c for runs in self.jobs.values() for r in runs for c in r.calls]

    @property
    def text(self) -> str:
        """Every log and summary: where a secret must never appear."""
        return "\n".join(r.log + r.summary for runs in self.jobs.values() for r in runs)


def _uses(caller: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (job,) = caller["jobs"].values()
    return job["uses"], job


def call_inputs(caller: dict[str, Any], dispatch: dict[str, str]) -> tuple[dict[str, Any], Any]:
    """What the reusable workflow receives: the caller's `with:` evaluated in the caller's
    context, the reusable workflow's defaults for the rest, and its secrets."""
    uses, job = _uses(caller)
    reusable = load(REUSABLE / uses.split("@")[0].rsplit("/", 1)[1])
    declared = triggers(reusable)["workflow_call"]
    ctx = {
        "inputs": dispatch,
        "secrets": {"GITHUB_TOKEN": CANARY_TOKEN, "OPS_REPO_TOKEN": OPS_CANARY_TOKEN},
    }
    given = {k: substitute(v, ctx) for k, v in job.get("with", {}).items()}
    inputs = {k: given.get(k, spec.get("default")) for k, spec in declared["inputs"].items()}
    secrets = {k: substitute(v, ctx) for k, v in job.get("secrets", {}).items()}
    return {"inputs": inputs, "secrets": secrets}, reusable


def _matrix_entries(job: dict[str, Any], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    strategy = job.get("strategy")
    if not strategy:
        return [{}]
    matrix = substitute(strategy["matrix"], ctx)
    if set(matrix) == {"include"}:
        return list(matrix["include"])
    axes = {k: substitute(v, ctx) for k, v in matrix.items()}
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def run_caller(
    caller_path: Path,
    repo: Path,
    tmp_path: Path,
    *,
    dispatch: dict[str, str] | None = None,
    ref_name: str = "",
    ref_type: str = "tag",
    real_preflight: bool = False,
    extra_env: dict[str, str] | None = None,
    stand_ins: tuple[str, ...] = (),
    repositories: dict[str, Path] | None = None,
    sha: str | None = None,
) -> Run:
    """Run the caller's reusable workflow for a tag push (ref_name) or a dispatch (dispatch).
    `stand_ins` names commands (colima, docker) replaced by recorders in Run.tool_calls;
    `repositories` maps another repository a job checks out to a local one; `sha` is the run's
    github.sha (default: the repository's HEAD, as for a branch push)."""
    caller = load(caller_path)
    dispatch = dispatch or {}
    received, reusable = call_inputs(caller, dispatch)
    uses, _ = _uses(caller)
    ref = uses.split("@", 1)[1]
    claims = {"job_workflow_ref": uses, "job_workflow_sha": ref if len(ref) == 40 else "f" * 40}
    bin_dir = tmp_path / "runner-bin"
    bin_dir.mkdir(exist_ok=True)
    dagger = bin_dir / "dagger"
    dagger.write_text(FAKE_DAGGER.format(python=sys.executable))
    log = tmp_path / "dagger_calls.jsonl"
    log.write_text("")
    tools = tmp_path / "tool_calls.jsonl"
    tools.write_text("")
    for tool in ("cosign", *stand_ins):
        (bin_dir / tool).write_text(RECORD_TOOL.format(python=sys.executable, log=str(tools)))
    (bin_dir / "gh").write_text(GH_TOOL.format(python=sys.executable, log=str(tools)))
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    github = {
        "actor": ACTOR,
        "repository": REPOSITORY,
        "server_url": "https://github.com",
        "ref_name": ref_name or "main",
        "ref_type": ref_type if ref_name else "branch",
        "event_name": "workflow_dispatch" if dispatch else "push",
        "sha": sha or git(repo, "rev-parse", "HEAD"),
    }
    base = {"github": github, **received}
    run = Run(caller, reusable, received["inputs"], {}, [], [], dict(repositories or {}))
    with oidc_server(claims) as oidc_url:
        for name, job in reusable["jobs"].items():
            needs = [job["needs"]] if isinstance(job.get("needs"), str) else job.get("needs", [])
            needs_ctx = {n: {"outputs": run.jobs[n][0].outputs} for n in needs if n in run.jobs}
            ctx = {**base, "needs": needs_ctx, "env": {}}
            ctx["env"] = {k: as_env(substitute(v, ctx)) for k, v in reusable["env"].items()}
            blocked = any(any(r.status != "success" for r in run.jobs.get(n, [])) for n in needs)
            if blocked or ("if" in job and not substitute("${{ " + job["if"] + " }}", ctx)):
                run.jobs[name] = [JobRun(name, {}, None, None, status="skipped")]
                continue
            runs = []
            for entry in _matrix_entries(job, ctx):
                runs.append(
                    _run_job(
                        name,
                        job,
                        {**ctx, "matrix": entry},
                        repo,
                        tmp_path,
                        bin_dir,
                        log,
                        tools,
                        oidc_url,
                        real_preflight,
                        extra_env or {},
                        run,
                    )
                )
            run.jobs[name] = runs
    run.tool_calls = [json.loads(line) for line in tools.read_text().splitlines()]
    return run


def _run_job(
    name: str,
    job: dict[str, Any],
    ctx: dict[str, Any],
    repo: Path,
    tmp_path: Path,
    bin_dir: Path,
    log: Path,
    tools: Path,
    oidc_url: str,
    real_preflight: bool,
    extra_env: dict[str, str],
    run: Run,
) -> JobRun:
    result = JobRun(
        name,
        ctx["matrix"],
        substitute(job["runs-on"], ctx),
        substitute(job["timeout-minutes"], ctx),
    )
    ctx = {**ctx, "steps": {}}
    work = tmp_path / f"job-{name}-{len(run.jobs.get(name, []))}-{os.getpid()}"
    work.mkdir(parents=True, exist_ok=True)
    summary = work / "summary"
    summary.write_text("")
    gh_path = work / "path"
    gh_path.write_text("")
    path = f"{bin_dir}:{os.environ['PATH']}"
    oidc = job.get("permissions", {}).get("id-token") == "write"
    for step in job["steps"]:
        step_name = str(step.get("name", step.get("uses", "")))
        if result.status == "failure" or (
            "if" in step and not substitute("${{ " + step["if"] + " }}", ctx)
        ):
            result.steps.append(StepResult(step_name, "skipped"))
            continue
        step_env = {k: as_env(substitute(v, ctx)) for k, v in step.get("env", {}).items()}
        env = {**ctx["env"], **step_env}
        if "uses" in step:
            status, text = _action(step, ctx, repo, run.repositories)
        elif step_name.startswith("Install release-pipeline"):
            run.installs.append(f"git+https://github.com/{env['REPOSITORY']}@{env['MODULE_SHA']}")
            body = REAL_TOOL if real_preflight else RECORD_TOOL
            tool = bin_dir / "release-pipeline"
            src = str(ROOT / "src")
            tool.write_text(body.format(python=sys.executable, log=str(tools), src=src))
            tool.chmod(0o755)
            status, text = "success", "(installed the stand-in release-pipeline)"
        else:
            output = work / "output"
            output.write_text("")
            before = len(log.read_text().splitlines())
            full = {
                **env,
                **extra_env,
                "PATH": path,
                "HOME": str(tmp_path),
                "RUNNER_TEMP": str(work),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
                "GITHUB_PATH": str(gh_path),
                "GITHUB_REPOSITORY": REPOSITORY,
                "FAKE_DAGGER_LOG": str(log),
            }
            if oidc:
                full["ACTIONS_ID_TOKEN_REQUEST_URL"] = oidc_url
                full["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = OIDC_REQUEST_TOKEN
            done = subprocess.run(
                ["bash", "-e", "-c", step["run"]],
                cwd=repo,
                env=full,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            status = "success" if done.returncode == 0 else "failure"
            text = done.stdout + done.stderr
            if "id" in step:
                ctx["steps"][step["id"]] = {"outputs": parse_outputs(output.read_text())}
            result.calls += [
                json.loads(line)["argv"] for line in log.read_text().splitlines()[before:]
            ]
        result.steps.append(StepResult(step_name, status, text))
        added = [line for line in gh_path.read_text().splitlines() if line]
        path = ":".join([*reversed(added), path]) if added else path
        gh_path.write_text("")
        if status == "failure":
            result.status = "failure"
    result.summary = summary.read_text()
    if result.status == "success":
        result.outputs = {k: as_env(substitute(v, ctx)) for k, v in job.get("outputs", {}).items()}
    return result


def _action(
    step: dict[str, Any], ctx: dict[str, Any], repo: Path, repositories: dict[str, Path]
) -> tuple[str, str]:
    action = str(step["uses"]).split("@")[0]
    with_ = {k: substitute(v, ctx) for k, v in step.get("with", {}).items()}
    if action == "actions/checkout":
        assert with_.get("persist-credentials") is False
        if "repository" in with_:
            source = repositories[str(with_["repository"])]
            # a fresh clone, as every job's workspace is
            shutil.rmtree(repo / with_["path"], ignore_errors=True)
            argv = ["git", "clone", "-q", str(source), str(repo / with_["path"])]
        else:
            argv = ["git", "checkout", "-q", "--detach", str(with_["ref"])]
        done = subprocess.run(
            argv,
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        return ("success" if done.returncode == 0 else "failure"), done.stdout + done.stderr
    return "success", f"({action}: stood in, nothing run)"
