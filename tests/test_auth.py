"""Releases against registries that demand credentials (Basic htpasswd, GHCR-style Bearer).

The password is a canary: a unique value that must never show up in what the pipeline
prints, returns or raises. Neither may a token the registry's token service issued.
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from conftest import ProxyFactory, RegistryFactory
from seeding import check_release, seed_commit
from support.commands import sha_of
from support.hostile_answers import Hostile
from support.images import fetch_raw, list_tags_raw, tag_digests
from support.registry import Registry
from support.sink import Sink
from support.tokens import TokenServer

from release_pipeline.cli import app as cli
from release_pipeline.errors import AuthError, ReleaseError
from release_pipeline.registry.auth import Credentials
from release_pipeline.registry.client import RegistryClient
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs.release import merge

REPO = "auth/app"
USER = "ci-bot"


def canary() -> str:
    return f"canary-s3cr3t-{uuid.uuid4()}"


class Secrets:
    """Every secret value of one test: the password, its Basic header, issued tokens."""

    def __init__(self, password: str, tokens: TokenServer | None = None) -> None:
        self.password = password
        self.creds = (USER, password)  # the right credentials, for seeding and checking
        self.values = [password, base64.b64encode(f"{USER}:{password}".encode()).decode()]
        if tokens is not None:
            issue = tokens.issue

            def recording_issue(subject: str, access: list[dict[str, object]]) -> str:
                token = issue(subject, access)
                self.values.append(token)
                self.values.append(token.rsplit(".", 1)[-1])  # the signature alone
                return token

            tokens.issue = recording_issue  # type: ignore[method-assign]

    def assert_absent(self, *texts: str) -> None:
        for text in texts:
            for secret in self.values:
                assert secret not in text, "a secret leaked"


AuthRegistry = tuple[Registry, Secrets, TokenServer | None]


@pytest.fixture(params=["basic", "bearer"])
def auth_registry(
    request: pytest.FixtureRequest,
    registry_factory: RegistryFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> Any:
    """A registry whose only user's password is a fresh canary, Basic or Bearer. Logs are
    captured at DEBUG: a secret in a debug log is a leak too."""
    caplog.set_level(logging.DEBUG)
    password = canary()
    if request.param == "basic":
        yield registry_factory(htpasswd=(USER, password)), Secrets(password), None
        return
    tokens = TokenServer(tmp_path / "tokens", {USER: password})
    try:
        yield registry_factory(token=tokens), Secrets(password, tokens), tokens
    finally:
        tokens.stop()


def run_cli(
    argv: list[str],
    password: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str, str]:
    if password is None:
        monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)
    else:
        monkeypatch.setenv(cli.PASSWORD_ENV, password)
    code = cli.run(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_merge_plan_promote_with_the_right_credentials(
    auth_registry: AuthRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg, secrets, tokens = auth_registry
    password, creds = secrets.password, secrets.creds
    shas = [sha_of("auth one"), sha_of("auth two")]
    images = [seed_commit(reg.host, REPO, s, creds=creds) for s in shas]
    image = f"--image={reg.host}/{REPO}"
    outputs = []
    for version, sha in zip(("1.0.0", "1.1.0"), shas, strict=True):
        plan = ["plan", image, f"--version={version}", f"--sha={sha}", f"--username={USER}"]
        code, out, err = run_cli([*plan, "--json"], password, capsys, monkeypatch)
        assert (code, err) == (0, "") and json.loads(out)["dry_run"] is True
        outputs.append(out)
        merge_args = ["merge", *plan[1:], "--json"]
        code, out, err = run_cli(merge_args, password, capsys, monkeypatch)
        assert (code, err) == (0, ""), err
        report = json.loads(out)
        assert report["latest_moved"] is True and "latest-workers" in report["written"]
        outputs.append(out)
    check_release(reg.host, REPO, "1.1.0", shas[1], images[1], latest=True, creds=creds)

    rollback = ["promote", image, "--from=1.0.0-workers", f"--username={USER}", "--json"]
    code, out, err = run_cli(rollback, password, capsys, monkeypatch)
    assert (code, err) == (0, ""), err
    assert json.loads(out)["yanked"] == ["1.1.0"]
    outputs.append(out)
    old_index = check_release(reg.host, REPO, "1.0.0", shas[0], images[0], creds=creds)
    assert "1.1.0-workers-yanked" in list_tags_raw(reg.host, REPO, creds=creds)
    assert fetch_raw(reg.host, REPO, "latest-workers", creds=creds)[2] == old_index

    secrets.assert_absent(*outputs, caplog.text)
    if tokens is not None:
        assert len(secrets.values) > 2  # tokens were issued and are checked too
        pushes = [r for r in tokens.requests if any("push" in g for g in r.granted)]
        assert pushes and all(r.username == USER for r in pushes)


def test_status_and_promote_dry_run_read_with_pull_access_and_leak_nothing(
    auth_registry: AuthRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg, secrets, tokens = auth_registry
    password, creds = secrets.password, secrets.creds
    shas = [sha_of("status one"), sha_of("status two")]
    image = f"--image={reg.host}/{REPO}"
    for version, sha in zip(("1.0.0", "1.1.0"), shas, strict=True):
        seed_commit(reg.host, REPO, sha, creds=creds)
        merge_args = ["merge", image, f"--version={version}", f"--sha={sha}", f"--username={USER}"]
        assert run_cli(merge_args, password, capsys, monkeypatch)[0] == 0
    before = tag_digests(reg.host, REPO, creds=creds)
    if tokens is not None:
        tokens.requests.clear()

    outputs = []
    for argv in (
        ["status", image, f"--username={USER}", "--json"],
        ["status", image, f"--username={USER}"],
        ["promote", image, "--from=1.0.0-workers", "--dry-run", f"--username={USER}", "--json"],
        ["promote", image, "--from=1.0.0-workers", "--dry-run", f"--username={USER}"],
    ):
        code, out, err = run_cli(argv, password, capsys, monkeypatch)
        assert (code, err) == (0, ""), err
        outputs.append(out)
    assert json.loads(outputs[0])["latest"]["version"] == "1.1.0"
    assert json.loads(outputs[2])["yanked"] == ["1.1.0"]
    assert tag_digests(reg.host, REPO, creds=creds) == before
    secrets.assert_absent(*outputs, caplog.text)
    if tokens is not None:  # reading verbs ask for pull access only
        assert tokens.requests and all(
            scope.endswith(":pull") for r in tokens.requests for scope in r.scopes
        ), [r.scopes for r in tokens.requests]

    wrong = canary()
    secrets.values.append(wrong)
    for argv in (["status", image], ["promote", image, "--from=1.0.0-workers", "--dry-run"]):
        code, out, err = run_cli([*argv, f"--username={USER}"], wrong, capsys, monkeypatch)
        assert code == 1 and out == "" and "credentials" in err, err
        secrets.assert_absent(out, err)


def test_a_wrong_password_fails_clearly_and_leaks_nothing(
    auth_registry: AuthRegistry,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reg, secrets, _ = auth_registry
    right = secrets.creds
    sha = sha_of("auth wrong")
    seed_commit(reg.host, REPO, sha, creds=right)
    before = list_tags_raw(reg.host, REPO, creds=right)
    wrong = canary()
    secrets.values.append(wrong)
    common = [f"--image={reg.host}/{REPO}", f"--username={USER}", "--json"]
    for argv in (
        ["merge", *common, "--version=1.0.0", f"--sha={sha}"],
        ["plan", *common, "--version=1.0.0", f"--sha={sha}"],
        ["promote", *common, f"--from=workers-sha-{sha[:8]}"],
    ):
        code, out, err = run_cli(argv, wrong, capsys, monkeypatch)
        assert code == 1 and out == "", (argv[0], out, err)
        assert err.startswith(f"release-pipeline: {argv[0]} failed: ")
        assert reg.host in err and repr(USER) in err and "credentials" in err, err
        secrets.assert_absent(out, err)
    assert list_tags_raw(reg.host, REPO, creds=right) == before

    # The exception itself: message, repr, traceback, and the client and credentials.
    spec = release_spec(f"{reg.host}/{REPO}", "1.0.0", sha)
    credentials = Credentials(USER, wrong)
    async_client = RegistryClient.for_image(spec.image, credentials)

    async def attempt() -> ReleaseError:
        async with async_client as client:
            try:
                await merge(spec, client)
            except ReleaseError as exc:
                return exc
        raise AssertionError("merge with a wrong password succeeded")

    exc = anyio.run(attempt)
    assert isinstance(exc, AuthError)
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    texts += [repr(credentials), str(credentials), repr(exc.__cause__), repr(exc.__context__)]
    secrets.assert_absent(*texts, caplog.text)


def test_the_token_never_shows_even_when_a_push_is_refused(
    registry_factory: RegistryFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A token that may pull but not push: the merge fails on its first write, clearly,
    without the token or the password in the message."""
    password, writer = canary(), canary()
    tokens = TokenServer(
        tmp_path / "tokens", {USER: password, "writer": writer}, permissions={USER: {"pull"}}
    )
    try:
        reg = registry_factory(token=tokens)
        secrets = Secrets(password, tokens)
        sha = sha_of("auth read-only")
        seed_commit(reg.host, REPO, sha, creds=("writer", writer))
        argv = ["merge", f"--image={reg.host}/{REPO}", "--version=1.0.0", f"--sha={sha}"]
        code, out, err = run_cli([*argv, f"--username={USER}"], password, capsys, monkeypatch)
        assert code == 1 and out == ""
        assert reg.host in err and repr(USER) in err, err
        assert "did not grant the access PUT /v2/auth/app/manifests/" in err, err
        assert "insufficient_scope" in err, err
        assert len(secrets.values) > 2  # a token was issued: it is in the forbidden list
        secrets.assert_absent(out, err)
        assert list_tags_raw(reg.host, REPO, creds=("writer", writer)) == [
            f"workers-sha-{sha[:8]}-amd64",
            f"workers-sha-{sha[:8]}-arm64",
        ]
    finally:
        tokens.stop()


def test_authorization_is_never_sent_to_the_host_a_blob_redirects_to(
    auth_registry: AuthRegistry,
    proxy_factory: ProxyFactory,
    sink: Sink,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg, secrets, _ = auth_registry
    creds = secrets.creds
    sha = sha_of("auth redirect")
    images = seed_commit(reg.host, REPO, sha, creds=creds)
    proxy = proxy_factory(reg.host, hostile=Hostile(redirect_blobs_to=sink))
    argv = ["merge", f"--image={proxy.host}/{REPO}", "--version=1.0.0", f"--sha={sha}"]
    code, out, err = run_cli([*argv, f"--username={USER}"], creds[1], capsys, monkeypatch)
    assert (code, err) == (0, ""), err
    check_release(reg.host, REPO, "1.0.0", sha, images, creds=creds)
    configs = [r for r in sink.requests if "/blobs/" in r.path]
    assert len(configs) == 2  # both image configs were read from the other host
    assert all(sink.host.startswith("127.0.0.2:") for _ in configs)
    for request in sink.requests:
        assert "authorization" not in request.headers, request.headers
        secrets.assert_absent(json.dumps(request.headers))
    secrets.assert_absent(out)


def test_credentials_repr_and_anonymous_refusal(
    htpasswd_registry: Registry,
    creds: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert creds[1] not in repr(Credentials(*creds))
    sha = sha_of("auth anon")
    seed_commit(htpasswd_registry.host, REPO, sha, creds=creds)
    argv = ["merge", f"--image={htpasswd_registry.host}/{REPO}", "--version=1.0.0", f"--sha={sha}"]
    code, out, err = run_cli(argv, None, capsys, monkeypatch)
    assert code == 1 and out == ""
    assert htpasswd_registry.host in err and "requires credentials" in err, err
