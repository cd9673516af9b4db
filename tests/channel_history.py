"""Git histories for the channel tests, as parent links: the ancestry a checkout would answer.

`Commits` answers `is_ancestor(older, newer)` the way `cli.ancestry.GitAncestry` does over a
full clone that can fetch what it lacks: every commit made so far is known. `seen_by(n)`
is a checkout that cannot fetch (only the first `n` commits): it answers None about a
commit it lacks as the newer one, and False about one it lacks as the older one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from support.commands import sha_of


@dataclass
class Commits:
    parents: dict[str, str | None] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # in the order they were made

    def commit(self, name: str, parent: str | None = None) -> str:
        """A new commit on `parent` (None: a root), named by `name`."""
        sha = sha_of(f"channel {name}")
        self.parents[sha] = parent
        self.order.append(sha)
        return sha

    def line(self, count: int, prefix: str = "c", parent: str | None = None) -> list[str]:
        """`count` commits, each the child of the one before: a branch pushed commit by commit."""
        made = []
        for i in range(count):
            parent = self.commit(f"{prefix}{i}", parent)
            made.append(parent)
        return made

    def is_ancestor(self, older: str, newer: str) -> bool | None:
        if newer not in self.parents:
            return None
        if older not in self.parents:
            return False
        node: str | None = newer
        while node is not None:
            if node == older:
                return True
            node = self.parents[node]
        return False

    def seen_by(self, count: int) -> Commits:
        known = self.order[:count]
        return Commits({s: self.parents[s] for s in known}, known)
