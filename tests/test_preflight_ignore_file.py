"""Preflight reads the ignore file BuildKit would: the Dockerfile's own before
.dockerignore, an excluded Dockerfile still read, re-included files sent, excluded directories
walked only where an exception could apply, and a bad ignore file refused naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fixture_repo import DOCKERFILE, copy_fixture
from support.preflight_runs import context, preflight, problems

from release_pipeline.errors import InvalidInput
from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import check


async def test_the_dockerfile_specific_ignore_file_wins(tmp_path: Path) -> None:
    repo = copy_fixture(tmp_path / "repo")
    (repo / f"{DOCKERFILE}.dockerignore").write_text("cli\n")
    report = await preflight(repo, ("workers",))
    assert report.ignore_file == f"{DOCKERFILE}.dockerignore"
    assert {m for _, m in problems(report)} == {
        "COPY source 'cli/package.json' is excluded by testplanit/Dockerfile.dockerignore "
        "(line 1: 'cli'), so the builder never receives it"
    }


async def test_an_excluded_dockerfile_is_still_read_but_cannot_be_copied(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        "FROM alpine AS app\nCOPY Dockerfile /\n",
        {".dockerignore": "Dockerfile\n.dockerignore\n"},
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert problems(report) == [
        (
            2,
            "COPY source 'Dockerfile' is excluded by .dockerignore (line 1: 'Dockerfile'), "
            "so the builder never receives it",
        )
    ]


async def test_a_directory_with_a_re_included_file_is_sent(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        "FROM alpine AS app\nCOPY packages/api /api\nCOPY packages/mcp /mcp\n",
        {
            ".dockerignore": "packages\n!packages/api/dist\n",
            "packages/api/dist/index.js": "",
            "packages/mcp/index.js": "",
        },
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert [line for line, _ in problems(report)] == [3]


async def test_an_excluded_directory_is_walked_only_where_an_exception_could_apply(
    tmp_path: Path,
) -> None:
    """`!packages/api/dist` cannot re-include anything in node_modules: it is not walked."""
    root = context(
        tmp_path,
        "FROM alpine AS app\nCOPY node_modules /nm\n",
        {".dockerignore": "node_modules\npackages\n!packages/api/dist\n", "node_modules/x": ""},
    )
    walked: list[str] = []

    class Recording(LocalTree):
        async def entries(self, path: str) -> list[str]:
            walked.append(path)
            return await super().entries(path)

    report = await check(Recording(root), "Dockerfile", ["app"], {})
    assert [line for line, _ in problems(report)] == [2]
    assert walked == []


async def test_a_bad_ignore_file_is_invalid_input_naming_it(tmp_path: Path) -> None:
    root = context(tmp_path, "FROM alpine AS app\n", {".dockerignore": "ok\n[broken\n"})
    with pytest.raises(InvalidInput) as err:
        await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert (err.value.field, err.value.rule) == (".dockerignore", "line 2: bad pattern '[broken'")
