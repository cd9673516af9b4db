"""The `${{ }}` expressions the reusable workflows and their callers use, evaluated the way GitHub
would for those forms only: context paths, string and number literals, `||`, `&&`, `==`, `!=`, and
`fromJSON(...)[...]`. Enough for tests/support/actions_runner.py; anything else fails loudly.
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(
    r"\s*(\|\||&&|==|!=|\(|\)|\[|\]|'(?:[^']|'')*'|[A-Za-z_][A-Za-z0-9_.-]*|[0-9]+)"
)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m, f"cannot read expression {text!r} at {pos}"
        out.append(m.group(1))
        pos = m.end()
    return out


def _lookup(ctx: dict[str, Any], path: str) -> Any:
    node: Any = ctx
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def evaluate(expression: str, ctx: dict[str, Any]) -> Any:
    """One `${{ }}` body."""
    tokens = _tokens(expression)

    def atom() -> Any:
        tok = tokens.pop(0)
        if tok == "(":
            value = disjunction()
            assert tokens.pop(0) == ")"
        elif tok.startswith("'"):
            value = tok[1:-1].replace("''", "'")
        elif tok.isdigit():
            value = int(tok)
        elif tok in ("true", "false"):
            value = tok == "true"
        elif tok == "fromJSON":
            assert tokens.pop(0) == "("
            value = json.loads(str(disjunction()))
            assert tokens.pop(0) == ")"
        else:
            value = _lookup(ctx, tok)
        while tokens and tokens[0] == "[":
            tokens.pop(0)
            key = disjunction()
            assert tokens.pop(0) == "]"
            value = value.get(key) if isinstance(value, dict) else None
        return value

    def comparison() -> Any:
        left = atom()
        if tokens and tokens[0] in ("==", "!="):
            op = tokens.pop(0)
            right = atom()
            equal = as_env(left) == as_env(right)
            return equal if op == "==" else not equal
        return left

    def conjunction() -> Any:
        value = comparison()
        while tokens and tokens[0] == "&&":
            tokens.pop(0)
            other = comparison()
            value = other if truthy(value) else value
        return value

    def disjunction() -> Any:
        value = conjunction()
        while tokens and tokens[0] == "||":
            tokens.pop(0)
            other = conjunction()
            value = value if truthy(value) else other
        return value

    result = disjunction()
    assert not tokens, f"unread {tokens} in {expression!r}"
    return result


def truthy(value: Any) -> bool:
    """GitHub's falsy values: false, 0, '' and null."""
    return value not in ("", None, False, 0)


def substitute(value: Any, ctx: dict[str, Any]) -> Any:
    """A YAML value with `${{ }}` in it: typed if it is one expression, else text."""
    if not isinstance(value, str) or "${{" not in value:
        return value
    whole = re.fullmatch(r"\$\{\{((?:(?!\}\}).)*)\}\}", value.strip(), flags=re.DOTALL)
    if whole:
        return evaluate(whole.group(1), ctx)
    return re.sub(
        r"\$\{\{(.*?)\}\}", lambda m: as_env(evaluate(m.group(1), ctx)), value, flags=re.DOTALL
    )


def as_env(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
