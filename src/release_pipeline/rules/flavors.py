"""The flavors one `release` builds together: `--flavors` items, as the workflow and a laptop
write them.

One item per flavor, `;`-separated `key=value` fields (`,` separates the items of a Dagger
list flag, so it cannot appear inside one):

    name=workers;target=workers;smoke=node ./scripts/smoke-test-workers.js
    name=production;target=production;tag-suffix=;smoke=node server.js --check

- `name` (required): what the report and errors call the flavor;
- `target`: the Dockerfile target (default: the name);
- `tag-suffix`: the flavor of the tag scheme, `latest-SUFFIX` and `N-SUFFIX` (default: the
  name; empty: the production image, `latest` and `N`);
- `smoke` (required): the smoke command, split on spaces (no shell, no quoting: a command
  that needs either is a script in the image).
Names and tag suffixes are unique: two flavors under one tag would overwrite each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import parse_flavor

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_KEYS = ("name", "target", "tag-suffix", "smoke")
MAX_FLAVORS = 8
MAX_ITEM = 1024


@dataclass(frozen=True)
class FlavorBuild:
    name: str
    target: str
    flavor: str  # the tag scheme's flavor ("" is the production image)
    smoke: tuple[str, ...]


def parse_flavor_build(text: str, field: str = "flavors") -> FlavorBuild:
    if len(text) > MAX_ITEM or not text.isprintable():
        raise InvalidInput(field, f"each item must be at most {MAX_ITEM} printable characters")
    fields: dict[str, str] = {}
    for part in text.split(";"):
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in _KEYS:
            raise InvalidInput(
                field, f"each item is {';'.join(k + '=...' for k in _KEYS)}; got {part!r}"
            )
        if key in fields:
            raise InvalidInput(field, f"{key} is given twice in one item")
        fields[key] = value.strip()
    name = fields.get("name", "")
    if _NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"{field}.name", "is required: a lower-case word [a-z][a-z0-9_-]*, at most 32"
        )
    target = fields.get("target", name)
    if _TARGET.fullmatch(target) is None:
        raise InvalidInput(f"{field}.target", f"of {name} must name a Dockerfile stage")
    flavor = parse_flavor(fields.get("tag-suffix", name), f"{field}.tag-suffix")
    smoke = tuple(fields.get("smoke", "").split())
    if not smoke:
        raise InvalidInput(
            f"{field}.smoke",
            f"of {name} is required: every image is smoke-tested before anything is published",
        )
    return FlavorBuild(name, target, flavor, smoke)


def parse_flavor_builds(items: list[str], field: str = "flavors") -> list[FlavorBuild]:
    """Every item parsed, in order; names and tag suffixes unique."""
    if not items or len(items) > MAX_FLAVORS:
        raise InvalidInput(field, f"takes 1 to {MAX_FLAVORS} flavors")
    builds = [parse_flavor_build(item, field) for item in items]
    for attr in ("name", "flavor"):
        seen = [getattr(b, attr) for b in builds]
        if len(set(seen)) != len(seen):
            key = "name" if attr == "name" else "tag-suffix"
            raise InvalidInput(f"{field}.{key}", "must differ between flavors")
    return builds
