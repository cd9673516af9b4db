"""Two flavors released together (flow.release_flavors) through the real backend: every
flavor x platform in flight at once, one failing smoke test publishes nothing of any flavor,
then each flavor is merged into its own index and floating tag."""

from __future__ import annotations

import anyio
import pytest
from support.backend import LocalBackend, LocalImage
from support.images import list_tags_raw
from test_flow import ARM_CRASHES, PASSES, REPO, SHA

from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.inputs import Platform
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs import flow
from release_pipeline.verbs.release import merge


class GatedBackend(LocalBackend):
    """Each build waits until `gate.expected` builds, of any flavor, have started: the release
    only finishes if they are all in flight together."""

    gate: Gate

    async def build(self, platform: Platform) -> LocalImage:
        await self.gate.arrive()
        return await super().build(platform)


class Gate:
    def __init__(self, expected: int) -> None:
        self.expected, self.started, self.open = expected, 0, anyio.Event()

    async def arrive(self) -> None:
        self.started += 1
        if self.started == self.expected:
            self.open.set()
        with anyio.fail_after(10):  # a serial release never opens it
            await self.open.wait()


def jobs(host, tmp_path, smokes, gate):
    made = []
    for flavor, smoke in smokes.items():
        spec = release_spec(f"{host}/{REPO}", "1.0.0", SHA, flavor)
        local = GatedBackend(host, REPO, SHA, smoke, tmp_path, seed=flavor or "production")
        local.gate = gate

        async def do_merge(spec=spec):
            async with RegistryClient.for_image(spec.image) as client:
                return await merge(spec, client)

        made.append((local, flow.FlavorJob(flavor or "production", local, spec, do_merge)))
    return made


async def test_two_flavors_build_together_then_merge_each(registry, tmp_path):
    gate = Gate(expected=4)
    made = jobs(registry.host, tmp_path, {"workers": PASSES, "": PASSES}, gate)
    outcomes = await flow.release_flavors([job for _, job in made])
    assert gate.started == 4
    assert [o.name for o in outcomes] == ["workers", "production"]
    workers, production = (o.report for o in outcomes)
    assert workers is not None and production is not None
    assert workers.index_digest != production.index_digest
    tags = set(list_tags_raw(registry.host, REPO))
    assert {"latest-workers", "1.0.0-workers", "latest", "1.0.0"} <= tags
    for local, _ in made:  # each flavor pushed only after every smoke test of both passed
        last_smoke = max(i for i, (k, _) in enumerate(local.events) if k == "smoke")
        assert all(k != "publish" for k, _ in local.events[:last_smoke])


async def test_one_failing_smoke_test_publishes_nothing_of_any_flavor(registry, tmp_path):
    gate = Gate(expected=4)
    made = jobs(registry.host, tmp_path, {"workers": ARM_CRASHES, "": PASSES}, gate)
    with pytest.raises(flow.BuildFailed) as err:
        await flow.release_flavors([job for _, job in made])
    assert set(err.value.failures) == {"workers linux/arm64"}
    assert "next/headers" in str(err.value)
    assert all(k != "publish" for local, _ in made for k, _ in local.events)
    assert list_tags_raw(registry.host, REPO) == []
