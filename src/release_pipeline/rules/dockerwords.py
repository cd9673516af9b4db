"""One Dockerfile word as BuildKit's shell lexer reads it (frontend/dockerfile/shell/lex.go).

A COPY source is split on whitespace first and only then lexed, so quotes cannot join two
words (`"a b.txt"` is an unterminated quote, which BuildKit refuses). Within a word:
- `'...'` is literal; `"..."` expands variables, and there the escape character escapes only
  `"`, `$` and itself; elsewhere the escape character (`\\`, or the `escape` directive's)
  makes the next character literal;
- `$V`, `${V}`, `${V:-w}`, `${V:+w}`, `${V:?w}` and their colon-less twins (unset, not empty,
  is what those test), `${V#p}`, `${V##p}`, `${V%p}`, `${V%%p}` (a shell pattern removed from
  the front or the back, shortest or longest match).
Values are looked up in a mapping: a name absent is unset, a name mapped to None has a value
only the builder knows, and a word using one cannot be decided here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class WordError(ValueError):
    """BuildKit refuses the word; the message says why, as BuildKit would."""


class UnsupportedForm(ValueError):
    """A substitution this reader does not expand (e.g. `${V/a/b}`): the word is not checked."""


@dataclass
class _Lexer:
    text: str
    values: Mapping[str, str | None]
    escape: str
    pos: int = 0
    unknown: set[str] = field(default_factory=set)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def word(self, stop: str = "") -> str:
        """Characters up to `stop` (not consumed) or the end, lexed."""
        out: list[str] = []
        while (ch := self.peek()) and ch != stop:
            self.pos += 1
            if ch == "'":
                out.append(self.single_quoted())
            elif ch == '"':
                out.append(self.double_quoted())
            elif ch == "$":
                out.append(self.dollar())
            elif ch == self.escape:
                out.append(self.take())
            else:
                out.append(ch)
        return "".join(out)

    def single_quoted(self) -> str:
        end = self.text.find("'", self.pos)
        if end < 0:
            raise WordError("unexpected end of statement while looking for matching single-quote")
        quoted, self.pos = self.text[self.pos : end], end + 1
        return quoted

    def double_quoted(self) -> str:
        out: list[str] = []
        while True:
            ch = self.take()
            if not ch:
                raise WordError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.take())
            else:
                out.append(ch)

    def dollar(self) -> str:
        if self.peek() != "{":
            name = _NAME.match(self.text, self.pos)
            if name is None:
                return "$"
            self.pos = name.end()
            return self.value(name.group()) or ""
        self.pos += 1
        name = _NAME.match(self.text, self.pos)
        if name is None:
            raise WordError("bad substitution")
        self.pos = name.end()
        value = self.value(name.group())
        op = self.take()
        if op == "}":
            return value or ""
        if not op:
            raise WordError("syntax error: missing '}'")
        second = self.peek()
        if (op == ":" and second and second in "-+?") or (op in ("#", "%") and second == op):
            op += self.take()
        elif op not in ("-", "+", "?", "#", "%"):
            raise UnsupportedForm(f"${{{name.group()}{op}...}}")
        word = self.word(stop="}")
        if self.take() != "}":
            raise WordError("syntax error: missing '}'")
        return self.apply(name.group(), value, op, word)

    def value(self, name: str) -> str | None:
        if name in self.values and self.values[name] is None:
            self.unknown.add(name)
        return self.values.get(name)

    def apply(self, name: str, value: str | None, op: str, word: str) -> str:
        # With a colon an empty value counts as unset.
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return word if unset else value or ""
        if op.endswith("+"):
            return "" if unset else word
        if op.endswith("?"):
            if unset and name not in self.unknown:
                raise WordError(f"{name}: {word or 'is not allowed to be unset'}")
            return value or ""
        return _remove(value or "", op, word)


def _remove(value: str, op: str, pattern: str) -> str:
    """`${V#p}` and kin: the shortest (`#`, `%`) or longest (`##`, `%%`) match of the shell
    pattern `p` removed from the front (`#`) or the back (`%`)."""
    regex = re.compile(_pattern_regex(pattern))
    cuts = range(len(value) + 1)
    if op.startswith("#"):
        ends = [i for i in cuts if regex.fullmatch(value[:i])]
        if not ends:
            return value
        return value[(max(ends) if op == "##" else min(ends)) :]
    starts = [i for i in cuts if regex.fullmatch(value[i:])]
    if not starts:
        return value
    return value[: (min(starts) if op == "%%" else max(starts))]


def _pattern_regex(pattern: str) -> str:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return "".join(out)


def lex(word: str, values: Mapping[str, str | None], escape: str = "\\") -> tuple[str, set[str]]:
    """`word` as BuildKit reads it, and the names in it only the builder knows. WordError
    when BuildKit refuses it, UnsupportedForm when this reader cannot expand it."""
    lexer = _Lexer(word, values, escape)
    return lexer.word(), lexer.unknown
