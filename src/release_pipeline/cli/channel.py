"""`release-pipeline channel`: its flags, and the request they make, checked before any
network request (the spec, the checkout's history, the source URL)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from release_pipeline.cli.ancestry import GitAncestry
from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import DEFAULT_PLATFORMS, parse_source_url
from release_pipeline.rules.specs import (
    ChannelPromoteSpec,
    ChannelSpec,
    ChannelStatusSpec,
    channel_promote_spec,
    channel_spec,
    channel_status_spec,
)


def add_channel_choice(verb: argparse.ArgumentParser, *, required: bool = False) -> None:
    """`--channel` and the checkout that decides its history (`channel`, `promote`)."""
    verb.add_argument(
        "--channel",
        required=required,
        help="a branch channel word (docs, edge, nightly): its tag is CHANNEL-FLAVOR, or "
        "CHANNEL alone when the flavor is empty or the same word",
    )
    verb.add_argument(
        "--git-dir",
        default=".",
        help="with --channel: the checkout whose history decides ancestry, cloned in full "
        "(default .)",
    )


def add_commit_flags(verb: argparse.ArgumentParser) -> None:
    """What every release names: the commit, and the platforms its images are for."""
    verb.add_argument("--sha", required=True, help="full 40-hex git commit SHA")
    verb.add_argument(
        "--platform",
        action="append",
        dest="platforms",
        help=f"os/arch[/variant], repeatable (default {' '.join(DEFAULT_PLATFORMS)})",
    )


def add_channel_flags(verb: argparse.ArgumentParser) -> None:
    add_channel_choice(verb, required=True)
    add_commit_flags(verb)
    verb.add_argument(
        "--force",
        action="store_true",
        help="move the channel even to a commit that does not descend from the one it holds, "
        "and overwrite SHA tags that hold other digests",
    )
    verb.add_argument(
        "--dry-run", action="store_true", help="show what would move, writing nothing"
    )
    verb.add_argument(
        "--source-url", help="repository URL for the index's source annotation (as merge)"
    )


def channel_request(args: argparse.Namespace) -> tuple[ChannelSpec, GitAncestry, str | None]:
    """Every input of a channel release, validated: `InvalidInput` names the first bad one."""
    spec = channel_spec(
        args.image, args.channel, args.sha, args.flavor, args.platforms or DEFAULT_PLATFORMS
    )
    source_url = None if args.source_url is None else parse_source_url(args.source_url)
    ancestry = GitAncestry(Path(args.git_dir))
    ancestry.commit(spec.sha, "sha")
    return spec, ancestry, source_url


def channel_promote_request(args: argparse.Namespace) -> tuple[ChannelPromoteSpec, GitAncestry]:
    """A channel rollback's inputs, validated; `--from` resolved to a full SHA by git."""
    if args.target is not None:
        raise InvalidInput("to", "a channel moves its own tag: drop --to with --channel")
    spec = channel_promote_spec(args.image, args.channel, args.source, args.flavor)
    ancestry = GitAncestry(Path(args.git_dir))
    return replace(spec, source=ancestry.commit(spec.source, "from")), ancestry


def channel_status_request(args: argparse.Namespace) -> tuple[ChannelStatusSpec, GitAncestry]:
    spec = channel_status_spec(args.image, args.channel, args.flavor, args.limit)
    return spec, GitAncestry(Path(args.git_dir))
