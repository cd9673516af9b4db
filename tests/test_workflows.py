"""The reusable workflows (.github/workflows/) and their example callers (examples/):
pinned, least-privilege: every action and the module by commit, the tokens only where they are
used, each job's permissions, the tag-writing concurrency groups.

Their lint is in tests/test_workflow_lint.py, their shape in tests/test_workflow_shape.py,
their scripts run for real in tests/test_workflow_scripts.py and the whole-run
tests/test_workflow_{release_runs,release_gates,laptop_command,rollback}.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.workflows import (
    CALLERS,
    PIN,
    RELEASE,
    REUSABLE_WORKFLOWS,
    ROLLBACK,
    ROOT,
    WORKFLOWS,
    as_list,
    load,
    steps,
    uses,
    walk,
)

# Every action the workflows use, pinned by the commit its release tag points to. Each SHA was
# checked in a mirror of the action's own repository: `git rev-parse vX.Y.Z^{commit}` gives it,
# `git cat-file -t vX.Y.Z` is `commit` or `tag`, and `git merge-base --is-ancestor SHA HEAD`
# puts it on the default branch (2026-11-30).
VERIFIED_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1"),
    "dagger/dagger-for-github": ("27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77", "v8.4.1"),
    "docker/login-action": ("4907a6ddec9925e35a0a9e82d7399ccc52663121", "v4.1.0"),
    "actions/attest-build-provenance": ("a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32", "v4.1.0"),
    "sigstore/cosign-installer": ("6f9f17788090df1f26f669e9d70d6ae9567deba6", "v4.1.2"),
}
# How a caller names a reusable workflow of this repository: by full commit SHA.
CALL = re.compile(
    r"[\w.-]+/release-pipeline/\.github/workflows/(release|rollback)\.yml@[0-9a-f]{40}"
)
TAGS_GROUP = "release-pipeline-tags-${{ inputs.image }}"
OPS_GROUP = "release-pipeline-ops-${{ inputs.ops-repository }}"
TOKEN = re.compile(r"secrets\.|github\.token")
# What each job may do; jobs without an entry inherit the top level's `contents: read`.
JOB_PERMISSIONS = {
    (RELEASE, "pin"): {"id-token": "write"},
    (ROLLBACK, "pin"): {"id-token": "write"},
    (RELEASE, "resolve"): None,
    (RELEASE, "publish"): {"contents": "read", "packages": "write"},
    (RELEASE, "merge"): {"contents": "read", "packages": "write"},
    (RELEASE, "attest"): {
        "contents": "read",
        "packages": "write",
        "id-token": "write",
        "attestations": "write",
    },
    (ROLLBACK, "rollback"): {"contents": "read", "packages": "write"},
    (RELEASE, "deploy"): {"contents": "read", "packages": "read"},
    (ROLLBACK, "deploy"): {"contents": "read", "packages": "read"},
}


def test_there_are_workflows() -> None:
    assert RELEASE in WORKFLOWS and ROLLBACK in WORKFLOWS
    assert len(CALLERS) == 4 and set(CALLERS) <= set(WORKFLOWS)


# --- supply chain ---------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", REUSABLE_WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_verified_commit(workflow: Path) -> None:
    text = workflow.read_text()
    refs = re.findall(r"uses: (\S+)", text)
    pins = PIN.findall(text)
    assert refs and len(pins) == len(refs), "every `uses:` is OWNER/REPO@SHA # vX.Y.Z"
    for action, sha, version in pins:
        assert VERIFIED_ACTIONS.get(action) == (sha, version), action


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.name)
def test_a_caller_uses_nothing_but_a_reusable_workflow_by_full_sha(caller: Path) -> None:
    refs = re.findall(r"uses: (\S+)", caller.read_text())
    assert len(refs) == 1 and CALL.fullmatch(refs[0]), refs
    assert "secrets: inherit" not in caller.read_text()


def test_the_pin_rule_rejects_what_it_must() -> None:
    """Not vacuous: a tag, a branch or a short SHA in a caller's `uses:` is not a pin."""
    for ref in ("v1", "main", "0" * 39, "0" * 40 + "0"):
        assert not CALL.fullmatch(f"OWNER/release-pipeline/.github/workflows/release.yml@{ref}")


@pytest.mark.parametrize("workflow", REUSABLE_WORKFLOWS, ids=lambda p: p.name)
def test_the_module_comes_only_from_the_pin_job(workflow: Path) -> None:
    """One pin: every `dagger call` and the preflight install use the commit the pin job read
    from the OIDC token, and the Dagger version is the one dagger.json at that commit names."""
    wf = load(workflow)
    calling = [s for s in steps(wf) if "dagger call" in s.get("run", "")]
    assert calling
    for step in calling:
        assert step["env"]["MODULE"] == "${{ needs.pin.outputs.module }}"
        assert '-m "$MODULE"' in step["run"]
    for name, job in wf["jobs"].items():
        if any("$MODULE" in s.get("run", "") for s in job.get("steps", [])) or name == "resolve":
            assert "pin" in as_list(job["needs"]), name
    # The CLI and engine the workflows install: the SDK release the tests run against
    # (ci/constraints.txt), which is at least the module's minimum engine (dagger.json).
    engine = json.loads((ROOT / "dagger.json").read_text())["engineVersion"]
    sdk = re.search(r"^dagger-io==(\S+)", (ROOT / "ci/constraints.txt").read_text(), re.M)
    assert sdk is not None
    assert wf["env"]["DAGGER_VERSION"] == sdk.group(1)
    as_tuple = [tuple(map(int, v.split("."))) for v in (sdk.group(1), engine.removeprefix("v"))]
    assert as_tuple[0] >= as_tuple[1]
    assert "RELEASE_PIPELINE_MODULE" not in workflow.read_text()


def test_the_dagger_cli_is_installed_without_the_token() -> None:
    """The install step downloads and runs code from outside: no env, no token, install only."""
    installs = 0
    for workflow in WORKFLOWS:
        for job in load(workflow)["jobs"].values():
            for i, step in enumerate(job.get("steps", [])):
                if not uses(step, "dagger/dagger-for-github"):
                    continue
                installs += 1
                assert step["with"] == {"version": "${{ env.DAGGER_VERSION }}"}
                assert "env" not in step
                assert not TOKEN.search(json.dumps(step))
                # Every `dagger call` comes later, in a step of its own.
                later = [s.get("run", "") for s in job["steps"][i + 1 :]]
                assert any("dagger call" in run for run in later)
                earlier = [s.get("run", "") for s in job["steps"][:i]]
                assert not any("dagger " in run for run in earlier)
    assert installs == 3  # publish, merge, rollback


def test_the_token_reaches_only_dagger_calls_and_the_registry_login() -> None:
    for workflow in WORKFLOWS:
        wf = load(workflow)
        for path, value in walk(wf):
            if not TOKEN.search(value):
                continue
            if workflow in CALLERS:
                # Handed on only as the reusable workflow's secret inputs.
                assert path[2] == "secrets", (workflow, path)
                assert (path[3], value) in {
                    ("registry-token", "${{ secrets.GITHUB_TOKEN }}"),
                    ("ops-token", "${{ secrets.OPS_REPO_TOKEN }}"),
                }, (workflow, path)
                continue
            assert path[0] == "jobs" and path[2] == "steps", (workflow, path)
            step = wf["jobs"][path[1]]["steps"][path[3]]
            if "ops-token" in value:
                # The ops token: checked to be set, then only the ops checkout and the step
                # that pushes and opens the pull request see it.
                assert path[1] == "deploy", (workflow, path)
                assert path[4:] in {
                    ("env", "OPS_TOKEN_SET"),
                    ("with", "token"),
                    ("env", "GH_TOKEN"),
                }, (workflow, path)
                if path[4:] == ("env", "OPS_TOKEN_SET"):
                    assert value == "${{ secrets.ops-token != '' }}"
                if path[4:] == ("with", "token"):
                    assert uses(step, "actions/checkout")
                continue
            if path[4:] == ("with", "password"):
                assert uses(step, "docker/login-action"), path
            else:
                # jobs.<job>.steps.<i>.env.REGISTRY_PASSWORD, used as env://REGISTRY_PASSWORD,
                # or read from the environment by the CLI (a channel release, which needs git;
                # the deploy job's pin)
                assert path[4:] == ("env", "REGISTRY_PASSWORD"), (workflow, path)
                if re.search(r"release-pipeline (channel|pin) ", step["run"]):
                    assert "dagger" not in step["run"] and "REGISTRY_PASSWORD" not in step["run"]
                    continue
                assert "dagger call" in step["run"]
                assert "--password=env://REGISTRY_PASSWORD" in step["run"]


@pytest.mark.parametrize("workflow", REUSABLE_WORKFLOWS, ids=lambda p: p.name)
def test_the_token_is_a_secret_input(workflow: Path) -> None:
    wf = load(workflow)
    call = wf.get("on", wf.get(True))["workflow_call"]
    assert call["secrets"] == {
        "registry-token": {
            "description": call["secrets"]["registry-token"]["description"],
            "required": True,
        },
        # optional: only the deploy job needs it, and it fails naming it when it is missing
        "ops-token": {
            "description": call["secrets"]["ops-token"]["description"],
            "required": False,
        },
    }
    used = set(re.findall(r"secrets\.([\w-]+)", workflow.read_text()))
    assert used == {"registry-token", "ops-token"}


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_least_privilege_permissions(workflow: Path) -> None:
    wf = load(workflow)
    assert wf["permissions"] == {"contents": "read"}
    if workflow in CALLERS:
        return  # a caller grants what its reusable workflow needs: test_workflow_shape.py
    for name, job in wf["jobs"].items():
        assert job.get("permissions") == JOB_PERMISSIONS[(workflow, name)], name
        if "id-token" in job.get("permissions", {}):
            # Only the pin job (reads its own claims) and the job that attests and signs mint
            # OIDC tokens, and neither runs module code, repository code or a checkout.
            assert name in ("pin", "attest")
            for step in job["steps"]:
                text = step.get("run", "") + step.get("uses", "")
                code = r"dagger |release-pipeline preflight|pip install|\$PREPARE|checkout"
                assert not re.search(code, text)


def test_release_and_rollback_share_one_tag_writing_group(
    release: dict[str, Any], rollback: dict[str, Any]
) -> None:
    grouped = {
        (wf_name, name): job["concurrency"]
        for wf_name, wf in (("release", release), ("rollback", rollback))
        for name, job in wf["jobs"].items()
        if "concurrency" in job
    }
    assert set(grouped) == {
        ("release", "merge"),
        ("rollback", "rollback"),
        ("release", "deploy"),
        ("rollback", "deploy"),
    }
    for (_, name), conc in grouped.items():
        # Pins of one ops repository queue behind each other as tag writes do.
        group = OPS_GROUP if name == "deploy" else TAGS_GROUP
        assert conc == {"group": group, "cancel-in-progress": False}
    # A matrix job in the group would queue against itself, and GitHub drops all but one
    # pending job per group.
    assert "strategy" not in release["jobs"]["merge"]
    # The replacement rule is written where the group is defined.
    for path in (RELEASE, ROLLBACK):
        assert "one PENDING job per group" in path.read_text()
    # A caller's own workflow-level group could deadlock against the called workflow's.
    for caller in CALLERS:
        assert "concurrency" not in load(caller)


def test_release_concurrency_is_per_image_and_version_and_never_cancels(
    release: dict[str, Any],
) -> None:
    conc = release["concurrency"]
    assert conc["cancel-in-progress"] is False
    assert "inputs.image" in conc["group"]
    assert "inputs.tag || github.ref_name" in conc["group"]
