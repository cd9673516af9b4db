"""Malformed input is refused by the CLI before any request: exit 2, one line naming the
field, and zero requests at a counting proxy in front of a real registry."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ProxyFactory
from support.registry import Registry

from release_pipeline.cli import app as cli
from release_pipeline.registry.client import RegistryClient

SHA = "c804cace" + "0" * 32
MESSAGE = re.compile(r"release-pipeline: invalid (?P<field>\S+): (?P<rule>.+)\n")
LONG_HOST = ".".join(["a" * 63] * 5)  # every label valid, 319 characters: no DNS name

# (id, field named in the error, verb, arguments replacing or extending the valid ones)
Case = tuple[str, str, str, dict[str, Any]]
CASES: list[Case] = [
    # versions
    ("version-empty", "version", "merge", {"version": ""}),
    ("version-two-parts", "version", "merge", {"version": "1.2"}),
    ("version-four-parts", "version", "merge", {"version": "1.2.3.4"}),
    ("version-leading-zero", "version", "merge", {"version": "01.2.3"}),
    ("version-dangling-dash", "version", "merge", {"version": "1.2.3-"}),
    ("version-build-metadata", "version", "merge", {"version": "1.2.3+build.5"}),
    ("version-just-v", "version", "merge", {"version": "v"}),
    ("version-double-v", "version", "merge", {"version": "vv1.2.3"}),
    ("version-capital-v", "version", "merge", {"version": "V1.2.3"}),
    ("version-negative", "version", "merge", {"version": "-1.2.3"}),
    ("version-space", "version", "merge", {"version": " 1.2.3"}),
    ("version-newline", "version", "merge", {"version": "1.2.3\n"}),
    ("version-fullwidth-digit", "version", "merge", {"version": "\uff11.2.3"}),
    ("version-accented-prerelease", "version", "merge", {"version": "1.2.3-b\u00e9ta"}),
    ("version-empty-identifier", "version", "merge", {"version": "1.2.3-rc..1"}),
    ("version-prerelease-leading-zero", "version", "merge", {"version": "1.2.3-01"}),
    ("version-word", "version", "merge", {"version": "latest"}),
    ("version-path", "version", "merge", {"version": "1.2.3/../../x"}),
    ("version-overlong", "version", "merge", {"version": "1.2.3-" + "a" * 200}),
    ("version-prod-arch-suffix", "version", "merge", {"version": "1.2.3-amd64", "flavor": ""}),
    ("version-prod-word-suffix", "version", "plan", {"version": "1.2.3-beta", "flavor": ""}),
    # SHAs
    ("sha-empty", "sha", "merge", {"sha": ""}),
    ("sha-short", "sha", "merge", {"sha": "c804cace"}),
    ("sha-not-hex", "sha", "merge", {"sha": "g" * 40}),
    ("sha-41", "sha", "merge", {"sha": SHA + "0"}),
    ("sha-39", "sha", "merge", {"sha": SHA[:39]}),
    ("sha-0x", "sha", "merge", {"sha": "0x" + SHA[:38]}),
    ("sha-newline", "sha", "merge", {"sha": SHA + "\n"}),
    ("sha-cyrillic-a", "sha", "plan", {"sha": SHA[:39] + "\u0430"}),
    ("sha-fullwidth", "sha", "merge", {"sha": "\uff10" * 40}),
    # image references
    ("image-empty", "image", "merge", {"image": ""}),
    ("image-scheme", "image", "merge", {"image": "https://{proxy}/team/app"}),
    ("image-userinfo", "image", "merge", {"image": "ci-bot:hunter2-secret@{proxy}/team/app"}),
    ("image-user-only", "image", "promote", {"image": "ci-bot@{proxy}/team/app"}),
    ("image-traversal", "image", "merge", {"image": "{proxy}/team/../other"}),
    ("image-dot", "image", "merge", {"image": "{proxy}/team/./app"}),
    ("image-uppercase-path", "image", "merge", {"image": "{proxy}/Team/App"}),
    ("image-uppercase-host", "image", "merge", {"image": "LOCALHOST:5000/team/app"}),
    ("image-tag", "image", "merge", {"image": "{proxy}/team/app:1.0"}),
    ("image-digest", "image", "merge", {"image": "{proxy}/team/app@sha256:" + "0" * 64}),
    ("image-no-host", "image", "merge", {"image": "team/app"}),
    ("image-no-path", "image", "merge", {"image": "{proxy}"}),
    ("image-empty-path", "image", "merge", {"image": "{proxy}/"}),
    ("image-double-slash", "image", "merge", {"image": "{proxy}/team//app"}),
    ("image-trailing-slash", "image", "merge", {"image": "{proxy}/team/app/"}),
    ("image-cyrillic", "image", "merge", {"image": "{proxy}/t\u0435am/app"}),
    ("image-space", "image", "merge", {"image": "{proxy}/team/app "}),
    ("image-nul", "image", "merge", {"image": "{proxy}/team/app\x00"}),
    ("image-port-zero", "image", "merge", {"image": "127.0.0.1:0/team/app"}),
    ("image-port-big", "image", "merge", {"image": "127.0.0.1:99999/team/app"}),
    ("image-port-letters", "image", "merge", {"image": "127.0.0.1:http/team/app"}),
    ("image-bad-ipv6", "image", "merge", {"image": "[::1/team/app"}),
    ("image-overlong-path", "image", "merge", {"image": "{proxy}/" + "a" * 300}),
    ("image-backslash", "image", "merge", {"image": "{proxy}/team\\app"}),
    # platforms
    ("platform-empty", "platform", "merge", {"platform": [""]}),
    ("platform-os-only", "platform", "merge", {"platform": ["linux"]}),
    ("platform-four-parts", "platform", "merge", {"platform": ["linux/arm/v7/x"]}),
    ("platform-uppercase-os", "platform", "merge", {"platform": ["Linux/amd64"]}),
    ("platform-unknown-arch", "platform", "merge", {"platform": ["linux/x86_64"]}),
    ("platform-bad-variant", "platform", "merge", {"platform": ["linux/arm/7"]}),
    ("platform-fullwidth", "platform", "merge", {"platform": ["linux/\uff41md64"]}),
    ("platform-traversal", "platform", "merge", {"platform": ["../amd64"]}),
    ("platform-same-arch", "platform", "merge", {"platform": ["linux/amd64", "windows/amd64"]}),
    ("platform-arm64-twice", "platform", "plan", {"platform": ["linux/arm64", "linux/arm64/v8"]}),
    # flavors
    ("flavor-uppercase", "flavor", "merge", {"flavor": "Workers"}),
    ("flavor-dash", "flavor", "merge", {"flavor": "work-ers"}),
    ("flavor-reserved-latest", "flavor", "merge", {"flavor": "latest"}),
    ("flavor-reserved-sha", "flavor", "merge", {"flavor": "sha"}),
    ("flavor-reserved-yanked", "flavor", "promote", {"flavor": "yanked"}),
    ("flavor-arch", "flavor", "merge", {"flavor": "arm64"}),
    ("flavor-digit-first", "flavor", "merge", {"flavor": "1workers"}),
    ("flavor-overlong", "flavor", "merge", {"flavor": "w" * 33}),
    ("flavor-cyrillic-o", "flavor", "merge", {"flavor": "w\u043erkers"}),
    ("flavor-space", "flavor", "merge", {"flavor": " workers"}),
    # promote --from / --to
    ("from-empty", "from", "promote", {"from": ""}),
    ("from-dash-first", "from", "promote", {"from": "-latest"}),
    ("from-dot-first", "from", "promote", {"from": ".hidden"}),
    ("from-overlong", "from", "promote", {"from": "a" * 129}),
    ("from-short-digest", "from", "promote", {"from": "sha256:abc"}),
    ("from-uppercase-digest", "from", "promote", {"from": "sha256:" + "A" * 64}),
    ("from-colon", "from", "promote", {"from": "1.0.0-workers:x"}),
    ("from-slash", "from", "promote", {"from": "../1.0.0-workers"}),
    ("from-umlaut", "from", "promote", {"from": "l\u00e4test"}),
    ("to-empty", "to", "promote", {"to": ""}),
    ("to-version-tag", "to", "promote", {"to": "1.2.3-workers"}),
    ("to-sha-tag", "to", "promote", {"to": "workers-sha-c804cace"}),
    ("to-per-arch-tag", "to", "promote", {"to": "v1.2.3-workers-amd64"}),
    ("to-yank-marker", "to", "promote", {"to": "1.2.3-workers-yanked"}),
    ("to-space", "to", "promote", {"to": "latest workers"}),
    ("to-fullwidth", "to", "promote", {"to": "\uff4catest"}),
    # status --limit, and status/promote --dry-run refusing like the other verbs
    ("limit-zero", "limit", "status", {"limit": "0"}),
    ("limit-negative", "limit", "status", {"limit": "-1"}),
    ("limit-too-big", "limit", "status", {"limit": "1001"}),
    ("limit-empty", "limit", "status", {"limit": ""}),
    ("limit-word", "limit", "status", {"limit": "all"}),
    ("limit-fraction", "limit", "status", {"limit": "1.5"}),
    ("limit-exponent", "limit", "status", {"limit": "1e3"}),
    ("limit-space", "limit", "status", {"limit": " 5"}),
    ("limit-fullwidth", "limit", "status", {"limit": "\uff15"}),
    ("limit-arabic-indic", "limit", "status", {"limit": "\u0665"}),
    ("limit-superscript", "limit", "status", {"limit": "\u00b2"}),
    ("status-image-userinfo", "image", "status", {"image": "ci-bot:hunter2-secret@{proxy}/a"}),
    ("status-image-tag", "image", "status", {"image": "{proxy}/team/app:latest"}),
    ("status-flavor-dash", "flavor", "status", {"flavor": "work-ers"}),
    ("status-user-without-password", "REGISTRY_PASSWORD", "status", {"username": "ci-bot"}),
    ("dry-run-from-empty", "from", "promote", {"from": "", "dry-run": True}),
    ("dry-run-to-version-tag", "to", "promote", {"to": "1.2.3-workers", "dry-run": True}),
    ("dry-run-flavor-arch", "flavor", "promote", {"flavor": "amd64", "dry-run": True}),
    # credentials
    ("password-without-user", "username", "merge", {"password": "pw"}),
    ("user-without-password", "REGISTRY_PASSWORD", "merge", {"username": "ci-bot"}),
    ("user-with-colon", "username", "merge", {"username": "ci:bot", "password": "pw"}),
    (
        "user-with-newline",
        "username",
        "promote",
        {"username": "ci-bot\nX-Evil: 1", "password": "p"},
    ),
]


def argv_for(verb: str, proxy: str, changes: dict[str, Any]) -> list[str]:
    values: dict[str, Any] = {"image": f"{proxy}/team/app", "flavor": "workers"}
    if verb == "promote":
        values["from"] = "1.2.3-workers"
    elif verb != "status":
        values |= {"version": "1.2.3", "sha": SHA, "platform": ["linux/amd64", "linux/arm64"]}
    values |= {k: v for k, v in changes.items() if k != "password"}
    argv = [verb]
    for name, value in values.items():
        value = value.replace("{proxy}", proxy) if isinstance(value, str) else value
        if value is True:
            argv.append(f"--{name}")
            continue
        for one in value if isinstance(value, list) else [value]:
            argv.append(f"--{name}={one}")
    return argv


@pytest.fixture
def no_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Records every RegistryClient built: a refused input must not even build one."""
    built: list[str] = []
    original = RegistryClient.__init__

    def spy(self: RegistryClient, host: str, **kwargs: Any) -> None:
        built.append(host)
        original(self, host, **kwargs)

    monkeypatch.setattr(RegistryClient, "__init__", spy)
    yield built


def test_the_corpus_is_big_and_names_every_field() -> None:
    assert len(CASES) >= 50
    assert len({c[0] for c in CASES}) == len(CASES)
    fields = {c[1] for c in CASES}
    assert fields == {
        "version",
        "sha",
        "image",
        "platform",
        "flavor",
        "from",
        "to",
        "username",
        "REGISTRY_PASSWORD",
        "limit",
    }


def test_malformed_input_exits_2_naming_the_field_with_zero_requests(
    registry: Registry,
    proxy_factory: ProxyFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_client: list[str],
) -> None:
    proxy = proxy_factory(registry.host)
    wrong: list[str] = []
    for name, field, verb, changes in CASES:
        if "password" in changes:
            monkeypatch.setenv(cli.PASSWORD_ENV, changes["password"])
        else:
            monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
        argv = argv_for(verb, proxy.host, changes)
        code = cli.run(argv)
        out, err = capsys.readouterr()
        match = MESSAGE.fullmatch(err)
        if code != 2 or out or match is None or match["field"] != field:
            wrong.append(f"{name}: exit {code}, stdout {out!r}, stderr {err!r}")
            continue
        if field == "image":  # a refused image is never echoed: it may carry a password
            image = next(a for a in argv if a.startswith("--image=")).split("=", 1)[1]
            assert image not in err or not image, name
            assert "hunter2" not in err and "ci-bot" not in err, name
    assert wrong == [], "\n".join(wrong)
    assert proxy.requests == []  # not even a /v2/ ping
    assert no_client == []


def test_an_overlong_host_name_is_refused(
    capsys: pytest.CaptureFixture[str], no_client: list[str]
) -> None:
    code = cli.run(argv_for("merge", LONG_HOST, {}))
    err = capsys.readouterr().err
    assert code == 2 and no_client == []
    match = MESSAGE.fullmatch(err)
    assert match is not None and match["field"] == "image", err


def test_the_real_command_exits_2_and_sends_nothing(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    """Through `python -m release_pipeline`, as CI runs it."""
    proxy = proxy_factory(registry.host)
    for changes, field in (
        ({"image": "user:hunter2-secret@{proxy}/team/app"}, "image"),
        ({"version": "1.2.3+build"}, "version"),
        ({"sha": "c804cace"}, "sha"),
    ):
        argv = argv_for("merge", proxy.host, changes)
        done = subprocess.run(
            [sys.executable, "-m", "release_pipeline", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
        assert done.returncode == 2 and done.stdout == "", done
        match = MESSAGE.fullmatch(done.stderr)
        assert match is not None and match["field"] == field, done.stderr
        assert "hunter2" not in done.stderr
    assert proxy.requests == []
