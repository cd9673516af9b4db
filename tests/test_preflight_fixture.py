"""The TestPlanIt-shaped fixture repository is complete and its version script works.

A fixture file lost to an ignore rule (`dist/` is git-ignored here) would vanish from a fresh
checkout and quietly change what every test built on the fixture means; the file list below
fails first and names it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from support.fixture_repo import FIXTURE, copy_fixture

EXPECTED_FILES = {
    ".dockerignore",
    ".npmrc",
    "package.json",
    "pnpm-lock.yaml",
    "pnpm-workspace.yaml",
    "cli/package.json",
    "docs/package.json",
    "forge-app/package.json",
    "packages/api/package.json",
    "packages/api/dist/index.js",
    "packages/mcp-server/package.json",
    "patches/left-pad@1.3.0.patch",
    "testplanit/.env",
    "testplanit/Dockerfile",
    "testplanit/app/page.tsx",
    "testplanit/dist/stale.js",
    "testplanit/ecosystem.config.js",
    "testplanit/lib/index.js",
    "testplanit/package.json",
    "testplanit/public/robots.txt",
    "testplanit/scheduler.ts",
    "testplanit/scripts/generate-version.js",
    "testplanit/scripts/smoke-test-workers.js",
    "testplanit/server.js",
    "testplanit/wait-for-postgres.sh",
    "testplanit/workers/index.js",
}


def tracked_files() -> set[str]:
    """The fixture's files as git records them (what a fresh clone of the project holds)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=FIXTURE,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return {name for name in out.split("\0") if name}


def test_every_fixture_file_is_committed() -> None:
    assert tracked_files() == EXPECTED_FILES


def test_no_lockfile_under_the_app_directory() -> None:
    """TestPlanIt's shape today: one lockfile, at the repository root."""
    assert (FIXTURE / "pnpm-lock.yaml").is_file()
    assert not (FIXTURE / "testplanit" / "pnpm-lock.yaml").exists()


def test_version_script_writes_public_version_json(tmp_path: Path) -> None:
    repo = copy_fixture(tmp_path / "repo")
    node = shutil.which("node")
    assert node, "node is needed to run the fixture's version script (ci/test installs nodejs)"
    env = {"PATH": "/usr/bin:/bin", "VERSION": "v1.2.3", "GIT_COMMIT": "a" * 40}
    subprocess.run(
        [node, "scripts/generate-version.js"], cwd=repo / "testplanit", env=env, check=True
    )
    info = json.loads((repo / "testplanit" / "public" / "version.json").read_text())
    assert (info["version"], info["commit"]) == ("v1.2.3", "a" * 40)


def test_workers_smoke_script_needs_no_services(tmp_path: Path) -> None:
    """Laid out as the workers image lays it out (WORKDIR /app/testplanit), the script passes
    with no database or Valkey reachable, and fails naming a file the image lacks."""
    assert shutil.which("node")
    app = tmp_path / "app"
    (app / "scripts").mkdir(parents=True)
    (app / "workers").mkdir()
    src = FIXTURE / "testplanit"
    for name in (
        "package.json",
        "scheduler.ts",
        "workers/index.js",
        "scripts/smoke-test-workers.js",
    ):
        shutil.copy(src / name, app / name)
    script = ["node", "scripts/smoke-test-workers.js"]
    ok = subprocess.run(script, cwd=app, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    (app / "scheduler.ts").unlink()
    bad = subprocess.run(script, cwd=app, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert "scheduler.ts" in bad.stderr
