"""The Dagger module: `dagger call release` and the functions it is made of.

Each function validates its arguments first (nothing is built or sent on bad input),
then hands the work to `flow` (build/smoke/push order), `release`, `promote` and `status`
(the registry phase).
Functions that read or write a registry are never cached by the engine, nor is `smoke_test`
(a smoke test that passed last week says nothing about today); `build` is, because its
result is a lazy container that is a pure function of its arguments (see docs/dagger.md).
"""

from __future__ import annotations

from typing import Annotated

import dagger
from dagger import Doc, Name

from release_pipeline.dagger.args import (
    BuildArgArg,
    BuildSecretArg,
    BuildSecretIdArg,
    DockerfileArg,
    FlavorsArg,
    ForceArg,
    IndexSourceArg,
    OptionalSmokeArg,
    PlatformArg,
    RequireNativeArg,
    ShaArg,
    SmokeArg,
    SourceDateEpochArg,
    SourceDir,
    SourceIgnoreArg,
    SourceUrlArg,
    TargetArg,
    VersionArg,
    WholeSourceArg,
)
from release_pipeline.dagger.builds import (
    ContextArgs,
    build_options,
    checked,
    checked_target,
    flavor_builds,
    smoke,
)
from release_pipeline.dagger.engine import DirectoryManifests, build_container
from release_pipeline.dagger.engine import smoke_test as run_smoke_test
from release_pipeline.dagger.release_types import (
    PlatformImage,
    Promotion,
    Report,
    platform_image_object,
    promotion_object,
    release_object,
)
from release_pipeline.dagger.settings import (
    destination_for,
    merge_or_plan,
    named_image,
    prepare_release,
    spec_for,
)
from release_pipeline.dagger.status_types import Status, status_object
from release_pipeline.dagger.typed import function, object_type, uncached_function
from release_pipeline.errors import PinDrift, shown
from release_pipeline.rules.inputs import DEFAULT_FLAVOR, parse_platform
from release_pipeline.rules.specs import pin_spec, promote_spec, status_spec
from release_pipeline.verbs import flow
from release_pipeline.verbs.pin import pin as run_pin
from release_pipeline.verbs.promote import promote as run_promote
from release_pipeline.verbs.promote_pin import promote_and_pin
from release_pipeline.verbs.status import status as read_status


@object_type
class ReleasePipeline:
    """Release a multi-arch image: build and smoke-test every platform, publish per-arch images
    under an immutable SHA tag, merge them into one index under the version and SHA tags, and
    move `latest-FLAVOR` only to the newest stable version, never backwards."""

    image: Annotated[
        str,
        Doc(
            "HOST[:PORT]/REPO to publish to (e.g. ghcr.io/org/app); empty: "
            "a throwaway registry inside the engine"
        ),
    ] = ""
    flavor: Annotated[str, Doc("image flavor, a tag suffix (empty: the production image)")] = (
        DEFAULT_FLAVOR
    )
    platforms: Annotated[
        list[str] | None, Doc("platforms to release (default linux/amd64, linux/arm64)")
    ] = None
    username: Annotated[str, Doc("registry user name")] = ""
    password: Annotated[dagger.Secret | None, Doc("registry password or token")] = None
    registry_service: Annotated[
        dagger.Service | None,
        Doc(
            "reach the registry through this service, e.g. tcp://localhost:5000 for one on the "
            "host; plain HTTP unless --plain-http=false"
        ),
    ] = None
    plain_http: Annotated[
        bool | None,
        Doc(
            "speak plain HTTP (true) or HTTPS (false) to the registry in merge, plan, promote, "
            "status and the existing-tag check; unset: plain HTTP for loopback hosts and "
            "--registry-service only. The engine's own pushes follow its config (engine.json "
            "registries)"
        ),
    ] = None

    @function
    async def build(
        self,
        source: SourceDir = None,
        platform: PlatformArg = "linux/amd64",
        version: VersionArg = "0.0.0",
        sha: ShaArg = "0" * 40,
        target: TargetArg = "workers",
        dockerfile: DockerfileArg = "Dockerfile",
        build_arg: BuildArgArg = None,
        source_url: SourceUrlArg = "",
        source_date_epoch: SourceDateEpochArg = None,
        whole_source: WholeSourceArg = None,
        source_ignore: SourceIgnoreArg = None,
        build_secret_id: BuildSecretIdArg = None,
        build_secret: BuildSecretArg = None,
    ) -> dagger.Container:
        """Build the Dockerfile target for one platform, with VERSION/GIT_COMMIT and OCI labels.
        Cached like any pure function: the same arguments give the same lazy container."""
        spec = spec_for(self, version, sha, [platform])
        args = ContextArgs.picked(locals())
        context = checked(args, spec)
        options = await build_options(context, spec, checked_target(target))
        return build_container(options, spec.platforms[0])

    @uncached_function
    async def smoke_test(
        self,
        container: Annotated[dagger.Container, Doc("a built image")],
        command: SmokeArg,
    ) -> str:
        """Run the smoke command in the image, now (never a cached result); a non-zero exit
        or a kill by a signal fails with the exit code and the end of stderr."""
        return await run_smoke_test(
            container, smoke(command), parse_platform(str(await container.platform()))
        )

    @uncached_function
    async def publish_platform(
        self,
        version: VersionArg,
        sha: ShaArg,
        platform: PlatformArg,
        source: SourceDir = None,
        smoke_command: OptionalSmokeArg = None,
        target: TargetArg = "workers",
        dockerfile: DockerfileArg = "Dockerfile",
        build_arg: BuildArgArg = None,
        source_url: SourceUrlArg = "",
        force: ForceArg = False,
        source_date_epoch: SourceDateEpochArg = None,
        whole_source: WholeSourceArg = None,
        source_ignore: SourceIgnoreArg = None,
        flavors: FlavorsArg = "",
        require_native: RequireNativeArg = False,
        build_secret_id: BuildSecretIdArg = None,
        build_secret: BuildSecretArg = None,
    ) -> PlatformImage:
        """Build, smoke-test and push one platform to FLAVOR-sha-SHORT-ARCH (a native CI runner's
        job), for every flavor of --flavors at once. An image already under that tag is reused:
        a re-run resumes, it does not replace."""
        named_image(self, "publish-platform")
        builds = flavor_builds(flavors, self.flavor, target, smoke_command)
        specs = [spec_for(self, version, sha, [platform], b.flavor) for b in builds]
        args = ContextArgs.picked(locals())
        run = await prepare_release(self, builds, specs, args, require_native, merge=False)
        # Every flavor at once: one failing smoke test pushes nothing of any flavor.
        outcomes = await flow.release_flavors(run.jobs, force=force)
        return platform_image_object(outcomes, run.emulated)

    @uncached_function
    async def merge(
        self,
        version: VersionArg,
        sha: ShaArg,
        force: ForceArg = False,
        source_url: IndexSourceArg = "",
    ) -> Report:
        """Tag the per-arch images as this version and publish the multi-arch index."""
        return await merge_or_plan(self, "merge", version, sha, force, source_url)

    @uncached_function
    async def plan(
        self,
        version: VersionArg,
        sha: ShaArg,
        force: ForceArg = False,
        source_url: IndexSourceArg = "",
    ) -> Report:
        """What merge would write and why; writes nothing, fails where merge would."""
        return await merge_or_plan(self, "plan", version, sha, force, source_url)

    @uncached_function
    async def promote(
        self,
        from_: Annotated[str, Name("from"), Doc("TAG or sha256:DIGEST to point at")],
        to: Annotated[str, Doc("floating tag to move (default latest-FLAVOR)")] = "",
        dry_run: Annotated[
            bool,
            Doc("report what promote would write and yank, and fail where it would; write nothing"),
        ] = False,
        pin: Annotated[
            dagger.Directory | None,
            Doc(
                "deployment manifests to pin to the promoted release once the registry side "
                "succeeded; the edited directory is the result's manifests"
            ),
        ] = None,
        helm_keys: Annotated[str, Doc("with pin: Helm values keys, as the pin function")] = "",
        kustomization: Annotated[str, Doc("with pin: as the pin function takes it")] = "",
        allow_unread_bases: Annotated[bool, Doc("with pin: as the pin function takes it")] = False,
    ) -> Promotion:
        """Point a floating tag at an existing release, digest kept: the rollback verb. Moving
        latest back yanks the newer versions it passes over, so re-runs cannot undo it."""
        image = named_image(self, "promote")
        pspec = promote_spec(image, from_, to or None, self.flavor)
        pinning = pin_spec(
            image,
            self.flavor,
            helm_keys=helm_keys,
            check=True,
            kustomization=kustomization,
            allow_unread_bases=allow_unread_bases,
        )
        tree = None if pin is None else DirectoryManifests(pin)
        dest = await destination_for(self)
        async with dest.client(push=not dry_run) as client:
            if tree is None:
                return promotion_object(await run_promote(pspec, client, dry_run=dry_run))
            done = await promote_and_pin(pspec, pinning, client, tree, dry_run=dry_run)
        return promotion_object(done, tree.directory)

    @uncached_function
    async def status(
        self,
        limit: Annotated[int, Doc("versions shown, newest first")] = 20,
        manifests: Annotated[
            dagger.Directory | None,
            Doc("deployment manifests: mark the version they pin as deployed"),
        ] = None,
        helm_keys: Annotated[str, Doc("with manifests: Helm values keys, as pin takes them")] = "",
        kustomization: Annotated[
            str, Doc("with manifests: what this kustomization deploys, as pin reads it")
        ] = "",
    ) -> Status:
        """Where latest-FLAVOR points, the versions newest first (digest, revision, created,
        yanked, live) and the rollback candidates. Reads only."""
        sspec = status_spec(
            named_image(self, "status"),
            self.flavor,
            str(limit),
            helm_keys,
            kustomization,
            manifests=manifests is not None,
        )
        dest = await destination_for(self)
        async with dest.client(push=False) as client:
            tree = None if manifests is None else DirectoryManifests(manifests)
            return status_object(await read_status(sspec, client, tree))

    @uncached_function
    async def pin(
        self,
        manifests: Annotated[
            dagger.Directory, Doc("deployment manifests to edit, e.g. --manifests=./k8s")
        ],
        version: Annotated[str, Doc("the release to pin, this flavor's (e.g. 0.22.7)")] = "",
        digest: Annotated[str, Doc("sha256:DIGEST of a live release of this flavor")] = "",
        helm_keys: Annotated[
            str,
            Doc(
                "Helm values keys naming the image: KEY (the whole reference) or "
                "REPOSITORY,TAG,DIGEST, e.g. image.repository,image.tag,image.digest"
            ),
        ] = "",
        kustomization: Annotated[
            str,
            Doc(
                "edit only this kustomization's images: entry (added when missing), e.g. "
                "overlays/prod: for an overlay whose base is shared or remote"
            ),
        ] = "",
        allow_unread_bases: Annotated[
            bool,
            Doc(
                "with kustomization: pin even when it builds bases pin cannot read (remote, "
                "or outside manifests); the entry sets every container of the image there"
            ),
        ] = False,
        force: Annotated[bool, Doc("pin a yanked, prerelease or unreleased digest")] = False,
        check: Annotated[
            bool,
            Doc(
                "edit nothing; fail naming each reference not pinned to the release "
                "(no version/digest: the one latest-FLAVOR holds)"
            ),
        ] = False,
    ) -> dagger.Directory:
        """Rewrite every reference to this flavor's image (containers, kustomize images:,
        Helm values keys) to IMAGE@sha256:DIGEST of a release; returns the edited directory
        (export it: `pin --manifests=./k8s export --path=./k8s`). Only image fields change."""
        spec = pin_spec(
            named_image(self, "pin"),
            self.flavor,
            version or None,
            digest or None,
            helm_keys,
            check=check,
            kustomization=kustomization,
            allow_unread_bases=allow_unread_bases,
        )
        tree = DirectoryManifests(manifests)
        dest = await destination_for(self)
        async with dest.client(push=False) as client:
            report = await run_pin(spec, client, tree, check=check, force=force)
        if check and report.changes:
            where = ", ".join(f"{shown(s.path, 200)}:{s.line}" for s in report.changes)
            raise PinDrift(f"not pinned to {report.pinned}: {where}")
        return tree.directory

    @uncached_function
    async def release(
        self,
        version: VersionArg,
        sha: ShaArg,
        source: SourceDir = None,
        smoke_command: OptionalSmokeArg = None,
        target: TargetArg = "workers",
        dockerfile: DockerfileArg = "Dockerfile",
        build_arg: BuildArgArg = None,
        source_url: SourceUrlArg = "",
        force: ForceArg = False,
        dry_run: Annotated[bool, Doc("build and smoke-test only; publish nothing")] = False,
        source_date_epoch: SourceDateEpochArg = None,
        whole_source: WholeSourceArg = None,
        source_ignore: SourceIgnoreArg = None,
        flavors: FlavorsArg = "",
        require_native: RequireNativeArg = False,
        build_secret_id: BuildSecretIdArg = None,
        build_secret: BuildSecretArg = None,
    ) -> Report:
        """The whole release in one engine: every flavor x platform built and smoke-tested
        concurrently from one upload of the context (nothing of any flavor is published if one
        fails), then pushed, then each flavor merged. With --flavors, the fields describe the
        first flavor and `flavors` every one."""
        builds = flavor_builds(flavors, self.flavor, target, smoke_command)
        specs = [spec_for(self, version, sha, None, b.flavor) for b in builds]
        args = ContextArgs.picked(locals())
        run = await prepare_release(self, builds, specs, args, require_native, force=force)
        outcomes = await flow.release_flavors(run.jobs, force=force, dry_run=dry_run)
        return release_object(
            outcomes, specs, str(run.dest.image), run.emulated, run.reproducibility
        )
