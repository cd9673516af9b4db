"""The release order (flow.py) driven through its seam by a real backend.

`LocalBackend` (tests/support/backend.py) builds real images with umoci, pulls pushed ones
back with skopeo, runs a real smoke command against the unpacked image and pushes with
skopeo to the real registry: the same contract the Dagger backend has.
"""

from __future__ import annotations

import json

import dagger
import pytest
from buildx_refs import push_buildx_arch
from support.backend import REVISION, LocalBackend, LocalImage
from support.dagger_errors import query_error
from support.images import fetch_raw, list_tags_raw, push_image

from release_pipeline.dagger.release_types import report_object
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.inputs import Platform
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs import flow
from release_pipeline.verbs.release import merge

REPO = "testplanit/testplanit"
SHA = "c804cace" + "0" * 32
OTHER = "0badc0de" + "0" * 32
ARM_TAG = "workers-sha-c804cace-arm64"

# Crash-loops on arm64 only, like the 2026-04-22 workers image (a missing module).
ARM_CRASHES = [
    "sh",
    "-c",
    'if [ "$PLATFORM" = linux/arm64 ]; then '
    "echo \"Cannot find module 'next/headers'\" >&2; exit 1; fi",
]
# Passes when the unpacked image holds the file every test image has.
PASSES = ["sh", "-c", 'grep -q "^arch=" "$ROOTFS/payload"']
# Fails on images built from the seed "broken": judged from the image's own content.
REJECTS_BROKEN = [
    "sh",
    "-c",
    'if grep -q "^seed=broken" "$ROOTFS/payload"; then echo "broken image" >&2; exit 1; fi',
]


def backend(host, tmp_path, smoke, seed="v1"):
    return LocalBackend(host, REPO, SHA, smoke, tmp_path, seed)


async def run_release(host, backend, *, force=False, dry_run=False, version="1.0.0"):
    spec = release_spec(f"{host}/{REPO}", version, SHA)

    async def do_merge():
        async with RegistryClient.for_image(spec.image) as client:
            return await merge(spec, client, force=force)

    return await flow.release(backend, spec, do_merge, force=force, dry_run=dry_run)


async def publish_platform(local, spec, platform, *, force=False):
    """What the module's publish-platform runs: one platform, no merge."""
    one = release_spec(str(spec.image), str(spec.version), spec.sha, spec.flavor, [str(platform)])
    job = flow.FlavorJob(spec.flavor, local, one, None)
    (done,) = await flow.release_flavors([job], force=force)
    return done.images[0]


async def test_every_platform_is_smoke_tested_before_anything_is_pushed(registry, tmp_path):
    local = backend(registry.host, tmp_path, PASSES)
    images, report = await run_release(registry.host, local)
    kinds = [kind for kind, _ in local.events]
    assert kinds.index("publish") > max(i for i, k in enumerate(kinds) if k == "smoke")
    assert {p for k, p in local.events if k == "smoke"} == {"linux/amd64", "linux/arm64"}
    assert report is not None and report.latest_moved
    assert [i.reused for i in images] == [False, False]
    assert {i.digest for i in images} == set(report.platforms.values())
    assert report.revision_unverified == []  # the backend labels what it builds


async def test_one_failing_platform_publishes_nothing_at_all(registry, tmp_path):
    local = backend(registry.host, tmp_path, ARM_CRASHES)
    with pytest.raises(flow.BuildFailed) as err:
        await run_release(registry.host, local)
    assert "linux/arm64" in str(err.value) and "next/headers" in str(err.value)
    assert "linux/amd64" not in err.value.failures
    assert ("publish", "linux/amd64") not in local.events
    assert list_tags_raw(registry.host, REPO) == []


async def test_a_rerun_reuses_this_commits_images_after_testing_them_again(registry, tmp_path):
    images, _ = await run_release(registry.host, backend(registry.host, tmp_path, PASSES))
    rerun = backend(registry.host, tmp_path, PASSES, seed="v2")  # a rebuild would differ
    again, report = await run_release(registry.host, rerun, version="1.0.1")
    assert sorted(rerun.events) == sorted(
        (kind, p) for kind in ("pull", "smoke") for p in ("linux/amd64", "linux/arm64")
    )
    assert [i.reused for i in again] == [True, True]
    assert [i.digest for i in again] == [i.digest for i in images]
    assert report is not None and report.version == "1.0.1"


async def test_a_reused_image_that_fails_its_smoke_test_stops_the_release(registry, tmp_path):
    # Labelled with this commit, but broken: pushed once by a smoke test that missed it.
    await run_release(registry.host, backend(registry.host, tmp_path, PASSES, seed="broken"))
    before = list_tags_raw(registry.host, REPO)
    rerun = backend(registry.host, tmp_path, REJECTS_BROKEN)
    with pytest.raises(flow.BuildFailed) as err:
        await run_release(registry.host, rerun, version="1.0.1")
    assert f"smoke test of {ARM_TAG} (sha256:" in str(err.value)
    assert "broken image" in str(err.value)
    assert [k for k, _ in rerun.events if k in ("build", "publish")] == []
    assert list_tags_raw(registry.host, REPO) == before  # no 1.0.1 tag


@pytest.mark.parametrize(
    "labels,arch,held",
    [
        (None, "arm64", f" with no {REVISION} label"),
        ({REVISION: OTHER}, "arm64", f" labelled {REVISION}={OTHER}"),
        ({REVISION: SHA}, "amd64", ", an image for linux/amd64"),
    ],
)
async def test_an_image_not_tested_for_this_commit_stops_the_release_before_any_push(
    registry, tmp_path, labels, arch, held
):
    # What the old workflow left under the SHA tag (pushed before its smoke test, unlabelled),
    # an image of another commit, or one of this commit for the wrong platform.
    old = push_image(registry.host, REPO, ARM_TAG, arch=arch, labels=labels, seed="old")
    local = backend(registry.host, tmp_path, PASSES)
    with pytest.raises(flow.NotReusable) as err:
        await run_release(registry.host, local)
    assert f"{ARM_TAG} holds {old}{held}" in str(err.value) and "--force" in str(err.value)
    assert local.events == []  # nothing built, nothing pushed
    assert list_tags_raw(registry.host, REPO) == [ARM_TAG]
    with pytest.raises(flow.NotReusable, match=ARM_TAG):
        spec = release_spec(f"{registry.host}/{REPO}", "1.0.0", SHA)
        await publish_platform(local, spec, spec.platforms[1])
    assert fetch_raw(registry.host, REPO, ARM_TAG)[2] == old


async def test_force_rebuilds_tests_and_replaces_an_untested_image(registry, tmp_path):
    old = push_image(registry.host, REPO, ARM_TAG, arch="arm64", seed="old")
    forced = backend(registry.host, tmp_path, PASSES)
    images, report = await run_release(registry.host, forced, force=True)
    assert ("build", "linux/arm64") in forced.events and ("smoke", "linux/arm64") in forced.events
    assert [i.reused for i in images] == [False, False]
    assert [(i.tag, i.replaced) for i in images] == [
        ("workers-sha-c804cace-amd64", None),
        (ARM_TAG, old),
    ]
    assert fetch_raw(registry.host, REPO, ARM_TAG)[2] == images[1].digest != old
    assert report is not None and report.revision_unverified == []
    # The Dagger release report built from these results names the replaced tag and digest.
    dagger_report = report_object(report, images)
    assert json.loads(dagger_report.json)["replaced"] == {ARM_TAG: old}
    assert [p.replaced for p in dagger_report.platforms] == ["", old]


async def test_an_unusable_per_arch_index_is_refused_and_force_replaces_it(registry, tmp_path):
    old = push_buildx_arch(registry.host, REPO, ARM_TAG, arch="arm64", revision=SHA, images=2)
    with pytest.raises(flow.NotReusable) as err:
        await run_release(registry.host, backend(registry.host, tmp_path, PASSES))
    assert f"{ARM_TAG} holds {old.index}, which is unusable" in str(err.value)
    assert "index of 2 platform images" in str(err.value)
    images, report = await run_release(
        registry.host, backend(registry.host, tmp_path, PASSES), force=True
    )
    assert images[1].replaced == old.index and report is not None


async def test_buildx_refs_of_this_commit_are_pulled_tested_and_reused(registry, tmp_path):
    refs = {
        arch: push_buildx_arch(
            registry.host, REPO, f"workers-sha-c804cace-{arch}", arch=arch, revision=SHA, seed=arch
        )
        for arch in ("amd64", "arm64")
    }
    local = backend(registry.host, tmp_path, PASSES)
    images, report = await run_release(registry.host, local)
    assert [k for k, _ in local.events if k in ("build", "publish")] == []
    assert [k for k, _ in local.events].count("pull") == 2
    assert [i.digest for i in images] == [refs["amd64"].index, refs["arm64"].index]
    assert report is not None
    assert report.platforms == {f"linux/{a}": r.index for a, r in refs.items()}


async def test_dry_run_builds_and_tests_but_publishes_nothing(registry, tmp_path):
    local = backend(registry.host, tmp_path, PASSES)
    images, report = await run_release(registry.host, local, dry_run=True)
    assert report is None and [i.digest for i in images] == [None, None]
    assert [k for k, _ in local.events].count("smoke") == 2
    assert "publish" not in [k for k, _ in local.events]
    assert list_tags_raw(registry.host, REPO) == []


async def test_publish_platform_pushes_once_then_tests_again_and_resumes(registry, tmp_path):
    spec = release_spec(f"{registry.host}/{REPO}", "1.0.0", SHA)
    arm = spec.platforms[1]
    first = await publish_platform(backend(registry.host, tmp_path, PASSES), spec, arm)
    rerun = backend(registry.host, tmp_path, PASSES, seed="v2")
    again = await publish_platform(rerun, spec, arm)
    assert (first.reused, again.reused) == (False, True)
    assert rerun.events == [("pull", "linux/arm64"), ("smoke", "linux/arm64")]
    assert first.digest == again.digest and first.tag == ARM_TAG
    with pytest.raises(flow.BuildFailed, match=f"smoke test of {ARM_TAG}"):
        await publish_platform(backend(registry.host, tmp_path, ARM_CRASHES), spec, arm)
    with pytest.raises(flow.BuildFailed, match="next/headers"):
        await publish_platform(backend(registry.host, tmp_path, ARM_CRASHES), spec, arm, force=True)
    assert list_tags_raw(registry.host, REPO) == [ARM_TAG]


class FlakyEngineBackend(LocalBackend):
    """arm64's smoke test hits an engine error, not a verdict (e.g. reading its stdout)."""

    async def smoke_test(self, image: LocalImage, platform: Platform) -> None:
        if platform.architecture == "arm64":
            raise query_error("connection reset while reading stdout")
        await super().smoke_test(image, platform)


async def test_an_unexpected_error_surfaces_as_itself_with_its_platform(registry, tmp_path):
    flaky = FlakyEngineBackend(registry.host, REPO, SHA, PASSES, tmp_path)
    with pytest.raises(flow.PlatformError) as err:
        await run_release(registry.host, flaky)
    assert not isinstance(err.value, BaseExceptionGroup)
    assert str(err.value) == "linux/arm64: QueryError: connection reset while reading stdout"
    assert isinstance(err.value.__cause__, dagger.QueryError)
    assert list_tags_raw(registry.host, REPO) == []
