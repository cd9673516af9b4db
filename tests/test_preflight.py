"""Preflight on real directories: the TestPlanIt-shaped fixture passes, and each way a build
would fail at a COPY is reported with the Dockerfile line, all problems at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.fixture_repo import DOCKERFILE, FIXTURE, TARGETS, copy_fixture

from release_pipeline.errors import InvalidInput
from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import PreflightReport, check


async def preflight(
    root: Path, targets: tuple[str, ...] = TARGETS, dockerfile: str = DOCKERFILE, **args: str
) -> PreflightReport:
    return await check(LocalTree(root), dockerfile, targets, args)


def line_of(root: Path, text: str, dockerfile: str = DOCKERFILE) -> int:
    """The 1-based line of the first Dockerfile line that starts with `text`."""
    lines = (root / dockerfile).read_text().splitlines()
    return next(i for i, line in enumerate(lines, start=1) if line.startswith(text))


def problems(report: PreflightReport) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in report.problems]


def context(tmp_path: Path, dockerfile: str, files: dict[str, str]) -> Path:
    """A context directory holding `Dockerfile` and `files`."""
    root = tmp_path / "ctx"
    for name, text in {"Dockerfile": textwrap.dedent(dockerfile), **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# --- the fixture -----------------------------------------------------------------------------


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


# --- what BuildKit does with the paths ------------------------------------------------------


async def test_a_wildcard_may_match_nothing_but_a_literal_path_must_exist(tmp_path: Path) -> None:
    """BuildKit copies every context source with empty wildcards allowed (`.npmrc*` with no
    .npmrc is fine); a literal path that is not there fails the build."""
    root = context(
        tmp_path,
        """\
        FROM alpine AS app
        COPY package.json .npmrc* yarn.lock ./
        COPY nothing-*/ /opt/
        """,
        {"package.json": "{}"},
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert problems(report) == [(2, "COPY source 'yarn.lock' not found in the build context")]
    assert [n.split(": ", 1)[1] for n in report.notes] == [
        "COPY source '.npmrc*' matches nothing (allowed: BuildKit copies nothing for it)",
        "COPY source 'nothing-*/' matches nothing (allowed: BuildKit copies nothing for it)",
    ]


async def test_a_wildcard_does_not_see_excluded_files(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        """\
        FROM alpine AS app
        COPY .env* ./
        COPY [a-]bad /x
        """,
        {".env": "SECRET=1", ".dockerignore": "**/.env\n"},
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert report.problems == []  # BuildKit matches nothing with a malformed class
    assert [n.split(": ", 1)[1] for n in report.notes] == [
        "COPY source '.env*' matches nothing (allowed: BuildKit copies nothing for it)",
        "COPY source '[a-]bad' is not a valid pattern: BuildKit copies nothing for it",
    ]


async def test_flags_from_copies_heredocs_continuations_and_urls(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        """\
        # syntax=docker/dockerfile:1
        FROM alpine AS base
        COPY --chown=1000:1000 --chmod=644 --link \\
             one.txt \\
             missing-a.txt /app/
        COPY --from=tools /etc/passwd /copied
        COPY --from=nginx:latest /etc/nginx /nginx
        ADD https://example.com/archive.tar.gz /tmp/
        ADD --checksum=sha256:0000 https://example.com/x /x
        COPY <<EOF /app/script.sh
        COPY missing-in-heredoc.txt /nowhere
        EOF
        RUN <<-SCRIPT cat >/x
        \tCOPY missing-in-run-heredoc.txt /nowhere
        \tSCRIPT
        RUN echo "a<<b" > /note
        COPY ["two words.txt", "missing b.txt", "/app/"]
        RUN --mount=type=bind,source=cache.txt,target=/c true
        RUN --mount=type=cache,target=/root/.cache --mount=type=bind,src=gone,target=/g true
        """,
        {"one.txt": "1", "two words.txt": "2", "cache.txt": "c"},
    )
    report = await check(LocalTree(root), "Dockerfile", ["base"], {})
    assert problems(report) == [
        (3, "COPY source 'missing-a.txt' not found in the build context"),
        (17, "COPY source 'missing b.txt' not found in the build context"),
        (19, "RUN --mount source 'gone' not found in the build context"),
    ]
    assert [n.split(": ", 1)[1] for n in report.notes] == [
        "COPY --from=tools not checked: tools is an image, fetched by the build",
        "COPY --from=nginx:latest not checked: nginx:latest is an image, fetched by the build",
        "ADD source 'https://example.com/archive.tar.gz' not checked: it is fetched by the build",
        "ADD source 'https://example.com/x' not checked: it is fetched by the build",
    ]


async def test_arg_and_env_in_paths_are_expanded(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        """\
        ARG APP=web
        FROM alpine AS base
        ARG APP
        ARG CONF=conf
        ENV DATA=data
        COPY ${APP}/package.json $CONF/${MISSING:-default}.yaml ${DATA}/ /app/
        FROM base AS next
        COPY ${DATA}/seed.sql ${APP:-fallback}/x /
        """,
        {
            "web/package.json": "{}",
            "conf/default.yaml": "",
            "data/seed.sql": "",
            "web/x": "",  # a stage built FROM base keeps base's ARG APP, as BuildKit does
        },
    )
    assert (await check(LocalTree(root), "Dockerfile", ["next"], {})).problems == []
    report = await check(LocalTree(root), "Dockerfile", ["base"], {"APP": "api"})
    assert problems(report) == [
        (6, "COPY source '${APP}/package.json' (api/package.json) not found in the build context")
    ]


async def test_paths_set_by_the_builder_are_noted_not_guessed(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        """\
        FROM alpine AS app
        ARG TARGETARCH
        COPY bin/${TARGETARCH}/tool /usr/local/bin/
        """,
        {},
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert report.problems == []
    assert report.notes == [
        "Dockerfile:3: COPY source 'bin/${TARGETARCH}/tool' not checked: TARGETARCH is set by "
        "the builder"
    ]


async def test_sources_stay_inside_the_context(tmp_path: Path) -> None:
    """BuildKit joins each source to the context root, so `../x` and `/x` mean `x`."""
    root = context(tmp_path, "FROM alpine AS app\nCOPY ../a.txt /b.txt ./c.txt /\n", {})
    (tmp_path / "a.txt").write_text("outside the context")
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert [m for _, m in problems(report)] == [
        f"COPY source '{name}' not found in the build context"
        for name in ("../a.txt", "/b.txt", "./c.txt")
    ]


# --- which ignore file --------------------------------------------------------------------


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


async def test_copy_parents_skips_a_missing_source_like_buildkit(tmp_path: Path) -> None:
    root = context(
        tmp_path,
        "FROM alpine AS app\nCOPY --parents packages/api/package.json absent.txt /app/\n",
        {"packages/api/package.json": "{}"},
    )
    report = await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert report.problems == []
    assert [n.split(": ", 1)[1] for n in report.notes] == [
        "COPY source 'absent.txt' matches nothing (allowed: BuildKit copies nothing for it)"
    ]


async def test_a_bad_ignore_file_is_invalid_input_naming_it(tmp_path: Path) -> None:
    root = context(tmp_path, "FROM alpine AS app\n", {".dockerignore": "ok\n[broken\n"})
    with pytest.raises(InvalidInput) as err:
        await check(LocalTree(root), "Dockerfile", ["app"], {})
    assert (err.value.field, err.value.rule) == (".dockerignore", "line 2: bad pattern '[broken'")


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
