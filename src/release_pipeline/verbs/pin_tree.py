"""The manifests directory `pin` reads and writes: a checkout here, or a Dagger Directory.

`ManifestTree` is what the verb needs; `LocalManifests` is the CLI's, and the Dagger module
has its own on a `Directory` (`dagger/engine.py`), as `preflight`'s `ContextTree` does.
The local walk follows no symlink: a link to a YAML file or a directory is refused (it
could leave the directory, or loop), and each file is read once, bounded in size. Writes
go to a temporary file beside each one, then `os.replace`: a reader never sees half a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from release_pipeline.errors import InvalidInput, ManifestRefused
from release_pipeline.rules.pins import KUSTOMIZATIONS
from release_pipeline.rules.yaml_spans import MAX_FILE_CHARS

MAX_FILES = 20_000


def is_manifest_name(name: str) -> bool:
    return name.endswith((".yaml", ".yml")) or name in KUSTOMIZATIONS


class ManifestTree(Protocol):
    async def files(self) -> dict[str, bytes]:
        """Every manifest file, by '/'-separated path relative to the root, and its bytes."""
        ...

    async def write_all(self, files: Mapping[str, bytes]) -> None:
        """Replace these files (all of them were read by `files`)."""
        ...


@dataclass(frozen=True)
class LocalManifests:
    root: Path

    @classmethod
    def at(cls, path: str) -> LocalManifests:
        """Checked before any request: the directory must exist (exit 2 otherwise)."""
        root = Path(path)
        if root.is_symlink() or not root.is_dir():
            raise InvalidInput("manifests", "must be a directory (not a symlink)")
        return cls(root)

    async def files(self) -> dict[str, bytes]:
        return self._walk()  # local files, read at once: nothing to await

    async def write_all(self, files: Mapping[str, bytes]) -> None:
        for rel, data in files.items():
            _replace(self.root / rel, data)

    def _walk(self) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for top, dirs, names in os.walk(self.root, followlinks=False):
            here = Path(top)
            for name in sorted(dirs):
                if name.startswith("."):
                    dirs.remove(name)  # .git and friends hold no manifests
                elif (here / name).is_symlink():
                    raise _link(self.root, here / name)
            for name in sorted(names):
                if is_manifest_name(name):
                    found[self._rel(here / name)] = self._read(here / name)
                    if len(found) > MAX_FILES:
                        raise ManifestRefused(".", 0, f"holds more than {MAX_FILES} YAML files")
        return found

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _read(self, path: Path) -> bytes:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            raise _link(self.root, path)
        if not stat.S_ISREG(info.st_mode):
            raise ManifestRefused(self._rel(path), 0, "is not a regular file")
        if info.st_size > MAX_FILE_CHARS:
            raise ManifestRefused(
                self._rel(path), 0, f"is larger than {MAX_FILE_CHARS >> 20} MiB: not a manifest"
            )
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_CHARS + 1)


def _replace(target: Path, data: bytes) -> None:
    """Write beside the file, keep its mode, then rename over it."""
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".pin-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _link(root: Path, path: Path) -> ManifestRefused:
    return ManifestRefused(
        path.relative_to(root).as_posix(),
        0,
        "is a symlink: pin follows none (it could leave the manifests directory, or loop)",
    )
