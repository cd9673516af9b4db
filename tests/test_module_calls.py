"""Module functions run offline through the SDK (`get_result`/`get_structured_result`, what
the runtime calls): required arguments, refusals before any engine call, the exact build
request the engine would receive, and the one-query `json` report a caller module reads.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from dagger.mod._exceptions import FunctionError
from graphql import GraphQLError, GraphQLInt
from support.images import push_arch_images

from release_pipeline.dagger.engine import THROWAWAY_IMAGE
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.dagger.release_types import Promotion, Report, dry_run_report_object
from release_pipeline.errors import InvalidInput
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs import flow

REPO = "testplanit/testplanit"
SHA = "c804cace" + "5" * 32
MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
BUILD = {"source": "Directory:x", "platform": "linux/arm64", "version": "1.2.3", "sha": SHA}


def build_request(container):
    """The selections `build` chains on the source: what the engine would be asked to do."""
    return [(sel.name, dict(sel.args)) for sel in container._ctx.selections]


async def build(**args):
    container, _ = await MODULE.get_structured_result("ReleasePipeline", {}, "build", args)
    return build_request(container)


def labels(request):
    return {args["name"]: args["value"] for name, args in request if name == "withLabel"}


@pytest.mark.parametrize("function", ["build", "publish_platform", "release"])
async def test_a_source_is_required_where_a_default_would_build_the_wrong_repository(function):
    params = MODULE.get_object("ReleasePipeline").functions[function].parameters
    assert params["source"].default_path is None and params["whole_source"].default_path is None
    args = {k: v for k, v in {**BUILD, "smoke_command": ["true"]}.items() if k in params}
    for given in ({"source": None}, {"whole_source": "Directory:y"}):
        with pytest.raises(FunctionError) as err:
            await MODULE.get_result(
                "ReleasePipeline", {"image": "ghcr.io/a/b"}, function, {**args, **given}
            )
        assert isinstance(err.value.__cause__, InvalidInput)
        assert err.value.__cause__.field == "source", given


@pytest.mark.parametrize(
    "name,args",
    [
        ("merge", {"version": "1.0.0", "sha": SHA}),
        ("plan", {"version": "1.0.0", "sha": SHA}),
        ("promote", {"from": "1.0.0-workers"}),
        ("status", {}),
        (
            "publish_platform",
            {**BUILD, "smoke_command": ["true"]},
        ),
    ],
)
async def test_registry_functions_without_an_image_are_refused_before_the_engine(name, args):
    # Without --image these used to start an empty throwaway registry in the engine; no
    # engine runs here, so reaching that point would fail differently.
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", {}, name, args)
    assert isinstance(err.value.__cause__, InvalidInput)
    assert err.value.__cause__.field == "image"
    assert "only release can use the throwaway registry" in str(err.value.__cause__)


async def test_the_created_label_is_the_commit_time_and_the_request_is_reproducible():
    first = await build(**BUILD, source_date_epoch="1700000000")
    assert labels(first)["org.opencontainers.image.created"] == "2023-11-14T22:13:20Z"
    assert await build(**BUILD, source_date_epoch="1700000000") == first


async def test_a_commit_time_past_2038_is_carried():
    # GraphQL's Int is 32-bit: graphql-core, which builds the SDK's queries, refuses to
    # send 2**31 as one (2038-01-19T03:14:08Z), so the argument is text.
    with pytest.raises(GraphQLError, match="32-bit"):
        GraphQLInt.serialize(2**31)
    request = await build(**BUILD, source_date_epoch="4102444800")
    assert labels(request)["org.opencontainers.image.created"] == "2100-01-01T00:00:00Z"


async def test_without_a_commit_time_there_is_no_created_label_at_all():
    request = await build(**BUILD, source_url="https://github.com/testplanit/testplanit")
    assert labels(request) == {
        "org.opencontainers.image.version": "1.2.3",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.source": "https://github.com/testplanit/testplanit",
    }


@pytest.mark.parametrize("name", ["build", "publish_platform", "release"])
@pytest.mark.parametrize(
    "field,value",
    [
        ("source_date_epoch", "-1"),
        ("source_date_epoch", "1.7e9"),
        ("source_date_epoch", "99999999999999"),
        ("source_url", "https://bot:ghp_token@github.com/org/app"),
    ],
)
async def test_a_bad_label_input_is_refused_before_the_engine(name, field, value):
    args = {**BUILD, "smoke_command": ["true"], field: value}
    if name == "build":
        del args["smoke_command"]
    if name == "release":
        del args["platform"]
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", {"image": "ghcr.io/a/b"}, name, args)
    assert isinstance(err.value.__cause__, InvalidInput)
    assert err.value.__cause__.field == field
    assert "ghp_token" not in str(err.value)


def typed_fields(cls):
    # `manifests` (promote --pin) is a Directory: the JSON has the pin report instead
    return {f.name for f in dataclasses.fields(cls)} - {"json", "manifests"}


async def test_the_json_field_holds_the_whole_report_from_one_run(registry):
    # A caller module reads fields of a returned object with one query each, and release is
    # uncached: `json` is how it gets every field from a single run.
    push_arch_images(registry.host, REPO, SHA[:8])
    state = {"image": f"{registry.host}/{REPO}"}
    merged = await MODULE.get_result(
        "ReleasePipeline", state, "merge", {"version": "2.0.0", "sha": SHA}
    )
    whole = json.loads(merged["json"])
    assert typed_fields(Report) <= set(whole)
    for field in typed_fields(Report) - {"platforms", "tags"}:
        assert whole[field] == merged[field], field
    assert whole["platforms"] == {p["platform"]: p["digest"] for p in merged["platforms"]}
    assert whole["tags"] == {t["tag"]: t["digest"] for t in merged["tags"]}

    promoted = await MODULE.get_result(
        "ReleasePipeline", state, "promote", {"from": "2.0.0-workers", "to": "canary-workers"}
    )
    whole = json.loads(promoted["json"])
    assert typed_fields(Promotion) <= set(whole)
    # Absent values (no previous tag, no known version) are "" in the typed fields, null in JSON.
    assert all(
        ("" if whole[f] is None else whole[f]) == promoted[f] for f in typed_fields(Promotion)
    )
    assert whole["version"] == promoted["version"] == "2.0.0"


def test_a_dry_run_json_has_the_same_fields_as_a_release():
    spec = release_spec(THROWAWAY_IMAGE, "1.0.0", SHA)
    images = [
        flow.PlatformResult(str(p), spec.tags.sha_arch[p], None, reused=False)
        for p in spec.platforms
    ]
    report = dry_run_report_object(spec, THROWAWAY_IMAGE, images)
    whole = json.loads(report.json)
    assert typed_fields(Report) <= set(whole)
    assert whole["dry_run"] is True and whole["would_write"] == spec.tags.all()
    assert [p.platform for p in report.platforms] == ["linux/amd64", "linux/arm64"]
