"""The call graph of a release through the module as the SDK runs it, against a stand-in engine
(support/standin_engine.py) and a real registry: one call and one source upload for two
flavors, every build in flight together, nothing pushed until every smoke test passed,
emulation said aloud, --require-native refusing before any build, and build secrets reaching
`dockerBuild` as secret mounts and nowhere else."""

from __future__ import annotations

import json

import pytest
from dagger.mod._exceptions import FunctionError
from support.fixture_repo import DOCKERFILE, FIXTURE
from support.images import list_tags_raw
from support.standin_engine import REVISION, StandInEngine

from release_pipeline.dagger import engine as engine_module
from release_pipeline.dagger.engine import layer_timestamp_options, reproducibility
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import InvalidInput

MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
REPO = "testplanit/testplanit"
SHA = "c804cace" + "7" * 32
FLAVORS = [
    {"name": "workers", "flavor": "workers", "target": "workers", "smoke": "node,smoke.js"},
    {"name": "production", "flavor": "", "target": "production", "smoke": "node,server.js"},
]
SECRET = "npm_s3cr3t_value"


@pytest.fixture
def engine(registry, monkeypatch):
    standin = StandInEngine(FIXTURE, registry.host)
    standin.install(monkeypatch)
    # The test's registry is on this machine's loopback, which the module reaches in-process.
    monkeypatch.setattr(engine_module, "MODULE_SHARES_CALLER_NETWORK", True)
    return standin


async def release(registry, **args):
    base = {"source": "Directory:repo", "version": "0.22.8", "sha": SHA, "dockerfile": DOCKERFILE}
    state = {"image": f"{registry.host}/{REPO}"}
    return await MODULE.get_result("ReleasePipeline", state, "release", {**base, **args})


async def test_two_flavors_one_call_one_upload_every_build_in_flight_together(
    registry, engine, capfd
):
    report = await release(registry, flavors=json.dumps(FLAVORS))
    assert engine.sources() == {"Directory:repo"}  # one context, read by all four builds
    assert engine.max_in_flight == 4  # 2 flavors x 2 platforms at once
    first_publish = next(i for i, e in enumerate(engine.log) if e.startswith("publish"))
    assert all(not e.startswith("smoke") for e in engine.log[first_publish:])
    assert sorted(e for e in engine.log if e.startswith("smoke")) == [
        f"smoke {t} linux/{a}" for t in ("production", "workers") for a in ("amd64", "arm64")
    ]
    assert [f["name"] for f in report["flavors"]] == ["workers", "production"]
    assert report["pinned"] == report["flavors"][0]["pinned"]
    tags = set(list_tags_raw(registry.host, REPO))
    assert {"latest-workers", "0.22.8-workers", "latest", "0.22.8"} <= tags
    # arm64 on this amd64 engine is emulated: said in the report and the log.
    assert report["emulated"] == ["linux/arm64"]
    assert json.loads(report["json"])["emulated"] == ["linux/arm64"]
    assert "emulated under QEMU on this linux/amd64 engine" in capfd.readouterr().err


async def test_one_failing_smoke_test_publishes_nothing_of_either_flavor(registry, engine):
    engine.failing = {("production", "linux/arm64")}
    with pytest.raises(FunctionError, match="production linux/arm64"):
        await release(registry, flavors=json.dumps(FLAVORS))
    assert engine.published == [] and list_tags_raw(registry.host, REPO) == []


async def test_the_one_flavor_form_still_releases_one_flavor(registry, engine):
    report = await release(registry, smoke_command=["node", "smoke.js"])
    assert report["flavor"] == "workers" and report["flavors"] == []
    assert {b.target for b in engine.builds.values()} == {"workers"}


async def test_require_native_refuses_an_emulated_platform_before_any_build(registry, engine):
    with pytest.raises(FunctionError) as err:
        await release(registry, flavors=json.dumps(FLAVORS), require_native=True)
    cause = err.value.__cause__
    assert isinstance(cause, InvalidInput) and cause.field == "require_native"
    assert "linux/arm64 would be emulated" in str(cause) and "arch is amd64" in str(cause)
    assert engine.builds == {} and [q[-1][0] for q in engine.queries] == ["defaultPlatform"]


async def test_a_build_secret_is_a_secret_mount_never_a_build_arg_label_or_report(registry, engine):
    engine.secrets["Secret:npm-token"] = SECRET
    report = await release(
        registry,
        smoke_command=["node", "smoke.js"],
        build_secret_id=["npm"],
        build_secret=["Secret:npm-token"],
    )
    for build in engine.builds.values():
        assert [s.split(":")[0] for s in build.secrets] == ["setSecretID"]  # set under its id
        assert SECRET not in json.dumps(build.build_args) + json.dumps(build.labels)
        assert build.labels[REVISION] == SHA
    named = [q for q in engine.queries if q[-2:][0][0] == "setSecret"]
    assert named and all(q[-2][1] == {"name": "npm", "plaintext": SECRET} for q in named)
    assert SECRET not in json.dumps(report)
    others = [q for q in engine.queries if q not in named]
    assert SECRET not in json.dumps(others, default=str)


async def test_secret_ids_must_pair_with_secrets(registry, engine):
    with pytest.raises(FunctionError) as err:
        await release(registry, smoke_command=["true"], build_secret_id=["npm", "extra"],
                      build_secret=["Secret:npm-token"])  # fmt: skip
    assert isinstance(err.value.__cause__, InvalidInput)
    assert err.value.__cause__.field == "build_secret_id" and engine.queries == []


def test_this_engine_offers_no_layer_timestamp_rewrite_and_a_later_one_would_be_named():
    # The SDK here is generated from engine v0.21.11's schema, as the runtime's is.
    assert layer_timestamp_options() == []

    async def later_publish(self, address: str, *, rewrite_timestamp: bool = False) -> str: ...

    assert layer_timestamp_options(later_publish) == ["rewrite_timestamp"]
    assert "offers rewrite_timestamp" in reproducibility(["rewrite_timestamp"])


async def test_the_report_says_what_is_reproducible_at_this_engine(registry, engine):
    report = await release(registry, smoke_command=["node", "smoke.js"], dry_run=True)
    assert json.loads(report["json"])["reproducibility"] == reproducibility([])
    assert "not reproducible bit for bit" in reproducibility([])


async def test_publish_platform_pushes_every_flavor_of_its_platform_in_one_call(registry, engine):
    engine.platform = "linux/arm64"  # the runner's engine: native, so --require-native passes
    args = {
        "source": "Directory:repo",
        "version": "0.22.8",
        "sha": SHA,
        "dockerfile": DOCKERFILE,
        "platform": "linux/arm64",
        "flavors": json.dumps(FLAVORS),
        "require_native": True,
    }
    state = {"image": f"{registry.host}/{REPO}"}
    image = await MODULE.get_result("ReleasePipeline", state, "publish_platform", args)
    assert engine.sources() == {"Directory:repo"} and engine.max_in_flight == 2
    assert [i["name"] for i in json.loads(image["json"])["images"]] == ["workers", "production"]
    assert [f["tag"] for f in image["flavors"]] == [
        "workers-sha-c804cace-arm64",
        "sha-c804cace-arm64",
    ]
    assert image["emulated"] is False
    assert set(list_tags_raw(registry.host, REPO)) == {f["tag"] for f in image["flavors"]}
