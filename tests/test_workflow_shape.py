"""The reusable workflows and their callers have the shape a repository needs: called in a few
lines, everything repository-specific an input, each caller's `with:` and `secrets:` what the
reusable workflow declares (actionlint cannot check a remote `uses:`), and the callers hold
TestPlanIt's current values (root context, SaaS arm64 on the Mac, self-host multi-arch).

Read from the YAML; the scripts themselves run in tests/test_workflow_scripts.py and
the whole-run tests/test_workflow_{release_runs,release_gates,laptop_command,rollback}.py.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.workflows import (
    CALLERS,
    RELEASE,
    REUSABLE,
    ROLLBACK,
    ROLLBACK_CALLER,
    SAAS,
    SELFHOST,
    as_list,
    load,
    step_named,
    steps,
    triggers,
    uses,
    walk,
)

OPS_INPUTS = {
    "ops-repository",
    "ops-path",
    "ops-flavors",
    "ops-branch",
    "ops-kustomization",
    "ops-allow-unread-bases",
}
RELEASE_INPUTS = {
    "tag",
    "channel",
    "image",
    "context",
    "dockerfile",
    "build-args",
    "platforms",
    "runner",
    "flavors",
    "prepare",
    "publish-prereleases",
    "registry-username",
    "build-timeout-minutes",
    "timeout-minutes",
    *OPS_INPUTS,
}
ROLLBACK_INPUTS = {
    "image",
    "flavors",
    "flavor",
    "version",
    "runner",
    "registry-username",
    "status-limit",
    "timeout-minutes",
    *OPS_INPUTS,
}
COLIMA = (
    "colima status >/dev/null 2>&1 || colima start --cpu 6 --memory 24; docker context use colima"
)
PYTHON_TYPES = {"string": str, "boolean": bool, "number": int}


def declared(workflow: dict[str, Any]) -> dict[str, Any]:
    call: dict[str, Any] = triggers(workflow)["workflow_call"]
    return call


def called(caller: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The caller's one job and the reusable workflow it names."""
    (job,) = caller["jobs"].values()
    file = job["uses"].split("@")[0].rsplit("/", 1)[1]
    return job, load(REUSABLE / file)


# --- the reusable workflows -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "inputs"), [(RELEASE, RELEASE_INPUTS), (ROLLBACK, ROLLBACK_INPUTS)]
)
def test_reusable_only_and_every_input_is_used(path: Path, inputs: set[str]) -> None:
    workflow = load(path)
    assert set(triggers(workflow)) == {"workflow_call"}
    call = declared(workflow)
    assert set(call["inputs"]) == inputs
    text = path.read_text()
    for name, spec in call["inputs"].items():
        assert spec["type"] in PYTHON_TYPES, name
        assert spec["description"], name
        # Required, or a default of the declared type.
        assert spec.get("required") is True or isinstance(
            spec.get("default"), PYTHON_TYPES[spec["type"]]
        ), name
        assert re.search(rf"inputs\.{name}(?![\w-])", text), f"{name} is never used"


@pytest.mark.parametrize("path", [RELEASE, ROLLBACK], ids=lambda p: p.name)
def test_nothing_repository_specific_in_the_reusable_workflows(path: Path) -> None:
    for where, value in walk(load(path)):
        assert "testplanit" not in value.lower(), where
        assert not re.search(r"\blinux/", value), f"a platform outside the inputs: {where}"


def test_the_two_pin_jobs_are_one_rule(release: dict[str, Any], rollback: dict[str, Any]) -> None:
    """Kept equal by this test: a called workflow cannot share a job with another one."""
    assert release["jobs"]["pin"] == rollback["jobs"]["pin"]
    assert as_list(release["jobs"]["resolve"]["needs"]) == ["pin"]
    assert as_list(rollback["jobs"]["rollback"]["needs"]) == ["pin"]


def test_prereleases_gate_every_job_that_writes(release: dict[str, Any]) -> None:
    for name in ("publish", "merge", "attest"):
        job = release["jobs"][name]
        assert job["if"] == "needs.resolve.outputs.publish == 'true'", name
        assert "resolve" in as_list(job["needs"])
    spec = declared(release)["inputs"]["publish-prereleases"]
    assert spec == {**spec, "type": "boolean", "default": False}


def test_each_platform_runs_its_setup_before_the_engine_starts(release: dict[str, Any]) -> None:
    publish = release["jobs"]["publish"]
    assert publish["runs-on"] == "${{ matrix.runner }}"
    names = [s.get("name", "") for s in publish["steps"]]
    setup = names.index("Set up the runner (the platform's setup script)")
    install = next(i for i, s in enumerate(publish["steps"]) if uses(s, "dagger/dagger-for-github"))
    build = next(i for i, s in enumerate(publish["steps"]) if "dagger call" in s.get("run", ""))
    prepare = names.index("Prepare the build context (the prepare input)")
    assert setup < prepare < install < build
    step = publish["steps"][setup]
    assert step["if"] == "matrix.setup != ''"
    assert step["env"] == {"SETUP": "${{ matrix.setup }}"}
    assert publish["timeout-minutes"] == "${{ inputs.build-timeout-minutes }}"


def test_jobs_that_build_nothing_run_on_the_runner_input(release: dict[str, Any]) -> None:
    for name, job in release["jobs"].items():
        if name != "publish":
            assert job["runs-on"] == "${{ fromJSON(inputs.runner) }}", name


def test_the_first_job_checks_before_anything_builds(release: dict[str, Any]) -> None:
    resolve = release["jobs"]["resolve"]
    names = [s.get("name", "") for s in resolve["steps"]]
    order = [
        "Validate the tag",
        "Validate the inputs",
        "Check out the tag",
        "Resolve the tag to its commit",
        "Print the command that reproduces this run on a laptop",
        "Prepare the build context (the prepare input)",
        "Install release-pipeline at the module commit",
        "Preflight the Dockerfile against the checked-out tag",
    ]
    assert names == order
    assert "release-pipeline preflight --context" in resolve["steps"][-1]["run"]
    assert "resolve" in as_list(release["jobs"]["publish"]["needs"])


def test_builds_check_out_the_tag_and_its_resolved_commit(release: dict[str, Any]) -> None:
    text = RELEASE.read_text()
    # On a manual run github.sha is the branch head: only a channel release, which releases
    # that very commit, reads it (the tag step's COMMIT, used only with a channel).
    shas = [e for e in re.findall(r"\$\{\{(.*?)\}\}", text, flags=re.DOTALL) if "github.sha" in e]
    assert shas == [" github.sha "]
    tag_step = step_named(release["jobs"]["resolve"], "Validate the tag")
    assert tag_step["env"]["COMMIT"] == "${{ github.sha }}"
    assert "GITHUB_SHA" not in text
    jobs = release["jobs"]
    refs = {
        "resolve": "${{ steps.tag.outputs.ref }}",
        "publish": "${{ needs.resolve.outputs.ref }}",
    }
    for name, ref in refs.items():
        (checkout,) = [s for s in jobs[name]["steps"] if uses(s, "actions/checkout")]
        assert checkout["with"]["persist-credentials"] is False
        assert checkout["with"]["ref"] == ref  # refs/tags/TAG, or a channel's commit
    check = step_named(jobs["publish"], "still names the resolved commit")
    assert check["env"]["SHA"] == "${{ needs.resolve.outputs.sha }}"


def test_no_expression_inside_any_run_script() -> None:
    """Inputs, event text, outputs, secrets: all reach scripts through env, never `${{ }}`."""
    for workflow in (RELEASE, ROLLBACK):
        for step in steps(load(workflow)):
            if "run" in step:
                assert "${{" not in step["run"], f"{workflow}: {step.get('name')}"


def test_attest_signs_the_merged_digest_per_flavor(release: dict[str, Any]) -> None:
    attest = release["jobs"]["attest"]
    assert set(as_list(attest["needs"])) == {"resolve", "merge"}
    assert attest["strategy"]["matrix"] == {
        "flavor": "${{ fromJSON(needs.resolve.outputs.flavors) }}"
    }
    digest = step_named(attest, "Check the index digest")
    assert digest["env"]["DIGEST"] == "${{ fromJSON(needs.merge.outputs.digests)[matrix.flavor] }}"
    (provenance,) = [s for s in attest["steps"] if uses(s, "actions/attest-build-provenance")]
    assert provenance["with"]["subject-digest"] == "${{ steps.digest.outputs.digest }}"
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in step_named(attest, "Sign")["run"]


# --- callers against the reusable workflows -------------------------------------------------


def type_problems(value: Any, spec: dict[str, Any]) -> list[str]:
    """A `with:` value against its declared input: an expression is typed only at run time, so
    it must be one whole `${{ }}`; anything else must be of the declared type."""
    if isinstance(value, str) and "${{" in value:
        whole = re.fullmatch(r"\$\{\{((?:(?!\}\}).)*)\}\}", value.strip())
        return [] if whole else ["an expression mixed with text"]
    expected = PYTHON_TYPES[spec["type"]]
    if type(value) is not expected:
        return [f"is {type(value).__name__}, declared {spec['type']}"]
    if spec["type"] == "string" and spec.get("description", "").startswith("JSON"):
        try:
            json.loads(value)
        except ValueError:
            return ["is not JSON"]
    return []


def call_problems(caller: dict[str, Any]) -> list[str]:
    job, reusable = called(caller)
    call = declared(reusable)
    given, wanted = job.get("with", {}), call["inputs"]
    problems = [f"{k}: not an input" for k in given if k not in wanted]
    problems += [
        f"{k}: required" for k, spec in wanted.items() if spec.get("required") and k not in given
    ]
    problems += [
        f"{k}: {p}" for k, v in given.items() if k in wanted for p in type_problems(v, wanted[k])
    ]
    secrets = job.get("secrets", {})
    if not isinstance(secrets, dict):
        return [*problems, "secrets: must be named, not inherited"]
    problems += [f"secret {k}: not declared" for k in secrets if k not in call["secrets"]]
    problems += [
        f"secret {k}: required"
        for k, spec in call["secrets"].items()
        if spec.get("required") and k not in secrets
    ]
    return problems


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.name)
def test_caller_matches_the_declared_inputs_and_secrets(caller: Path) -> None:
    assert call_problems(load(caller)) == []


def test_the_call_check_catches_what_github_would_reject() -> None:
    """Not vacuous: an unknown key, a missing required input, a wrong type, a bad JSON value,
    an undeclared or missing secret, and `secrets: inherit`."""
    caller = json.loads(json.dumps(load(SAAS)))
    job = caller["jobs"]["release"]
    job["with"]["imag"] = job["with"].pop("image")
    job["with"]["publish-prereleases"] = "false"
    job["with"]["build-timeout-minutes"] = "90"
    job["with"]["platforms"] = "[{"
    job["with"]["context"] = "${{ inputs.a }}/x"
    job["secrets"] = {"token": "x"}
    assert sorted(call_problems(caller)) == sorted(
        [
            "imag: not an input",
            "image: required",
            "publish-prereleases: is str, declared boolean",
            "build-timeout-minutes: is str, declared number",
            "platforms: is not JSON",
            "context: an expression mixed with text",
            "secret token: not declared",
            "secret registry-token: required",
        ]
    )
    job["secrets"] = "inherit"
    assert "secrets: must be named, not inherited" in call_problems(caller)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.name)
def test_caller_grants_exactly_what_the_called_jobs_need(caller: Path) -> None:
    """A called workflow's jobs get at most the calling job's permissions."""
    job, reusable = called(load(caller))
    needed: dict[str, str] = {}
    strength = {"none": 0, "read": 1, "write": 2}
    for called_job in reusable["jobs"].values():
        for scope, level in called_job.get("permissions", reusable["permissions"]).items():
            if strength[level] > strength[needed.get(scope, "none")]:
                needed[scope] = level
    assert job["permissions"] == needed


@pytest.mark.parametrize("caller", [SAAS, SELFHOST], ids=lambda p: p.name)
def test_release_callers_trigger_like_testplanit(caller: Path) -> None:
    """Stable tags push; betas ship as source only; a dispatch names its tag."""
    on = triggers(load(caller))
    assert on["push"] == {"tags": ["v*", "!v*-*"]}
    assert on["workflow_dispatch"]["inputs"]["tag"]["required"] is True
    patterns = on["push"]["tags"]

    def triggered(tag: str) -> bool:
        hit = False
        for pattern in patterns:  # GitHub: later patterns override earlier ones
            negated = pattern.startswith("!")
            if fnmatch.fnmatchcase(tag, pattern.lstrip("!")):
                hit = not negated
        return hit

    assert triggered("v0.22.8") and triggered("v1.0.0")
    assert not triggered("v1.0.0-beta.1") and not triggered("docs-v1")
    (job,) = load(caller)["jobs"].values()
    assert job["with"]["tag"] == "${{ inputs.tag }}"  # empty on a push: the pushed tag


def test_saas_caller_holds_testplanits_values() -> None:
    job, _ = called(load(SAAS))
    given = job["with"]
    assert given["image"] == "ghcr.io/testplanit/testplanit"
    assert given["context"] == "." and given["dockerfile"] == "testplanit/Dockerfile"
    assert given["build-args"].split() == ["BASE_DOMAIN=testplanit.com"]
    assert json.loads(given["platforms"]) == [
        {"platform": "linux/arm64", "runner": ["self-hosted", "macOS", "arm64"], "setup": COLIMA}
    ]
    assert "runner" not in given  # the jobs that build nothing: GitHub-hosted Ubuntu


def test_selfhost_caller_holds_testplanits_values() -> None:
    job, _ = called(load(SELFHOST))
    given = job["with"]
    assert given["image"] == "ghcr.io/testplanit/testplanit-selfhost"
    assert given["context"] == "." and given["dockerfile"] == "testplanit/Dockerfile"
    assert given["build-args"].split() == ["SELF_HOSTED=true"]
    assert json.loads(given["platforms"]) == [
        {"platform": "linux/amd64", "runner": ["self-hosted", "linux", "x64"]},
        {"platform": "linux/arm64", "runner": ["self-hosted", "macOS", "arm64"], "setup": COLIMA},
    ]
    assert json.loads(given["runner"]) == ["self-hosted"]


def test_both_release_callers_build_the_same_two_images() -> None:
    flavors = [json.loads(called(load(p))[0]["with"]["flavors"]) for p in (SAAS, SELFHOST)]
    assert flavors[0] == flavors[1]
    by_name = {f["name"]: f for f in flavors[0]}
    assert by_name["production"]["flavor"] == "" and by_name["production"]["target"] == "production"
    assert by_name["workers"] == {
        "name": "workers",
        "flavor": "workers",
        "target": "workers",
        "smoke": "node,./scripts/smoke-test-workers.js",
    }
    prepares = {called(load(p))[0]["with"]["prepare"] for p in (SAAS, SELFHOST)}
    assert prepares == {
        "cd testplanit\nnode scripts/generate-version.js\n"
        "cp public/version.json .docker-version.json\n"
    }


def test_rollback_caller_offers_what_the_releases_publish() -> None:
    caller = load(ROLLBACK_CALLER)
    inputs = triggers(caller)["workflow_dispatch"]["inputs"]
    images = [called(load(p))[0]["with"]["image"] for p in (SAAS, SELFHOST)]
    assert inputs["image"]["type"] == "choice" and inputs["image"]["options"] == images
    flavors = json.loads(called(load(SAAS))[0]["with"]["flavors"])
    assert inputs["flavor"]["options"] == [f["name"] for f in flavors]
    job, _ = called(caller)
    assert json.loads(job["with"]["flavors"]) == {f["name"]: f["flavor"] for f in flavors}
    for key in ("image", "flavor", "version"):
        assert job["with"][key] == "${{ inputs." + key + " }}"


def test_callers_are_a_few_dozen_lines() -> None:
    for caller in CALLERS:
        code = [
            line
            for line in caller.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        assert len(code) <= 50, caller.name


def test_all_callers_pin_the_same_commit() -> None:
    refs = {called(load(p))[0]["uses"].split("@")[1] for p in CALLERS}
    assert len(refs) == 1
