"""Preflight run on a directory, its problems as (line, message), and the small build
contexts the preflight tests lay out to run it on.

A module of its own because the preflight tests are split by what they check (the fixture,
paths as BuildKit resolves them, the ignore file) and all run it the same way.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import PreflightReport, check
from support.fixture_repo import DOCKERFILE, TARGETS


async def preflight(
    root: Path, targets: tuple[str, ...] = TARGETS, dockerfile: str = DOCKERFILE, **args: str
) -> PreflightReport:
    return await check(LocalTree(root), dockerfile, targets, args)


def problems(report: PreflightReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in report.problems]


def context(tmp_path: Path, dockerfile: str, files: dict[str, str]) -> Path:
    """A context directory holding `Dockerfile` and `files`."""
    root = tmp_path / "ctx"
    for name, text in {"Dockerfile": textwrap.dedent(dockerfile), **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root
