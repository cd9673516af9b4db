"""Unknown flags and verbs, named before argparse's own checks (split from `app`).

A person typing under pressure gets the typo named with the closest real flag, never
"--version is required" for `--verison`; every refusal exits 2 through `Parser.error`.
"""

from __future__ import annotations

import argparse
import difflib
from collections.abc import Sequence
from typing import NoReturn

PROG = "release-pipeline"  # the program name every message and usage line uses


def check_flags(top: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Refuse the first unknown flag, naming the closest real one, before argparse's own
    checks: those would first complain that a required flag is missing (`--verison` ->
    "--version is required") and never name the typo. Exits 2 through `Parser.error`."""
    verbs = verb_parsers(top)
    current = top
    for arg in argv:
        if arg == "--":
            return
        if current is top and not arg.startswith("-"):
            if arg not in verbs:
                close = difflib.get_close_matches(arg, list(verbs), n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                _fail(top, f"unknown verb {arg!r}{hint} (verbs: {', '.join(verbs)})")
            current = verbs[arg]
            continue
        if not arg.startswith("-") or arg == "-" or arg[1:2].isdigit():
            continue  # a flag's value
        flag = arg.split("=", 1)[0]
        known = flag_names(current)
        if flag in known:
            continue
        if flag == "--version" and current is not top:
            _fail(
                current,
                f"unknown flag --version for {current.prog.split()[-1]}; the "
                f"program's version is '{PROG} --version', before the verb",
            )
        same_kind = [f for f in known if f.startswith("--") == flag.startswith("--")]
        close = difflib.get_close_matches(flag, same_kind, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        _fail(current, f"unknown flag {flag}{hint}")


def verb_parsers(top: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in top._actions:  # argparse lists subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def flag_names(parser: argparse.ArgumentParser) -> list[str]:
    return [flag for action in parser._actions for flag in action.option_strings]


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    parser.error(message)
