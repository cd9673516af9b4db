"""Whole runs of the example callers through the reusable workflows (tests/support/actions_runner):
every `run:` script in bash, in a scratch git repository of the TestPlanIt-shaped fixture, with
recording `dagger`, `colima` and `docker` on PATH.

Three release configurations (TestPlanIt SaaS: one arm64 platform on the Mac with Colima, root
context; TestPlanIt self-host: two platforms, SELF_HOSTED=true, no BASE_DOMAIN; a two-arch
workers-only repository on hosted runners), the prerelease gate, input errors naming the input,
preflight failing the first job, the printed laptop command, and the rollback. Every recorded
`dagger call` is checked against the module's registration (tests/support/registration.py).
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.actions_runner import (
    CANARY_TOKEN,
    Run,
    fixture_git_repo,
    git,
    run_caller,
)
from support.registration import registration
from support.workflows import (
    FAKE_DAGGER,
    ROLLBACK_CALLER,
    SAAS,
    SELFHOST,
    DaggerCall,
    disagreements,
    load,
    parse_call,
)

MODULE = "github.com/OWNER/release-pipeline@" + "0" * 40
SOURCE_URL = "https://github.com/TestPlanIt/testplanit"
MAC = ["self-hosted", "macOS", "arm64"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return fixture_git_repo(tmp_path / "repo", tags=("v0.22.8", "v1.0.0-beta.1"))


def release_run(caller: Path, repo: Path, tmp_path: Path, tag: str = "v0.22.8", **kw: Any) -> Run:
    run = run_caller(caller, repo, tmp_path, ref_name=tag, stand_ins=("colima", "docker"), **kw)
    assert CANARY_TOKEN not in run.text
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


def publish_args(flavor: dict[str, str], platform: str, sha: str, build_args: list[str]) -> Any:
    return {
        "source": ["."],
        "dockerfile": ["testplanit/Dockerfile"],
        "target": [flavor["target"]],
        "version": ["v0.22.8"],
        "sha": [sha],
        "source_date_epoch": [str(1776875400)],  # the tag's commit time (2026-04-22T16:30Z)
        "platform": [platform],
        "smoke_command": [flavor["smoke"]],
        "source_url": [SOURCE_URL],
        "build_arg": build_args,
    }


def flavors(caller: Path) -> list[dict[str, str]]:
    (job,) = load(caller)["jobs"].values()
    result: list[dict[str, str]] = json.loads(job["with"]["flavors"])
    return result


# --- TestPlanIt SaaS: one platform, arm64 on the Mac with Colima, root context --------------


def test_saas_release_builds_arm64_on_the_mac_after_colima(repo: Path, tmp_path: Path) -> None:
    run = release_run(SAAS, repo, tmp_path)
    sha = git(repo, "rev-parse", "v0.22.8^{commit}")
    assert [j.status for j in run.jobs["publish"]] == ["success"], run.jobs["publish"][0].log
    (publish,) = run.jobs["publish"]
    assert publish.runs_on == MAC and publish.timeout == 90
    # The setup script ran on that runner, and before any engine call.
    assert run.tool_calls[:1] == [["release-pipeline", *run.tool_calls[0][1:]]]
    setup = [c for c in run.tool_calls if c[0] in ("colima", "docker")]
    assert setup == [["colima", "status"], ["docker", "context", "use", "colima"]]
    calls = calls_of(run, "publish")
    assert [c.function for c in calls] == ["publish_platform", "publish_platform"]
    for call, flavor in zip(calls, flavors(SAAS), strict=True):
        assert call.module == MODULE
        assert call.constructor == {
            "image": "ghcr.io/testplanit/testplanit",
            "flavor": flavor["flavor"],
            "username": "octo[bot]",
            "password": "env://REGISTRY_PASSWORD",
        }
        assert call.args == publish_args(flavor, "linux/arm64", sha, ["BASE_DOMAIN=testplanit.com"])
        assert call.chain == ["digest"]
    merges = calls_of(run, "merge")
    assert [(c.function, c.constructor["flavor"]) for c in merges] == [
        ("merge", ""),
        ("merge", "workers"),
    ]
    for merge in merges:
        assert merge.constructor["platforms"] == "linux/arm64"
        assert merge.args == {"version": ["v0.22.8"], "sha": [sha]}
    assert_agree(calls + merges)
    assert run.job("merge").runs_on == ["ubuntu-24.04"]
    assert [a.status for a in run.jobs["attest"]] == ["success", "success"]
    summary = run.job("merge").summary
    for name, digest in json.loads(run.job("merge").outputs["digests"]).items():
        assert f"### {name}: `ghcr.io/testplanit/testplanit@{digest}`" in summary


def test_the_module_and_the_preflight_install_use_the_callers_one_pin(
    repo: Path, tmp_path: Path
) -> None:
    run = release_run(SAAS, repo, tmp_path)
    assert run.job("pin").outputs["module"] == MODULE
    assert run.installs == ["git+https://github.com/OWNER/release-pipeline@" + "0" * 40]
    assert {parse_call(argv).module for argv in run.calls} == {MODULE}
    (preflight,) = [c for c in run.tool_calls if c[0] == "release-pipeline"]
    assert preflight == [
        "release-pipeline",
        "preflight",
        *["--context", ".", "--dockerfile", "testplanit/Dockerfile"],
        *["--target", "production", "--target", "workers"],
        *["--build-arg", "BASE_DOMAIN=testplanit.com"],
    ]


# --- TestPlanIt self-host: two platforms, SELF_HOSTED=true, no BASE_DOMAIN ------------------


def test_selfhost_release_builds_each_arch_natively(repo: Path, tmp_path: Path) -> None:
    run = release_run(SELFHOST, repo, tmp_path)
    sha = git(repo, "rev-parse", "v0.22.8^{commit}")
    amd64, arm64 = run.jobs["publish"]
    assert (amd64.status, arm64.status) == ("success", "success"), amd64.log + arm64.log
    assert amd64.runs_on == ["self-hosted", "linux", "x64"] and arm64.runs_on == MAC
    # Only the Mac runs Colima.
    assert [s.status for s in amd64.steps if s.name.startswith("Set up the runner")] == ["skipped"]
    assert [s.status for s in arm64.steps if s.name.startswith("Set up the runner")] == ["success"]
    for entry, platform in ((amd64, "linux/amd64"), (arm64, "linux/arm64")):
        calls = [parse_call(argv) for argv in entry.calls]
        assert [c.args["target"] for c in calls] == [["production"], ["workers"]]
        for call, flavor in zip(calls, flavors(SELFHOST), strict=True):
            assert call.constructor["image"] == "ghcr.io/testplanit/testplanit-selfhost"
            assert call.args == publish_args(flavor, platform, sha, ["SELF_HOSTED=true"])
        assert not any("BASE_DOMAIN" in arg for argv in entry.calls for arg in argv)
        assert_agree(calls)
    merges = calls_of(run, "merge")
    assert [m.constructor["platforms"] for m in merges] == ["linux/amd64,linux/arm64"] * 2
    assert_agree(merges)
    assert run.job("merge").runs_on == ["self-hosted"]
    assert run.job("resolve").runs_on == ["self-hosted"]


# --- two arches, workers only, hosted runners -----------------------------------------------


def test_two_arch_workers_only_release(repo: Path, tmp_path: Path) -> None:
    workers = [f for f in flavors(SELFHOST) if f["name"] == "workers"]
    caller = derived_caller(
        tmp_path,
        SELFHOST,
        image="ghcr.io/example/workers",
        platforms=json.dumps(
            [
                {"platform": "linux/amd64", "runner": ["ubuntu-24.04"]},
                {"platform": "linux/arm64", "runner": ["ubuntu-24.04-arm"]},
            ]
        ),
        runner=None,
        flavors=json.dumps(workers),
        **{"build-args": None, "build-timeout-minutes": 45},
    )
    run = release_run(caller, repo, tmp_path)
    assert [e.runs_on for e in run.jobs["publish"]] == [["ubuntu-24.04"], ["ubuntu-24.04-arm"]]
    assert [e.timeout for e in run.jobs["publish"]] == [45, 45]
    publishes = calls_of(run, "publish")
    assert [(c.constructor["flavor"], c.args["platform"]) for c in publishes] == [
        ("workers", ["linux/amd64"]),
        ("workers", ["linux/arm64"]),
    ]
    assert all("build_arg" not in c.args for c in publishes)
    (merge,) = calls_of(run, "merge")
    assert merge.constructor["flavor"] == "workers"
    assert merge.constructor["platforms"] == "linux/amd64,linux/arm64"
    assert_agree([*publishes, merge])
    assert [a.matrix for a in run.jobs["attest"]] == [{"flavor": "workers"}]
    assert not [c for c in run.tool_calls if c[0] == "colima"]


# --- prereleases ----------------------------------------------------------------------------


@pytest.mark.parametrize("caller", [SAAS, SELFHOST], ids=lambda p: p.name)
def test_a_beta_publishes_nothing_when_prereleases_are_off(
    caller: Path, repo: Path, tmp_path: Path
) -> None:
    """Started by hand (the tag filter already skips a pushed beta)."""
    run = run_caller(caller, repo, tmp_path, dispatch={"tag": "v1.0.0-beta.1"})
    assert run.job("resolve").status == "success", run.job("resolve").log
    assert run.job("resolve").outputs["publish"] == "false"
    for job in ("publish", "merge", "attest"):
        assert [e.status for e in run.jobs[job]] == ["skipped"], job
    assert run.calls == []
    assert "nothing is published" in run.job("resolve").summary


def test_a_beta_is_published_when_asked_and_never_told_to_move_a_floating_tag(
    repo: Path, tmp_path: Path
) -> None:
    caller = derived_caller(tmp_path, SAAS, **{"publish-prereleases": True})
    run = run_caller(
        caller, repo, tmp_path, dispatch={"tag": "v1.0.0-beta.1"}, stand_ins=("colima", "docker")
    )
    assert run.job("resolve").outputs["publish"] == "true"
    merges = calls_of(run, "merge")
    assert [m.args["version"] for m in merges] == [["v1.0.0-beta.1"]] * 2
    # The workflow passes no floating-tag or force switch: the module's rule decides, and a
    # prerelease never moves `latest` (tests/test_release*.py).
    assert all(set(m.args) == {"version", "sha"} for m in merges)
    assert_agree(merges)


# --- the first job refuses before anything builds -------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("image", "ghcr.io/TestPlanIt/testplanit"),
        ("context", "../up"),
        ("dockerfile", "/etc/passwd"),
        ("build-args", "BASE_DOMAIN=a,b"),
        ("platforms", '[{"platform": "linux/arm64"}]'),
        ("flavors", '[{"name": "x"}]'),
        ("runner", '["self-hosted", "a b"]'),
        ("timeout-minutes", 0),
    ],
)
def test_a_bad_input_fails_the_first_job_naming_it(
    repo: Path, tmp_path: Path, key: str, value: Any
) -> None:
    caller = derived_caller(tmp_path, SAAS, **{key: value})
    run = run_caller(caller, repo, tmp_path, ref_name="v0.22.8")
    resolve = run.job("resolve")
    assert resolve.status == "failure"
    assert f"::error::{key}:" in resolve.log
    assert [e.status for e in run.jobs["publish"]] == ["skipped"]
    assert run.calls == [] and run.tool_calls == []


def test_a_release_whose_source_fails_preflight_builds_nothing(repo: Path, tmp_path: Path) -> None:
    """The first job runs the real `release-pipeline preflight` (its documented interface:
    exit 1 naming every problem) on the checked-out tag: a copied file missing there stops the
    release, naming the file, before any runner builds."""
    (repo / "cli" / "package.json").unlink()
    git(repo, "commit", "-q", "-am", "drop cli/package.json")
    git(repo, "tag", "-a", "v0.22.9", "-m", "v0.22.9")
    run = run_caller(SAAS, repo, tmp_path, ref_name="v0.22.9", real_preflight=True)
    resolve = run.job("resolve")
    assert resolve.status == "failure"
    (failed,) = [s for s in resolve.steps if s.status == "failure"]
    assert failed.name == "Preflight the Dockerfile against the checked-out tag"
    dockerfile = (repo / "testplanit" / "Dockerfile").read_text().splitlines()
    line = 1 + next(i for i, text in enumerate(dockerfile) if "COPY cli/package.json" in text)
    assert (
        f"::error file=testplanit/Dockerfile,line={line}::preflight: COPY source "
        "'cli/package.json' not found" in failed.log
    )
    assert [e.status for e in run.jobs["publish"]] == ["skipped"]
    assert run.calls == []


def test_the_fixture_passes_the_real_preflight(repo: Path, tmp_path: Path) -> None:
    run = run_caller(SAAS, repo, tmp_path, ref_name="v0.22.8", real_preflight=True)
    assert run.job("resolve").status == "success", run.job("resolve").log


# --- the command that reproduces the run on a laptop ----------------------------------------


def printed_command(run: Run) -> str:
    summary = run.job("resolve").summary
    blocks = re.findall(r"```sh\n(.*?)\n```", summary, flags=re.DOTALL)
    assert len(blocks) == 1, summary
    return blocks[0]


@pytest.mark.parametrize("caller", [SAAS, SELFHOST], ids=lambda p: p.name)
def test_the_summary_reproduces_the_run_on_a_laptop(
    caller: Path, repo: Path, tmp_path: Path
) -> None:
    """Run the printed command in a fresh clone (at main, not the tag) with a recording dagger:
    it checks out the tag's commit, prepares as the run did, and releases every flavor with
    the run's module, targets, platforms, build args and smoke commands, with no image and no
    credentials (the throwaway registry)."""
    run = release_run(caller, repo, tmp_path)
    command = printed_command(run)
    assert CANARY_TOKEN not in command and "password" not in command
    clone = tmp_path / "laptop"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    bin_dir = tmp_path / "laptop-bin"
    bin_dir.mkdir()
    (bin_dir / "dagger").write_text(FAKE_DAGGER.format(python=sys.executable))
    (bin_dir / "dagger").chmod(0o755)
    log = tmp_path / "laptop.jsonl"
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FAKE_DAGGER_LOG": str(log),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(clone, "rev-parse", "HEAD") == git(repo, "rev-parse", "v0.22.8^{commit}")
    assert (clone / "testplanit" / ".docker-version.json").is_file()

    laptop = [parse_call(json.loads(line)["argv"]) for line in log.read_text().splitlines()]
    published = calls_of(run, "publish")
    platforms = run.job("resolve").outputs["platforms"]
    assert [c.function for c in laptop] == ["release"] * len(flavors(caller))
    assert_agree(laptop)
    for call, flavor in zip(laptop, flavors(caller), strict=True):
        assert call.module == run.job("pin").outputs["module"]
        assert call.constructor == {"flavor": flavor["flavor"], "platforms": platforms}
        same = [c for c in published if c.constructor["flavor"] == flavor["flavor"]]
        expected = {k: v for k, v in same[0].args.items() if k != "platform"}
        assert call.args == expected
        assert call.chain == ["json"]
    # Every platform of the run is in the laptop's one call per flavor.
    assert sorted(c.args["platform"][0] for c in published if c.constructor["flavor"] == "") == (
        platforms.split(",")
    )


def test_the_command_is_printed_even_when_preflight_fails(repo: Path, tmp_path: Path) -> None:
    (repo / "patches").rename(repo / "patches-moved")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "move patches")
    git(repo, "tag", "-a", "v0.22.9", "-m", "v0.22.9")
    run = run_caller(SAAS, repo, tmp_path, ref_name="v0.22.9", real_preflight=True)
    assert run.job("resolve").status == "failure"
    words = shlex.split(printed_command(run).split(" \\\n  && ")[0])
    assert words == ["git", "checkout", "--detach", git(repo, "rev-parse", "v0.22.9^{commit}")]


# --- rollback -------------------------------------------------------------------------------


def rollback_run(repo: Path, tmp_path: Path, **dispatch: str) -> Run:
    inputs = {"image": "ghcr.io/testplanit/testplanit-selfhost", "flavor": "workers"}
    run = run_caller(ROLLBACK_CALLER, repo, tmp_path, dispatch={**inputs, **dispatch})
    assert CANARY_TOKEN not in run.text
    return run


def test_rollback_runs_status_dry_run_promote_status(repo: Path, tmp_path: Path) -> None:
    run = rollback_run(repo, tmp_path, version="v0.22.7")
    job = run.job("rollback")
    assert job.status == "success", job.log
    calls = calls_of(run, "rollback")
    assert [(c.function, c.args.get("dry_run")) for c in calls] == [
        ("status", None),
        ("promote", ["true"]),
        ("promote", None),
        ("status", None),
    ]
    for call in calls:
        assert call.module == MODULE
        assert call.constructor == {
            "image": "ghcr.io/testplanit/testplanit-selfhost",
            "flavor": "workers",
            "username": "octo[bot]",
            "password": "env://REGISTRY_PASSWORD",
        }
        assert call.chain == ["json"]
    assert calls[0].args == {"limit": ["20"]}
    assert calls[1].args["from"] == calls[2].args["from"] == ["0.22.7-workers"]
    for heading in ("Status before", "Dry run", "Promoted", "Status after"):
        assert f"### {heading}" in job.summary
    assert "- 0.22.8" in job.summary  # the yanked version
    assert_agree(calls)


def test_rollback_of_the_production_image_names_its_version_tag(repo: Path, tmp_path: Path) -> None:
    run = rollback_run(repo, tmp_path, flavor="production", version="0.22.7")
    calls = calls_of(run, "rollback")
    assert {c.constructor["flavor"] for c in calls} == {""}
    assert calls[1].args["from"] == ["0.22.7"]


def test_a_refused_dry_run_stops_the_rollback(repo: Path, tmp_path: Path) -> None:
    inputs = {"image": "ghcr.io/testplanit/testplanit", "flavor": "workers", "version": "0.22.7"}
    run = run_caller(
        ROLLBACK_CALLER, repo, tmp_path, dispatch=inputs, extra_env={"FAKE_DAGGER_FAIL": "promote"}
    )
    assert run.job("rollback").status == "failure"
    assert [c.function for c in calls_of(run, "rollback")] == ["status", "promote"]


@pytest.mark.parametrize(
    ("dispatch", "name"),
    [
        ({"flavor": "api"}, "flavor"),
        ({"flavor": "workers;id"}, "flavor"),
        ({"flavor": "__proto__"}, "flavor"),
        ({"version": "0.22"}, "version"),
        ({"version": "latest"}, "version"),
        ({"version": "0.22.7+b1"}, "version"),
        ({"version": "0.22.7 --to=x"}, "version"),
        ({"version": "0.22.7$(id)"}, "version"),
        ({"version": "sha256:" + "0" * 64}, "version"),
        ({"version": ""}, "version"),
        ({"image": "ghcr.io/TestPlanIt/x"}, "image"),
    ],
)
def test_rollback_refuses_bad_inputs_naming_them(
    repo: Path, tmp_path: Path, dispatch: dict[str, str], name: str
) -> None:
    run = rollback_run(repo, tmp_path, **{"version": "0.22.7", **dispatch})
    job = run.job("rollback")
    assert job.status == "failure"
    assert f"::error::{name}:" in job.log
    assert run.calls == []


def test_the_agreement_check_catches_what_the_module_would_reject() -> None:
    """Not vacuous: a misspelt function, argument or field, and a missing required argument."""
    call = parse_call(
        [
            "call",
            "-m",
            MODULE,
            "--image=x",
            "--flavour=",
            "publish-platform",
            "--version=1",
            "--sha=1",
            "--platfrom=linux/amd64",
            "digset",
        ]
    )
    problems = disagreements(call, registration())
    assert "constructor has no argument 'flavour'" in problems
    assert "publish_platform has no argument 'platfrom'" in problems
    assert "publish_platform needs 'platform'" in problems
    assert "publish_platform needs 'smoke_command'" in problems
    assert "PlatformImage has no field 'digset'" in problems
    unknown = parse_call(["call", "-m", MODULE, "publish", "--x=1"])
    assert disagreements(unknown, registration()) == ["module has no function 'publish'"]
