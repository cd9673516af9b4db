"""What the first job of a release run decides before anything builds
(tests/support/caller_runs.py): the prerelease gate, input errors naming the input, and the
real `release-pipeline preflight` on the checked-out tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.actions_runner import run_caller
from support.caller_runs import OPS, assert_agree, calls_of, derived_caller, ops_repository
from support.scratch_repo import git
from support.workflows import SAAS, SELFHOST

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
        caller,
        repo,
        tmp_path,
        dispatch={"tag": "v1.0.0-beta.1"},
        stand_ins=("colima", "docker"),
        repositories={OPS: ops_repository(tmp_path)},
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
