""".dockerignore read the way Docker's clients read it (moby/patternmatcher), rule by rule.

Each documented rule has rows: the file's text, a path, and whether the builder receives it.
The rows follow Docker's documentation of the build context (the `*/temp*` examples, `**`,
exceptions with the last match winning, leading `/` and `./`, comments in column 1) and the
corner cases of patternmatcher's matcher (`foo/**` leaves `foo` itself in).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.dockerignore import parse_ignore_file

RULES = [
    # Docker's examples: `*` and `?` stay within one path element.
    ("*/temp*", "somedir/temporary.txt", False),
    ("*/temp*", "somedir/temp", False),
    ("*/temp*", "somedir/temp/inside", False),  # a matched directory takes its contents
    ("*/temp*", "temporary.txt", True),
    ("*/temp*", "somedir/subdir/temporary.txt", True),
    ("*/*/temp*", "somedir/subdir/temporary.txt", False),
    ("*/*/temp*", "somedir/temporary.txt", True),
    ("temp?", "tempa", False),
    ("temp?", "temp", True),
    ("temp?", "sub/tempa", True),
    # `**` spans any number of directories, zero included.
    ("**/*.go", "main.go", False),
    ("**/*.go", "cmd/tool/main.go", False),
    ("**/*.go", "main.go.txt", True),
    ("**/node_modules", "node_modules", False),
    ("**/node_modules", "a/b/node_modules/x/index.js", False),
    ("**", "anything/at/all", False),
    ("docs/**/build", "docs/build", False),
    ("docs/**/build", "docs/site/v1/build/index.html", False),
    ("docs/**/build", "other/build", True),
    # `foo/**` matches below foo, not foo itself (patternmatcher's prefix match).
    ("foo/**", "foo/bar", False),
    ("foo/**", "foo", True),
    # Exceptions: `!` re-includes, and the last matching line decides.
    ("*.md\n!README.md", "README.md", True),
    ("*.md\n!README.md", "CHANGES.md", False),
    ("*.md\n!README*.md\nREADME-secret.md", "README-secret.md", False),
    ("*.md\n!README*.md\nREADME-secret.md", "README-public.md", True),
    ("*.md\nREADME-secret.md\n!README*.md", "README-secret.md", True),
    ("*\n!src", "src/main.py", True),
    ("*\n!src", "setup.py", False),
    ("!keep\nkeep", "keep", False),  # an exception before any match has nothing to undo
    # Paths are relative to the context root: leading `/` and `./` are dropped, paths cleaned.
    ("/foo/bar", "foo/bar", False),
    ("/foo/bar", "foo/bar/baz.txt", False),
    ("/foo/bar", "x/foo/bar", True),
    ("./foo", "foo", False),
    ("foo/", "foo/file", False),
    ("a/../b", "b", False),
    ("a//b", "a/b", False),
    ("! /secret", "secret", True),  # nothing to re-include: it was never excluded
    ("*\n! /secret", "secret", True),
    # Whitespace is trimmed; `#` starts a comment only in column 1.
    ("   spaced   ", "spaced", False),
    ("# tests", "# tests", True),
    ("# tests\ntests", "tests", False),
    (" # tests", "# tests", False),
    ("\ufeffbom", "bom", False),  # a byte-order mark before the first line is dropped
    ("\n\n  \n", "anything", True),
    # Go filepath.Match syntax: classes, negated classes, escapes.
    ("[a-c].txt", "b.txt", False),
    ("[a-c].txt", "d.txt", True),
    ("[^a].txt", "a.txt", True),
    ("[^a].txt", "b.txt", False),
    ("\\*.txt", "*.txt", False),
    ("\\*.txt", "x.txt", True),
    ("file.(1)", "file.(1)", False),  # regexp-only characters are literal
    ("a+b", "aab", True),
]


@pytest.mark.parametrize("text,path,sent", RULES)
def test_dockerignore_rule(text: str, path: str, sent: bool) -> None:
    rules = parse_ignore_file(text, ".dockerignore")
    assert (rules.excluded_by(path) is None) is sent


def test_the_rule_that_excludes_a_path_is_named_with_its_line() -> None:
    rules = parse_ignore_file("# root ignore\n**/node_modules\n\n/dist\n", ".dockerignore")
    rule = rules.excluded_by("dist/app.js")
    assert rule is not None
    assert (rule.pattern, rule.line) == ("dist", 4)


@pytest.mark.parametrize(
    "text,line",
    [("ok\n!", 2), ("!  ", 1), ("[abc", 1), ("x\n[]", 2), ("a[", 1), ("[a-]", 1), ("trail\\", 1)],
)
def test_patterns_docker_refuses_are_invalid_input_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_ignore_file(text, "testplanit/Dockerfile.dockerignore")
    assert err.value.field == "testplanit/Dockerfile.dockerignore"
    assert err.value.rule.startswith(f"line {line}:")


NAMES = st.text(alphabet="abcxyz._-", min_size=1, max_size=5).filter(lambda s: s not in (".", ".."))
PATHS = st.lists(NAMES, min_size=1, max_size=4).map("/".join)
PLAIN_PATTERNS = st.lists(
    st.lists(st.sampled_from(["a*", "*", "b", "x?z", "**", "c.d"]), min_size=1, max_size=3).map(
        "/".join
    ),
    max_size=5,
)


@given(PLAIN_PATTERNS, PATHS, NAMES)
def test_without_exceptions_an_excluded_directory_takes_everything_under_it(
    patterns: list[str], path: str, child: str
) -> None:
    rules = parse_ignore_file("\n".join(patterns), ".dockerignore")
    if rules.excluded_by(path) is not None:
        assert rules.excluded_by(f"{path}/{child}") is not None


@given(PLAIN_PATTERNS, PATHS)
def test_an_exception_for_the_exact_path_last_always_sends_it(
    patterns: list[str], path: str
) -> None:
    """The last matching line wins, whatever came before."""
    rules = parse_ignore_file("\n".join([*patterns, f"!{path}"]), ".dockerignore")
    assert rules.excluded_by(path) is None


# Few names, so that exclusions, exceptions and paths meet often.
COMPONENTS = st.sampled_from(["a*", "*", "b", "**", "c.d"])
ONE_PATTERN = st.lists(COMPONENTS, min_size=1, max_size=3).map("/".join)
NEAR_PATHS = st.lists(st.sampled_from(["a", "b", "c.d"]), min_size=1, max_size=3).map("/".join)


@settings(max_examples=300)
@given(NEAR_PATHS, NEAR_PATHS, st.lists(ONE_PATTERN, max_size=2), st.lists(ONE_PATTERN, max_size=3))
def test_pruning_never_hides_a_re_included_file(
    directory: str, below: str, before: list[str], exceptions: list[str]
) -> None:
    """Preflight walks an excluded directory only when `may_reinclude_below` says a `!` line
    could apply there; whenever a file inside is in fact sent, it must say so."""
    lines = [*before, directory, *(f"!{p}" for p in exceptions)]
    rules = parse_ignore_file("\n".join(lines), ".dockerignore")
    inside = f"{directory}/{below}"
    if rules.excluded_by(directory) is not None and rules.excluded_by(inside) is None:
        assert rules.may_reinclude_below(directory)
