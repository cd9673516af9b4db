"""zizmor's security audit of the workflows (issue 26): `ci/zizmor`, as `ci/test` runs it.

zizmor audits only the files it is named (given a folder outside .github/workflows/, none of
its files), so what matters is the list it is given: `ci/workflow-files`. Here every YAML file
of the tree that is a workflow (a mapping with `on` and `jobs`) must be on it, and zizmor's own
log must say it completed each one. Its default findings fail the run: a planted template
injection and a checkout that keeps its credentials are each reported and exit non-zero.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from support.commands import run_linter

ROOT = Path(__file__).resolve().parent.parent
ZIZMOR = ROOT / "ci" / "zizmor"
SKIPPED_DIRS = {".git", "node_modules", ".venv", "sdk"}


def zizmor(*files: Path) -> subprocess.CompletedProcess[str]:
    return run_linter(ZIZMOR, *files)


def workflows_in_tree() -> set[Path]:
    """Every YAML file in the repository that GitHub would take for a workflow."""
    found = set()
    for path in ROOT.rglob("*"):
        if path.suffix not in {".yml", ".yaml"} or SKIPPED_DIRS & set(path.parts):
            continue
        data: Any = yaml.safe_load(path.read_text())
        # PyYAML reads the bare key `on` as True.
        if isinstance(data, dict) and "jobs" in data and ("on" in data or True in data):
            found.add(path)
    return found


def test_zizmor_audits_every_workflow_file_and_finds_nothing() -> None:
    listed = subprocess.run(
        [str(ROOT / "ci" / "workflow-files")], capture_output=True, text=True, check=True
    ).stdout.split()
    workflows = workflows_in_tree()
    assert len(workflows) >= 5  # the two reusable workflows and TestPlanIt's three callers
    assert workflows <= {Path(p) for p in listed}
    done = zizmor()
    assert done.returncode == 0, done.stdout + done.stderr
    completed = {
        Path(line.split(" completed ", 1)[1].strip())
        for line in done.stderr.splitlines()
        if " completed " in line
    }
    assert completed == {Path(p) for p in listed}
    assert "No findings to report" in done.stdout


PLANTED = """\
on: push
permissions: {}
jobs:
  planted:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2
        with: {persist-credentials: false}
      - run: echo "${{ github.event.head_commit.message }}"
"""


def test_a_default_finding_fails_the_run(tmp_path: Path) -> None:
    planted = tmp_path / "planted.yml"
    planted.write_text(PLANTED)
    done = zizmor(planted)
    assert done.returncode != 0 and "template-injection" in done.stdout, done.stdout + done.stderr

    # A checkout that keeps its token in .git/config for every later step.
    planted.write_text(PLANTED.replace("        with: {persist-credentials: false}\n", ""))
    done = zizmor(planted)
    assert done.returncode != 0 and "artipacked" in done.stdout, done.stdout + done.stderr
