"""Small helpers the CLI tests share: a commit SHA made from a name, and a verb run for its JSON.

One copy each, so every test file makes commits and reads reports the same way.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from release_pipeline.cli import app as cli


def sha_of(text: str) -> str:
    """A full 40-hex commit SHA named by `text` (the same text, the same commit)."""
    return hashlib.sha1(text.encode()).hexdigest()


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Run a verb with --json: exit code, the parsed report (None unless it exited 0), stderr."""
    code = cli.run([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else None), err


def run_linter(script: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    """A ci/ linter (ci/actionlint, ci/zizmor) as ci/test runs it. PYTHON, not PATH, tells it
    which environment holds the tool: a plain `venv/bin/python -m pytest` must find it."""
    return subprocess.run(
        [str(script), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=script.parent.parent,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
    )
