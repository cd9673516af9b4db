"""`release-pipeline merge | plan | promote | status`: the registry phase from a shell.

Written for a person under pressure: no flag is reachable by a prefix (`--fo` is not
`--force`), a misspelled flag is named first with the closest real one, a dry run says it
wrote nothing, and a registry being retried shows each retry on stderr instead of silence.
The password comes only from the REGISTRY_PASSWORD environment variable, never argv,
where other users of the machine (and CI logs) could read it.

Each verb is two small functions: `add_VERB` here (its flags, help and example) and `run_VERB`
in `runners` (what it does); `VERBS` lists the first, which register the second.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from typing import Any, TypeAlias

import anyio

from release_pipeline.cli.channel import (
    add_channel_choice,
    add_channel_flags,
    add_commit_flags,
)
from release_pipeline.cli.flags import PROG, check_flags
from release_pipeline.cli.helptext import HelpFormatter
from release_pipeline.cli.preflight import add_preflight_parser, preflight_main
from release_pipeline.cli.render import WIDTH, Style, render
from release_pipeline.cli.runners import (
    Report,
    Runner,
    run_channel,
    run_merge,
    run_pin,
    run_plan,
    run_promote,
    run_status,
)
from release_pipeline.errors import InvalidInput, ReleaseError
from release_pipeline.registry.auth import Credentials
from release_pipeline.rules.inputs import (
    DEFAULT_FLAVOR,
)
from release_pipeline.rules.tags import TagScheme
from release_pipeline.rules.versions import Version
from release_pipeline.verbs.report import (
    PinReport,
    StatusReport,
)

PASSWORD_ENV = "REGISTRY_PASSWORD"  # noqa: S105 - the variable name, not a password
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_CODES = """\
exit codes:
  0  done
  1  failed: the registry refused or could not be reached, a tag would be overwritten
     without --force, an image is not what its tag claims; status: found no version
     and no floating tag of the flavor (a misspelled --image or --flavor); pin: a
     manifest it cannot edit (nothing written); pin --check: a reference not pinned
  2  invalid input or an unknown flag: nothing was sent to the registry"""

# Verbs register on this; typed for plain ArgumentParsers, so a module adding its own verb
# (`add_X_parser(verbs)`) needs nothing from here. Each verb is a `Parser` all the same:
# add_subparsers makes its parsers of the top parser's class.
Verbs: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class Parser(argparse.ArgumentParser):
    """No prefix matching (a destructive flag must never be reached by a prefix), examples
    kept as written, the exit codes under every --help, and 100 columns (`helptext`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def program_version() -> str:
    """The installed package's version (pyproject.toml's); a source tree run through
    PYTHONPATH without installing has none."""
    try:
        return installed_version(PROG)
    except PackageNotFoundError:
        return "(not installed: run from a source tree)"


def parser() -> argparse.ArgumentParser:
    top: argparse.ArgumentParser = Parser(
        prog=PROG,
        description="Release multi-arch container images: the registry phase from a shell.",
        epilog=f"Run '{PROG} VERB --help' for a verb's flags and an example.\n\n{EXIT_CODES}",
    )
    top.add_argument(
        "--version",
        action="version",
        version=f"{PROG} {program_version()}",
        help="print the program's version (before any verb: 'merge --version' is the release's)",
    )
    verbs = top.add_subparsers(dest="command", required=True, metavar="VERB")
    common: argparse.ArgumentParser = Parser(add_help=False)
    common.add_argument("--image", required=True, help="HOST[:PORT]/REPO, no tag")
    common.add_argument(
        "--flavor",
        default=DEFAULT_FLAVOR,
        help="image flavor (default %(default)s; '' for production)",
    )
    common.add_argument("--username", help=f"registry user; the password is ${PASSWORD_ENV}")
    common.add_argument("--json", action="store_true", help="print the report as JSON")
    common.add_argument(
        "--wide", action="store_true", help="full digests and no wrapping (default: 100 columns)"
    )
    add_scheme_flag(common)
    for add in VERBS:
        add(verbs, common)
    return top


def add_verb(
    verbs: Verbs,
    common: argparse.ArgumentParser,
    name: str,
    summary: str,
    example: str,
    runner: Runner,
) -> argparse.ArgumentParser:
    """One verb: its one-line summary (also its description), an example, the exit codes."""
    verb = verbs.add_parser(
        name,
        parents=[common],
        help=summary,
        # The formatter keeps descriptions as written (the epilogs are laid out by hand), so
        # the summary is wrapped here: every --help fits 100 columns.
        description=textwrap.fill(summary, WIDTH),
        epilog=f"example:\n  {example}\n\n{EXIT_CODES}",
        allow_abbrev=False,
    )
    verb.set_defaults(runner=runner)
    return verb


def add_release_flags(verb: argparse.ArgumentParser) -> None:
    """The flags `merge` and `plan` share: what to release and whether to overwrite."""
    verb.add_argument("--version", required=True, help="SemVer, with or without v")
    add_commit_flags(verb)
    verb.add_argument(
        "--force",
        action="store_true",
        help="overwrite version/SHA tags that hold other digests (the report shows old -> new)",
    )
    verb.add_argument(
        "--source-url",
        help="repository URL for the index's org.opencontainers.image.source annotation "
        "(default: the images' common source label)",
    )


def add_merge(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    add_release_flags(
        add_verb(
            verbs,
            common,
            "merge",
            "tag per-arch images and publish the multi-arch release",
            f'{PROG} merge --image ghcr.io/org/app --version 0.22.8 --sha "$(git rev-parse HEAD)"',
            run_merge,
        )
    )


def add_plan(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    add_release_flags(
        add_verb(
            verbs,
            common,
            "plan",
            "show what merge would write, writing nothing",
            f'{PROG} plan --image ghcr.io/org/app --version 0.22.8 --sha "$(git rev-parse HEAD)"',
            run_plan,
        )
    )


def add_channel(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    verb = add_verb(
        verbs,
        common,
        "channel",
        "release a commit to a branch channel (docs, edge-FLAVOR): the SHA tags, then the "
        "channel tag, moved only to a descendant of the commit it holds",
        f"{PROG} channel --image ghcr.io/org/app --flavor docs --channel docs \\\n"
        '      --sha "$(git rev-parse HEAD)"',
        run_channel,
    )
    add_channel_flags(verb)


def add_promote(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    verb = add_verb(
        verbs,
        common,
        "promote",
        "move a floating tag to an existing release (a rollback), yanking the newer "
        "versions it passes over",
        f"{PROG} promote --image ghcr.io/org/app --from 0.22.7-workers --dry-run",
        run_promote,
    )
    verb.add_argument("--from", dest="source", required=True, help="TAG or sha256:DIGEST")
    verb.add_argument("--to", dest="target", help="floating tag (default latest-FLAVOR)")
    verb.add_argument(
        "--dry-run",
        action="store_true",
        help="show what promote would write and yank, writing nothing",
    )
    verb.add_argument(
        "--pin",
        metavar="DIR",
        help="then pin the promoted release in these deployment manifests (see pin)",
    )
    verb.add_argument("--helm-keys", help="with --pin: Helm values keys, as pin takes them")
    verb.add_argument("--kustomization", help="with --pin: as pin takes it")
    verb.add_argument(
        "--allow-unread-bases", action="store_true", help="with --pin: as pin takes it"
    )
    add_channel_choice(verb)


def add_status(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    verb = add_verb(
        verbs,
        common,
        "status",
        "show where latest-FLAVOR points, the versions and the rollback candidates",
        f"{PROG} status --image ghcr.io/org/app --flavor workers",
        run_status,
    )
    verb.add_argument("--limit", default="20", help="versions shown, newest first (default 20)")
    verb.add_argument(
        "--manifests", help="deployment manifests: mark the version they pin as deployed"
    )
    verb.add_argument("--helm-keys", help="with --manifests: Helm values keys, as pin takes them")
    verb.add_argument(
        "--kustomization",
        metavar="PATH",
        help="with --manifests: what this kustomization deploys (its images: entry, else the "
        "containers it builds)",
    )

    add_channel_choice(verb)


def add_pin(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    verb = add_verb(
        verbs,
        common,
        "pin",
        "rewrite every reference to the flavor's image in deployment manifests to "
        "IMAGE@sha256:DIGEST of a release",
        f"{PROG} pin --image ghcr.io/org/app --version 0.22.7 --manifests k8s/",
        run_pin,
    )
    verb.add_argument("--manifests", required=True, help="directory of manifests to edit")
    verb.add_argument("--version", help="the release to pin (this flavor's)")
    verb.add_argument("--digest", help="sha256:DIGEST of a live release of this flavor")
    verb.add_argument(
        "--helm-keys",
        help="values keys naming the image: KEY (the whole reference) or "
        "REPOSITORY,TAG,DIGEST (e.g. image.repository,image.tag,image.digest)",
    )
    verb.add_argument(
        "--kustomization",
        metavar="PATH",
        help="edit only this kustomization's images: entry (added when missing), e.g. "
        "overlays/prod: for an overlay whose base is shared or remote",
    )
    verb.add_argument(
        "--allow-unread-bases",
        action="store_true",
        help="with --kustomization: pin even when it builds bases pin cannot read (remote, "
        "or outside --manifests); the entry sets every container of the image there",
    )
    verb.add_argument(
        "--force", action="store_true", help="pin a yanked, prerelease or unreleased digest"
    )
    mode = verb.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="print the diff, write nothing")
    mode.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each reference not pinned to the release "
        "(no --version/--digest: the one latest-FLAVOR holds)",
    )


def add_preflight(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    """`preflight` reads a local checkout, no registry: it takes none of the common flags."""
    add_preflight_parser(verbs)


VERBS = (add_merge, add_plan, add_channel, add_promote, add_status, add_pin, add_preflight)


def add_scheme_flag(parser: argparse.ArgumentParser) -> None:
    """`--plain-http` / `--no-plain-http` (oras' and regctl's spelling); unset: auto."""
    parser.add_argument(
        "--plain-http",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="speak plain HTTP to the registry; --no-plain-http: HTTPS even on loopback "
        "(default: plain HTTP for localhost, 127.0.0.0/8 and [::1] only)",
    )


async def execute(args: argparse.Namespace, password: str | None) -> Report:
    """Validate everything, then run one verb. Raises InvalidInput before any request."""
    if password and not args.username:
        raise InvalidInput("username", f"is required when ${PASSWORD_ENV} is set")
    if args.username and not password:
        raise InvalidInput(PASSWORD_ENV, "must be set when --username is given")
    if args.username and (":" in args.username or not args.username.isprintable()):
        # Basic auth joins user:password, so a ':' would move part of the name into the password.
        raise InvalidInput("username", "must be printable, with no ':' (Basic auth splits on it)")
    credentials = Credentials(args.username, password) if args.username and password else None
    runner: Runner = args.runner
    return await runner(args, credentials)


def found_nothing(report: StatusReport) -> str | None:
    """What `status` looked for, when it found none of it: a misspelled repository or
    flavor reads as an empty history otherwise."""
    if report.versions or report.latest.digest is not None:
        return None
    scheme = TagScheme(report.flavor)
    flavor = report.flavor or "'' (production)"
    if report.latest.tag != scheme.latest:  # status --channel
        return (
            f"status found nothing in {report.image} for channel {report.latest.tag}: no "
            f"release tag ({report.latest.tag}_SHA) and no {report.latest.tag} tag. Check the "
            "spelling of --image, --flavor and --channel."
        )
    example = " or ".join(scheme.version_tags(Version.parse("1.0.0")))
    return (
        f"status found nothing in {report.image} for flavor "
        f"{flavor}: no version tag (such as {example}) and no "
        f"{scheme.latest} tag. Check the spelling of --image and --flavor."
    )


def use_color(args: argparse.Namespace) -> bool:
    """Color on a terminal only: never in JSON, a pipe or a file, nor with NO_COLOR set."""
    return (
        not args.json
        and sys.stdout.isatty()
        and not os.environ.get("NO_COLOR")
        and os.environ.get("TERM") != "dumb"
    )


def run(argv: Sequence[str] | None = None) -> int:
    """The CLI; returns the exit code (--help and --version included)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = parser()
    try:
        check_flags(top, argv)
        args = top.parse_args(argv)
    except SystemExit as exc:  # argparse: --help, --version (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_INVALID
    if args.command == "preflight":  # reads a local checkout, no registry
        return preflight_main(args)
    try:
        report = anyio.run(execute, args, os.environ.get(PASSWORD_ENV))
    except InvalidInput as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ReleaseError as exc:
        print(f"{PROG}: {args.command} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    nothing = found_nothing(report) if isinstance(report, StatusReport) else None
    if args.json:  # the report even when it is empty: a script reads the same shape
        print(report.model_dump_json(indent=2))
    elif nothing is None:  # an empty table would read as an empty history
        print(render(report, Style(wide=args.wide, color=use_color(args))))
    if nothing is not None:
        print(f"{PROG}: {nothing}", file=sys.stderr)
        return EXIT_FAILED
    if isinstance(report, PinReport) and report.check and report.changes:
        return EXIT_FAILED  # drift: the table names every reference not pinned
    return EXIT_OK


def main() -> None:
    sys.exit(run())
