"""`release-pipeline channel`: its flags, and the request they make, checked before any
network request (the spec, the checkout's history, the source URL)."""

from __future__ import annotations

import argparse
from pathlib import Path

from release_pipeline.cli.ancestry import GitAncestry
from release_pipeline.rules.inputs import DEFAULT_PLATFORMS, parse_source_url
from release_pipeline.rules.specs import ChannelSpec, channel_spec


def add_channel_flags(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--channel", required=True, help="the channel word: docs, edge, nightly")
    verb.add_argument("--sha", required=True, help="full 40-hex git commit SHA")
    verb.add_argument(
        "--platform",
        action="append",
        dest="platforms",
        help=f"os/arch[/variant], repeatable (default {' '.join(DEFAULT_PLATFORMS)})",
    )
    verb.add_argument(
        "--git-dir",
        default=".",
        help="the checkout whose history decides ancestry, cloned in full (default .)",
    )
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
    return spec, GitAncestry(Path(args.git_dir), spec.sha), source_url
