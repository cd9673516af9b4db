"""Preflight on real directories: the TestPlanIt-shaped fixture passes, and each way a build
would fail at a COPY is reported with the Dockerfile line, all problems at once; bad targets,
Dockerfile paths and image names are refused, and what the Dockerfile names is shown, not
obeyed. How paths resolve is in test_preflight_paths.py, which ignore file applies and what it
excludes in test_preflight_ignore_file.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.fixture_repo import DOCKERFILE, FIXTURE, TARGETS, copy_fixture
from support.preflight_runs import context, preflight, problems

from release_pipeline.errors import InvalidInput
from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import check


@pytest.mark.parametrize("targets", [TARGETS, ("production",), ("workers",)])
async def test_the_fixture_passes_for_its_targets(targets: tuple[str, ...]) -> None:
    report = await preflight(FIXTURE, targets)
    assert report.problems == []
    assert report.ignore_file == ".dockerignore"
    assert report.checked > 10
    assert "preflight ok" in report.text()


def lines_starting(root: Path, text: str) -> list[int]:
    """The 1-based Dockerfile lines that start with `text`."""
    lines = (root / DOCKERFILE).read_text().splitlines()
    return [i for i, line in enumerate(lines, start=1) if line.startswith(text)]


async def test_a_missing_copied_file_is_named_with_every_line_that_copies_it(
    tmp_path: Path,
) -> None:
    repo = copy_fixture(tmp_path / "repo")
    (repo / "pnpm-lock.yaml").unlink()
    report = await preflight(repo, ("workers",))
    copies = lines_starting(repo, "COPY package.json pnpm-lock.yaml")
    assert len(copies) == 2  # base and deps both install from the root lockfile
    assert problems(report) == [
        (n, "COPY source 'pnpm-lock.yaml' not found in the build context") for n in copies
    ]
    assert f"{DOCKERFILE}:{copies[0]}: COPY source 'pnpm-lock.yaml' not found" in report.text()


async def test_a_copied_directory_excluded_by_dockerignore_is_named_with_the_rule(
    tmp_path: Path,
) -> None:
    repo = copy_fixture(tmp_path / "repo")
    with (repo / ".dockerignore").open("a") as ignore:
        ignore.write("# local patches\n/patches/\n")
    rule_line = len((repo / ".dockerignore").read_text().splitlines())
    report = await preflight(repo, ("production",))
    message = (
        f"COPY source 'patches' is excluded by .dockerignore (line {rule_line}: 'patches'), "
        "so the builder never receives it"
    )
    assert problems(report) == [(n, message) for n in lines_starting(repo, "COPY patches")]


async def test_removing_any_copied_placeholder_fails_naming_it(tmp_path: Path) -> None:
    """Every placeholder the fixture holds for a copied path is needed by some target."""
    for name in ("docs/package.json", "patches", "packages/api", "testplanit/wait-for-postgres.sh"):
        repo = copy_fixture(tmp_path / name.replace("/", "_"))
        target = repo / name
        if target.is_dir():
            for child in sorted(target.rglob("*"), reverse=True):
                child.rmdir() if child.is_dir() else child.unlink()
            target.rmdir()
        else:
            target.unlink()
        found = {m for _, m in problems(await preflight(repo))}
        assert f"COPY source '{name}' not found in the build context" in found
        assert all(m.startswith(f"COPY source '{name}") for m in found), found


async def test_only_the_stages_a_target_needs_are_checked(tmp_path: Path) -> None:
    """`development` copies nothing of its own, and workers need base via build: a file only
    a stage outside the target's graph copies does not fail the target."""
    root = context(
        tmp_path,
        """\
        FROM alpine AS tools
        COPY tools.sh /
        FROM alpine AS base
        COPY app.txt /
        FROM base AS build
        RUN true
        FROM alpine AS final
        COPY --from=build /app.txt /
        """,
        {"app.txt": "x"},
    )
    assert (await preflight(root, ("final",), "Dockerfile")).problems == []
    report = await preflight(root, ("tools", "final"), "Dockerfile")
    assert problems(report) == [(2, "COPY source 'tools.sh' not found in the build context")]


async def test_a_missing_target_is_named_with_the_stages_there_are() -> None:
    report = await preflight(FIXTURE, ("workers", "server"))
    assert problems(report) == [
        (
            None,
            "target 'server' is not a stage (base, development, deps, deps-workers, build, "
            "production, workers)",
        )
    ]
    assert f"{DOCKERFILE}: target 'server' is not a stage" in report.text()


async def test_a_missing_dockerfile_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    repo = copy_fixture(tmp_path / "repo")
    (repo / DOCKERFILE).unlink()
    report = await preflight(repo)
    assert problems(report) == [(None, "Dockerfile not found in the build context")]
    # The April layout: the context was testplanit/, which has no root workspace files.
    report = await preflight(repo / "testplanit", dockerfile="Dockerfile")
    assert problems(report) == [(None, "Dockerfile not found in the build context")]


async def test_the_april_context_fails_at_the_root_workspace_files() -> None:
    """Built from testplanit/ (the old BUILD_CONTEXT), the first COPY cannot work."""
    report = await preflight(FIXTURE / "testplanit", dockerfile="Dockerfile")
    missing = {m for _, m in problems(report)}
    assert "COPY source 'pnpm-lock.yaml' not found in the build context" in missing
    assert "COPY source 'testplanit/package.json' not found in the build context" in missing


@pytest.mark.parametrize(
    "dockerfile", ["/etc/Dockerfile", "../Dockerfile", "a/../../Dockerfile", "", "  "]
)
async def test_a_dockerfile_outside_the_context_is_invalid_input(dockerfile: str) -> None:
    with pytest.raises(InvalidInput) as err:
        await preflight(FIXTURE, dockerfile=dockerfile)
    assert err.value.field == "dockerfile"


@pytest.mark.parametrize("targets", [(), ("",), ("two words",)])
async def test_targets_must_be_stage_names(targets: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput) as err:
        await preflight(FIXTURE, targets)
    assert err.value.field == "target"


async def test_dockerfile_text_in_messages_cannot_issue_workflow_commands(tmp_path: Path) -> None:
    """The Dockerfile comes from the tag being released: what it names is shown, not obeyed
    (no `::` workflow command, no control character reaches the CI log)."""
    root = context(tmp_path, 'FROM alpine AS app\nCOPY ["::error::x\\u001b[31m", "/"]\n', {})
    report = await check(LocalTree(root), "Dockerfile", ["app", "::warning::t"], {})
    text = report.text()
    assert "::" not in text and "\x1b" not in text
    assert len(report.problems) == 1  # the target; the source is noted as a malformed pattern
    assert len(report.notes) == 1


@pytest.mark.parametrize(
    ("image", "refused"),
    [
        ("BASE", True),
        ("team/App:1", True),
        ("Registry.example.com:5000/team/app:V1", False),  # a registry and a tag may have it
        # A first part in upper case is a registry host to newer Docker reference parsers;
        # docker 20.10's refuses it: preflight does not fail what a newer builder accepts.
        ("Localhost/app", False),
        ("node:24-Alpine", False),
        ("ghcr.io/Org/app", True),
    ],
)
async def test_an_upper_case_image_repository_is_refused_as_buildkit_does(
    tmp_path: Path, image: str, refused: bool
) -> None:
    root = context(tmp_path, f"FROM {image} AS app\n", {})
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    expected = [(1, f"FROM {image}: an image's repository name must be lower case (BuildKit "
                 "refuses it)")]  # fmt: skip
    assert problems(report) == (expected if refused else [])
