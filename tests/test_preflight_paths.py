"""Preflight resolves a Dockerfile's paths as BuildKit does: wildcards that may match nothing,
COPY and RUN --mount flags, heredocs, continuations and URLs, ARG and ENV expansion, what
only the builder sets, and sources joined to the context root."""

from __future__ import annotations

from pathlib import Path

from support.preflight_runs import context, problems

from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import check


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
