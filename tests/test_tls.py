"""TLS registries: the system trust store, private CAs, the scheme flag and readable errors.

Every registry here is Debian's docker-registry serving HTTPS with a certificate from a CA the
test makes (`support.tls`), on 127.0.0.1. Attempts are counted by a TCP relay in front of it
(`support.relay`): a failed handshake never becomes an HTTP request, but every attempt opens
a connection. SSL_CERT_FILE and SSL_CERT_DIR are removed from the environment for every test
(this machine's own environment sets them), so "the system store" means just that.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import RegistryFactory
from dagger.mod._exceptions import FunctionError
from support.images import push_arch_images
from support.registry import Registry, free_port
from support.relay import Relay
from support.tls import (
    TestCA,
    env_without_trust_overrides,
    run_with_system_store,
    system_store_with,
)
from support.tokens import TokenServer

from release_pipeline.cli import app as cli
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import RegistryError
from release_pipeline.registry.auth import Credentials
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.registry.transport import USE_HTTPS, USE_PLAIN_HTTP, use_plain_http
from release_pipeline.rules.inputs import parse_image

REPO = "team/app"
ROOT = Path(__file__).resolve().parents[1]
SHA = "5ecc0de5" + "7" * 32
RelayFactory = Callable[[str], Relay]
MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def no_trust_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "ca")


@pytest.fixture
def tls_registry(registry_factory: RegistryFactory, ca: TestCA) -> Registry:
    """HTTPS only, certificate for IP 127.0.0.1 (so `localhost` is the wrong name)."""
    return registry_factory(tls=ca.issue("registry", ips=["127.0.0.1"]))


@pytest.fixture
def relay() -> Iterator[RelayFactory]:
    started: list[Relay] = []

    def factory(upstream: str) -> Relay:
        started.append(Relay(upstream))
        return started[-1]

    yield factory
    for each in started:
        each.stop()


def merge_args(host: str, *extra: str) -> list[str]:
    return ["merge", f"--image={host}/{REPO}", "--version=1.0.0", f"--sha={SHA}", *extra]


def fails_at_once(front: Relay, argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI exits 1 after one connection through `front`: a TLS/scheme mismatch cannot
    succeed, so it is not retried. Returns stderr."""
    assert cli.run(argv) == 1
    err = capsys.readouterr().err
    assert front.connections == 1, err
    return err


def skopeo_raw(host: str, tag: str, ca: TestCA, tmp_path: Path) -> bytes:
    """The manifest under `tag`, read by skopeo verifying TLS against `ca` only."""
    certs = tmp_path / "skopeo-certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(ca.pem, certs / "ca.crt")
    done = subprocess.run(
        ["skopeo", "inspect", "--raw", "--cert-dir", str(certs), f"docker://{host}/{REPO}:{tag}"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_a_ca_added_with_update_ca_certificates_is_trusted_by_a_full_merge(
    tls_registry: Registry, ca: TestCA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The user's path: add the CA with update-ca-certificates, then merge over HTTPS.

    How the system store is changed without changing the machine: `update-ca-certificates`
    itself builds the store (the machine's CAs plus ours) into a temporary directory, and the
    CLI runs in its own mount namespace with that directory bound over /etc/ssl/certs. It
    reads the real system path, with SSL_CERT_FILE/SSL_CERT_DIR unset; no other process sees
    the mount, and it disappears with the process even if the test is killed. Installing the
    CA for real (and removing it in a finalizer) would briefly trust a test CA machine-wide,
    race with other test runs calling update-ca-certificates, and stay trusted if the run
    died before its finalizer.
    """
    pushed = push_arch_images(tls_registry.host, REPO, SHA[:8])
    args = merge_args(tls_registry.host, "--no-plain-http", "--json")

    # Control: the same command against the machine's store fails: the CA is not in it.
    assert cli.run(args) == 1
    assert "certificate not trusted" in capsys.readouterr().err

    store = system_store_with(ca, tmp_path / "store")
    argv = [sys.executable, "-m", "release_pipeline", *args]
    done = run_with_system_store(store, argv, env_without_trust_overrides())
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["latest_moved"] is True

    # skopeo, verifying TLS on its own, reads back an index of exactly the pushed images.
    raw = skopeo_raw(tls_registry.host, "1.0.0-workers", ca, tmp_path)
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == report["index_digest"]
    children = {m["digest"] for m in json.loads(raw)["manifests"]}
    assert children == set(pushed.values())
    assert skopeo_raw(tls_registry.host, "latest-workers", ca, tmp_path) == raw


def test_ssl_cert_file_and_ssl_cert_dir_are_honoured(
    tls_registry: Registry, ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_arch_images(tls_registry.host, REPO, SHA[:8])
    args = ["plan", *merge_args(tls_registry.host, "--no-plain-http")[1:]]
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))
    assert cli.run(args) == 0
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", str(system_store_with(ca, tmp_path / "store")))
    assert cli.run(args) == 0


def test_an_unknown_ca_fails_at_once_naming_the_host_and_the_fix(
    tls_registry: Registry, relay: RelayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    front = relay(tls_registry.host)
    err = fails_at_once(front, merge_args(front.host, "--no-plain-http"), capsys)
    assert f"on {front.host}: certificate not trusted" in err, err
    assert "unable to get local issuer certificate" in err
    assert "update-ca-certificates" in err and "SSL_CERT_FILE" in err
    assert "not retried" in err


def test_a_certificate_for_another_name_fails_at_once_as_a_hostname_mismatch(
    tls_registry: Registry,
    ca: TestCA,
    relay: RelayFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))  # trusted: only the name is wrong
    front = relay(tls_registry.host)
    wrong_name = "localhost:" + front.host.rsplit(":", 1)[1]  # the certificate names 127.0.0.1
    err = fails_at_once(front, merge_args(wrong_name, "--no-plain-http"), capsys)
    assert f"on {wrong_name}: hostname mismatch" in err, err
    assert "not valid for 'localhost'" in err and "not retried" in err


def test_plain_http_to_an_https_registry_says_to_use_no_plain_http(
    tls_registry: Registry, relay: RelayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Loopback defaults to plain HTTP; the registry's 400 reaches the user with the fix."""
    front = relay(tls_registry.host)
    err = fails_at_once(front, merge_args(front.host), capsys)
    assert f"on {front.host}: the registry speaks HTTPS and refused plain HTTP" in err, err
    assert USE_HTTPS in err and "--no-plain-http" in err


def test_https_to_a_plain_http_registry_says_to_use_plain_http(
    registry: Registry, relay: RelayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    front = relay(registry.host)
    err = fails_at_once(front, merge_args(front.host, "--no-plain-http"), capsys)
    assert f"on {front.host}: it answered the TLS handshake in plain HTTP" in err, err
    assert USE_PLAIN_HTTP in err and "not retried" in err


def every_verb() -> list[str]:
    subcommands = next(a for a in cli.parser()._actions if a.dest == "command")
    # preflight reads a local checkout and no registry: it has no scheme to choose.
    return sorted(v for v in subcommands.choices or {} if v != "preflight")


# What each verb needs besides --image. A verb added to the CLI fails the test below until it
# is listed here, so no verb can miss the scheme flag.
VERB_ARGS = {
    "merge": ["--version=1.0.0", f"--sha={SHA}"],
    "plan": ["--version=1.0.0", f"--sha={SHA}"],
    "promote": ["--from=1.0.0-workers"],
    "status": [],
}


def verb_args(verb: str, image: str, tmp_path: Path) -> list[str]:
    """What each verb needs before it sends its first request: pin reads its manifests
    first, channel checks its commit is in the checkout."""
    if verb == "pin":
        (tmp_path / "deploy.yaml").write_text(
            "kind: Pod\nspec:\n  containers:\n    - image: " + image + ":latest-workers\n"
        )
        return ["--version=1.0.0", f"--manifests={tmp_path}"]
    if verb == "channel":
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout.strip()
        return ["--channel=edge", f"--sha={head}", "--platform=linux/amd64", f"--git-dir={ROOT}"]
    return VERB_ARGS[verb]


@pytest.mark.parametrize("verb", every_verb())
def test_every_verb_honours_the_scheme_flag(
    verb: str,
    registry: Registry,
    relay: RelayFactory,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """--no-plain-http reaches the registry client of every verb: HTTPS to a plain registry."""
    front = relay(registry.host)
    image = f"{front.host}/{REPO}"
    args = [verb, f"--image={image}", *verb_args(verb, image, tmp_path)]
    assert cli.parser().parse_args(args).plain_http is None
    assert cli.parser().parse_args([*args, "--plain-http"]).plain_http is True
    err = fails_at_once(front, [*args, "--no-plain-http"], capsys)
    assert "it answered the TLS handshake in plain HTTP" in err, err


def test_the_scheme_rule() -> None:
    """Auto: plain HTTP for loopback only; an explicit choice wins either way."""
    remote, local = parse_image("registry.example.com/a/b"), parse_image("127.0.0.1:5000/a/b")
    assert [use_plain_http(remote, c) for c in (None, True, False)] == [False, True, False]
    assert [use_plain_http(local, c) for c in (None, True, False)] == [True, True, False]


def test_plain_http_can_be_asked_for_explicitly(registry: Registry) -> None:
    push_arch_images(registry.host, REPO, SHA[:8])
    assert cli.run(merge_args(registry.host, "--plain-http")) == 0


async def test_the_dagger_constructor_chooses_the_scheme_too(
    tls_registry: Registry, ca: TestCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    push_arch_images(tls_registry.host, REPO, SHA[:8])
    image = f"{tls_registry.host}/{REPO}"
    args = {"version": "1.0.0", "sha": SHA}
    with pytest.raises(FunctionError) as caught:
        await MODULE.get_result("ReleasePipeline", {"image": image}, "plan", args)
    assert "--plain-http=false" in str(caught.value.__cause__)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))
    state = {"image": image, "plain_http": False}
    planned = await MODULE.get_result("ReleasePipeline", state, "merge", args)
    assert planned["latest_moved"] is True


async def test_connection_refused_is_retried_then_explained() -> None:
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    policy = RetryPolicy(attempts=3, base_delay=0.001)
    async with RegistryClient(host, secure=False, retry=policy) as client:
        with pytest.raises(RegistryError) as caught:
            await client.list_tags(REPO)
        assert client.stats.total == 3
    message = str(caught.value)
    assert f"on {host}: connection refused; gave up after 3 attempts" in message, message
    assert "registry is running" in message


DNS_PROBE = """
import asyncio, sys
from release_pipeline.errors import RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.retries import RetryPolicy

async def main():
    policy = RetryPolicy(attempts=2, base_delay=0.001)
    async with RegistryClient("registry.invalid", retry=policy) as client:
        try:
            await client.list_tags("team/app")
        except RegistryError as exc:
            print(exc, client.stats.total)

asyncio.run(main())
"""


def test_a_name_that_does_not_resolve_is_named_as_dns() -> None:
    """A real resolver failure with nothing sent anywhere: in a new network namespace there is
    no interface at all, so the lookup fails inside the machine (gaierror EAI_AGAIN)."""
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", DNS_PROBE],
        env=env_without_trust_overrides(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.startswith(
        "GET /v2/team/app/tags/list on registry.invalid: its name does not resolve (DNS) ("
    ), done.stdout
    assert done.stdout.rstrip().endswith(
        "gave up after 2 attempts. Check the registry host name and this machine's DNS. 2"
    ), done.stdout


async def test_an_untrusted_token_realm_fails_at_once_naming_the_realm_host(
    registry_factory: RegistryFactory,
    token_server: TokenServer,
    tls_registry: Registry,
    relay: RelayFactory,
    creds: tuple[str, str],
) -> None:
    """The token request is checked like every other: here the realm's CA is unknown."""
    realm = relay(tls_registry.host)
    registry = registry_factory(
        token=token_server, extra_config={"auth": {"token": {"realm": f"https://{realm.host}/t"}}}
    )
    user = Credentials(*creds)
    async with RegistryClient(registry.host, secure=False, credentials=user) as client:
        with pytest.raises(RegistryError) as caught:
            await client.list_tags(REPO)
    message = str(caught.value)
    assert realm.connections == 1, message
    assert f"GET /t on {realm.host}: certificate not trusted" in message, message
    assert creds[1] not in message
