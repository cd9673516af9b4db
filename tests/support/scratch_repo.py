"""The scratch git repository the workflow tests run in: git with a fixed identity and dates,
and the TestPlanIt-shaped fixture committed and tagged.

A module of its own because the caller runs (actions_runner.py), the scripts run alone and
the channel tests all build their repository this way, and none of it is the runner.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.fixture_repo import copy_fixture


def git(repo: Path, *args: str, date: str = "2026-04-22T16:30:00+00:00") -> str:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_COMMITTER_DATE": date,
        "GIT_AUTHOR_DATE": date,
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def fixture_git_repo(dest: Path, tags: tuple[str, ...] = ("v0.22.8",)) -> Path:
    """A git repository of the TestPlanIt-shaped fixture: one commit carrying `tags`, then main
    moves on (so a dispatch's branch head is never the tag's commit)."""
    copy_fixture(dest)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A", "-f")
    git(dest, "commit", "-q", "-m", "release")
    for tag in tags:
        git(dest, "tag", "-a", tag, "-m", tag)
    (dest / "CHANGELOG.md").write_text("next\n")
    git(dest, "add", "CHANGELOG.md")
    git(dest, "commit", "-q", "-m", "after", date="2026-04-23T10:00:00+00:00")
    return dest
