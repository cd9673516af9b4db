"""How a registry request travels: the one rule for the CLI and the Dagger functions.

The Dagger functions read and write with our own client while the engine pulls and pushes
with its own; both must reach the same registry by the same name, scheme and TLS server
name, or a release fails after every build and smoke test ran. So each combination of
`--image`, `--registry-service` and `--plain-http` is decided here, before anything is built
or any engine call is made: it either gets the route the engine would take, or it is
refused with `InvalidInput` naming the combination and what to do.

The engine's side, read in dagger/dagger branch backport-0.21 (not run here):
- `engine/server/registryhosts.go` `newRegistryHosts`: `docker.io` is requested as
  `registry-1.docker.io`; `applyRegistryHostConfig` picks plain HTTP only for a host
  configured so in engine.json, else for containerd's `docker.MatchLocalhost`
  (`localhost`, `127.0.0.1`, `::1`, with or without a port; not the rest of 127.0.0.0/8);
  everything else is HTTPS. Its transport is containerd's `DefaultHTTPTransport`, whose proxy
  is Go's `http.ProxyFromEnvironment`.
- `core/container.go` `ContainerRegistryServiceBinding` normalises the image reference
  (`index.docker.io` becomes `docker.io`) and aliases its host name, port dropped, to the
  service; `engine/sources/netconfhttp/transport.go` `NewDialTransportWithHostAliases`
  redirects only the TCP dial of that name (the port stays the image's) and keeps the
  request host and the TLS server name as the registry's.
- `engine/engineutil/executor_spec.go` `setProxyEnvs` copies the engine's `HTTP_PROXY`,
  `HTTPS_PROXY` and `NO_PROXY` (both cases) into every container, the module's too: what
  `os.environ` holds inside a function is what the engine itself follows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from release_pipeline.errors import InvalidInput
from release_pipeline.rules.inputs import ImageRef, is_loopback_host

DOCKER_HUB_NAMES = frozenset({"docker.io", "index.docker.io"})
DOCKER_HUB_API = "registry-1.docker.io"
_ENGINE_LOCALHOST = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Proxies:
    """The proxy settings of an environment, applied as Go's `http.ProxyFromEnvironment`
    (golang.org/x/net/http/httpproxy) applies them, which is what the engine follows.

    httpx's own `trust_env` differs: it also reads ALL_PROXY, and it proxies loopback
    hosts that Go always reaches directly. So our clients never let httpx read the
    environment; they ask `for_url` per request.
    """

    http: str | None = None
    https: str | None = None
    no_proxy: str = ""
    cgi: bool = False  # REQUEST_METHOD set: Go ignores HTTP_PROXY (httpoxy)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Proxies:
        def first(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        return cls(
            http=_proxy_url(first("HTTP_PROXY", "http_proxy")),
            https=_proxy_url(first("HTTPS_PROXY", "https_proxy")),
            no_proxy=first("NO_PROXY", "no_proxy") or "",
            cgi=bool(env.get("REQUEST_METHOD")),
        )

    def for_url(self, scheme: str, host: str, port: int | None) -> str | None:
        """The proxy a request to scheme://host:port goes through, or None: direct."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or (scheme == "http" and self.cgi):
            return None
        port = port or (443 if scheme == "https" else 80)
        return proxy if _use_proxy(host.strip("[]").lower(), str(port), self.no_proxy) else None


@dataclass(frozen=True)
class Route:
    """Where our client sends a registry's requests, as the engine would send its own."""

    host: str  # host[:port] in every URL, the Host header, the TLS server name and cert check
    secure: bool  # https, else plain http
    service: bool  # the dial of `host` goes to a Dagger service's endpoint, never to a proxy
    proxies: Proxies  # for every other request (token realms, blob redirects, `host` itself)

    @property
    def origin(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"

    @property
    def port(self) -> int:
        """The port the engine dials on the service: the image's, else the scheme's."""
        _, port = split_host_port(self.host)
        return port or (443 if self.secure else 80)


def api_host(image: ImageRef) -> str:
    """The host the registry API is requested from: Docker Hub's names map to its API host."""
    return DOCKER_HUB_API if image.host in DOCKER_HUB_NAMES else image.host


def engine_plain_http(host: str) -> bool:
    """containerd's `docker.MatchLocalhost`, the engine's default for plain HTTP."""
    return any(
        host == name or (host.startswith(name) and host[len(name)] == ":")
        for name in _ENGINE_LOCALHOST
    )


def use_plain_http(image: ImageRef, choice: bool | None) -> bool:
    """The CLI's scheme: plain HTTP for any loopback host (docker's rule) unless told."""
    return image.loopback if choice is None else choice


def cli_route(image: ImageRef, plain_http: bool | None, env: Mapping[str, str]) -> Route:
    """The CLI runs where it is started, so a loopback registry is this machine's."""
    _check_docker_hub(image, service=False)
    return Route(
        api_host(image), not use_plain_http(image, plain_http), False, Proxies.from_env(env)
    )


def module_route(
    image: ImageRef,
    *,
    service: bool,
    plain_http: bool | None,
    env: Mapping[str, str],
    shares_caller_network: bool = False,
) -> Route:
    """A Dagger function's route to `image`'s registry, the one the engine's push takes.

    `plain_http` unset: the engine's default (`engine_plain_http`); set: the caller's word
    that the engine is configured the same way for this host (engine.json `registries`),
    since a module cannot read the engine's configuration. `shares_caller_network` is for
    tests that run functions in-process (`engine.MODULE_SHARES_CALLER_NETWORK`).
    """
    _check_docker_hub(image, service=service)
    if image.loopback and not service and not shares_caller_network:
        raise InvalidInput(
            "image",
            f"a loopback host ({image.host}) with no --registry-service: inside a Dagger "
            "function localhost is the module's own container, not your machine. Pass "
            f"--registry-service=tcp://localhost:PORT to reach a registry on your machine "
            "(it stays the image's host for the engine), or omit --image for a throwaway "
            "registry inside the engine (release only)",
        )
    host = api_host(image)
    secure = not (engine_plain_http(host) if plain_http is None else plain_http)
    route = Route(host, secure, service, Proxies.from_env(env))
    name, _ = split_host_port(host)
    if service and route.proxies.for_url("https" if secure else "http", name, route.port):
        raise InvalidInput(
            "registry_service",
            f"with a proxy in the engine's environment that {name} is not excluded from "
            "(HTTP(S)_PROXY without it in NO_PROXY): the engine would send its push to the "
            f"proxy, not to the service. Add {name} to the engine's NO_PROXY",
        )
    return route


def split_host_port(host: str) -> tuple[str, int | None]:
    """`name:5000`, `[::1]:5000`, `name` -> (name, port or None)."""
    parts = urlsplit(f"//{host}")
    return (parts.hostname or "", parts.port)


def _check_docker_hub(image: ImageRef, *, service: bool) -> None:
    if image.host not in DOCKER_HUB_NAMES:
        return
    if "/" not in image.repository:
        raise InvalidInput(
            "image",
            f"a Docker Hub repository needs its namespace: {image.host}/library/"
            f"{image.repository} for an official image, {image.host}/USER/{image.repository} "
            "otherwise (Docker Hub has no top-level repositories)",
        )
    if service:
        raise InvalidInput(
            "registry_service",
            f"with a Docker Hub image ({image.host}): the engine binds the service to the name "
            f"docker.io but sends Docker Hub's requests to {DOCKER_HUB_API}, so the service "
            "would be bypassed. Name the registry the service runs by its own host in --image",
        )


def _proxy_url(value: str | None) -> str | None:
    """Go's `parseProxy`: a value with no scheme is an http:// proxy."""
    if not value:
        return None
    return value if "://" in value else f"http://{value}"


def _use_proxy(host: str, port: str, no_proxy: str) -> bool:
    """httpproxy's `useProxy`: never for localhost or a loopback IP, else unless NO_PROXY
    matches (`*`; an IP or CIDR; a domain and its subdomains, `.d`/`*.d` subdomains only;
    any entry may carry a port)."""
    if host == "localhost" or is_loopback_host(host):
        return False
    ip = _ip(host)
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        if "/" in entry:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return False
            except ValueError:
                pass
            continue
        name, entry_port = _entry_host_port(entry)
        if not name:
            continue
        if entry_port and entry_port != port:
            continue
        if _ip(name) is not None:
            if ip is not None and _ip(name) == ip:
                return False
            continue
        if name.startswith("*."):
            name = name[1:]
        if name.startswith("."):
            if host.endswith(name):
                return False
        elif host == name or host.endswith("." + name):
            return False
    return True


def _entry_host_port(entry: str) -> tuple[str, str]:
    if entry.startswith("["):
        name, _, rest = entry[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else ""
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, port
    return entry, ""


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
