"""`release-pipeline preflight`: its flags and exit codes (the check is `verbs.preflight`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

from release_pipeline.errors import InvalidInput, shown
from release_pipeline.rules.inputs import parse_build_args
from release_pipeline.verbs.context import LocalTree
from release_pipeline.verbs.preflight import check


def add_preflight_parser(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`release-pipeline preflight`, registered on the CLI's verbs."""
    text = "check, without building, that every path the targets copy is in the build context"
    verb = verbs.add_parser(
        "preflight",
        help=text,
        description=text,
        epilog="example:\n"
        "  release-pipeline preflight --context . --dockerfile testplanit/Dockerfile \\\n"
        "      --target production --target workers\n\n"
        "exit codes:\n  0  every path is there\n  1  problems, each named with its line\n"
        "  2  invalid arguments",
        allow_abbrev=False,
    )
    verb.add_argument("--context", required=True, help="the build context directory")
    verb.add_argument(
        "--dockerfile",
        default="Dockerfile",
        help="the Dockerfile's path inside the context (default %(default)s)",
    )
    verb.add_argument(
        "--target", action="append", dest="targets", required=True, help="stage, repeatable"
    )
    verb.add_argument(
        "--build-arg",
        action="append",
        dest="build_args",
        default=[],
        help="KEY=VALUE used where paths name an ARG, repeatable",
    )


def preflight_main(args: argparse.Namespace) -> int:
    """The verb: exit 0 when the build would find every file, 1 naming every problem, 2 for
    bad arguments. A local context is small work: its reads block, as a CLI may."""
    try:
        root = Path(args.context)
        if not root.is_dir():
            raise InvalidInput("context", f"{shown(args.context)!r} is not a directory")
        build_args = dict(parse_build_args(args.build_args))
        report = anyio.run(check, LocalTree(root), args.dockerfile, args.targets, build_args)
    except InvalidInput as exc:
        print(f"release-pipeline: {exc}", file=sys.stderr)
        return 2
    print(report.text(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
