"""Whole runs of the example rollback caller (tests/support/caller_runs.py): status, dry run,
promote, status; a refused dry run stops it; a bad input fails it naming the input.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from support.actions_runner import CANARY_TOKEN, Run, run_caller
from support.caller_runs import MODULE, assert_agree, calls_of
from support.workflows import ROLLBACK_CALLER


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
