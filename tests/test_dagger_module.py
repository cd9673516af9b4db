"""The Dagger module, run offline through the SDK itself (no engine can run here).

`__dagger_module__.get_result` is what the engine's Python runtime calls to run a
function: the same argument conversion, the same constructor. Functions that need no
engine (plan, merge, promote with no secret) run against the real local registry.
Registration (what `dagger call` and `dag.release_pipeline()` see) is checked through
`support.registration`, which the workflow tests share.
"""

from __future__ import annotations

import inspect
import json

import pytest
from dagger.mod._exceptions import FunctionError
from support.images import fetch_raw, list_tags_raw, push_arch_images
from support.registration import registration

from release_pipeline.dagger import release_types, status_types
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import InvalidInput

REPO = "testplanit/testplanit"
SHA = "c804cace" + "5" * 32
MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]


async def call(state, name, args):
    return await MODULE.get_result("ReleasePipeline", state, name, args)


def test_constructor_defaults():
    state = ReleasePipeline()
    assert (state.image, state.flavor, state.platforms, state.username) == ("", "workers", None, "")
    assert state.password is None and state.registry_service is None


async def test_merge_plan_and_promote_run_through_the_sdk(registry):
    push_arch_images(registry.host, REPO, SHA[:8])
    push_arch_images(registry.host, REPO, "0badc0de")
    state = {"image": f"{registry.host}/{REPO}"}

    planned = await call(state, "plan", {"version": "v2.0.0", "sha": SHA})
    assert planned["dry_run"] is True and len(list_tags_raw(registry.host, REPO)) == 4

    merged = await call(state, "merge", {"version": "v2.0.0", "sha": SHA})
    assert merged["latest_moved"] is True
    assert merged["pinned"] == f"{registry.host}/{REPO}@{merged['index_digest']}"
    assert fetch_raw(registry.host, REPO, "latest-workers")[2] == merged["index_digest"]
    tags = {ref["tag"]: ref["digest"] for ref in merged["tags"]}
    assert tags["2.0.0-workers"] == merged["index_digest"]
    assert {p["platform"]: p["tag"] for p in merged["platforms"]} == {
        "linux/amd64": f"workers-sha-{SHA[:8]}-amd64",
        "linux/arm64": f"workers-sha-{SHA[:8]}-arm64",
    }
    assert json.loads(merged["json"])["index_digest"] == merged["index_digest"]

    older = await call(state, "merge", {"version": "1.9.0", "sha": "0badc0de" + "0" * 32})
    assert older["latest_moved"] is False

    promoted = await call(state, "promote", {"from": "1.9.0-workers"})
    assert promoted["yanked"] == ["2.0.0"] and promoted["tag"] == "latest-workers"
    assert fetch_raw(registry.host, REPO, "latest-workers")[2] == promoted["digest"]


async def test_flavor_and_platforms_come_from_the_constructor(registry):
    push_arch_images(registry.host, REPO, SHA[:8], flavor="api", archs=("amd64", "s390x"))
    state = {
        "image": f"{registry.host}/{REPO}",
        "flavor": "api",
        "platforms": ["linux/s390x", "linux/amd64"],
    }
    merged = await call(state, "merge", {"version": "1.0.0", "sha": SHA})
    assert {p["platform"] for p in merged["platforms"]} == {"linux/amd64", "linux/s390x"}
    assert fetch_raw(registry.host, REPO, "latest-api")[2] == merged["index_digest"]


@pytest.mark.parametrize(
    "state,name,args,field",
    [
        ({"image": "https://ghcr.io/a/b"}, "merge", {"version": "1.0.0", "sha": SHA}, "image"),
        ({"image": "ghcr.io/a/b"}, "plan", {"version": "1.0", "sha": SHA}, "version"),
        (
            {"image": "ghcr.io/a/b", "flavor": "a-b"},
            "merge",
            {"version": "1.0.0", "sha": SHA},
            "flavor",
        ),
        ({"image": "ghcr.io/a/b"}, "promote", {"from": "bad tag"}, "from"),
        ({"image": "ghcr.io/a/b"}, "promote", {"from": "", "dry_run": True}, "from"),
        ({"image": "ghcr.io/a/b"}, "status", {"limit": 0}, "limit"),
        ({"image": "ghcr.io/a/b"}, "status", {"limit": -3}, "limit"),
        ({"image": "ghcr.io/a/b"}, "status", {"limit": 1001}, "limit"),
        ({"image": "ghcr.io/a/b", "flavor": "latest"}, "status", {}, "flavor"),
        ({"image": "ghcr.io/a/b:1.0"}, "status", {}, "image"),
        ({}, "status", {}, "image"),
        (
            {"image": "ghcr.io/a/b"},
            "publish_platform",
            {
                "source": "Directory:x",
                "version": "1.0.0",
                "sha": SHA,
                "platform": "linux/amd64",
                "smoke_command": [],
            },
            "smoke_command",
        ),
        (
            {"image": "ghcr.io/a/b"},
            "release",
            {
                "source": "Directory:x",
                "version": "1.0.0",
                "sha": SHA,
                "smoke_command": ["true"],
                "build_arg": ["VERSION=1"],
            },
            "build_arg",
        ),
        (
            {"image": "ghcr.io/a/b", "platforms": ["linux/amd64", "windows/amd64"]},
            "merge",
            {"version": "1.0.0", "sha": SHA},
            "platform",
        ),
    ],
)
async def test_bad_input_fails_before_the_engine_or_registry(state, name, args, field):
    # ghcr.io is unreachable here: reaching it, or the engine, would be a different error.
    with pytest.raises(FunctionError) as err:
        await call(state, name, args)
    assert isinstance(err.value.__cause__, InvalidInput)
    assert err.value.__cause__.field == field


def test_the_module_registers_every_function_documented_and_registry_calls_uncached():
    functions = registration()["functions"]
    assert set(functions) == {
        "",
        "build",
        "smoke_test",
        "publish_platform",
        "merge",
        "plan",
        "promote",
        "release",
        "status",
        "pin",
    }
    for name, function in functions.items():
        undocumented = [arg for arg, doc in function["args"].items() if not doc]
        assert undocumented == [], f"{name or 'constructor'}: {undocumented}"
    # Anything that reads or writes a registry must never be answered from the cache.
    # ... nor a smoke test: a pass (or a flaky failure) replayed is not a test of this run.
    uncached = ("smoke_test", "publish_platform", "merge", "plan", "promote", "release", "status")
    for name in (*uncached, "pin"):
        assert functions[name]["cache"] == "Never", name
    assert functions["build"]["cache"] is None  # pure: the same arguments, the same container
    assert set(functions[""]["args"]) == {
        "image",
        "flavor",
        "platforms",
        "username",
        "password",
        "registry_service",
        "plain_http",
    }
    assert "from" in functions["promote"]["args"]
    assert "dry_run" in functions["promote"]["args"]
    assert set(functions["status"]["args"]) == {"limit", "manifests", "helm_keys", "kustomization"}
    assert {"kustomization", "allow_unread_bases"} <= set(functions["pin"]["args"])
    assert {"pin", "kustomization", "allow_unread_bases"} <= set(functions["promote"]["args"])


RETURNED = {"Report", "PlatformImage", "TagRef", "Promotion", "Status", "VersionInfo", "LatestTag"}


def test_every_field_of_every_returned_object_has_its_own_description():
    """What `dagger call release --help` and `dagger functions` show for each field: the SDK
    sends `get_doc(field.type)`, which a string annotation loses and which, for a field of an
    object type with no Doc, falls back to that type's own docstring."""
    objects = registration()["objects"]
    assert set(objects) >= RETURNED
    class_docs = {
        inspect.cleandoc(cls.__doc__ or "")
        for cls in (*vars(release_types).values(), *vars(status_types).values())
        if isinstance(cls, type)
    }
    for name, fields in objects.items():
        if name == "ReleasePipeline":
            continue
        assert fields, name
        for field, description in fields.items():
            assert description.strip(), f"{name}.{field} has no description"
            assert inspect.cleandoc(description) not in class_docs, f"{name}.{field}"
