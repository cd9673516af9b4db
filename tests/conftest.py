"""Fixtures over tests/support: real registries, proxies, token servers and tiny images.

Each fixture owns what it starts and stops it at teardown, so no registry process or server
thread outlives its test. Support modules import as `support.*` (pytest puts tests/ on
sys.path because tests/ has no __init__.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ops_repo
import pytest
from support.images import push_arch_images
from support.proxy import Proxy, start_proxy
from support.registry import TEST_CREDS, Registry, start_registry
from support.scratch_repo import fixture_git_repo
from support.sink import Sink, start_sink
from support.tokens import TokenServer
from support.workflows import RELEASE, ROLLBACK, load

from release_pipeline.cli import app as cli
from release_pipeline.dagger import engine

RegistryFactory = Callable[..., Registry]
ProxyFactory = Callable[..., Proxy]


@pytest.fixture(autouse=True)
def no_registry_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts anonymous: a REGISTRY_PASSWORD left in the caller's environment would
    otherwise make the CLI demand --username (exit 2) or send credentials a test did not choose.
    Tests that need a password set it themselves with monkeypatch.setenv."""
    monkeypatch.delenv(cli.PASSWORD_ENV, raising=False)


@pytest.fixture(autouse=True)
def functions_share_this_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Module functions run in-process here, on the machine that holds the loopback test
    registries; in a real `dagger call` they run in the module's container, which cannot
    reach them, and a loopback --image without --registry-service is refused. Tests of that
    refusal set `engine.MODULE_SHARES_CALLER_NETWORK` back to False."""
    monkeypatch.setattr(engine, "MODULE_SHARES_CALLER_NETWORK", True)


@pytest.fixture
def registry_factory(tmp_path: Path) -> Iterator[RegistryFactory]:
    """Start extra registries: factory(**start_registry kwargs); each gets its own storage."""
    started: list[Registry] = []

    def factory(**kwargs: Any) -> Registry:
        reg = start_registry(tmp_path / f"registry-{len(started)}", **kwargs)
        started.append(reg)
        return reg

    yield factory
    for reg in started:
        reg.stop()


@pytest.fixture
def registry(registry_factory: RegistryFactory) -> Registry:
    """A fresh, empty, anonymous registry on 127.0.0.1 for this test."""
    return registry_factory()


@pytest.fixture
def htpasswd_registry(registry_factory: RegistryFactory) -> Registry:
    """A registry with Basic auth accepting TEST_CREDS."""
    return registry_factory(htpasswd=TEST_CREDS)


@pytest.fixture
def token_server(tmp_path: Path) -> Iterator[TokenServer]:
    """A GHCR-like token server that knows TEST_CREDS."""
    server = TokenServer(tmp_path / "token-server", {TEST_CREDS[0]: TEST_CREDS[1]})
    yield server
    server.stop()


@pytest.fixture
def token_registry(registry_factory: RegistryFactory, token_server: TokenServer) -> Registry:
    """A registry with Bearer auth: tokens from `token_server` (pull/push for TEST_CREDS)."""
    return registry_factory(token=token_server)


@pytest.fixture
def creds() -> tuple[str, str]:
    """The credentials the auth-enabled fixtures accept."""
    return TEST_CREDS


@pytest.fixture
def proxy_factory() -> Iterator[ProxyFactory]:
    """factory(upstream_host, **start_proxy kwargs) -> Proxy; all stopped at teardown."""
    started: list[Proxy] = []

    def factory(upstream: str, **kwargs: Any) -> Proxy:
        proxy = start_proxy(upstream, **kwargs)
        started.append(proxy)
        return proxy

    yield factory
    for proxy in started:
        proxy.stop()


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A redirect target on 127.0.0.2 that records request headers."""
    server = start_sink()
    yield server
    server.stop()


@pytest.fixture
def two_arch_images() -> Callable[..., dict[str, str]]:
    """push(host, repo, sha8, flavor="workers", archs=("amd64", "arm64"), seed="",
    docker_format=False, creds=None) -> {"workers-sha-<sha8>-amd64": digest, ...}."""
    return push_arch_images


@pytest.fixture
def release() -> dict[str, Any]:
    """The reusable release workflow, .github/workflows/release.yml, parsed (read-only)."""
    return load(RELEASE)


@pytest.fixture
def rollback() -> dict[str, Any]:
    """The reusable rollback workflow, .github/workflows/rollback.yml, parsed (read-only)."""
    return load(ROLLBACK)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch git repository of the TestPlanIt-shaped fixture that the example callers run
    in: tags v0.22.8 and v1.0.0-beta.1 on one commit, main one commit past them."""
    return fixture_git_repo(tmp_path / "repo", tags=("v0.22.8", "v1.0.0-beta.1"))


@pytest.fixture
def pin_history(registry: Registry, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """tests/ops_repo.py's history and a newer workers 0.22.9: what the pin properties pin
    (0.22.7) and check against (0.22.9). 'host', and 'digests' by 'flavor/version'."""
    digests = ops_repo.seed_history(registry.host, capsys)
    digests["workers/0.22.9"] = ops_repo.release(registry.host, capsys, "0.22.9", "w9")
    return {"host": registry.host, "digests": digests}
