"""What each CLI verb does once its flags are parsed: specs from flags, one registry client,
the verb. `app` registers each `run_VERB` with its flags."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable

from release_pipeline.cli.channel import (
    channel_promote_request,
    channel_request,
    channel_status_request,
)
from release_pipeline.cli.flags import PROG
from release_pipeline.errors import InvalidInput
from release_pipeline.registry.auth import Credentials
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryNotice, RetryPolicy
from release_pipeline.rules.inputs import (
    DEFAULT_PLATFORMS,
    ImageRef,
    parse_source_url,
)
from release_pipeline.rules.specs import pin_spec, promote_spec, release_spec, status_spec
from release_pipeline.verbs.channel import release_channel
from release_pipeline.verbs.channel_rollback import promote_channel
from release_pipeline.verbs.channel_status import channel_status
from release_pipeline.verbs.pin import pin
from release_pipeline.verbs.pin_tree import LocalManifests
from release_pipeline.verbs.promote import promote
from release_pipeline.verbs.promote_pin import promote_and_pin
from release_pipeline.verbs.release import merge, plan
from release_pipeline.verbs.report import (
    ChannelReport,
    PinReport,
    PromoteReport,
    ReleaseReport,
    StatusReport,
)
from release_pipeline.verbs.status import status

Report = ReleaseReport | ChannelReport | PromoteReport | StatusReport | PinReport
Runner = Callable[[argparse.Namespace, Credentials | None], Awaitable[Report]]


def client_for(
    args: argparse.Namespace, image: ImageRef, credentials: Credentials | None, *, push: bool
) -> RegistryClient:
    """The registry client every verb uses, honouring the scheme flag; each retry is
    printed on stderr as it happens."""
    retry = RetryPolicy(notify=print_retry)
    return RegistryClient.for_image(
        image, credentials, push=push, retry=retry, plain_http=args.plain_http
    )


def print_retry(notice: RetryNotice) -> None:
    print(f"{PROG}: retrying: {notice}", file=sys.stderr)


async def run_merge(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    return await _release(args, credentials, publish=True)


async def run_plan(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    return await _release(args, credentials, publish=False)


async def _release(
    args: argparse.Namespace, credentials: Credentials | None, *, publish: bool
) -> ReleaseReport:
    spec = release_spec(
        args.image, args.version, args.sha, args.flavor, args.platforms or DEFAULT_PLATFORMS
    )
    source_url = None if args.source_url is None else parse_source_url(args.source_url)
    async with client_for(args, spec.image, credentials, push=publish) as client:
        if publish:
            return await merge(spec, client, force=args.force, source_url=source_url)
        return await plan(spec, client, force=args.force, source_url=source_url)


async def run_channel(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    spec, ancestry, source_url = channel_request(args)  # checked before any request
    async with client_for(args, spec.image, credentials, push=not args.dry_run) as client:
        return await release_channel(
            spec, client, ancestry, force=args.force, dry_run=args.dry_run, source_url=source_url
        )


async def run_promote(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    if args.channel is not None:
        if args.pin or args.helm_keys or args.kustomization or args.allow_unread_bases:
            raise InvalidInput("pin", "pins a version's release, not a channel's: leave out --pin")
        channel, ancestry = channel_promote_request(args)
        async with client_for(args, channel.image, credentials, push=not args.dry_run) as client:
            return await promote_channel(channel, client, ancestry, dry_run=args.dry_run)
    spec = promote_spec(args.image, args.source, args.target, args.flavor)
    for name in ("helm_keys", "kustomization", "allow_unread_bases"):
        if getattr(args, name) and not args.pin:
            raise InvalidInput(name, "is for --pin DIR (the manifests to pin)")
    pinning = pin_spec(
        args.image,
        args.flavor,
        helm_keys=args.helm_keys,
        check=True,
        kustomization=args.kustomization,
        allow_unread_bases=args.allow_unread_bases,
    )
    tree = LocalManifests.at(args.pin) if args.pin else None
    async with client_for(args, spec.image, credentials, push=not args.dry_run) as client:
        if tree is None:
            return await promote(spec, client, dry_run=args.dry_run)
        return await promote_and_pin(
            spec, pinning, client, tree, dry_run=args.dry_run, manifests_path=args.pin
        )


async def run_status(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    if args.channel is not None:
        if args.manifests or args.helm_keys or args.kustomization:
            raise InvalidInput("manifests", "marks a version deployed, not a channel's commit")
        channel, ancestry = channel_status_request(args)
        async with client_for(args, channel.image, credentials, push=False) as client:
            return await channel_status(channel, client, ancestry)
    spec = status_spec(
        args.image,
        args.flavor,
        args.limit,
        args.helm_keys,
        args.kustomization,
        manifests=bool(args.manifests),
    )
    tree = LocalManifests.at(args.manifests) if args.manifests else None
    async with client_for(args, spec.image, credentials, push=False) as client:
        return await status(spec, client, tree)


async def run_pin(args: argparse.Namespace, credentials: Credentials | None) -> Report:
    spec = pin_spec(
        args.image,
        args.flavor,
        args.version,
        args.digest,
        args.helm_keys,
        check=args.check,
        kustomization=args.kustomization,
        allow_unread_bases=args.allow_unread_bases,
    )
    tree = LocalManifests.at(args.manifests)
    async with client_for(args, spec.image, credentials, push=False) as client:
        return await pin(
            spec, client, tree, dry_run=args.dry_run, check=args.check, force=args.force
        )
