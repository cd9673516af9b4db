"""The workflows' `run:` scripts, run for real in bash.

- resolve: tag validation, the settings block turned into the matrices, the tag's own commit and
  commit time (in a scratch git repository);
- publish: the preparation steps, and the `dagger call` lines for every flavor;
- merge and rollback: their `dagger call` lines, outputs and job summaries.

`dagger` is a recorder (tests/support/workflows.py), so each test sees the exact argv a runner
would execute. Those argv are checked against the module's registered functions, arguments and
return fields, for both flavors: a call the module would reject fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.registration import registration
from support.workflows import (
    RELEASE,
    ROLLBACK,
    DaggerCall,
    disagreements,
    load,
    parse_call,
    run_step,
    step_named,
)

SHA = "c804cace" + "5" * 32
EPOCH = "1776873600"
MODULE = "github.com/OWNER/release-pipeline@" + "ab" * 20


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return load(RELEASE)


@pytest.fixture(scope="module")
def rollback() -> dict[str, Any]:
    return load(ROLLBACK)


def flavors(release: dict[str, Any]) -> list[dict[str, str]]:
    result: list[dict[str, str]] = json.loads(release["env"]["FLAVORS"])
    return result


# --- resolve: the tag -----------------------------------------------------------------------

GOOD_TAGS = ["v0.22.8", "v1.0.0", "v1.0.0-beta.1", "v10.20.30-rc-1.x", "v0.0.0-0"]
BAD_TAGS = [
    "",
    "0.22.8",
    "v1.2",
    "v01.2.3",
    "v1.2.3+build.5",
    "v1.2.3-",
    "v1.2.3-beta..1",
    "v1.2.3;id",
    "v1.2.3$(id)",
    "v1.2.3`id`",
    "v1.2.3 -x",
    "v1.2.3\nv1.2.4",
    "latest",
    "refs/tags/v1.2.3",
    " v1.2.3",
    "v1.2.3-" + "a" * 100,
]


def tag_env(event: str, tag: str) -> dict[str, str]:
    if event == "workflow_dispatch":
        return {"EVENT_NAME": event, "REF_TYPE": "branch", "REF_NAME": "main", "INPUT_TAG": tag}
    return {"EVENT_NAME": event, "REF_TYPE": "tag", "REF_NAME": tag, "INPUT_TAG": ""}


@pytest.mark.parametrize("tag", GOOD_TAGS)
@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_tag_step_accepts(release: dict[str, Any], tmp_path: Path, tag: str, event: str) -> None:
    step = step_named(release["jobs"]["resolve"], "Validate the tag")
    run = run_step(release, step, tmp_path, env=tag_env(event, tag))
    assert run.result.returncode == 0, run.log
    assert run.outputs == {"tag": tag}


@pytest.mark.parametrize("tag", BAD_TAGS)
@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_tag_step_rejects(release: dict[str, Any], tmp_path: Path, tag: str, event: str) -> None:
    step = step_named(release["jobs"]["resolve"], "Validate the tag")
    run = run_step(release, step, tmp_path, env=tag_env(event, tag))
    assert run.result.returncode != 0
    assert run.outputs == {}


def test_tag_step_rejects_a_branch_push(release: dict[str, Any], tmp_path: Path) -> None:
    step = step_named(release["jobs"]["resolve"], "Validate the tag")
    env = {"EVENT_NAME": "push", "REF_TYPE": "branch", "REF_NAME": "v1.2.3", "INPUT_TAG": ""}
    run = run_step(release, step, tmp_path, env=env)
    assert run.result.returncode != 0 and run.outputs == {}


# --- resolve: the settings block ------------------------------------------------------------

SOURCE_URL = "https://github.com/TestPlanIt/testplanit"


def settings(release: dict[str, Any], tmp_path: Path, **overrides: str) -> Any:
    step = step_named(release["jobs"]["resolve"], "settings")
    return run_step(release, step, tmp_path, env={"SOURCE_URL": SOURCE_URL, **overrides})


def test_settings_become_the_matrices(release: dict[str, Any], tmp_path: Path) -> None:
    run = settings(release, tmp_path)
    assert run.result.returncode == 0, run.log
    assert run.outputs["registry"] == "ghcr.io"
    assert run.outputs["platforms"] == "linux/amd64,linux/arm64"
    assert json.loads(run.outputs["matrix"]) == {
        "include": [
            {"platform": "linux/amd64", "runner": "ubuntu-24.04"},
            {"platform": "linux/arm64", "runner": "ubuntu-24.04-arm"},
        ]
    }
    assert json.loads(run.outputs["flavors"]) == ["production", "workers"]


GOOD_FLAVOR = {"name": "w", "flavor": "w", "target": "w", "smoke": "true"}
BAD_SETTINGS = [
    ("IMAGE", "ghcr.io/TestPlanIt/testplanit"),
    ("IMAGE", "ghcr.io/testplanit/testplanit:latest"),
    ("IMAGE", "https://ghcr.io/a/b"),
    ("IMAGE", "ghcr.io/a/b; id"),
    ("RELEASE_PIPELINE_MODULE", "github.com/OWNER/release-pipeline@v0.1.0"),
    ("RELEASE_PIPELINE_MODULE", "github.com/OWNER/release-pipeline@main"),
    ("RELEASE_PIPELINE_MODULE", "github.com/OWNER/release-pipeline@" + "a" * 39),
    ("DAGGER_VERSION", "latest"),
    ("BUILD_CONTEXT", "../elsewhere"),
    ("BUILD_CONTEXT", "/abs"),
    ("DOCKERFILE", "../Dockerfile"),
    ("SOURCE_URL", "http://example.com/x"),
    ("BUILD_ARGS", "BASE_DOMAIN=a,b"),
    ("BUILD_ARGS", 'BASE_DOMAIN="x"'),
    ("BUILD_ARGS", "=x"),
    ("PLATFORMS", ""),
    ("PLATFORMS", "linux/amd64"),
    ("PLATFORMS", "linux/amd64 ubuntu-24.04 extra"),
    ("PLATFORMS", "linux/amd64 a\nlinux/amd64 b"),
    ("PLATFORMS", "Linux/AMD64 ubuntu-24.04"),
    ("FLAVORS", "[]"),
    ("FLAVORS", "not json"),
    ("FLAVORS", json.dumps([GOOD_FLAVOR, GOOD_FLAVOR])),
    ("FLAVORS", json.dumps([{**GOOD_FLAVOR, "flavor": "a-b"}])),
    ("FLAVORS", json.dumps([{**GOOD_FLAVOR, "smoke": 'node,-e,"x"'}])),
    ("FLAVORS", json.dumps([{**GOOD_FLAVOR, "smoke": "a,,b"}])),
    ("FLAVORS", json.dumps([{**GOOD_FLAVOR, "target": "--force"}])),
    ("FLAVORS", json.dumps([{**GOOD_FLAVOR, "extra": "x"}])),
]


@pytest.mark.parametrize(("key", "value"), BAD_SETTINGS)
def test_bad_settings_stop_the_release(
    release: dict[str, Any], tmp_path: Path, key: str, value: str
) -> None:
    run = settings(release, tmp_path, **{key: value})
    assert run.result.returncode != 0
    assert run.outputs == {}
    assert f"::error::{key}" in run.result.stdout


# --- resolve: the tag's commit --------------------------------------------------------------


def git(repo: Path, *args: str, date: str = "2026-04-22T16:30:00+00:00") -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_COMMITTER_DATE": date,
        "GIT_AUTHOR_DATE": date,
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main has moved on past two tags: v1.0.0 (annotated) and v1.1.0 (lightweight)."""
    if shutil.which("git") is None:
        pytest.fail("git is required")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for n in range(3):
        (repo / "f").write_text(str(n))
        git(repo, "add", "f")
        git(repo, "commit", "-q", "-m", f"c{n}", date=f"2026-04-2{n}T10:00:00+00:00")
        if n == 0:
            git(repo, "tag", "-a", "v1.0.0", "-m", "release 1.0.0")
        if n == 1:
            git(repo, "tag", "v1.1.0")
    return repo


@pytest.mark.parametrize(("tag", "commit_index"), [("v1.0.0", 2), ("v1.1.0", 1)])
def test_commit_step_resolves_the_tags_own_commit_and_time(
    release: dict[str, Any], repo: Path, tmp_path: Path, tag: str, commit_index: int
) -> None:
    step = step_named(release["jobs"]["resolve"], "commit")
    expected = git(repo, "rev-parse", f"HEAD~{commit_index}")
    assert expected != git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", f"refs/tags/{tag}")  # what actions/checkout does with the ref

    run = run_step(release, step, tmp_path, cwd=repo, env={"TAG": tag})

    assert run.result.returncode == 0, run.log
    assert run.outputs == {"sha": expected, "epoch": git(repo, "log", "-1", "--format=%ct")}
    day = 2 - commit_index
    assert int(run.outputs["epoch"]) == 1776679200 + day * 86400  # 2026-04-2{day}T10:00Z


def test_commit_step_fails_for_a_missing_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    step = step_named(release["jobs"]["resolve"], "commit")
    run = run_step(release, step, tmp_path, cwd=repo, env={"TAG": "v9.9.9"})
    assert run.result.returncode != 0 and run.outputs == {}


def test_commit_step_fails_when_head_is_not_the_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    step = step_named(release["jobs"]["resolve"], "commit")
    run = run_step(release, step, tmp_path, cwd=repo, env={"TAG": "v1.1.0"})  # HEAD is main
    assert run.result.returncode != 0 and run.outputs == {}


@pytest.mark.parametrize("moved", [False, True])
def test_publish_stops_when_the_tag_moved_after_resolve(
    release: dict[str, Any], repo: Path, tmp_path: Path, moved: bool
) -> None:
    step = step_named(release["jobs"]["publish"], "still names the resolved commit")
    resolved = git(repo, "rev-parse", "v1.1.0^{commit}")
    if moved:
        git(repo, "tag", "-f", "v1.1.0", "main")
    git(repo, "checkout", "-q", "refs/tags/v1.1.0")
    run = run_step(release, step, tmp_path, cwd=repo, env={"SHA": resolved})
    assert (run.result.returncode != 0) is moved, run.log


# --- publish: preparation -------------------------------------------------------------------


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """TestPlanIt's layout: the lockfile at the root, the build context in testplanit/."""
    root = tmp_path / "checkout"
    (root / "testplanit" / "scripts").mkdir(parents=True)
    (root / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    return root


def fake_node(tmp_path: Path, writes_version: bool) -> Path:
    """`node scripts/generate-version.js` writes public/version.json (or, broken, nothing)."""
    bin_dir = tmp_path / "node-bin"
    bin_dir.mkdir()
    node = bin_dir / "node"
    body = 'mkdir -p public && echo "{\\"script\\": \\"$1\\"}" > public/version.json'
    node.write_text("#!/bin/sh\n" + (body if writes_version else "exit 0") + "\n")
    node.chmod(0o755)
    return bin_dir


def test_preparation_writes_the_version_file_and_copies_the_lockfile(
    release: dict[str, Any], checkout: Path, tmp_path: Path
) -> None:
    step = step_named(release["jobs"]["publish"], "Prepare the build context")
    node = fake_node(tmp_path, writes_version=True)
    run = run_step(release, step, tmp_path, cwd=checkout, extra_path=node)
    assert run.result.returncode == 0, run.log
    context = checkout / "testplanit"
    assert json.loads((context / ".docker-version.json").read_text()) == {
        "script": "scripts/generate-version.js"
    }
    assert (context / "pnpm-lock.yaml").read_text() == (checkout / "pnpm-lock.yaml").read_text()


def test_preparation_fails_without_a_version_file(
    release: dict[str, Any], checkout: Path, tmp_path: Path
) -> None:
    """The old workflow went on without it (`|| echo`); a release does not."""
    step = step_named(release["jobs"]["publish"], "Prepare the build context")
    node = fake_node(tmp_path, writes_version=False)
    run = run_step(release, step, tmp_path, cwd=checkout, extra_path=node)
    assert run.result.returncode != 0
    assert not (checkout / "testplanit" / "pnpm-lock.yaml").exists()


# --- publish and merge: the dagger calls ----------------------------------------------------

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


def merge_run(release: dict[str, Any], tmp_path: Path) -> Any:
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


def rollback_inputs(rollback: dict[str, Any], tmp_path: Path, flavor: str, version: str) -> Any:
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


def rollback_run(rollback: dict[str, Any], tmp_path: Path, **env: str) -> Any:
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
