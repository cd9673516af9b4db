"""What hostile-registry tests assert about output, and the lies they make a proxy tell.

CI logs turn a line starting with `::` into a workflow command, terminals obey escape
sequences, and the workflows copy report fields into job summaries with `jq -r`. So the
check is the same wherever text lands: stdout and stderr (split on the program's own
newlines), every string of a `--json` report, and every string of every manifest the
release left in the registry (read back by raw HTTP, sharing nothing with the pipeline).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from .hostile_answers import Answer
from .images import DOCKER_LIST, OCI_INDEX, fetch_raw, list_tags_raw

__all__ = [
    "FORGED",
    "dirty",
    "forge_body",
    "json_strings",
    "on_manifests",
    "written_strings",
]

# The issue's own example: clear the screen, turn red, then a workflow command.
FORGED = "\x1b[2J\x1b[31m ::error::pwned"
_MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/?]+$")


def dirty(text: str) -> str | None:
    """Why `text` (one line or a field) could forge output, or None when it cannot."""
    if "::" in text:
        return f"'::' in {text!r}"
    bad = [c for c in text if not c.isprintable()]
    return f"control characters {bad!r} in {text!r}" if bad else None


def output_problems(out: str, err: str) -> list[str]:
    """Every line of stdout/stderr that is not clean (newlines are the program's layout)."""
    lines = [*out.split("\n"), *err.split("\n")]
    return [problem for line in lines if (problem := dirty(line)) is not None]


def json_strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from json_strings(key)
            yield from json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from json_strings(item)


def written_strings(host: str, repo: str) -> Iterator[str]:
    """Every string of every index a tag of `repo` holds, read back by raw HTTP: what the
    release wrote (annotations, platforms, digests) as any later reader will see it."""
    for tag in list_tags_raw(host, repo):
        body, media_type, _ = fetch_raw(host, repo, tag)
        if media_type in (OCI_INDEX, DOCKER_LIST):
            yield from json_strings(json.loads(body))


def on_manifests(change: Callable[[Answer], None]) -> Callable[[Answer], None]:
    """A rewrite hook applying `change` to successful manifest answers (GET and HEAD) only."""

    def hook(answer: Answer) -> None:
        if answer.status == 200 and _MANIFEST_PATH.match(answer.path):
            change(answer)

    return hook


def forge_body(change: Callable[[dict[str, Any]], None]) -> Callable[[Answer], None]:
    """A hook for manifest GETs: `change` edits the decoded manifest, and the answer carries
    the new bytes with their true Docker-Content-Digest (a consistent liar, not a corrupt
    transfer: what is checked is then the content, not the hash)."""

    def edit(answer: Answer) -> None:
        if answer.method != "GET":
            return
        body = json.loads(answer.body)
        change(body)
        answer.body = json.dumps(body).encode()
        answer.set_header(
            "Docker-Content-Digest", "sha256:" + hashlib.sha256(answer.body).hexdigest()
        )

    return on_manifests(edit)
