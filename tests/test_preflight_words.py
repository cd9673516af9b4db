"""BuildKit's word lexer (`rules.dockerwords`) and the scoped symlink walk (`verbs.context`),
tested directly: the corpus (test_preflight_buildkit.py) shows what BuildKit does with each
form, these pin the forms one by one and over generated words."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release_pipeline.rules.dockerwords import UnsupportedForm, WordError, lex
from release_pipeline.verbs.context import LocalTree, resolve
from release_pipeline.verbs.preflight import check

VALUES: dict[str, str | None] = {"SET": "value", "EMPTY": "", "ARCH": None, "F": "pre-a.txt.bak"}


@pytest.mark.parametrize(
    ("word", "escape", "expected"),
    [
        ("\\$x.txt", "\\", "$x.txt"),
        ("$x.txt", "\\", ".txt"),
        ("'$SET'", "\\", "$SET"),
        ('"$SET"-x', "\\", "value-x"),
        ('"a\\"b\\$c\\d"', "\\", 'a"b$c\\d'),  # in double quotes only " $ and \ escape
        ("a\\b.txt", "\\", "ab.txt"),
        ("a\\b.txt", "`", "a\\b.txt"),
        ("`$SET", "`", "$SET"),
        ("${SET:-w}${EMPTY:-w}${UNSET:-w}", "\\", "valueww"),
        ("${SET-w}${EMPTY-w}${UNSET-w}", "\\", "valuew"),
        ("${SET:+w}${EMPTY:+w}${UNSET:+w}", "\\", "w"),
        ("${SET+w}${EMPTY+w}${UNSET+w}", "\\", "ww"),
        ("${SET:?no}", "\\", "value"),
        (
            "${F#pre-}|${F#*-}|${F##*.}|${F%.*}|${F%%.*}",
            "\\",
            "a.txt.bak|a.txt.bak|bak|pre-a.txt|pre-a",
        ),
        ("${UNSET:-${SET}}", "\\", "value"),
        ("$", "\\", "$"),
        ("a$-b", "\\", "a$-b"),
    ],
)
def test_words_read_as_buildkit_reads_them(word: str, escape: str, expected: str) -> None:
    assert lex(word, VALUES, escape) == (expected, set())


@pytest.mark.parametrize(
    ("word", "message"),
    [
        ('"a', "unexpected end of statement while looking for matching double-quote"),
        ("'a", "unexpected end of statement while looking for matching single-quote"),
        ("${UNSET:?is needed}", "UNSET: is needed"),
        ("${EMPTY:?}", "EMPTY: is not allowed to be unset"),
        ("${SET", "syntax error: missing '}'"),
        ("${}", "bad substitution"),
    ],
)
def test_words_buildkit_refuses_say_why(word: str, message: str) -> None:
    with pytest.raises(WordError, match=f"^{message}$"):
        lex(word, VALUES)


@pytest.mark.parametrize("word", ["${SET/a/b}", "${SET:0:2}", "${SET^^}"])
def test_forms_not_read_here_are_said_to_be_so(word: str) -> None:
    with pytest.raises(UnsupportedForm):
        lex(word, VALUES)


def test_a_value_only_the_builder_knows_is_named() -> None:
    assert lex("bin/${ARCH}/tool", VALUES)[1] == {"ARCH"}
    assert lex("${ARCH:?x}", VALUES)[1] == {"ARCH"}  # unknown, not refused


PLAIN = st.text(st.characters(blacklist_characters="$'\"\\`", blacklist_categories=("Cs",)))


@given(PLAIN)
def test_a_word_with_nothing_to_lex_is_itself(word: str) -> None:
    assert lex(word, VALUES) == (word, set())


@given(st.text(st.characters(blacklist_characters="'", blacklist_categories=("Cs",))))
def test_single_quotes_keep_anything(text: str) -> None:
    assert lex(f"'{text}'", VALUES)[0] == text


@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1), st.sampled_from("\\`"))
def test_escaping_every_character_keeps_the_text(text: str, escape: str) -> None:
    assert lex("".join(escape + ch for ch in text), VALUES, escape)[0] == text


# A part starting with # or % would spell the other operator (`${V##}`: longest match of
# nothing), as in BuildKit's lexer and the shell.
@given(
    PLAIN.filter(lambda s: not ({"}", "*", "?"} & set(s)) and s[:1] not in ("#", "%")),
    PLAIN,
)
def test_removing_a_literal_prefix_or_suffix(part: str, rest: str) -> None:
    values = {"V": part + rest + part}
    assert lex("${V#" + part + "}", values)[0] == rest + part
    assert lex("${V%" + part + "}", values)[0] == part + rest


def test_a_doubled_operator_with_nothing_after_it_removes_nothing() -> None:
    assert lex("${V##}", {"V": "##"})[0] == "##"
    assert lex("${V%%}", {"V": "%%"})[0] == "%%"


# --- symlinks, followed inside the context ----------------------------------------------------


def tree(tmp_path: Path, links: dict[str, str], files: tuple[str, ...] = ()) -> LocalTree:
    root = tmp_path / "ctx"
    root.mkdir()
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name)
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)
    return LocalTree(root)


async def test_an_absolute_or_escaping_target_lands_inside_the_context(tmp_path: Path) -> None:
    ctx = tree(
        tmp_path,
        {"abs": "/etc/hostname", "up": "../../x.txt", "d": "/sub", "rel": "d/../x.txt"},
        ("etc/hostname", "x.txt", "sub/y.txt"),
    )
    for link, path in [("abs", "etc/hostname"), ("up", "x.txt"), ("d/y.txt", "sub/y.txt")]:
        found = await resolve(ctx, link)
        assert (found.path, found.kind) == (path, "file")
    assert (await resolve(ctx, "rel")).links == ("rel",)
    assert (await resolve(ctx, "rel")).path == "x.txt"


async def test_a_loop_or_a_dangling_link_leads_nowhere(tmp_path: Path) -> None:
    ctx = tree(tmp_path, {"a": "b", "b": "a", "dangling": "gone/x"})
    assert (await resolve(ctx, "a")).kind is None
    assert (await resolve(ctx, "dangling")).path == "gone/x"


async def test_a_symlink_the_tree_cannot_read_is_noted_not_failed(tmp_path: Path) -> None:
    """The engine's directory API gives no link target: a path through one is not checked."""

    class NoLinks(LocalTree):
        async def readlink(self, path: str) -> str | None:
            return None

    ctx = tree(tmp_path, {"link": "/nowhere"})
    (ctx.root / "Dockerfile").write_text("FROM scratch AS t\nCOPY link /\n")
    report = await check(NoLinks(ctx.root), "Dockerfile", ["t"], {})
    assert report.problems == []
    assert report.notes == [
        "Dockerfile:2: COPY source 'link' not checked: symlink 'link' cannot be read here"
    ]
    assert (await check(ctx, "Dockerfile", ["t"], {})).problems[0].paths == ("link", "nowhere")
