"""Run a page's `runs` blocks in one bash session and compare what they print with the
outputs the page shows (tests/test_docs.py says the rules); rewrite the shown outputs."""

from __future__ import annotations

import contextlib
import difflib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from release_pipeline.cli import app as cli

from .docs import Page, normalize

ROOT = Path(__file__).resolve().parent.parent.parent

__all__ = ["check_runs", "rewrite"]


@dataclass
class Session:
    outputs: list[str]  # what each block printed, stdout and stderr interleaved
    failed: int | None  # the first block that did not succeed, if any
    tmp: Path
    leftover: list[str]  # local-try directories whose registry the page did not stop


def run_session(codes: list[str], tmp_path: Path) -> Session:
    """Run the blocks in order in one bash at the repository root, with this checkout's
    `release-pipeline` first on PATH. Registries a local try started are stopped after."""
    bin_dir, tmp = tmp_path / "bin", tmp_path / "tmp"
    bin_dir.mkdir(parents=True)
    tmp.mkdir()
    shim = bin_dir / "release-pipeline"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m release_pipeline "$@"\n')
    shim.chmod(0o755)
    driver = ["set -eo pipefail"]
    for i, code in enumerate(codes):
        (tmp_path / f"block{i}.sh").write_text(code + "\n")
        driver += [
            f'. "{tmp_path}/block{i}.sh" >"{tmp_path}/out{i}" 2>&1',
            f': >"{tmp_path}/ok{i}"',
        ]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.pop(cli.PASSWORD_ENV, None)
    env |= {
        "PATH": f"{bin_dir}:{env.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": str(ROOT / "src"),
        "PYTHONUNBUFFERED": "1",
        "NO_COLOR": "1",
        "COLUMNS": "100",
        "TERM": "dumb",
        "TMPDIR": str(tmp),
    }
    try:
        subprocess.run(
            ["bash", "-c", "\n".join(driver)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=300,
            check=False,
        )
    finally:
        leftover = sorted(str(p.parent) for p in tmp.glob("local-try.*/registry.pid"))
        for pid_file in tmp.glob("local-try.*/registry.pid"):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text()), signal.SIGTERM)
    outputs = [
        (tmp_path / f"out{i}").read_text() if (tmp_path / f"out{i}").exists() else ""
        for i in range(len(codes))
    ]
    failed = next((i for i in range(len(codes)) if not (tmp_path / f"ok{i}").exists()), None)
    return Session(outputs, failed, tmp, leftover)


def check_runs(doc: Page, tmp_path: Path) -> tuple[list[str], dict[int, str]]:
    """Run a page's `runs` blocks; return the problems and, per shown output block (by its
    opening line), what it should say."""
    blocks = [b for b in doc.blocks if b.marker == "runs"]
    session = run_session([b.code for b in blocks], tmp_path)
    if session.failed is not None:
        block = blocks[session.failed]
        printed = normalize([session.outputs[session.failed]], str(session.tmp))[0]
        return [f"{doc.path}:{block.start}: block failed; it printed:\n{printed}"], {}
    problems = [
        f"{doc.path}: leaves a registry running ({where}); end with examples/local-try/stop"
        for where in normalize(session.leftover, str(session.tmp))
    ]
    pairs = [(doc.shown_output(b), out) for b, out in zip(blocks, session.outputs, strict=True)]
    pairs_shown = [(shown, out) for shown, out in pairs if shown is not None]
    expected = normalize([shown.code for shown, _ in pairs_shown])
    actual = normalize([out for _, out in pairs_shown], str(session.tmp))
    problems += [
        f"{doc.path}:{shown.start}: shown output differs from what was printed:\n"
        + "\n".join(
            difflib.unified_diff(want.split("\n"), got.split("\n"), "shown", "printed", lineterm="")
        )
        for (shown, _), want, got in zip(pairs_shown, expected, actual, strict=True)
        if want != got
    ]
    updates = {
        shown.start: text
        for (shown, _), text in zip(
            pairs_shown,
            normalize([out for _, out in pairs_shown], str(session.tmp), digests=False),
            strict=True,
        )
    }
    return problems, updates


def rewrite(doc: Page, updates: dict[int, str]) -> str:
    """The page with each shown output block replaced by its update, indentation kept."""
    lines = list(doc.lines)
    for block in sorted(doc.blocks, key=lambda b: -b.start):
        if block.start in updates:
            body = [
                block.indent + line if line else "" for line in updates[block.start].split("\n")
            ]
            lines[block.start : block.end - 1] = body
    return "\n".join(lines)
