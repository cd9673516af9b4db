"""`--flavors` items: what a workflow or laptop writes, read into one build per flavor, and
refused with the field and the rule before anything is built."""

from __future__ import annotations

import pytest

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.flavors import FlavorBuild, parse_flavor_builds

WORKERS = "name=workers;target=workers;smoke=node ./scripts/smoke-test-workers.js"
PRODUCTION = "name=production;target=production;tag-suffix=;smoke=node server.js --check"


def test_testplanit_s_two_flavors():
    assert parse_flavor_builds([WORKERS, PRODUCTION]) == [
        FlavorBuild("workers", "workers", "workers", ("node", "./scripts/smoke-test-workers.js")),
        FlavorBuild("production", "production", "", ("node", "server.js", "--check")),
    ]


def test_target_and_tag_suffix_default_to_the_name():
    (build,) = parse_flavor_builds(["name=workers;smoke=true"])
    assert (build.target, build.flavor) == ("workers", "workers")


@pytest.mark.parametrize(
    "items,field,rule",
    [
        ([], "flavors", "1 to 8"),
        (["target=workers;smoke=true"], "flavors.name", "is required"),
        (["name=workers"], "flavors.smoke", "is required"),
        (["name=workers;smoke=true;colour=red"], "flavors", "name=...;target=..."),
        (["name=workers;name=w;smoke=true"], "flavors", "given twice"),
        (["name=w;tag-suffix=latest;smoke=true"], "flavors.tag-suffix", "tag scheme uses"),
        (["name=w;target=a b;smoke=true"], "flavors.target", "Dockerfile stage"),
        (["name=w;smoke=true\x1b[31m"], "flavors", "printable"),
        ([WORKERS, WORKERS], "flavors.name", "must differ"),
        ([WORKERS, "name=other;tag-suffix=workers;smoke=true"], "flavors.tag-suffix", "differ"),
    ],
)
def test_bad_items_name_the_field_and_the_rule(items, field, rule):
    with pytest.raises(InvalidInput) as err:
        parse_flavor_builds(items)
    assert err.value.field == field and rule in str(err.value)
