"""What `--source=.` uploads: the Ignore the module registers on `source`, walked over a
TestPlanIt-shaped tree the way the CLI's filesync walks it (support/context_upload.py).

The rule asserted: the default leaves out node_modules, .git, .next and .env files, and the
build still sees exactly the context it saw before (the repository's own .dockerignore
already left each of them out). The figures for 100k files are benchmarks/upload.py's.
"""

from __future__ import annotations

import pytest
from dagger.mod._exceptions import FunctionError
from hypothesis import given
from hypothesis import strategies as st
from support.context_upload import laptop_checkout, upload
from support.fixture_repo import FIXTURE
from support.registration import registration

from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import InvalidInput
from release_pipeline.rules.context import (
    DEFAULT_RULES,
    SOURCE_IGNORE,
    descend,
    is_sent,
    source_rules,
)
from release_pipeline.rules.dockerignore import NO_RULES, parse_ignore_file

MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
SHA = "c804cace" + "5" * 32


@pytest.mark.parametrize("function", ["build", "publish_platform", "release"])
def test_source_carries_the_default_ignore_as_the_sdk_registers_it(function):
    ignores = registration()["functions"][function]["ignore"]
    assert ignores == {"source": list(SOURCE_IGNORE)}  # whole_source: none, uploaded whole


@pytest.fixture(scope="module")
def laptop_tree(tmp_path_factory):
    return laptop_checkout(tmp_path_factory.mktemp("laptop") / "repo", FIXTURE, modules=3000)


def test_the_default_leaves_out_what_no_build_reads_and_the_build_sees_the_same(laptop_tree):
    before, after = upload(laptop_tree, NO_RULES), upload(laptop_tree, DEFAULT_RULES)
    assert before.files > 3000 + 300 and after.files < 40
    left_out = before.paths - after.paths
    assert all(
        "node_modules/" in p or p.startswith(".git/") or "/.next/" in p or "/.env" in "/" + p
        for p in left_out
    )
    assert {".env.local", "testplanit/.env.production", "testplanit/.env"} <= left_out
    dockerignore = parse_ignore_file((FIXTURE / ".dockerignore").read_text(), ".dockerignore")
    built_before = {p for p in before.paths if dockerignore.excluded_by(p) is None}
    built_after = {p for p in after.paths if dockerignore.excluded_by(p) is None}
    assert built_before == built_after
    assert {"testplanit/Dockerfile", "packages/api/dist/index.js", "pnpm-lock.yaml"} <= built_after


def test_an_exception_pattern_makes_the_walk_enter_an_excluded_directory(laptop_tree):
    # fsutil skips an excluded directory whole only when no `!` line could re-include below.
    rules = source_rules(["**/node_modules", "!node_modules/.pnpm/pkg1@1.0.0/node_modules/pkg"])
    sent = upload(laptop_tree, rules).paths
    assert "node_modules/.pnpm/pkg1@1.0.0/node_modules/pkg/f1.js" in sent
    assert "node_modules/.pnpm/pkg2@1.0.0/node_modules/pkg/f1.js" not in sent


@pytest.mark.parametrize(
    "patterns,rule",
    [(["["], "bad pattern"), (["!"], "illegal exclusion"), (["# x"], "comment"), ([""], "blank")],
)
async def test_a_bad_source_ignore_is_refused_before_the_engine(patterns, rule):
    args = {"source": "Directory:x", "version": "1.0.0", "sha": SHA, "source_ignore": patterns}
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", {}, "build", args)
    cause = err.value.__cause__
    assert isinstance(cause, InvalidInput) and cause.field == "source_ignore"
    assert rule in str(cause)


async def test_source_ignore_filters_the_context_the_build_reads():
    args = {"source": "Directory:x", "version": "1.0.0", "sha": SHA, "source_ignore": ["docs"]}
    container, _ = await MODULE.get_structured_result("ReleasePipeline", {}, "build", args)
    chain = [(sel.name, dict(sel.args)) for sel in container._ctx.selections]
    names = [name for name, _ in chain]
    assert names.index("filter") < names.index("dockerBuild")
    assert dict(chain)["filter"]["exclude"] == ["docs"]


LEFT_OUT = ("node_modules", ".next", ".git", ".DS_Store", ".env", ".env.local", ".envrc")
KEPT = ("src", "app", "dist", "packages", "env", "next.config.js", "git", "package.json", ".npmrc")


@given(st.lists(st.sampled_from(LEFT_OUT + KEPT), min_size=1, max_size=6))
def test_a_path_is_sent_exactly_when_none_of_its_parts_is_left_out(parts):
    path = "/".join(parts)
    # `.git` is left out at the root and, as `**/.git`, anywhere: every listed name, anywhere.
    assert is_sent(DEFAULT_RULES, path) is not any(p in LEFT_OUT for p in parts)
    for i in range(1, len(parts)):  # the walk enters a directory exactly when it is sent
        assert descend(DEFAULT_RULES, "/".join(parts[:i])) is is_sent(
            DEFAULT_RULES, "/".join(parts[:i])
        )
