"""The constructor's arguments, read as each function needs them: validation first, then the
engine.

A module of its own so main.py holds the functions and their documented arguments only: the
release spec a function's arguments make, the image every registry function but `release`
requires, the registry those arguments reach, `merge` and `plan` through one path, and every
check before a build, cheapest first.
"""

from __future__ import annotations

from typing import Literal, Protocol

import dagger

from release_pipeline.dagger.builds import ContextArgs, Prepared, checked, prepare
from release_pipeline.dagger.engine import THROWAWAY_IMAGE, Destination, destination, route_for
from release_pipeline.dagger.release_types import Report, report_object
from release_pipeline.errors import InvalidInput
from release_pipeline.rules.flavors import FlavorBuild
from release_pipeline.rules.inputs import DEFAULT_PLATFORMS, parse_source_url
from release_pipeline.rules.specs import ReleaseSpec, release_spec
from release_pipeline.verbs import release


class Settings(Protocol):
    """The constructor's arguments (`ReleasePipeline`'s fields, documented there)."""

    image: str
    flavor: str
    platforms: list[str] | None
    username: str
    password: dagger.Secret | None
    registry_service: dagger.Service | None
    plain_http: bool | None


def spec_for(
    settings: Settings,
    version: str,
    sha: str,
    platforms: list[str] | None = None,
    flavor: str | None = None,
) -> ReleaseSpec:
    image = settings.image or THROWAWAY_IMAGE
    return release_spec(
        image,
        version,
        sha,
        settings.flavor if flavor is None else flavor,
        platforms or settings.platforms or list(DEFAULT_PLATFORMS),
    )


def named_image(settings: Settings, verb: str) -> str:
    """The constructor's image, which every registry function but `release` needs: the
    throwaway registry holds only what this engine session pushed to it and stops when
    the session (the whole `dagger call`, or the caller's pipeline) ends, so there would
    be nothing released to read or move, and nothing pushed would be kept."""
    if not settings.image:
        raise InvalidInput(
            "image",
            f"is required by {verb}: pass --image=HOST/REPO (only release can use the "
            "throwaway registry)",
        )
    return settings.image


async def merge_or_plan(
    settings: Settings,
    verb: Literal["merge", "plan"],
    version: str,
    sha: str,
    force: bool,
    source_url: str,
) -> Report:
    """merge, or its read-only twin plan (a client that cannot push)."""
    named_image(settings, verb)
    spec = spec_for(settings, version, sha)
    url = parse_source_url(source_url) if source_url else None
    write = verb == "merge"
    dest = await destination_for(settings)
    async with dest.client(push=write) as client:
        run = release.merge if write else release.plan
        return report_object(await run(spec, client, force=force, source_url=url), [])


async def destination_for(settings: Settings) -> Destination:
    return await destination(
        settings.image,
        settings.username,
        settings.password,
        settings.registry_service,
        settings.plain_http,
    )


async def prepare_release(
    settings: Settings,
    builds: list[FlavorBuild],
    specs: list[ReleaseSpec],
    args: ContextArgs,
    require_native: bool,
    *,
    merge: bool = True,
    force: bool = False,
) -> Prepared:
    """Every check in order, cheapest first, so nothing is read from the source or built
    for a release that must fail: the arguments and the route (no engine), then the
    engine's platform (`--require-native`), the source's preflight for every target, and
    the registry."""
    context = checked(args, specs[0])
    route_for(
        settings.image,
        settings.registry_service is not None,
        settings.plain_http,
        settings.username,
        settings.password is not None,
    )
    return await prepare(
        context,
        builds,
        specs,
        lambda: destination_for(settings),
        require_native,
        merge=merge,
        force=force,
    )
