"""The workflow steps that run `dagger call`, run for real in bash with a recording `dagger`.

Each test sees the exact argv a runner would execute, for every flavor: publish on each platform,
one merge per flavor, and the rollback's status / dry run / promote / status. Those argv are
checked against the module's registered functions, arguments, required arguments and return
fields (tests/support/registration.py): a call the module would reject fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.registration import registration
from support.workflows import (
    DaggerCall,
    StepRun,
    disagreements,
    parse_call,
    run_step,
    step_named,
)

SHA = "c804cace" + "5" * 32
EPOCH = "1776873600"
MODULE = "github.com/OWNER/release-pipeline@" + "ab" * 20
SOURCE_URL = "https://github.com/TestPlanIt/testplanit"


def flavors(release: dict[str, Any]) -> list[dict[str, str]]:
    result: list[dict[str, str]] = json.loads(release["env"]["FLAVORS"])
    return result


# --- publish and merge ----------------------------------------------------------------------

RUN_ENV = {
    "REGISTRY_USER": "octo[bot]",
    "REGISTRY_PASSWORD": "canary-token-5f1d",
    "TAG": "v0.22.8",
    "SHA": SHA,
    "EPOCH": EPOCH,
    "SOURCE_URL": SOURCE_URL,
}


def publish_calls(release: dict[str, Any], tmp_path: Path, platform: str) -> list[DaggerCall]:
    step = step_named(release["jobs"]["publish"], "Build, smoke-test and push")
    run = run_step(release, step, tmp_path, env={**RUN_ENV, "PLATFORM": platform}, fake_dagger=True)
    assert run.result.returncode == 0, run.log
    assert all(call["password_set"] for call in run.calls)
    assert "canary-token-5f1d" not in run.log
    return [parse_call(call["argv"]) for call in run.calls]


@pytest.mark.parametrize("platform", ["linux/amd64", "linux/arm64"])
def test_each_runner_builds_both_flavors_in_turn(
    release: dict[str, Any], tmp_path: Path, platform: str
) -> None:
    calls = publish_calls(release, tmp_path, platform)
    assert [c.function for c in calls] == ["publish_platform", "publish_platform"]
    by_flavor = {c.constructor["flavor"]: c for c in calls}
    assert set(by_flavor) == {"", "workers"}
    for flavor in flavors(release):
        call = by_flavor[flavor["flavor"]]
        assert call.module == release["env"]["RELEASE_PIPELINE_MODULE"]
        assert call.constructor == {
            "image": "ghcr.io/testplanit/testplanit",
            "flavor": flavor["flavor"],
            "username": "octo[bot]",
            "password": "env://REGISTRY_PASSWORD",
        }
        assert call.args == {
            "source": ["testplanit"],
            "dockerfile": ["Dockerfile"],
            "target": [flavor["target"]],
            "version": ["v0.22.8"],
            "sha": [SHA],
            "source_date_epoch": [EPOCH],
            "platform": [platform],
            "smoke_command": [flavor["smoke"]],
            "source_url": [SOURCE_URL],
            "build_arg": ["BASE_DOMAIN=testplanit.com"],
        }
        assert call.chain == ["digest"]


@pytest.mark.parametrize("flavor", ["production", "workers"])
def test_publish_calls_agree_with_the_module(
    release: dict[str, Any], tmp_path: Path, flavor: str
) -> None:
    calls = publish_calls(release, tmp_path, "linux/arm64")
    (call,) = [c for c in calls if c.args["target"] == [flavor]]
    assert disagreements(call, registration()) == []


def merge_run(release: dict[str, Any], tmp_path: Path) -> StepRun:
    step = step_named(release["jobs"]["merge"], "Merge")
    env = {**RUN_ENV, "PLATFORMS_LIST": "linux/amd64,linux/arm64"}
    run = run_step(release, step, tmp_path, env=env, fake_dagger=True)
    assert run.result.returncode == 0, run.log
    assert "canary-token-5f1d" not in run.log + run.summary
    return run


def test_one_merge_per_flavor_with_the_matrix_platforms(
    release: dict[str, Any], tmp_path: Path
) -> None:
    run = merge_run(release, tmp_path)
    calls = [parse_call(c["argv"]) for c in run.calls]
    assert [c.function for c in calls] == ["merge", "merge"]
    assert [c.constructor["flavor"] for c in calls] == ["", "workers"]
    for call in calls:
        assert call.constructor["platforms"] == "linux/amd64,linux/arm64"
        assert call.args == {"version": ["v0.22.8"], "sha": [SHA]}
        assert call.chain == ["json"]
    digests = json.loads(run.outputs["digests"])
    assert set(digests) == {"production", "workers"}
    for name, digest in digests.items():
        assert f"### {name}: `ghcr.io/testplanit/testplanit@{digest}`" in run.summary


@pytest.mark.parametrize("flavor", ["production", "workers"])
def test_merge_calls_agree_with_the_module(
    release: dict[str, Any], tmp_path: Path, flavor: str
) -> None:
    run = merge_run(release, tmp_path)
    names = [f["name"] for f in flavors(release)]
    call = parse_call(run.calls[names.index(flavor)]["argv"])
    assert disagreements(call, registration()) == []


def test_merge_fails_without_an_index_digest(release: dict[str, Any], tmp_path: Path) -> None:
    step = step_named(release["jobs"]["merge"], "Merge")
    env = {**RUN_ENV, "PLATFORMS_LIST": "linux/amd64", "FAKE_DAGGER_FAIL": "merge"}
    run = run_step(release, step, tmp_path, env=env, fake_dagger=True)
    assert run.result.returncode != 0
    assert "digests" not in run.outputs
    assert len(run.calls) == 1  # the first failure stops the job


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


# --- rollback -------------------------------------------------------------------------------


def rollback_inputs(rollback: dict[str, Any], tmp_path: Path, flavor: str, version: str) -> StepRun:
    step = step_named(rollback["jobs"]["rollback"], "Validate the inputs")
    env = {"INPUT_FLAVOR": flavor, "INPUT_VERSION": version}
    return run_step(rollback, step, tmp_path, env=env)


@pytest.mark.parametrize(
    ("flavor", "version", "expected"),
    [
        ("workers", "0.22.7", {"flavor": "workers", "from": "0.22.7-workers"}),
        ("workers", "v0.22.7", {"flavor": "workers", "from": "0.22.7-workers"}),
        ("production", "v0.22.7", {"flavor": "", "from": "0.22.7"}),
        ("production", "1.0.0-rc.1", {"flavor": "", "from": "1.0.0-rc.1"}),
    ],
)
def test_rollback_inputs_name_the_version_tag(
    rollback: dict[str, Any], tmp_path: Path, flavor: str, version: str, expected: dict[str, str]
) -> None:
    run = rollback_inputs(rollback, tmp_path, flavor, version)
    assert run.result.returncode == 0, run.log
    assert run.outputs == expected


@pytest.mark.parametrize(
    ("flavor", "version"),
    [
        ("api", "0.22.7"),
        ("", "0.22.7"),
        ("workers;id", "0.22.7"),
        ("__proto__", "0.22.7"),
        ("workers", "0.22"),
        ("workers", "latest"),
        ("workers", "0.22.7+b1"),
        ("workers", "0.22.7 --to=x"),
        ("workers", "0.22.7$(id)"),
        ("workers", "sha256:" + "0" * 64),
        ("workers", ""),
    ],
)
def test_rollback_refuses_bad_inputs_before_any_command(
    rollback: dict[str, Any], tmp_path: Path, flavor: str, version: str
) -> None:
    run = rollback_inputs(rollback, tmp_path, flavor, version)
    assert run.result.returncode != 0
    assert run.outputs == {}
    assert "::error::" in run.result.stdout


ROLLBACK_ENV = {"REGISTRY_USER": "octo", "REGISTRY_PASSWORD": "canary-token-5f1d"}


def rollback_run(rollback: dict[str, Any], tmp_path: Path, **env: str) -> StepRun:
    step = step_named(rollback["jobs"]["rollback"], "Status, dry run, rollback, status")
    full = {**ROLLBACK_ENV, "FLAVOR": "workers", "FROM": "0.22.7-workers", **env}
    return run_step(rollback, step, tmp_path, env=full, fake_dagger=True)


def test_rollback_runs_status_dry_run_promote_status(
    rollback: dict[str, Any], tmp_path: Path
) -> None:
    run = rollback_run(rollback, tmp_path)
    assert run.result.returncode == 0, run.log
    calls = [parse_call(c["argv"]) for c in run.calls]
    assert [(c.function, c.args.get("dry_run")) for c in calls] == [
        ("status", None),
        ("promote", ["true"]),
        ("promote", None),
        ("status", None),
    ]
    for call in calls:
        assert call.module == rollback["env"]["RELEASE_PIPELINE_MODULE"]
        assert call.constructor["flavor"] == "workers"
        assert call.constructor["password"] == "env://REGISTRY_PASSWORD"
        assert call.chain == ["json"]
    assert calls[0].args == {"limit": ["20"]}
    assert calls[1].args["from"] == calls[2].args["from"] == ["0.22.7-workers"]
    summary = run.summary
    for heading in ("Status before", "Dry run", "Promoted", "Status after"):
        assert f"### {heading}" in summary
    assert "- 0.22.8" in summary  # the yanked version
    assert "canary-token-5f1d" not in run.log + summary


def test_a_refused_dry_run_stops_the_rollback(rollback: dict[str, Any], tmp_path: Path) -> None:
    run = rollback_run(rollback, tmp_path, FAKE_DAGGER_FAIL="promote")
    assert run.result.returncode != 0
    assert [parse_call(c["argv"]).function for c in run.calls] == ["status", "promote"]


@pytest.mark.parametrize("index", [0, 1, 2, 3], ids=["status", "dry-run", "promote", "status2"])
def test_rollback_calls_agree_with_the_module(
    rollback: dict[str, Any], tmp_path: Path, index: int
) -> None:
    run = rollback_run(rollback, tmp_path)
    assert run.result.returncode == 0, run.log
    assert disagreements(parse_call(run.calls[index]["argv"]), registration()) == []
