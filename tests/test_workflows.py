"""The GitHub Actions workflows shipped under ci/: actionlint-clean, and shaped as designed.

actionlint (with shellcheck) runs through ci/actionlint, and a deliberately broken copy proves
it really lints. The structure tests read the YAML; the tag and commit steps are also run for
real in bash, against a scratch git repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "ci"
ACTIONLINT = CI / "actionlint"
RELEASE = CI / "github" / "release.yml"
WORKFLOWS = sorted(p for p in CI.rglob("*") if p.suffix in {".yml", ".yaml"} and p.is_file())

DAGGER_ACTION = "dagger/dagger-for-github"
DAGGER_VERSION = "0.21.11"
# Inputs of dagger/dagger-for-github v8 (its action.yml): actionlint does not know this action.
DAGGER_ACTION_INPUTS = {
    "version",
    "commit",
    "dagger-flags",
    "verb",
    "workdir",
    "cloud-token",
    "module",
    "args",
    "engine-stop",
    "call",
    "shell",
    "check",
    "summary-path",
    "enable-github-summary",
}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def triggers(wf: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean True.
    on = wf.get("on", wf.get(True))
    assert isinstance(on, dict), "triggers must be a mapping"
    return on


def steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def step_named(job: dict[str, Any], needle: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if needle in s.get("name", "")]
    assert len(found) == 1, f"expected one step named like {needle!r}"
    return found[0]


def dagger_steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(wf) if s.get("uses", "").startswith(DAGGER_ACTION + "@")]


def args_words(step: dict[str, Any]) -> list[str]:
    """Split the action's args on blanks, keeping each `${{ ... }}` inside its word."""
    return re.findall(r"(?:\$\{\{.*?\}\}|\S)+", str(step["with"]["args"]))


def expressions(text: str) -> list[str]:
    return re.findall(r"\$\{\{(.*?)\}\}", text, flags=re.DOTALL)


def walk(node: Any, path: tuple[Any, ...] = ()) -> Any:
    """Yield (path, string) for every string in the document, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield (*path, key), key
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, (*path, i))
    elif isinstance(node, str):
        yield path, node


@pytest.fixture(scope="module")
def release() -> dict[str, Any]:
    return load(RELEASE)


# --- actionlint -----------------------------------------------------------------------------


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ACTIONLINT), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_there_are_workflows() -> None:
    assert RELEASE in WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_actionlint_accepts(workflow: Path) -> None:
    result = run_actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_with_no_arguments_lints_everything_under_ci() -> None:
    result = run_actionlint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The lint is not vacuous: each planted mistake is reported, shell ones included."""
    text = RELEASE.read_text()
    broken = text.replace("needs: [resolve, publish]", "needs: [resolve, publsh]")
    broken = broken.replace(
        'echo "sha=$sha" >> "$GITHUB_OUTPUT"', "echo sha=$sha >> $GITHUB_OUTPUT"
    )
    broken = broken.replace("fetch-depth: 0", "fetch-dept: 0")
    assert broken.count("\n") == text.count("\n") and broken != text
    target = tmp_path / "release.yml"
    target.write_text(broken)

    result = run_actionlint(target)

    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert 'needs job "publsh" which does not exist' in out
    assert "[shellcheck]" in out and "SC2086" in out
    assert 'input "fetch-dept" is not defined' in out


def test_actionlint_flags_untrusted_event_text_in_scripts(tmp_path: Path) -> None:
    target = tmp_path / "inject.yml"
    target.write_text(
        "on: push\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        '      - run: echo "${{ github.event.head_commit.message }}"\n'
    )
    result = run_actionlint(target)
    assert result.returncode != 0
    assert "potentially untrusted" in result.stdout


# --- structure ------------------------------------------------------------------------------


def test_one_definition_for_tag_push_and_manual_dispatch(release: dict[str, Any]) -> None:
    on = triggers(release)
    assert set(on) == {"push", "workflow_dispatch"}
    assert on["push"] == {"tags": ["v*"]}
    tag = on["workflow_dispatch"]["inputs"]["tag"]
    assert tag["required"] is True
    assert tag["type"] == "string"
    assert set(on["workflow_dispatch"]["inputs"]) == {"tag"}


def test_least_privilege_permissions(release: dict[str, Any]) -> None:
    assert release["permissions"] == {"contents": "read", "packages": "write"}
    for name, job in release["jobs"].items():
        assert "permissions" not in job, f"job {name} must not widen permissions"


def test_concurrency_is_per_version_and_never_cancels(release: dict[str, Any]) -> None:
    conc = release["concurrency"]
    assert conc["cancel-in-progress"] is False
    assert "inputs.tag" in conc["group"] and "github.ref_name" in conc["group"]


def test_native_runner_matrix(release: dict[str, Any]) -> None:
    publish = release["jobs"]["publish"]
    include = publish["strategy"]["matrix"]["include"]
    pairs = {(row["runner"], row["platform"]) for row in include}
    assert pairs == {("ubuntu-24.04", "linux/amd64"), ("ubuntu-24.04-arm", "linux/arm64")}
    assert publish["runs-on"] == "${{ matrix.runner }}"
    assert "resolve" in as_list(publish["needs"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_merge_runs_once_after_every_platform(release: dict[str, Any]) -> None:
    merge = release["jobs"]["merge"]
    assert "strategy" not in merge
    assert set(as_list(merge["needs"])) >= {"resolve", "publish"}
    assert "GITHUB_STEP_SUMMARY" in step_named(merge, "summary")["run"]


def test_dagger_action_is_v8_pinned_to_the_engine_version(release: dict[str, Any]) -> None:
    found = dagger_steps(release)
    assert len(found) == 2
    for step in found:
        ref = step["uses"].split("@", 1)[1]
        assert step["with"]["version"] == DAGGER_VERSION
        assert step["with"]["verb"] == "call"
        assert set(step["with"]) <= DAGGER_ACTION_INPUTS, set(step["with"]) - DAGGER_ACTION_INPUTS
        if re.fullmatch(r"[0-9a-f]{40}", ref):
            # A commit pin must say which release it is, and it must be a v8.
            assert re.search(rf"{DAGGER_ACTION}@{ref} # v8\.\d+\.\d+\n", RELEASE.read_text())
        else:
            assert re.fullmatch(r"v8(\.\d+){0,2}", ref), ref


def test_publish_calls_publish_platform_with_constructor_flags_first(
    release: dict[str, Any],
) -> None:
    (step,) = [s for s in dagger_steps(release) if "publish-platform" in args_words(s)]
    words = args_words(step)
    fn = words.index("publish-platform")
    ctor, call = words[:fn], words[fn + 1 :]
    assert [w.split("=", 1)[0] for w in ctor] == ["--image", "--flavor", "--username", "--password"]
    assert "--image=${{ needs.resolve.outputs.image }}" in ctor
    assert "--username=${{ github.actor }}" in ctor
    assert "--password=env://REGISTRY_PASSWORD" in ctor
    assert call == [
        "--source=.",
        "--version=${{ needs.resolve.outputs.tag }}",
        "--sha=${{ needs.resolve.outputs.sha }}",
        "--platform=${{ matrix.platform }}",
        "--smoke-command=${{ env.SMOKE_COMMAND }}",
    ]
    assert step["env"] == {"REGISTRY_PASSWORD": "${{ secrets.GITHUB_TOKEN }}"}


def test_merge_prints_the_json_report(release: dict[str, Any]) -> None:
    merge = release["jobs"]["merge"]
    (step,) = [s for s in merge["steps"] if s.get("uses", "").startswith(DAGGER_ACTION)]
    words = args_words(step)
    fn = words.index("merge")
    assert "--password=env://REGISTRY_PASSWORD" in words[:fn]
    assert words[fn + 1 :] == [
        "--version=${{ needs.resolve.outputs.tag }}",
        "--sha=${{ needs.resolve.outputs.sha }}",
        "json",
    ]
    assert step["env"] == {"REGISTRY_PASSWORD": "${{ secrets.GITHUB_TOKEN }}"}
    summary = step_named(merge, "summary")
    assert summary["env"]["REPORT"] == "${{ steps." + step["id"] + ".outputs.output }}"


def test_builds_check_out_the_tags_own_commit(release: dict[str, Any]) -> None:
    text = RELEASE.read_text()
    for expr in expressions(text):
        assert "github.sha" not in expr, "on a manual run github.sha is the branch head"
    assert "GITHUB_SHA" not in text
    for name in ("publish", "merge"):
        (checkout,) = [
            s
            for s in release["jobs"][name]["steps"]
            if s.get("uses", "").startswith("actions/checkout@")
        ]
        assert checkout["with"]["ref"] == "${{ needs.resolve.outputs.sha }}"
        assert checkout["with"]["persist-credentials"] is False
    resolve = release["jobs"]["resolve"]
    assert (
        'git rev-parse --verify --quiet "refs/tags/${TAG}^{commit}"'
        in step_named(resolve, "commit")["run"]
    )


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


def test_secrets_only_in_step_env() -> None:
    for workflow in WORKFLOWS:
        for path, value in walk(load(workflow)):
            if "secrets." in value:
                # jobs.<job>.steps.<i>.env.<NAME>
                assert len(path) == 6 and path[0] == "jobs" and path[2] == "steps", path
                assert path[4] == "env", f"{workflow}: secret outside a step env: {path}"


# --- the resolve job's scripts, run for real -------------------------------------------------


def run_step(
    script: str, env: dict[str, str], cwd: Path, tmp_path: Path
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    output = tmp_path / "github_output"
    output.write_text("")
    full_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_REPOSITORY": "TestPlanIt/TestPlanIt",
        **env,
    }
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    values = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, values


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


@pytest.mark.parametrize("tag", GOOD_TAGS)
@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_tag_step_accepts(release: dict[str, Any], tmp_path: Path, tag: str, event: str) -> None:
    script = step_named(release["jobs"]["resolve"], "Validate")["run"]
    env = {"EVENT_NAME": event, "REF_TYPE": "tag", "REF_NAME": tag, "INPUT_TAG": ""}
    if event == "workflow_dispatch":
        env |= {"REF_TYPE": "branch", "REF_NAME": "main", "INPUT_TAG": tag}
    result, out = run_step(script, env, tmp_path, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert out == {"tag": tag, "image": "ghcr.io/testplanit/testplanit"}


@pytest.mark.parametrize("tag", BAD_TAGS)
@pytest.mark.parametrize("event", ["push", "workflow_dispatch"])
def test_tag_step_rejects(release: dict[str, Any], tmp_path: Path, tag: str, event: str) -> None:
    script = step_named(release["jobs"]["resolve"], "Validate")["run"]
    env = {"EVENT_NAME": event, "REF_TYPE": "tag", "REF_NAME": tag, "INPUT_TAG": ""}
    if event == "workflow_dispatch":
        env |= {"REF_TYPE": "branch", "REF_NAME": "main", "INPUT_TAG": tag}
    result, out = run_step(script, env, tmp_path, tmp_path)
    assert result.returncode != 0
    assert out == {}


def test_tag_step_rejects_a_branch_push(release: dict[str, Any], tmp_path: Path) -> None:
    script = step_named(release["jobs"]["resolve"], "Validate")["run"]
    env = {"EVENT_NAME": "push", "REF_TYPE": "branch", "REF_NAME": "v1.2.3", "INPUT_TAG": ""}
    result, out = run_step(script, env, tmp_path, tmp_path)
    assert result.returncode != 0 and out == {}


def git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
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
        git(repo, "commit", "-q", "-m", f"c{n}")
        if n == 0:
            git(repo, "tag", "-a", "v1.0.0", "-m", "release 1.0.0")
        if n == 1:
            git(repo, "tag", "v1.1.0")
    return repo


@pytest.mark.parametrize(("tag", "commit_index"), [("v1.0.0", 2), ("v1.1.0", 1)])
def test_commit_step_resolves_the_tags_own_commit(
    release: dict[str, Any], repo: Path, tmp_path: Path, tag: str, commit_index: int
) -> None:
    script = step_named(release["jobs"]["resolve"], "commit")["run"]
    expected = git(repo, "rev-parse", f"HEAD~{commit_index}")
    head = git(repo, "rev-parse", "HEAD")
    assert expected != head
    git(repo, "checkout", "-q", f"refs/tags/{tag}")  # what actions/checkout does with the ref

    result, out = run_step(script, {"TAG": tag}, repo, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert out == {"sha": expected}


def test_commit_step_fails_for_a_missing_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    script = step_named(release["jobs"]["resolve"], "commit")["run"]
    result, out = run_step(script, {"TAG": "v9.9.9"}, repo, tmp_path)
    assert result.returncode != 0 and out == {}


def test_commit_step_fails_when_head_is_not_the_tag(
    release: dict[str, Any], repo: Path, tmp_path: Path
) -> None:
    script = step_named(release["jobs"]["resolve"], "commit")["run"]
    result, out = run_step(script, {"TAG": "v1.1.0"}, repo, tmp_path)  # HEAD is main
    assert result.returncode != 0 and out == {}
