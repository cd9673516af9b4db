"""What `dagger call ... --source=DIR` uploads: a walk of DIR the way the CLI's filesync does.

The CLI sends a Directory flag with `fsutil.NewFilterFS(fs, ExcludePatterns: <the argument's
Ignore>)` and `fsutil.Send` (engine/client/filesync.go): a depth-first walk that stats every
entry, skips an excluded directory whole unless an exception pattern could re-include part
of it, never follows a symlink, and sends the bytes of every regular file left. The pattern
decisions are the package's own (`rules.context`, patternmatcher's semantics); this file only
walks. What it cannot show: the engine's per-client mirror (a second sync on the same engine
sends only changes) and the wire framing's own bytes.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from release_pipeline.rules.context import descend, is_sent
from release_pipeline.rules.dockerignore import IgnoreRules


@dataclass(frozen=True)
class Upload:
    files: int  # regular files whose bytes are sent
    bytes: int  # their total size
    entries: int  # every stat sent: files, directories, symlinks
    paths: frozenset[str]  # the regular files, relative and slash-separated


def upload(root: Path, rules: IgnoreRules) -> Upload:
    files = size = entries = 0
    paths: set[str] = set()
    stack = [""]
    while stack:
        directory = stack.pop()
        with os.scandir(root / directory) as scan:
            for entry in sorted(scan, key=lambda e: e.name):
                rel = f"{directory}/{entry.name}" if directory else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if descend(rules, rel):
                        stack.append(rel)
                        entries += is_sent(rules, rel)
                    continue
                if not is_sent(rules, rel):
                    continue
                entries += 1
                if entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
                    paths.add(rel)
    return Upload(files, size, entries, frozenset(paths))


def laptop_checkout(dest: Path, fixture: Path, modules: int) -> Path:
    """The fixture repository as a laptop holds it after `pnpm install` and `next build`:
    `modules` small files under node_modules (root and app), a .git with objects, a .next
    cache, and .env files with a secret."""
    shutil.copytree(fixture, dest, symlinks=True)
    per_package = 50
    for i in range(modules):
        where = "testplanit/node_modules" if (i // per_package) % 4 == 0 else "node_modules"
        package = dest / where / f".pnpm/pkg{i // per_package}@1.0.0/node_modules/pkg"
        if i % per_package == 0:
            package.mkdir(parents=True, exist_ok=True)
        (package / f"f{i % per_package}.js").write_text(f"module.exports = {i};\n")
    for i in range(200):
        obj = dest / ".git" / "objects" / f"{i:02x}"[:2]
        obj.mkdir(parents=True, exist_ok=True)
        (obj / f"{i:038x}").write_bytes(b"x" * 512)
    (dest / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    cache = dest / "testplanit" / ".next" / "cache"
    cache.mkdir(parents=True)
    for i in range(100):
        (cache / f"chunk{i}.pack").write_bytes(b"c" * 4096)
    (dest / ".env.local").write_text("DATABASE_URL=postgres://u:hunter2@db/app\n")
    (dest / "testplanit" / ".env.production").write_text("NEXTAUTH_SECRET=hunter2\n")
    return dest
