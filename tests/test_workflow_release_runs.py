"""Whole release runs of the example callers (tests/support/caller_runs.py), job by job.

Three release configurations: TestPlanIt SaaS (one arm64 platform on the Mac with Colima, root
context), TestPlanIt self-host (two platforms, SELF_HOSTED=true, no BASE_DOMAIN) and a two-arch
workers-only repository on hosted runners; the callers' one module pin; and proof that the
agreement check every run relies on is not vacuous.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.caller_runs import MODULE, assert_agree, calls_of, derived_caller, flavors, release_run
from support.registration import registration
from support.scratch_repo import git
from support.workflows import SAAS, SELFHOST, disagreements, parse_call

SOURCE_URL = "https://github.com/TestPlanIt/testplanit"
MAC = ["self-hosted", "macOS", "arm64"]


def publish_args(
    caller_flavors: list[dict[str, str]], platform: str, sha: str, build_args: list[str]
) -> Any:
    """One call per platform for every flavor, the caller's flavors passed verbatim."""
    return {
        "source": ["."],
        "dockerfile": ["testplanit/Dockerfile"],
        "flavors": [json.dumps(caller_flavors, separators=(",", ":"))],
        "require_native": ["true"],
        "version": ["v0.22.8"],
        "sha": [sha],
        "source_date_epoch": [str(1776875400)],  # the tag's commit time (2026-04-22T16:30Z)
        "platform": [platform],
        "source_url": [SOURCE_URL],
        "build_arg": build_args,
    }


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
    (call,) = calls  # one engine session and one context upload for both flavors
    assert call.function == "publish_platform" and call.module == MODULE
    assert call.constructor == {
        "image": "ghcr.io/testplanit/testplanit",
        "username": "octo[bot]",
        "password": "env://REGISTRY_PASSWORD",
    }
    assert call.args == publish_args(
        flavors(SAAS), "linux/arm64", sha, ["BASE_DOMAIN=testplanit.com"]
    )
    assert call.chain == ["json"]
    for flavor in flavors(SAAS):
        assert f"{flavor['name']} linux/arm64: sha256:" in publish.log
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
    # resolve's (preflight) and deploy's (pin) installs: both from the one pin
    assert run.installs == ["git+https://github.com/OWNER/release-pipeline@" + "0" * 40] * 2
    assert {parse_call(argv).module for argv in run.calls} == {MODULE}
    preflight, _pin = [c for c in run.tool_calls if c[0] == "release-pipeline"]
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
        (call,) = calls
        assert call.constructor["image"] == "ghcr.io/testplanit/testplanit-selfhost"
        assert call.args == publish_args(flavors(SELFHOST), platform, sha, ["SELF_HOSTED=true"])
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
    assert [(c.args["flavors"], c.args["platform"]) for c in publishes] == [
        ([json.dumps(workers, separators=(",", ":"))], ["linux/amd64"]),
        ([json.dumps(workers, separators=(",", ":"))], ["linux/arm64"]),
    ]
    assert all("build_arg" not in c.args for c in publishes)
    (merge,) = calls_of(run, "merge")
    assert merge.constructor["flavor"] == "workers"
    assert merge.constructor["platforms"] == "linux/amd64,linux/arm64"
    assert_agree([*publishes, merge])
    assert [a.matrix for a in run.jobs["attest"]] == [{"flavor": "workers"}]
    assert not [c for c in run.tool_calls if c[0] == "colima"]


# --- the agreement check itself -------------------------------------------------------------


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
    assert "PlatformImage has no field 'digset'" in problems
    unknown = parse_call(["call", "-m", MODULE, "publish", "--x=1"])
    assert disagreements(unknown, registration()) == ["module has no function 'publish'"]
