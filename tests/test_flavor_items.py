"""`--flavors`: the reusable workflow's `flavors` input, read into one build per flavor, and
refused with the field and the rule before anything is built."""

from __future__ import annotations

import json

import pytest
from support.caller_runs import flavors
from support.workflows import SAAS, SELFHOST

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.flavors import FlavorBuild, parse_flavor_builds

WORKERS = {
    "name": "workers",
    "flavor": "workers",
    "target": "workers",
    "smoke": "node,./scripts/smoke-test-workers.js",
}
PRODUCTION = {"name": "production", "flavor": "", "target": "production", "smoke": ["node", "x"]}


def test_testplanit_s_two_flavors_as_the_workflow_input_writes_them():
    assert parse_flavor_builds(json.dumps([WORKERS, PRODUCTION])) == [
        FlavorBuild("workers", "workers", "workers", ("node", "./scripts/smoke-test-workers.js")),
        FlavorBuild("production", "production", "", ("node", "x")),
    ]


@pytest.mark.parametrize(
    "items,field,rule",
    [
        ("[]", "flavors", "1 to 8"),
        ("{", "flavors", "JSON list"),
        ([{**WORKERS, "colour": "red"}], "flavors[0]", "exactly name, flavor, target, smoke"),
        ([{**WORKERS, "name": "Workers"}], "flavors[0].name", "lower-case"),
        ([{**WORKERS, "flavor": "latest"}], "flavors[0].flavor", "tag scheme uses"),
        ([{**WORKERS, "flavor": 1}], "flavors[0].flavor", "must be a string"),
        ([{**WORKERS, "target": "a b"}], "flavors[0].target", "Dockerfile stage"),
        ([{**WORKERS, "smoke": ""}], "flavors[0].smoke", "smoke-tested"),
        ([{**WORKERS, "smoke": "node,,x"}], "flavors[0].smoke", "smoke-tested"),
        ([{**WORKERS, "smoke": "node\x1b[31m"}], "flavors[0].smoke", "smoke-tested"),
        ([WORKERS, {**WORKERS, "flavor": "w"}], "flavors.name", "must differ"),
        ([WORKERS, {**WORKERS, "name": "w"}], "flavors.flavor", "must differ"),
    ],
)
def test_bad_flavors_name_the_field_and_the_rule(items, field, rule):
    text = items if isinstance(items, str) else json.dumps(items)
    with pytest.raises(InvalidInput) as err:
        parse_flavor_builds(text)
    assert err.value.field == field and rule in str(err.value)


@pytest.mark.parametrize("caller", [SAAS, SELFHOST], ids=lambda p: p.name)
def test_the_example_callers_flavors_input_is_read_as_is(caller):
    given = flavors(caller)
    builds = parse_flavor_builds(json.dumps(given))
    assert [(b.name, b.flavor, b.target) for b in builds] == [
        (f["name"], f["flavor"], f["target"]) for f in given
    ]
    assert [",".join(b.smoke) for b in builds] == [f["smoke"] for f in given]
