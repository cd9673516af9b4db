"""Which commit descends from which, asked of git in the caller's checkout (`channels.Ancestry`).

A channel release needs the branch's history, not one commit: `actions/checkout` with
`fetch-depth: 0`. A shallow clone is refused before any request, since it cannot tell an
old commit beyond its depth from one that is no ancestor at all. A commit the checkout lacks
(pushed after it was fetched) is fetched from `origin` once; if that fails, git cannot tell,
and the rule treats the answer as unknown.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from release_pipeline.errors import InvalidInput

GIT_TIMEOUT = 120.0


class GitAncestry:
    """`is_ancestor(older, newer)` for the checkout at `path`: a full clone, checked here."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fetched: set[str] = set()
        self._walked: dict[str, frozenset[str] | None] = {}
        shallow = self._git("rev-parse", "--is-shallow-repository")
        if shallow.returncode != 0:
            raise InvalidInput("git-dir", f"{path} is not a git checkout")
        if shallow.stdout.strip() == "true":
            raise InvalidInput(
                "git-dir",
                f"{path} is a shallow clone: a channel release decides from the branch's "
                "history (actions/checkout: fetch-depth: 0)",
            )

    def commit(self, name: str, field: str) -> str:
        """The full SHA of commit `name` (a SHA or a prefix of one) in this checkout, fetched
        from origin when missing; `InvalidInput` naming `field` when there is none."""
        if len(name) == 40 and self._present(name):
            return name
        found = self._git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
        if found.returncode != 0:
            raise InvalidInput(field, f"is not a commit of the checkout at {self.path}")
        return found.stdout.strip()

    def __call__(self, older: str, newer: str) -> bool | None:
        if not self._present(newer):
            return None
        if not self._present(older):
            return False  # a full clone has every ancestor of what it has
        ancestors = self._ancestors(newer)
        return None if ancestors is None else older in ancestors

    def _ancestors(self, sha: str) -> frozenset[str] | None:
        """Every commit `sha` descends from, itself included: one `git rev-list` per commit
        asked about, so a re-list over many releases costs one walk each, not one per pair."""
        if sha not in self._walked:
            listed = self._git("rev-list", sha)
            found = frozenset(listed.stdout.split()) if listed.returncode == 0 else None
            self._walked[sha] = found
        return self._walked[sha]

    def _present(self, sha: str) -> bool:
        if self._has(sha):
            return True
        if sha not in self._fetched:
            self._fetched.add(sha)
            self._git("fetch", "--quiet", "--no-tags", "origin", sha)
        return self._has(sha)

    def _has(self, sha: str) -> bool:
        return self._git("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0

    def _git(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed git arguments, SHAs checked by the caller
            ["git", "-C", str(self.path), *args],  # noqa: S607 - git from PATH, as a user runs it
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=False,
        )
