"""The reusable workflows' scripts that decide anything, run for real in bash, one step at a time:

- pin: the module commit read from a JWT served by a loopback OIDC endpoint;
- resolve: tag validation and the prerelease gate, every input validated with an error naming
  it, the tag's own commit and commit time (in a scratch git repository);
- publish: the moved-tag check; TestPlanIt's preparation on the fixture repository.

Whole runs of the callers (every job, the `dagger call` lines) are in
test_workflow_{release_runs,release_gates,laptop_command,rollback}.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.fixture_repo import copy_fixture
from support.oidc import OIDC_REQUEST_TOKEN, oidc_server
from support.scratch_repo import fixture_git_repo, git
from support.workflows import SAAS, SELFHOST, StepRun, load, run_step, step_named

SHA = "c804cace" + "5" * 32
CALLED = "OWNER/release-pipeline/.github/workflows/release.yml"


# --- pin ------------------------------------------------------------------------------------


def pin(wf: dict[str, Any], tmp_path: Path, claims: dict[str, str], **env: str) -> StepRun:
    step = step_named(wf["jobs"]["pin"], "OIDC")
    with oidc_server(claims) as url:
        full = {
            "ACTIONS_ID_TOKEN_REQUEST_URL": url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": OIDC_REQUEST_TOKEN,
            **env,
        }
        return run_step(wf, step, tmp_path, env=full)


@pytest.mark.parametrize("file", ["release.yml", "rollback.yml"])
def test_pin_reads_the_module_commit_from_the_token(
    release: dict[str, Any], rollback: dict[str, Any], tmp_path: Path, file: str
) -> None:
    wf = release if file == "release.yml" else rollback
    ref = f"Org-1/release-pipeline/.github/workflows/{file}@{SHA}"
    run = pin(wf, tmp_path, {"job_workflow_ref": ref, "job_workflow_sha": SHA, "sub": "x"})
    assert run.result.returncode == 0, run.log
    assert run.outputs == {
        "module": f"github.com/Org-1/release-pipeline@{SHA}",
        "repository": "Org-1/release-pipeline",
        "sha": SHA,
    }
    assert f"::add-mask::{run.log.split('::add-mask::')[1].split()[0]}" in run.log


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"job_workflow_ref": f"{CALLED}@refs/heads/main", "job_workflow_sha": SHA}, "full commit"),
        ({"job_workflow_ref": f"{CALLED}@v1.2.3", "job_workflow_sha": SHA}, "full commit"),
        ({"job_workflow_ref": f"{CALLED}@{'a' * 40}", "job_workflow_sha": SHA}, "full commit"),
        ({"job_workflow_ref": f"{CALLED}@{SHA}"}, "no job_workflow_sha"),
        ({"job_workflow_ref": f"{CALLED}@{SHA}", "job_workflow_sha": "main"}, "job_workflow_sha"),
        ({"job_workflow_ref": f"a/b;i/.github/workflows/r.yml@{SHA}", "job_workflow_sha": SHA}, ""),
        ({"job_workflow_ref": f"a/b/release.yml@{SHA}", "job_workflow_sha": SHA}, ""),
        ({"job_workflow_sha": SHA}, "job_workflow_ref"),
    ],
)
def test_pin_refuses_anything_but_a_full_sha_call(
    release: dict[str, Any], tmp_path: Path, claims: dict[str, str], message: str
) -> None:
    run = pin(release, tmp_path, claims)
    assert run.result.returncode != 0
    assert run.outputs == {}
    assert "::error::" in run.result.stdout and message in run.result.stdout


def test_pin_needs_id_token_permission(release: dict[str, Any], tmp_path: Path) -> None:
    step = step_named(release["jobs"]["pin"], "OIDC")
    run = run_step(release, step, tmp_path, env={"ACTIONS_ID_TOKEN_REQUEST_URL": ""})
    assert run.result.returncode != 0
    assert "id-token: write" in run.result.stdout


def test_pin_fails_when_the_token_endpoint_refuses(release: dict[str, Any], tmp_path: Path) -> None:
    claims = {"job_workflow_ref": f"{CALLED}@{SHA}", "job_workflow_sha": SHA}
    run = pin(release, tmp_path, claims, ACTIONS_ID_TOKEN_REQUEST_TOKEN="wrong")
    assert run.result.returncode != 0 and run.outputs == {}


# --- resolve: the tag and the prerelease gate -----------------------------------------------

GOOD_TAGS = ["v0.22.8", "v1.0.0", "v1.0.0-beta.1", "v10.20.30-rc-1.x", "v0.0.0-0"]
BAD_TAGS = [
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


def tag_step(
    release: dict[str, Any], tmp_path: Path, *, given: str, pushed: str = "", prereleases: bool
) -> StepRun:
    step = step_named(release["jobs"]["resolve"], "Validate the tag")
    env = {
        "INPUT_TAG": given,
        "CHANNEL": "",
        "COMMIT": "c" * 40,
        "REF_TYPE": "tag" if pushed else "branch",
        "REF_NAME": pushed or "main",
        "PUBLISH_PRERELEASES": "true" if prereleases else "false",
    }
    return run_step(release, step, tmp_path, env=env)


@pytest.mark.parametrize("tag", GOOD_TAGS)
@pytest.mark.parametrize("how", ["push", "dispatch"])
@pytest.mark.parametrize("prereleases", [False, True])
def test_tag_step_accepts_and_gates_prereleases(
    release: dict[str, Any], tmp_path: Path, tag: str, how: str, prereleases: bool
) -> None:
    if how == "push":
        run = tag_step(release, tmp_path, given="", pushed=tag, prereleases=prereleases)
    else:
        run = tag_step(release, tmp_path, given=tag, prereleases=prereleases)
    assert run.result.returncode == 0, run.log
    publishes = "-" not in tag or prereleases
    assert run.outputs == {
        "tag": tag,
        "ref": f"refs/tags/{tag}",
        "publish": "true" if publishes else "false",
    }
    assert ("nothing is published" in run.summary) is not publishes


@pytest.mark.parametrize("tag", BAD_TAGS)
@pytest.mark.parametrize("how", ["push", "dispatch"])
def test_tag_step_rejects_naming_the_input(
    release: dict[str, Any], tmp_path: Path, tag: str, how: str
) -> None:
    given, pushed = ("", tag) if how == "push" else (tag, "")
    run = tag_step(release, tmp_path, given=given, pushed=pushed, prereleases=True)
    assert run.result.returncode != 0
    assert run.outputs == {}
    assert "::error::tag:" in run.result.stdout


def test_tag_step_needs_a_tag_when_not_a_tag_push(release: dict[str, Any], tmp_path: Path) -> None:
    run = tag_step(release, tmp_path, given="", prereleases=False)
    assert run.result.returncode != 0 and "::error::tag:" in run.result.stdout


# --- resolve: the inputs --------------------------------------------------------------------


def caller_inputs(caller: Path) -> dict[str, str]:
    """The env the input-validation step sees for a caller's `with:` (defaults filled in)."""
    (job,) = load(caller)["jobs"].values()
    given = job["with"]
    return {
        "IMAGE": given["image"],
        "CONTEXT": given.get("context", "."),
        "DOCKERFILE": given.get("dockerfile", "Dockerfile"),
        "BUILD_ARGS": given.get("build-args", ""),
        "FLAVORS": given["flavors"],
        "PLATFORMS": given["platforms"],
        "RUNNER": given.get("runner", '["ubuntu-24.04"]'),
        "REGISTRY_USERNAME": "",
        "BUILD_TIMEOUT": "90",
        "TIMEOUT": "20",
        "SOURCE_URL": "https://github.com/TestPlanIt/testplanit",
    }


def inputs_step(release: dict[str, Any], tmp_path: Path, env: dict[str, str]) -> StepRun:
    step = step_named(release["jobs"]["resolve"], "Validate the inputs")
    return run_step(release, step, tmp_path, env=env)


def test_saas_inputs_become_one_mac_platform(release: dict[str, Any], tmp_path: Path) -> None:
    run = inputs_step(release, tmp_path, caller_inputs(SAAS))
    assert run.result.returncode == 0, run.log
    assert run.outputs["registry"] == "ghcr.io"
    assert run.outputs["platforms"] == "linux/arm64"
    (entry,) = json.loads(run.outputs["matrix"])["include"]
    assert entry["runner"] == ["self-hosted", "macOS", "arm64"]
    assert entry["setup"].startswith("colima status")
    assert json.loads(run.outputs["flavors"]) == ["production", "workers"]


def test_selfhost_inputs_become_two_platforms(release: dict[str, Any], tmp_path: Path) -> None:
    run = inputs_step(release, tmp_path, caller_inputs(SELFHOST))
    assert run.result.returncode == 0, run.log
    assert run.outputs["platforms"] == "linux/amd64,linux/arm64"
    amd64, arm64 = json.loads(run.outputs["matrix"])["include"]
    assert amd64 == {
        "platform": "linux/amd64",
        "runner": ["self-hosted", "linux", "x64"],
        "setup": "",
    }
    assert arm64["runner"] == ["self-hosted", "macOS", "arm64"] and arm64["setup"]


GOOD_FLAVOR = {"name": "w", "flavor": "w", "target": "w", "smoke": "true"}
GOOD_PLATFORM = {"platform": "linux/amd64", "runner": ["ubuntu-24.04"]}
BAD_INPUTS = [
    ("image", "IMAGE", "ghcr.io/TestPlanIt/testplanit"),
    ("image", "IMAGE", "ghcr.io/testplanit/testplanit:latest"),
    ("image", "IMAGE", "https://ghcr.io/a/b"),
    ("image", "IMAGE", "ghcr.io/a/b; id"),
    ("context", "CONTEXT", "../elsewhere"),
    ("context", "CONTEXT", "a/../../b"),
    ("context", "CONTEXT", "/abs"),
    ("context", "CONTEXT", ""),
    ("dockerfile", "DOCKERFILE", "../Dockerfile"),
    ("dockerfile", "DOCKERFILE", "."),
    ("dockerfile", "DOCKERFILE", "a b"),
    ("build-args", "BUILD_ARGS", "BASE_DOMAIN=a,b"),
    ("build-args", "BUILD_ARGS", 'BASE_DOMAIN="x"'),
    ("build-args", "BUILD_ARGS", "=x"),
    ("registry-username", "REGISTRY_USERNAME", "a b"),
    ("registry-username", "REGISTRY_USERNAME", "a;id"),
    ("build-timeout-minutes", "BUILD_TIMEOUT", "0"),
    ("build-timeout-minutes", "BUILD_TIMEOUT", "1.5"),
    ("timeout-minutes", "TIMEOUT", "-1"),
    ("runner", "RUNNER", "ubuntu-24.04"),
    ("runner", "RUNNER", "[]"),
    ("runner", "RUNNER", '["self-hosted", "$(id)"]'),
    ("platforms", "PLATFORMS", ""),
    ("platforms", "PLATFORMS", "[]"),
    ("platforms", "PLATFORMS", "linux/amd64 ubuntu-24.04"),
    ("platforms", "PLATFORMS", json.dumps([GOOD_PLATFORM, GOOD_PLATFORM])),
    ("platforms", "PLATFORMS", json.dumps([{**GOOD_PLATFORM, "platform": "Linux/AMD64"}])),
    ("platforms", "PLATFORMS", json.dumps([{**GOOD_PLATFORM, "runner": "ubuntu-24.04"}])),
    ("platforms", "PLATFORMS", json.dumps([{**GOOD_PLATFORM, "runner": ["a", ""]}])),
    ("platforms", "PLATFORMS", json.dumps([{**GOOD_PLATFORM, "setup": ["colima"]}])),
    ("platforms", "PLATFORMS", json.dumps([{**GOOD_PLATFORM, "labels": ["x"]}])),
    ("platforms", "PLATFORMS", json.dumps([{"runner": ["x"]}])),
    ("flavors", "FLAVORS", "[]"),
    ("flavors", "FLAVORS", ""),
    ("flavors", "FLAVORS", json.dumps([GOOD_FLAVOR]) + " " + json.dumps([GOOD_FLAVOR])),
    ("flavors", "FLAVORS", "not json"),
    ("flavors", "FLAVORS", json.dumps([GOOD_FLAVOR, GOOD_FLAVOR])),
    ("flavors", "FLAVORS", json.dumps([{**GOOD_FLAVOR, "flavor": "a-b"}])),
    ("flavors", "FLAVORS", json.dumps([{**GOOD_FLAVOR, "smoke": 'node,-e,"x"'}])),
    ("flavors", "FLAVORS", json.dumps([{**GOOD_FLAVOR, "smoke": "a,,b"}])),
    ("flavors", "FLAVORS", json.dumps([{**GOOD_FLAVOR, "target": "--force"}])),
    ("flavors", "FLAVORS", json.dumps([{**GOOD_FLAVOR, "extra": "x"}])),
]


@pytest.mark.parametrize(("name", "key", "value"), BAD_INPUTS)
def test_bad_inputs_stop_the_release_naming_the_input(
    release: dict[str, Any], tmp_path: Path, name: str, key: str, value: str
) -> None:
    run = inputs_step(release, tmp_path, {**caller_inputs(SELFHOST), key: value})
    assert run.result.returncode != 0
    assert run.outputs == {}
    assert f"::error::{name}:" in run.result.stdout


def test_the_root_context_and_nested_paths_are_accepted(
    release: dict[str, Any], tmp_path: Path
) -> None:
    for context, dockerfile in [(".", "testplanit/Dockerfile"), ("app/web", "docker/Dockerfile")]:
        env = {**caller_inputs(SAAS), "CONTEXT": context, "DOCKERFILE": dockerfile}
        run = inputs_step(release, tmp_path, env)
        assert run.result.returncode == 0, (context, run.log)


# --- resolve: the tag's commit --------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """main has moved on past two tags: v1.0.0 (annotated) and v1.1.0 (lightweight)."""
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
    step = step_named(release["jobs"]["resolve"], "Resolve the tag to its commit")
    expected = git(repo, "rev-parse", f"HEAD~{commit_index}")
    assert expected != git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", f"refs/tags/{tag}")  # what actions/checkout does with the ref

    run = run_step(release, step, tmp_path, cwd=repo, env={"TAG": tag, "REF": f"refs/tags/{tag}"})

    assert run.result.returncode == 0, run.log
    assert run.outputs == {"sha": expected, "epoch": git(repo, "log", "-1", "--format=%ct")}
    day = 2 - commit_index
    assert int(run.outputs["epoch"]) == 1776679200 + day * 86400  # 2026-04-2{day}T10:00Z


def test_commit_step_fails_for_a_missing_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    step = step_named(release["jobs"]["resolve"], "Resolve the tag to its commit")
    env = {"TAG": "v9.9.9", "REF": "refs/tags/v9.9.9"}
    run = run_step(release, step, tmp_path, cwd=repo, env=env)
    assert run.result.returncode != 0 and run.outputs == {}
    assert "::error::tag: v9.9.9 does not exist" in run.result.stdout


def test_commit_step_fails_when_head_is_not_the_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    step = step_named(release["jobs"]["resolve"], "Resolve the tag to its commit")
    env = {"TAG": "v1.1.0", "REF": "refs/tags/v1.1.0"}
    run = run_step(release, step, tmp_path, cwd=repo, env=env)  # HEAD is main
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


# --- preparation: TestPlanIt's, on the fixture repository -----------------------------------


def prepare(release: dict[str, Any], checkout: Path, tmp_path: Path) -> StepRun:
    """The publish job's preparation step with the SaaS caller's `prepare` (the real node)."""
    (job,) = load(SAAS)["jobs"].values()
    step = step_named(release["jobs"]["publish"], "Prepare the build context")
    return run_step(release, step, tmp_path, cwd=checkout, env={"PREPARE": job["with"]["prepare"]})


def test_preparation_writes_the_version_file_from_the_tag(
    release: dict[str, Any], tmp_path: Path
) -> None:
    checkout = fixture_git_repo(tmp_path / "repo")
    git(checkout, "checkout", "-q", "v0.22.8")
    run = prepare(release, checkout, tmp_path)
    assert run.result.returncode == 0, run.log
    version = json.loads((checkout / "testplanit" / ".docker-version.json").read_text())
    assert version["commit"] == git(checkout, "rev-parse", "HEAD")
    assert version["version"] == "v0.22.8"


def test_preparation_fails_without_a_version_file(release: dict[str, Any], tmp_path: Path) -> None:
    """TestPlanIt's own step goes on without it (`|| echo`); a release does not."""
    checkout = copy_fixture(tmp_path / "checkout")
    script = checkout / "testplanit" / "scripts" / "generate-version.js"
    script.write_text("// writes nothing\n")
    run = prepare(release, checkout, tmp_path)
    assert run.result.returncode != 0
    assert not (checkout / "testplanit" / ".docker-version.json").exists()
