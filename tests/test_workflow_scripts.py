"""The release workflow's scripts that decide what is built, run for real in bash.

- resolve: tag validation, the settings block turned into the matrices, the tag's own commit and
  commit time (in a scratch git repository);
- publish: the moved-tag check and TestPlanIt's preparation steps.

The steps that run `dagger call` are in tests/test_workflow_calls.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.workflows import (
    StepRun,
    run_step,
    step_named,
)

SHA = "c804cace" + "5" * 32
EPOCH = "1776873600"
MODULE = "github.com/OWNER/release-pipeline@" + "ab" * 20


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


def test_a_self_hosted_runner_is_a_list_of_labels(release: dict[str, Any], tmp_path: Path) -> None:
    """TestPlanIt's old workflow ran on self-hosted runners: runs-on takes their label list."""
    run = settings(release, tmp_path, PLATFORMS="linux/amd64 self-hosted,linux,x64\n")
    assert run.result.returncode == 0, run.log
    assert json.loads(run.outputs["matrix"]) == {
        "include": [{"platform": "linux/amd64", "runner": ["self-hosted", "linux", "x64"]}]
    }
    assert run.outputs["platforms"] == "linux/amd64"


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
    ("PLATFORMS", "linux/amd64 self-hosted,,x64"),
    ("PLATFORMS", "linux/amd64 self-hosted,$(id)"),
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


def run_preparation(
    release: dict[str, Any], checkout: Path, tmp_path: Path, *, writes_version: bool
) -> StepRun:
    """The publish job's "Prepare the build context" step, with a fake node on PATH."""
    step = step_named(release["jobs"]["publish"], "Prepare the build context")
    node = fake_node(tmp_path, writes_version)
    return run_step(release, step, tmp_path, cwd=checkout, extra_path=node)


def test_preparation_writes_the_version_file_and_copies_the_lockfile(
    release: dict[str, Any], checkout: Path, tmp_path: Path
) -> None:
    run = run_preparation(release, checkout, tmp_path, writes_version=True)
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
    run = run_preparation(release, checkout, tmp_path, writes_version=False)
    assert run.result.returncode != 0
    assert not (checkout / "testplanit" / "pnpm-lock.yaml").exists()
