"""How registries are reached: every --image / --registry-service / --plain-http combination
works as the engine does it, or is refused before anything is built or the engine is called.

The engine's behaviour is read in its source (see `registry.routes`); what is run here
is our side: the route chosen, the refusals, and real requests (plain HTTP and TLS through a
relay standing in for a service endpoint) carrying the names the engine's push would carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import RegistryFactory
from dagger.client._core import Context
from dagger.mod._exceptions import FunctionError
from hypothesis import given
from hypothesis import strategies as st
from support.images import push_arch_images
from support.relay import Relay
from support.sink import Sink
from support.tls import TestCA

from release_pipeline.cli import app as cli
from release_pipeline.dagger import engine
from release_pipeline.dagger.main import ReleasePipeline
from release_pipeline.errors import InvalidInput, RegistryError
from release_pipeline.registry.client import RegistryClient
from release_pipeline.registry.routes import Proxies, cli_route, engine_plain_http, module_route
from release_pipeline.rules.inputs import parse_image
from release_pipeline.rules.specs import release_spec
from release_pipeline.verbs import release

REPO = "team/app"
SHA = "a0a0a0a0" + "1" * 32
MODULE = ReleasePipeline.__dagger_module__  # type: ignore[attr-defined]
NO_ENV: dict[str, str] = {}


def route(image: str, *, service: bool = False, plain_http: bool | None = None, env=NO_ENV):
    return module_route(parse_image(image), service=service, plain_http=plain_http, env=env)


# --- the rule, combination by combination ------------------------------------------------


@pytest.mark.parametrize(
    "image,service,plain_http,origin",
    [
        # A registry on the caller's machine, through a service: the engine's localhost rule.
        ("localhost:5000/a/b", True, None, "http://localhost:5000"),
        ("127.0.0.1:5000/a/b", True, None, "http://127.0.0.1:5000"),
        ("[::1]:5000/a/b", True, None, "http://[::1]:5000"),
        # containerd's MatchLocalhost is those three names only: 127.0.0.2 is HTTPS to it.
        ("127.0.0.2:5000/a/b", True, None, "https://127.0.0.2:5000"),
        # Any other name is HTTPS for the engine, service or not (was plain HTTP here).
        ("registry.internal:5000/a/b", True, None, "https://registry.internal:5000"),
        ("ghcr.io/org/app", False, None, "https://ghcr.io"),
        # An explicit choice: the caller's word that engine.json says the same.
        ("registry.internal:5000/a/b", True, True, "http://registry.internal:5000"),
        ("localhost:5000/a/b", True, False, "https://localhost:5000"),
        # Docker Hub is requested at its API host, as registryhosts.go does.
        ("docker.io/library/node", False, None, "https://registry-1.docker.io"),
        ("index.docker.io/org/app", False, None, "https://registry-1.docker.io"),
    ],
)
def test_a_function_reaches_the_registry_by_the_engines_name_and_scheme(
    image, service, plain_http, origin
):
    chosen = route(image, service=service, plain_http=plain_http)
    assert chosen.origin == origin and chosen.service is service


def test_the_engines_plain_http_hosts_are_containerds_localhost_names():
    assert all(engine_plain_http(h) for h in ("localhost", "localhost:5000", "127.0.0.1:1", "::1"))
    assert not any(engine_plain_http(h) for h in ("localhost.example", "127.0.0.2", "10.0.0.1"))


def test_the_service_is_dialled_on_the_images_port_or_the_schemes():
    assert route("registry.internal:5000/a/b", service=True).port == 5000
    assert route("registry.internal/a/b", service=True).port == 443
    assert route("registry.internal/a/b", service=True, plain_http=True).port == 80


REFUSED = [
    pytest.param(
        {"image": "localhost:5000/a/b"}, "image", "--registry-service=tcp://localhost:PORT",
        id="loopback-image-without-service",
    ),
    pytest.param(
        {"image": "127.0.0.1:5000/a/b", "plain_http": True},
        "image", "the module's own container", id="loopback-ip-without-service",
    ),
    pytest.param(
        {"image": "docker.io/org/app", "registry_service": "Service:x"},
        "registry_service", "would be bypassed", id="docker-hub-with-service",
    ),
    pytest.param(
        {"image": "docker.io/node"}, "image", "docker.io/library/node",
        id="docker-hub-no-namespace",
    ),
    pytest.param(
        {"image": "", "plain_http": False}, "plain_http", "throwaway", id="throwaway-https",
    ),
]  # fmt: skip


@pytest.mark.parametrize("state,field,advice", REFUSED)
@pytest.mark.parametrize(
    "function,args",
    [
        ("release", {"source": "Directory:x", "version": "1.0.0", "sha": SHA,
                     "smoke_command": ["true"]}),
        ("publish_platform", {"source": "Directory:x", "version": "1.0.0", "sha": SHA,
                              "platform": "linux/amd64", "smoke_command": ["true"]}),
        ("merge", {"version": "1.0.0", "sha": SHA}),
        ("status", {}),
    ],
)  # fmt: skip
async def test_a_combination_that_cannot_work_is_refused_before_any_engine_call(
    state, field, advice, function, args, monkeypatch
):
    monkeypatch.setattr(engine, "MODULE_SHARES_CALLER_NETWORK", False)
    queries: list[str] = []

    async def engine_call(self: Context, return_type: object = None) -> object:
        queries.append(self.selections[-1].name)
        raise AssertionError("an engine call was made")

    monkeypatch.setattr(Context, "execute", engine_call)
    if not state["image"] and function != "release":
        field, advice = "image", "only release can use the throwaway registry"
    with pytest.raises(FunctionError) as err:
        await MODULE.get_result("ReleasePipeline", state, function, args)
    cause = err.value.__cause__
    assert isinstance(cause, InvalidInput), err.value
    assert cause.field == field and advice in str(cause)
    assert queries == []


def test_a_service_that_a_proxy_would_swallow_is_refused_with_what_to_do():
    env = {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": "localhost,.corp"}
    with pytest.raises(InvalidInput) as err:
        route("registry.internal:5000/a/b", service=True, env=env)
    assert err.value.field == "registry_service" and "NO_PROXY" in str(err.value)
    # Excluded, or a localhost name Go never proxies: the engine dials the service itself.
    assert route("registry.corp:5000/a/b", service=True, env=env).service
    assert route("localhost:5000/a/b", service=True, env=env).service


def test_the_cli_reaches_loopback_registries_and_docker_hub_too():
    assert cli_route(parse_image("127.0.0.2:5000/a/b"), None, NO_ENV).origin == (
        "http://127.0.0.2:5000"
    )
    assert cli_route(parse_image("docker.io/org/app"), None, NO_ENV).host == "registry-1.docker.io"
    with pytest.raises(InvalidInput):
        cli_route(parse_image("docker.io/node"), None, NO_ENV)


def test_the_cli_refuses_a_docker_hub_image_without_namespace_before_any_request(capsys):
    argv = ["status", "--image=docker.io/node"]
    assert cli.run(argv) == 2
    assert "docker.io/library/node" in capsys.readouterr().err


# --- proxies: Go's ProxyFromEnvironment, not httpx's trust_env --------------------------


def proxied(url_host: str, env: dict[str, str], scheme: str = "https") -> str | None:
    return Proxies.from_env(env).for_url(scheme, url_host, None)


@pytest.mark.parametrize(
    "host,no_proxy,used",
    [
        ("ghcr.io", "", True),
        ("ghcr.io", "ghcr.io", False),
        ("pkg.ghcr.io", "ghcr.io", False),  # a domain covers its subdomains
        ("badghcr.io", "ghcr.io", True),  # but not names that merely end the same
        ("ghcr.io", ".ghcr.io", True),  # a leading dot: subdomains only
        ("x.ghcr.io", "*.ghcr.io", False),
        ("ghcr.io", "ghcr.io:8443", True),  # the port must match when given
        ("10.1.2.3", "10.0.0.0/8", False),
        ("10.1.2.3", "10.1.2.3", False),
        ("10.1.2.3", "*", False),
        ("localhost", "", False),  # Go never proxies loopback; httpx would
        ("127.0.0.9", "", False),
        ("::1", "", False),
    ],
)
def test_proxy_choice_follows_go(host, no_proxy, used):
    env = {"HTTPS_PROXY": "proxy.corp:3128", "NO_PROXY": no_proxy}
    assert (proxied(host, env) == "http://proxy.corp:3128") is used


def test_proxy_variables_as_go_reads_them():
    assert proxied("ghcr.io", {"https_proxy": "http://p:1"}) == "http://p:1"
    assert proxied("ghcr.io", {"HTTPS_PROXY": "http://P:1", "https_proxy": "http://p:1"}) == (
        "http://P:1"
    )
    assert proxied("ghcr.io", {"ALL_PROXY": "http://p:1"}) is None  # httpx reads it, Go not
    assert proxied("ghcr.io", {"HTTP_PROXY": "http://p:1"}) is None  # http only
    assert proxied("ghcr.io", {"HTTP_PROXY": "http://p:1"}, "http") == "http://p:1"
    cgi = {"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}
    assert proxied("ghcr.io", cgi, "http") is None


@given(
    st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8}){0,2}", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}\.[a-z]{2,3}", fullmatch=True),
)
def test_a_no_proxy_domain_covers_exactly_itself_and_its_subdomains(label, domain):
    env = {"HTTPS_PROXY": "http://p:1", "NO_PROXY": f" x.invalid , {domain.upper()} "}
    assert proxied(domain, env) is None
    assert proxied(f"{label}.{domain}", env) is None
    assert proxied(f"{label}{domain}", env) == "http://p:1"


# --- real requests: the names on the wire ------------------------------------------------


@dataclass
class EndpointService:
    """A started service whose endpoint is `address` on the port asked for: what
    `Service.endpoint(port=)` returns in the engine, here a local listener."""

    address: str

    async def start(self) -> EndpointService:
        return self

    async def endpoint(self, *, port: int) -> str:
        return f"{self.address}:{port}"


async def test_through_a_plain_http_service_the_registry_gets_the_images_host_name(
    registry, sink_in_front
):
    """`--image=localhost:PORT/...` with a service: requests are dialled at the service and
    carry `Host: localhost:PORT`, the name the engine's push sends."""
    push_arch_images(registry.host, REPO, SHA[:8])
    front = sink_in_front(registry.host)
    port = front.host.rpartition(":")[2]
    service = EndpointService("127.0.0.2")
    dest = await engine.destination(f"localhost:{port}/{REPO}", "", None, service)  # type: ignore[arg-type]
    async with dest.client(push=False) as client:
        tags = await client.list_tags(REPO)
    assert sorted(tags) == [f"workers-sha-{SHA[:8]}-amd64", f"workers-sha-{SHA[:8]}-arm64"]
    assert {r.headers["host"] for r in front.requests} == {f"localhost:{port}"}


async def test_through_an_https_service_tls_checks_the_registrys_own_name(
    registry_factory: RegistryFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The registry's certificate names only `registry.test`, a name no DNS knows; the
    client dials the relay (the service endpoint) and still verifies `registry.test`, so a
    whole merge goes through. Dialling the endpoint by its own name fails the check."""
    ca = TestCA(tmp_path / "ca")
    tls = registry_factory(tls=ca.issue("registry", dns=["registry.test"]))
    push_arch_images(tls.host, REPO, SHA[:8])
    relay = Relay(tls.host)
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.pem))
        port = relay.host.rpartition(":")[2]
        image = f"registry.test:{port}/{REPO}"
        dest = await engine.destination(image, "", None, EndpointService("127.0.0.1"))  # type: ignore[arg-type]
        assert dest.route.origin == f"https://registry.test:{port}"
        async with dest.client() as client:
            done = await release.merge(release_spec(image, "1.0.0", SHA), client)
        assert done.pinned.startswith(f"{image}@sha256:") and relay.connections >= 1
        # What the module did before: the endpoint as the host, checked against its name.
        async with RegistryClient(relay.host, secure=True) as wrong:
            with pytest.raises(RegistryError, match="hostname mismatch"):
                await wrong.list_tags(REPO)
    finally:
        relay.stop()


async def test_a_service_is_dialled_directly_even_when_a_proxy_would_take_its_host(registry, sink):
    push_arch_images(registry.host, REPO, SHA[:8])
    proxies = Proxies(http=f"http://{sink.host}")
    name = "registry.test:5000"
    async with RegistryClient(name, secure=False, proxies=proxies, dial=registry.host) as c:
        assert len(await c.list_tags(REPO)) == 2
    assert sink.requests == []


async def test_other_hosts_follow_the_proxy_environment_as_go_does(registry, sink, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://{sink.host}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # A loopback registry is reached directly (httpx's trust_env would send it to the proxy).
    push_arch_images(registry.host, REPO, SHA[:8])
    async with RegistryClient(registry.host, secure=False) as direct:
        assert len(await direct.list_tags(REPO)) == 2
    assert sink.requests == []
    async with RegistryClient("registry.example:5000", secure=False) as remote:
        with pytest.raises(RegistryError):
            await remote.list_tags(REPO)
    assert sink.requests[0].path.startswith("http://registry.example:5000/v2/team/app/tags/list")


@pytest.fixture
def sink_in_front():
    started: list[Sink] = []

    def factory(upstream: str) -> Sink:
        started.append(Sink("127.0.0.2", upstream))
        return started[-1]

    yield factory
    for each in started:
        each.stop()
