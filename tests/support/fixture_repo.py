"""The TestPlanIt-shaped fixture repository (tests/fixtures/testplanit) and a writable copy of it.

Tests that change the fixture (remove a copied file, run the version script) work on a copy in
their tmp_path, so the committed tree stays as it is for every other test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "testplanit"
DOCKERFILE = "testplanit/Dockerfile"
TARGETS = ("production", "workers")


def copy_fixture(dest: Path) -> Path:
    """A writable copy of the fixture repository at dest (which must not exist yet)."""
    shutil.copytree(FIXTURE, dest, symlinks=True)
    return dest
