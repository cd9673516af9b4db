"""Property: whatever a registry or an image sends, no verb prints a control character or a
`::` workflow command (text or `--json`), and no index the release writes carries one.

Each example puts one generated hostile value in one place a registry or an image can
speak (a header, a manifest field, an index entry, a tag name, an image config field or
label), then runs every verb against a real registry: through a lying proxy for what a
registry sends, from images pushed with the forged config for what an image says.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ProxyFactory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from seeding import seed_commit
from support.hostile import (
    dirty,
    forge_body,
    json_strings,
    on_manifests,
    output_problems,
    written_strings,
)
from support.hostile_answers import Answer, Hostile
from support.proxy import Proxy
from support.registry import Registry

from release_pipeline.cli import app as cli
from release_pipeline.cli import runners
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.rules.manifests import CREATED, REVISION, SOURCE

OLD, NEW = hashlib.sha1(b"prop old").hexdigest(), hashlib.sha1(b"prop new").hexdigest()
_repos = itertools.count()

# Pieces an attacker reaches for, mixed with arbitrary text; and sheer length.
PIECES = [
    "\x1b[2J",
    "\x1b[31m",
    "\x1b]0;title\x07",
    "\n",
    "\r",
    "\x00",
    "\t",
    "\u202e",
    "\u200b",
    "::",
    ":::",
    "::error::pwned",
    "::error title=pwned::release approved",
    "::add-mask::x",
    "https://bot:ghp_SECRET@github.com/org/app",
    "sha256:",
    "a" * 64,
    "é",
    " ",
]
HOSTILE = st.one_of(
    st.lists(st.sampled_from(PIECES) | st.text(max_size=6), min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=30),
    st.text(alphabet=":\n\x1bab ", min_size=300, max_size=3000),
)


def _header_value(value: str) -> str:
    """What HTTP/1.1 can carry in one header: Latin-1, no line break (a line break would
    end the header, which is a different attack: a header the registry did not send)."""
    latin1 = value.encode("latin-1", "replace").decode("latin-1")
    return latin1.replace("\r", "\x1b").replace("\n", "\x1b")


def _on_path(part: str, change: Callable[[Answer], None]) -> Callable[[Answer], None]:
    def hook(answer: Answer) -> None:
        if part in answer.path:
            change(answer)

    return hook


def _set(**fields: Any) -> Callable[[Answer], None]:
    def change(answer: Answer) -> None:
        for name, value in fields.items():
            if name == "headers":
                for header, text in value.items():
                    answer.set_header(header, text)
            else:
                setattr(answer, name, value)

    return change


def _in_index(change: Callable[[dict[str, Any]], None]) -> Callable[[Answer], None]:
    def edit(body: dict[str, Any]) -> None:
        if isinstance(body.get("manifests"), list):
            change(body)

    return forge_body(edit)


def _registry_lie(where: str, value: str) -> Hostile:
    """A proxy that tells the lie `where`, with `value` in it."""
    header = _header_value(value)
    error = json.dumps({"errors": [{"code": value, "message": value}]}).encode()
    lies: dict[str, Callable[[Answer], None]] = {
        "digest header": on_manifests(_set(headers={"Docker-Content-Digest": header})),
        "content type": on_manifests(_set(headers={"Content-Type": header})),
        "auth challenge": _on_path(
            "/v2/prop", _set(status=401, body=b"", headers={"WWW-Authenticate": header})
        ),
        "token realm": _on_path(
            "/v2/prop",
            _set(status=401, body=b"", headers={"WWW-Authenticate": f'Bearer realm="{header}"'}),
        ),
        "blob redirect": _on_path("/blobs/", _set(status=307, headers={"Location": header})),
        "next tag page": _on_path("/tags/list", _set(headers={"Link": f'<{header}>; rel="next"'})),
        "error body": on_manifests(_set(status=400, body=error)),
        "denied body": on_manifests(_set(status=403, body=error)),
        "media type": forge_body(lambda body: body.update(mediaType=value)),
        "child digest": _in_index(lambda body: body["manifests"][0].update(digest=value)),
        "child platform": _in_index(
            lambda body: body["manifests"][0].update(
                platform={"architecture": value, "os": value, "variant": value}
            )
        ),
        "child annotations": _in_index(
            lambda body: [
                child.update(annotations={REVISION: value, CREATED: value, value: value})
                for child in body["manifests"]
            ]
        ),
        "index annotations": _in_index(
            lambda body: body.update(annotations={REVISION: value, SOURCE: value, value: value})
        ),
        "tag name": _on_path(
            "/tags/list",
            lambda answer: setattr(
                answer,
                "body",
                json.dumps({"tags": [*json.loads(answer.body).get("tags", []), value]}).encode(),
            ),
        ),
    }
    return Hostile(rewrite=lies[where])


REGISTRY_LIES = (
    "digest header",
    "content type",
    "auth challenge",
    "token realm",
    "blob redirect",
    "next tag page",
    "error body",
    "denied body",
    "media type",
    "child digest",
    "child platform",
    "child annotations",
    "index annotations",
    "tag name",
)
IMAGE_LIES = ("architecture", "variant", "os", SOURCE, REVISION, CREATED)

VERBS = [
    ["merge", "--version=1.1.0", f"--sha={NEW}"],
    ["plan", "--version=1.1.1", f"--sha={NEW}", "--json"],
    ["merge", "--version=1.0.0", f"--sha={NEW}"],  # a conflict: 1.0.0 is OLD's
    ["plan", "--version=1.0.0", f"--sha={NEW}", "--force"],
    ["merge", "--version=1.0.0", f"--sha={OLD}", "--json"],  # a re-run
    ["promote", "--from=1.0.0-workers", "--dry-run"],
    ["promote", "--from=1.0.0-workers", "--json"],
    ["status"],
    ["status", "--json"],
]


@pytest.fixture
def lying(
    registry: Registry, proxy_factory: ProxyFactory, monkeypatch: pytest.MonkeyPatch
) -> tuple[Registry, Proxy]:
    """One registry and one proxy for all examples (each example has its own repository
    and sets the proxy's lie). A lie the HTTP library refuses (a NUL in a header) fails the
    connection and is retried: the CLI's policy, with waits short enough for a property."""
    fast = functools.partial(RetryPolicy, base_delay=0.001, max_delay=0.01)
    monkeypatch.setattr(runners, "RetryPolicy", fast)  # the policy each verb's client gets
    return registry, proxy_factory(registry.host)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(where=st.sampled_from(REGISTRY_LIES + IMAGE_LIES), value=HOSTILE)
# Found by this property: a registry error echoing a URL with a token in its userinfo.
@example(where="error body", value="xx https://bot:ghp_SECRET@github.com/org/app")
# Found by this property: h11's words for a header it refused quoted the header raw.
@example(where="digest header", value="::error title=pwned::release approved\x00")
def test_no_verb_lets_a_hostile_value_reach_output_or_the_registry(
    lying: tuple[Registry, Proxy], capsys: pytest.CaptureFixture[str], where: str, value: str
) -> None:
    check_every_verb(*lying, capsys, where, value)


def check_every_verb(
    registry: Registry, proxy: Proxy, capsys: pytest.CaptureFixture[str], where: str, value: str
) -> None:
    """Release 1.0.0 cleanly, push NEW's images, tell the lie, run every verb, check it all."""
    repo = f"prop/app{next(_repos)}"
    proxy.hostile = Hostile()
    seed_commit(registry.host, repo, OLD)
    assert (
        cli.run(["merge", f"--image={registry.host}/{repo}", "--version=1.0.0", f"--sha={OLD}"])
        == 0
    )
    if where in ("architecture", "variant", "os"):
        seed_commit(registry.host, repo, NEW, config={where: value})
    elif where in IMAGE_LIES:
        seed_commit(registry.host, repo, NEW, labels={where: value})
    else:
        seed_commit(registry.host, repo, NEW)
        proxy.hostile = _registry_lie(where, value)
    capsys.readouterr()

    for verb, *args in VERBS:
        code = cli.run([verb, f"--image={proxy.host}/{repo}", *args])
        out, err = capsys.readouterr()
        assert code in (0, 1), (verb, args, code, err)
        assert output_problems(out, err) == [], (verb, args)
        assert "ghp_SECRET" not in out + err
        if "--json" in args and code == 0:
            fields = [s for s in json_strings(json.loads(out)) if dirty(s) is not None]
            assert fields == [], (verb, args)

    proxy.hostile = Hostile()
    written = [s for s in written_strings(registry.host, repo) if dirty(s) or "ghp_SECRET" in s]
    assert written == []
