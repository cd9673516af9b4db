"""The flavors one `release` or `publish-platform` builds together: `--flavors`, the same JSON
list the reusable workflow takes as its `flavors` input, so the workflow passes it verbatim:

    [{"name": "workers", "flavor": "workers", "target": "workers",
      "smoke": "node,./scripts/smoke-test-workers.js"},
     {"name": "production", "flavor": "", "target": "production", "smoke": "node,server.js"}]

- `name`: what the report, the log and errors call the flavor;
- `flavor`: the tag suffix (`latest-workers`, `N-workers`; empty: the production image's
  `latest` and `N`), the constructor's `--flavor` of a one-flavor call;
- `target`: the Dockerfile target;
- `smoke`: the smoke command, its words separated by `,` as in `--smoke-command`, or a list.
One text argument rather than a list flag: `dagger call` splits a list flag's value on
commas, and a smoke command has them. Names and flavors are unique: two flavors under one
tag would overwrite each other.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import parse_flavor

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_TARGET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
KEYS = frozenset({"name", "flavor", "target", "smoke"})
MAX_FLAVORS = 8
MAX_TEXT = 16 * 1024
MAX_WORD = 1024


@dataclass(frozen=True)
class FlavorBuild:
    name: str
    target: str
    flavor: str  # the tag scheme's flavor ("" is the production image)
    smoke: tuple[str, ...]


def parse_flavor_builds(text: str, field: str = "flavors") -> list[FlavorBuild]:
    """Every flavor, in order; InvalidInput naming the field and the rule."""
    if len(text) > MAX_TEXT:
        raise InvalidInput(field, f"must be at most {MAX_TEXT} characters of JSON")
    try:
        items = json.loads(text)
    except ValueError:
        raise InvalidInput(
            field, 'must be a JSON list of {"name", "flavor", "target", "smoke"}'
        ) from None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_FLAVORS:
        raise InvalidInput(field, f"must be a JSON list of 1 to {MAX_FLAVORS} flavors")
    builds = [_build(item, f"{field}[{i}]") for i, item in enumerate(items)]
    for attr in ("name", "flavor"):
        seen = [getattr(b, attr) for b in builds]
        if len(set(seen)) != len(seen):
            raise InvalidInput(f"{field}.{attr}", "must differ between flavors")
    return builds


def _build(item: object, field: str) -> FlavorBuild:
    if not isinstance(item, dict) or set(item) != KEYS:
        raise InvalidInput(field, "must be an object with exactly name, flavor, target, smoke")
    name, flavor, target, smoke = (item[k] for k in ("name", "flavor", "target", "smoke"))
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidInput(
            f"{field}.name", "must be a lower-case word [a-z][a-z0-9_-]*, at most 32"
        )
    if not isinstance(flavor, str):
        raise InvalidInput(f"{field}.flavor", "must be a string (empty: the production image)")
    if not isinstance(target, str) or _TARGET.fullmatch(target) is None:
        raise InvalidInput(f"{field}.target", f"of {name} must name a Dockerfile stage")
    words = smoke.split(",") if isinstance(smoke, str) else smoke
    if (
        not isinstance(words, list)
        or not words
        or not all(isinstance(w, str) and w and len(w) <= MAX_WORD for w in words)
        or not all(w.isprintable() for w in words)
    ):
        raise InvalidInput(
            f"{field}.smoke",
            f"of {name} must be a command, words separated by ',' or a list of words: every "
            "image is smoke-tested before anything is published",
        )
    return FlavorBuild(name, target, parse_flavor(flavor, f"{field}.flavor"), tuple(words))
