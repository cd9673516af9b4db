"""The build context as the builder resolves paths in it: symlinks are followed inside it.

The client sends a symlink as a symlink; BuildKit then follows a source's symlinks scoped to
the context root, as if the context were `/`: an absolute target, or a `..` past the root,
lands inside the context, so a link to `/etc/hostname` means the context's `etc/hostname`
(recorded in tests/fixtures/buildkit). A path that leaves the context on this machine
therefore fails the build even when the file exists out there.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from release_pipeline.rules.dockerignore import go_clean

Kind = Literal["file", "dir", "symlink"]
MAX_LINKS = 255  # as Linux's path resolution gives up (ELOOP)


class ContextTree(Protocol):
    """Read access to a build context; paths are relative and '/'-separated, '' the root.
    No call follows a symlink: resolving them is `resolve`'s job."""

    async def kind(self, path: str) -> Kind | None:
        """'file', 'dir', 'symlink', or None when nothing is there."""
        ...

    async def entries(self, path: str) -> list[str]:
        """Names in the directory at `path` (no trailing '/')."""
        ...

    async def read_text(self, path: str) -> str:
        """The file's text (the caller has checked it is there)."""
        ...

    async def readlink(self, path: str) -> str | None:
        """The symlink's target as written, or None when this tree cannot read it."""
        ...


@dataclass(frozen=True)
class LocalTree:
    """A context directory on this machine."""

    root: Path

    async def kind(self, path: str) -> Kind | None:
        try:
            mode = os.lstat(self.root / path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            return "symlink"
        return "dir" if stat.S_ISDIR(mode) else "file"

    async def entries(self, path: str) -> list[str]:
        return sorted(os.listdir(self.root / path))

    async def read_text(self, path: str) -> str:
        return (self.root / path).read_text(errors="replace")

    async def readlink(self, path: str) -> str | None:
        return os.readlink(self.root / path)


@dataclass(frozen=True)
class Resolved:
    """Where a path leads: `path` (symlinks followed, inside the context), its `kind` (None:
    nothing there), the symlinks passed on the way, and `unreadable`, a symlink this tree
    cannot read (then nothing is decided)."""

    path: str
    kind: Kind | None
    links: tuple[str, ...] = ()
    unreadable: str = ""


async def resolve(tree: ContextTree, path: str) -> Resolved:
    """`path` with every symlink followed, scoped to the context root."""
    done: list[str] = []
    todo = [p for p in path.split("/") if p not in ("", ".")]
    links: list[str] = []
    kind: Kind | None = "dir"
    while todo:
        name = todo.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        here = "/".join([*done, name])
        kind = await tree.kind(here)
        if kind == "symlink":
            target = await tree.readlink(here)
            if target is None:
                return Resolved(here, None, tuple(links), unreadable=here)
            links.append(here)
            if len(links) > MAX_LINKS:
                return Resolved(here, None, tuple(links))
            # The target is joined to the link's directory (or the root) and cleaned, so a
            # `..` pops a name even where the name is missing, as BuildKit's scoped walk does.
            base = "" if target.startswith("/") else "/".join(done)
            done, todo = [], go_clean("/".join(["", base, target, *todo])).split("/")
            todo = [p for p in todo if p]
            continue
        if kind is None or (todo and kind != "dir"):
            return Resolved("/".join([here, *todo]), None, tuple(links))
        done.append(name)
    return Resolved("/".join(done), kind, tuple(links))
