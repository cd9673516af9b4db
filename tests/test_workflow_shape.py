"""The release and rollback workflows have the shape the release needs: TestPlanIt's settings
in one block, both images built on every native runner from one platform list, one merge per
flavor, then attestation and signing; the tag and its own commit, never the branch head.

Read from the YAML; the scripts themselves run in tests/test_workflow_scripts.py and
tests/test_workflow_calls.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

from support.workflows import (
    RELEASE,
    WORKFLOWS,
    as_list,
    load,
    step_named,
    steps,
    triggers,
    uses,
    walk,
)

# Every key of each workflow's top-level env: the TestPlanIt-specific block (and, in rollback,
# how many versions its summary lists).
RELEASE_BLOCK = {
    "IMAGE",
    "BUILD_CONTEXT",
    "DOCKERFILE",
    "BUILD_ARGS",
    "SOURCE_URL",
    "PLATFORMS",
    "FLAVORS",
    "PREPARE_BUILD",
    "RELEASE_PIPELINE_MODULE",
    "DAGGER_VERSION",
}
ROLLBACK_BLOCK = {"IMAGE", "FLAVORS", "RELEASE_PIPELINE_MODULE", "DAGGER_VERSION", "STATUS_LIMIT"}


def test_one_definition_for_tag_push_and_manual_dispatch(release: dict[str, Any]) -> None:
    on = triggers(release)
    assert set(on) == {"push", "workflow_dispatch"}
    assert on["push"] == {"tags": ["v*"]}
    tag = on["workflow_dispatch"]["inputs"]["tag"]
    assert tag["required"] is True and tag["type"] == "string"
    assert set(on["workflow_dispatch"]["inputs"]) == {"tag"}


def test_testplanit_settings_are_one_block(
    release: dict[str, Any], rollback: dict[str, Any]
) -> None:
    """Another repository edits only the top-level env (and rollback's flavor choices)."""
    assert set(release["env"]) == RELEASE_BLOCK
    assert set(rollback["env"]) == ROLLBACK_BLOCK
    for wf in (release, rollback):
        outside = {k: v for k, v in wf.items() if k != "env"}
        for path, value in walk(outside):
            assert "testplanit" not in value.lower(), path
            assert not re.search(r"\blinux/", value), f"platform outside PLATFORMS: {path}"


def test_rollback_block_matches_the_release_block(
    release: dict[str, Any], rollback: dict[str, Any]
) -> None:
    for key in ("IMAGE", "RELEASE_PIPELINE_MODULE", "DAGGER_VERSION"):
        assert rollback["env"][key] == release["env"][key], key
    flavors = json.loads(release["env"]["FLAVORS"])
    assert json.loads(rollback["env"]["FLAVORS"]) == {f["name"]: f["flavor"] for f in flavors}
    choice = triggers(rollback)["workflow_dispatch"]["inputs"]["flavor"]
    assert choice["type"] == "choice" and choice["options"] == [f["name"] for f in flavors]


def test_both_testplanit_images_with_their_own_target_and_smoke(release: dict[str, Any]) -> None:
    env = release["env"]
    flavors = {f["name"]: f for f in json.loads(env["FLAVORS"])}
    assert flavors["production"]["flavor"] == "" and flavors["production"]["target"] == "production"
    assert flavors["workers"]["flavor"] == "workers" and flavors["workers"]["target"] == "workers"
    assert flavors["workers"]["smoke"] == "node,./scripts/smoke-test-workers.js"
    assert flavors["production"]["smoke"].startswith("node,")
    assert env["IMAGE"] == "ghcr.io/testplanit/testplanit"
    assert env["BUILD_CONTEXT"] == "testplanit" and env["DOCKERFILE"] == "Dockerfile"
    assert env["BUILD_ARGS"].split() == ["BASE_DOMAIN=testplanit.com"]
    assert env["SOURCE_URL"] == "${{ github.server_url }}/${{ github.repository }}"


def test_native_runners_from_one_platform_list(release: dict[str, Any]) -> None:
    lines = [line.split() for line in release["env"]["PLATFORMS"].splitlines() if line.strip()]
    assert lines == [["linux/amd64", "ubuntu-24.04"], ["linux/arm64", "ubuntu-24.04-arm"]]
    jobs = release["jobs"]
    publish = jobs["publish"]
    assert publish["strategy"]["matrix"] == "${{ fromJSON(needs.resolve.outputs.matrix) }}"
    assert publish["runs-on"] == "${{ matrix.runner }}"
    merge_step = step_named(jobs["merge"], "Merge")
    assert merge_step["env"]["PLATFORMS_LIST"] == "${{ needs.resolve.outputs.platforms }}"
    assert '--platforms="$PLATFORMS_LIST"' in merge_step["run"]


def test_each_runner_prepares_then_builds_every_flavor(release: dict[str, Any]) -> None:
    publish = release["jobs"]["publish"]
    names = [s.get("name", "") for s in publish["steps"]]
    prepare = names.index("Prepare the build context (PREPARE_BUILD above)")
    build = next(i for i, s in enumerate(publish["steps"]) if "dagger call" in s.get("run", ""))
    assert prepare < build
    assert publish["steps"][prepare]["run"] == 'bash -euo pipefail -c "$PREPARE_BUILD"'
    # One step loops over FLAVORS: successive calls against the same engine.
    assert sum("dagger call" in s.get("run", "") for s in publish["steps"]) == 1
    assert 'jq length <<< "$FLAVORS"' in publish["steps"][build]["run"]
    prep = release["env"]["PREPARE_BUILD"].splitlines()
    assert prep == [
        "cd testplanit",
        "node scripts/generate-version.js",
        "mkdir -p public",
        "cp public/version.json .docker-version.json",
        "cd ..",
        "cp pnpm-lock.yaml testplanit/pnpm-lock.yaml",
    ]


def test_merge_runs_once_after_every_platform_then_attest_per_flavor(
    release: dict[str, Any],
) -> None:
    jobs = release["jobs"]
    assert set(as_list(jobs["merge"]["needs"])) == {"resolve", "publish"}
    attest = jobs["attest"]
    assert set(as_list(attest["needs"])) == {"resolve", "merge"}
    assert attest["strategy"]["matrix"] == {
        "flavor": "${{ fromJSON(needs.resolve.outputs.flavors) }}"
    }
    digest = step_named(attest, "Check the index digest")
    assert digest["env"]["DIGEST"] == "${{ fromJSON(needs.merge.outputs.digests)[matrix.flavor] }}"
    (provenance,) = [s for s in attest["steps"] if uses(s, "actions/attest-build-provenance")]
    assert provenance["with"]["subject-name"] == "${{ env.IMAGE }}"
    assert provenance["with"]["subject-digest"] == "${{ steps.digest.outputs.digest }}"
    assert provenance["with"]["push-to-registry"] is True
    (login,) = [s for s in attest["steps"] if uses(s, "docker/login-action")]
    assert login["with"]["registry"] == "${{ needs.resolve.outputs.registry }}"
    order = [s.get("uses", s.get("run", "")).split("@")[0] for s in attest["steps"]]
    assert order.index("docker/login-action") < order.index("actions/attest-build-provenance")
    sign = step_named(attest, "Sign")
    assert 'cosign sign --yes "$IMAGE@$DIGEST"' in sign["run"]
    assert order.index("sigstore/cosign-installer") < attest["steps"].index(sign)


def test_builds_check_out_the_tag_and_its_resolved_commit(release: dict[str, Any]) -> None:
    text = RELEASE.read_text()
    for expression in re.findall(r"\$\{\{(.*?)\}\}", text, flags=re.DOTALL):
        assert "github.sha" not in expression, "on a manual run github.sha is the branch head"
    assert "GITHUB_SHA" not in text
    jobs = release["jobs"]
    for name in ("resolve", "publish"):
        (checkout,) = [s for s in jobs[name]["steps"] if uses(s, "actions/checkout")]
        assert checkout["with"]["persist-credentials"] is False
        assert checkout["with"]["ref"].startswith("refs/tags/${{")
    check = step_named(jobs["publish"], "still names the resolved commit")
    assert check["env"]["SHA"] == "${{ needs.resolve.outputs.sha }}"
    commit = step_named(jobs["resolve"], "commit")["run"]
    assert 'git rev-parse --verify --quiet "refs/tags/${TAG}^{commit}"' in commit


def test_no_expression_inside_any_run_script() -> None:
    """Inputs, event text, outputs, secrets: all reach scripts through env, never `${{ }}`."""
    for workflow in WORKFLOWS:
        for step in steps(load(workflow)):
            if "run" in step:
                assert "${{" not in step["run"], f"{workflow}: {step.get('name')}"


def test_no_interpolated_inputs_in_scripts_anywhere() -> None:
    for workflow in WORKFLOWS:
        for path, value in walk(load(workflow)):
            if "${{ inputs." in value or "github.event.inputs" in value:
                assert "run" not in path, f"{workflow}: {path}"
