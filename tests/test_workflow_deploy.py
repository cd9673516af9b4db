"""The deploy job of both reusable workflows: after the registry side succeeded, pin the
deployment manifests in the ops repository to the index the floating tag now holds, and
propose the change as a pull request (or push it to `ops-branch`).

Whole caller runs (support/actions_runner.py) against a bare git repository standing in for
TestPlanIt's private ops repository; `gh` is a recorder and `release-pipeline pin` a stand-in
that rewrites the image line (the real pin is tested in tests/test_pin*.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.actions_runner import OPS_CANARY_TOKEN, Run, run_caller
from support.caller_runs import OPS, derived_caller, ops_repository, release_run
from support.scratch_repo import git
from support.workflows import RELEASE, ROLLBACK, ROLLBACK_CALLER, SAAS, SELFHOST, load

DEPLOYMENT = "k8s/multitenant-workers.yaml"
IMAGE = "ghcr.io/testplanit/testplanit"


def deployment_on(bare: Path, branch: str) -> str:
    return git(bare, "show", f"{branch}:{DEPLOYMENT}")


def branches(bare: Path) -> list[str]:
    return git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def workers_digest(run: Run) -> str:
    digest: str = json.loads(run.job("merge").outputs["digests"])["workers"]
    return digest


def gh_calls(run: Run) -> list[list[str]]:
    return [c[1:] for c in run.tool_calls if c[0] == "gh"]


def test_both_workflows_run_the_same_deploy_steps() -> None:
    """One job in two files: same steps, same scripts; only where the digests come from."""
    release, rollback = load(RELEASE)["jobs"]["deploy"], load(ROLLBACK)["jobs"]["deploy"]
    assert len(release["steps"]) == len(rollback["steps"]) == 5
    for ours, theirs in zip(release["steps"], rollback["steps"], strict=True):
        assert {k: v for k, v in ours.items() if k != "env"} == {
            k: v for k, v in theirs.items() if k != "env"
        }
        differing = {k for k in ours.get("env", {}) if ours["env"][k] != theirs["env"][k]}
        assert set(ours.get("env", {})) == set(theirs.get("env", {}))
        assert differing <= {"NAMES", "CURRENT", "WHAT"}
    for key in ("permissions", "concurrency", "runs-on", "timeout-minutes"):
        assert release[key] == rollback[key]


def test_a_release_pins_the_workers_deployment_by_pull_request(repo: Path, tmp_path: Path) -> None:
    bare = ops_repository(tmp_path)
    run = release_run(SAAS, repo, tmp_path, repositories={OPS: bare})
    deploy = run.job("deploy")
    assert deploy.status == "success", deploy.log
    digest = workers_digest(run)
    (pin,) = [c for c in run.tool_calls if c[:2] == ["release-pipeline", "pin"]]
    assert pin[2:] == [
        *["--image", IMAGE, "--flavor", "workers", "--digest", digest],
        *["--manifests", "ops/k8s", "--username", "octo[bot]"],
    ]
    # main is untouched; the change waits on a branch of its own, one line of it
    branch = "release-pipeline/pin-release-v0.22.8"
    assert sorted(branches(bare)) == sorted(["main", branch])
    assert "image: ghcr.io/testplanit/testplanit:latest-workers" in deployment_on(bare, "main")
    diff = git(bare, "diff", "main", branch).splitlines()
    changed = [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert changed == [
        "-          image: ghcr.io/testplanit/testplanit:latest-workers",
        f"+          image: ghcr.io/testplanit/testplanit@{digest}",
    ]
    subject = git(bare, "log", "-1", "--format=%s%n%b", branch)
    assert subject.startswith(f"Pin workers to {IMAGE} (release v0.22.8)")
    assert f"workers: {IMAGE}@{digest}" in subject
    lists, creates = gh_calls(run)
    assert lists[:2] == ["pr", "list"] and creates[:2] == ["pr", "create"]
    assert creates[creates.index("--base") + 1] == "main"
    assert creates[creates.index("--head") + 1] == branch
    assert "Pull request: https://github.com/TestPlanIt/private-ops/pull/1" in deploy.summary
    assert OPS_CANARY_TOKEN not in run.text


def test_a_hotfix_of_an_older_line_leaves_the_manifests_alone(repo: Path, tmp_path: Path) -> None:
    bare = ops_repository(tmp_path)
    run = release_run(
        SAAS, repo, tmp_path, repositories={OPS: bare}, extra_env={"FAKE_DAGGER_OLDER": "1"}
    )
    deploy = run.job("deploy")
    assert deploy.status == "success", deploy.log
    assert "workers: the floating tag does not hold this release v0.22.8" in deploy.log
    assert [s.status for s in deploy.steps][1:] == ["skipped"] * 4
    assert not [c for c in run.tool_calls if c[:2] == ["release-pipeline", "pin"]]
    assert branches(bare) == ["main"] and gh_calls(run) == []


def test_ops_branch_pushes_the_pin_and_a_second_run_has_nothing_to_commit(
    repo: Path, tmp_path: Path
) -> None:
    bare = ops_repository(tmp_path)
    caller = derived_caller(tmp_path, SAAS, **{"ops-branch": "main"})
    (tmp_path / "first").mkdir()
    (tmp_path / "again").mkdir()
    first = release_run(caller, repo, tmp_path / "first", repositories={OPS: bare})
    assert first.job("deploy").status == "success", first.job("deploy").log
    digest = workers_digest(first)
    assert f"image: {IMAGE}@{digest}" in deployment_on(bare, "main")
    assert "Pushed to `main` of TestPlanIt/private-ops." in first.job("deploy").summary
    assert gh_calls(first) == [] and branches(bare) == ["main"]
    head = git(bare, "rev-parse", "main")

    again = release_run(caller, repo, tmp_path / "again", repositories={OPS: bare})
    assert again.job("deploy").status == "success", again.job("deploy").log
    assert "Already pinned: nothing to commit." in again.job("deploy").summary
    assert git(bare, "rev-parse", "main") == head


@pytest.mark.parametrize(
    ("changes", "through"),
    [
        ({}, []),
        ({"ops-kustomization": ""}, []),
        ({"ops-kustomization": "overlays/prod"}, ["--kustomization", "overlays/prod"]),
        (
            {"ops-kustomization": ".", "ops-allow-unread-bases": True},
            ["--kustomization", ".", "--allow-unread-bases"],
        ),
    ],
    ids=["absent", "empty", "overlay", "overlay-with-a-remote-base"],
)
def test_ops_kustomization_reaches_pin_only_when_set(
    repo: Path, tmp_path: Path, changes: dict[str, Any], through: list[str]
) -> None:
    """An overlay pinned through its images: entry; PATH as pin takes it, under --manifests."""
    caller = derived_caller(tmp_path, SAAS, **changes)
    run = release_run(caller, repo, tmp_path, repositories={OPS: ops_repository(tmp_path)})
    assert run.job("deploy").status == "success", run.job("deploy").log
    (pin,) = [c for c in run.tool_calls if c[:2] == ["release-pipeline", "pin"]]
    assert pin[2:] == [
        *["--image", IMAGE, "--flavor", "workers", "--digest", workers_digest(run)],
        *["--manifests", "ops/k8s", "--username", "octo[bot]", *through],
    ]


def test_no_ops_repository_no_deploy_job(repo: Path, tmp_path: Path) -> None:
    """The self-host images are nobody's Deployment: their caller names no ops repository."""
    run = release_run(SELFHOST, repo, tmp_path, repositories={})
    assert run.job("merge").status == "success"
    assert run.job("deploy").status == "skipped"


def test_a_failed_merge_pins_nothing(repo: Path, tmp_path: Path) -> None:
    bare = ops_repository(tmp_path)
    run = release_run(
        SAAS, repo, tmp_path, repositories={OPS: bare}, extra_env={"FAKE_DAGGER_FAIL": "merge"}
    )
    assert run.job("merge").status == "failure"
    assert run.job("deploy").status == "skipped"
    assert branches(bare) == ["main"]


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("ops-repository", "private-ops", "ops-repository: must be OWNER/NAME"),
        ("ops-path", "../k8s", "ops-path: must be . or a relative path"),
        ("ops-branch", "a..b", "ops-branch: letters, digits"),
        ("ops-branch", "main;rm -rf", "ops-branch: letters, digits"),
        ("ops-flavors", '["worker"]', "ops-flavors: must be a JSON list of names from"),
        ("ops-flavors", '"workers"', "ops-flavors: must be a JSON list of names from"),
        ("ops-kustomization", "/k8s/overlays/prod", "ops-kustomization: must be empty, ."),
        ("ops-kustomization", "../base", "ops-kustomization: must be empty, ."),
        ("ops-kustomization", "overlays/../../x", "ops-kustomization: must be empty, ."),
        ("ops-kustomization", "overlays/prod;id", "ops-kustomization: must be empty, ."),
        ("ops-allow-unread-bases", True, "ops-allow-unread-bases: is for ops-kustomization"),
    ],
)
def test_a_bad_ops_input_fails_the_deploy_job_naming_it(
    repo: Path, tmp_path: Path, key: str, value: Any, error: str
) -> None:
    bare = ops_repository(tmp_path)
    caller = derived_caller(tmp_path, SAAS, **{key: value})
    run = release_run(caller, repo, tmp_path, repositories={OPS: bare})
    deploy = run.job("deploy")
    assert deploy.status == "failure"
    assert f"::error::{error}" in deploy.steps[0].log
    assert branches(bare) == ["main"] and gh_calls(run) == []


def test_a_missing_ops_token_is_named(repo: Path, tmp_path: Path) -> None:
    caller = derived_caller(tmp_path, SAAS)
    data = load(caller)
    (job,) = data["jobs"].values()
    del job["secrets"]["ops-token"]
    caller.write_text(json.dumps(data))
    run = release_run(caller, repo, tmp_path, repositories={OPS: ops_repository(tmp_path)})
    assert "::error::ops-token: pass a secret that may push to TestPlanIt/private-ops" in (
        run.job("deploy").log
    )


def test_a_rollback_pins_what_the_floating_tag_holds_after_it(repo: Path, tmp_path: Path) -> None:
    bare = ops_repository(tmp_path)
    dispatch = {"image": IMAGE, "flavor": "workers", "version": "v0.22.7"}
    run = run_caller(ROLLBACK_CALLER, repo, tmp_path, dispatch=dispatch, repositories={OPS: bare})
    assert run.job("rollback").status == "success", run.job("rollback").log
    deploy = run.job("deploy")
    assert deploy.status == "success", deploy.log
    digest = json.loads(run.job("rollback").outputs["current"])["workers"]
    (pin,) = [c for c in run.tool_calls if c[:2] == ["release-pipeline", "pin"]]
    assert pin[pin.index("--digest") + 1] == digest
    branch = "release-pipeline/pin-rollback-to-0.22.7-workers"
    assert f"image: {IMAGE}@{digest}" in deployment_on(bare, branch)
    assert OPS_CANARY_TOKEN not in run.text


def test_a_rollback_of_the_self_host_image_pins_nothing(repo: Path, tmp_path: Path) -> None:
    dispatch = {"image": f"{IMAGE}-selfhost", "flavor": "workers", "version": "v0.22.7"}
    run = run_caller(ROLLBACK_CALLER, repo, tmp_path, dispatch=dispatch)
    assert run.job("rollback").status == "success"
    assert run.job("deploy").status == "skipped"
