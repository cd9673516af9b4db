"""`release-pipeline merge | plan | promote | status`: the registry phase from a shell.

The password comes only from the REGISTRY_PASSWORD environment variable, never argv,
where other users of the machine (and CI logs) could read it.
Exit codes: 0 done, 2 invalid input (no request sent), 1 any other failure.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import anyio

from .auth import Credentials
from .errors import InvalidInput, ReleaseError
from .inputs import DEFAULT_FLAVOR, DEFAULT_PLATFORMS, ImageRef, parse_source_url
from .preflight import add_preflight_parser, preflight_main
from .promote import promote
from .registry import RegistryClient
from .release import merge, plan
from .report import PromoteReport, ReleaseReport, StatusReport
from .specs import promote_spec, release_spec, status_spec
from .status import status

PASSWORD_ENV = "REGISTRY_PASSWORD"  # noqa: S105 - the variable name, not a password


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="release-pipeline", description=__doc__.split("\n")[0])
    verbs = top.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--image", required=True, help="HOST[:PORT]/REPO, no tag")
    common.add_argument(
        "--flavor",
        default=DEFAULT_FLAVOR,
        help="image flavor (default %(default)s; '' for production)",
    )
    common.add_argument("--username", help=f"registry user; the password is ${PASSWORD_ENV}")
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    add_scheme_flag(common)
    for name, text in (
        ("merge", "tag per-arch images and publish the multi-arch release"),
        ("plan", "show what merge would write, writing nothing"),
    ):
        verb = verbs.add_parser(name, parents=[common], help=text, description=text)
        verb.add_argument("--version", required=True, help="SemVer, with or without v")
        verb.add_argument("--sha", required=True, help="full 40-hex git commit SHA")
        verb.add_argument(
            "--platform",
            action="append",
            dest="platforms",
            help=f"os/arch[/variant], repeatable (default {' '.join(DEFAULT_PLATFORMS)})",
        )
        verb.add_argument(
            "--force",
            action="store_true",
            help="overwrite version/SHA tags that hold other digests",
        )
        verb.add_argument(
            "--source-url",
            help="repository URL for the index's org.opencontainers.image.source annotation "
            "(default: the images' common source label)",
        )
    verb = verbs.add_parser("promote", parents=[common], help="move a floating tag (rollback)")
    verb.add_argument("--from", dest="source", required=True, help="TAG or sha256:DIGEST")
    verb.add_argument("--to", dest="target", help="floating tag (default latest-FLAVOR)")
    verb.add_argument(
        "--dry-run",
        action="store_true",
        help="show what promote would write and yank, writing nothing",
    )
    text = "show where latest-FLAVOR points, the versions and the rollback candidates"
    verb = verbs.add_parser("status", parents=[common], help=text, description=text)
    verb.add_argument("--limit", default="20", help="versions shown, newest first (default 20)")
    add_preflight_parser(verbs)
    return top


def add_scheme_flag(parser: argparse.ArgumentParser) -> None:
    """`--plain-http` / `--no-plain-http` (oras' and regctl's spelling); unset: auto."""
    parser.add_argument(
        "--plain-http",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="speak plain HTTP to the registry; --no-plain-http: HTTPS even on loopback "
        "(default: plain HTTP for localhost, 127.0.0.0/8 and [::1] only)",
    )


def client_for(
    args: argparse.Namespace, image: ImageRef, credentials: Credentials | None, *, push: bool
) -> RegistryClient:
    """The registry client every verb uses, honouring the scheme flag."""
    return RegistryClient.for_image(image, credentials, push=push, plain_http=args.plain_http)


async def execute(
    args: argparse.Namespace, password: str | None
) -> ReleaseReport | PromoteReport | StatusReport:
    """Validate everything, then run one verb. Raises InvalidInput before any request."""
    if password and not args.username:
        raise InvalidInput("username", f"is required when ${PASSWORD_ENV} is set")
    if args.username and not password:
        raise InvalidInput(PASSWORD_ENV, "must be set when --username is given")
    if args.username and (":" in args.username or not args.username.isprintable()):
        # Basic auth joins user:password, so a ':' would move part of the name into the password.
        raise InvalidInput("username", "must be printable, with no ':' (Basic auth splits on it)")
    credentials = Credentials(args.username, password) if args.username and password else None
    if args.command == "status":
        sspec = status_spec(args.image, args.flavor, args.limit)
        async with client_for(args, sspec.image, credentials, push=False) as client:
            return await status(sspec, client)
    if args.command == "promote":
        pspec = promote_spec(args.image, args.source, args.target, args.flavor)
        async with client_for(args, pspec.image, credentials, push=not args.dry_run) as client:
            return await promote(pspec, client, dry_run=args.dry_run)
    spec = release_spec(
        args.image, args.version, args.sha, args.flavor, args.platforms or DEFAULT_PLATFORMS
    )
    source_url = None if args.source_url is None else parse_source_url(args.source_url)
    async with client_for(args, spec.image, credentials, push=args.command == "merge") as client:
        if args.command == "plan":
            return await plan(spec, client, force=args.force, source_url=source_url)
        return await merge(spec, client, force=args.force, source_url=source_url)


def run(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "preflight":  # reads a local checkout, no registry
        return preflight_main(args)
    try:
        report = anyio.run(execute, args, os.environ.get(PASSWORD_ENV))
    except InvalidInput as exc:
        print(f"release-pipeline: {exc}", file=sys.stderr)
        return 2
    except ReleaseError as exc:
        print(f"release-pipeline: {args.command} failed: {exc}", file=sys.stderr)
        return 1
    print(report.model_dump_json(indent=2) if args.json else report.table())
    return 0


def main() -> None:
    sys.exit(run())
