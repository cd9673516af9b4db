"""How a registry is reached: the scheme, the TLS trust, and what a failed connection means.

`registry.py` sends requests; this module holds the decisions underneath it, kept apart so
the I/O layer stays thin:

- the scheme: decided in `routes` (`use_plain_http` is re-exported here for the CLI's tests);
- the trust: the operating system's store, as curl and skopeo use it, plus SSL_CERT_FILE and
  SSL_CERT_DIR when set;
- what a transport failure was (certificate not trusted, hostname mismatch, wrong scheme,
  refused, DNS, ...), whether retrying can help, and what the user should try;
- `RouteTransport`: each request sent the way `routes.Route` says (direct, through the
  environment's proxy as Go picks it, or dialled at a Dagger service under the registry's
  own name).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpcore
import httpx
import truststore

from release_pipeline.errors import shown
from release_pipeline.registry.routes import Proxies, split_host_port
from release_pipeline.registry.routes import (
    use_plain_http as use_plain_http,  # the scheme rule lives in routes
)

# The flags that choose the scheme, as the CLI spells them; the Dagger constructor takes
# `--plain-http=true|false`. Errors name both.
USE_PLAIN_HTTP = "--plain-http (Dagger: --plain-http=true)"
USE_HTTPS = "--no-plain-http (Dagger: --plain-http=false)"

# X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH: the certificate is valid
# but names another host. Every other verification failure means "not trusted" or "expired".
_NAME_MISMATCH = frozenset({62, 64})
_EXPIRED = frozenset({9, 10})  # not yet valid, expired
# OpenSSL's reasons when a TLS client hello is answered by plain HTTP (3.0 / 3.2+).
_PLAIN_HTTP_ANSWER = frozenset({"WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE"})
# What an HTTPS server answers to a plain HTTP request (Go's net/http, and nginx).
_HTTPS_PORT_ANSWER = re.compile(rb"HTTP request (?:was sent )?to (?:an )?HTTPS", re.IGNORECASE)


def trust_context() -> ssl.SSLContext:
    """Verify certificates against the system's store, plus SSL_CERT_FILE/SSL_CERT_DIR.

    truststore asks the platform's own verifier, as curl and skopeo do. On Linux that is
    OpenSSL's default paths, read again at each handshake, and OpenSSL itself adds the
    two variables there. On macOS and Windows truststore asks the OS alone, so a CA file
    named by SSL_CERT_FILE is loaded here, where truststore honours it as an extra anchor.
    Loading it on Linux too would parse the whole bundle for every client, for nothing.
    """
    context = truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cafile = os.environ.get("SSL_CERT_FILE")
    if sys.platform in ("darwin", "win32") and cafile and os.path.isfile(cafile):
        context.load_verify_locations(cafile=cafile)
    return context


@dataclass(frozen=True)
class Failure:
    """What went wrong reaching a host, in words a user can act on."""

    kind: str  # e.g. "certificate not trusted"
    reason: str  # the TLS library's or the OS's own words
    hint: str  # what to try
    retry: bool  # False when repeating the request cannot change the outcome

    def message(self, request: str, host: str, attempts: int) -> str:
        tried = "not retried" if not self.retry else f"gave up after {attempts} attempts"
        # The words may quote what the server sent (a header h11 refused, a certificate's
        # names): quoted as any registry-sent text is.
        reason = f" ({shown(self.reason, limit=200)})" if self.reason else ""
        return f"{request} on {host}: {self.kind}{reason}; {tried}. {self.hint}"


def classify(exc: httpx.TransportError) -> Failure:
    """Name a transport failure from the exceptions underneath httpx's."""
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return _certificate_failure(cause)
    for cause in causes:
        if isinstance(cause, ssl.SSLError) and cause.reason in _PLAIN_HTTP_ANSWER:
            return Failure(
                "it answered the TLS handshake in plain HTTP",
                _ssl_words(cause),
                f"It speaks plain HTTP: use {USE_PLAIN_HTTP}.",
                retry=False,
            )
        if isinstance(cause, socket.gaierror):
            return Failure(
                "its name does not resolve (DNS)",
                cause.strerror or str(cause),
                "Check the registry host name and this machine's DNS.",
                retry=True,
            )
        if isinstance(cause, ConnectionRefusedError):
            return Failure(
                "connection refused",
                "",
                "Check the host and port, and that the registry is running.",
                retry=True,
            )
        if isinstance(cause, ssl.SSLError):
            return Failure(
                "the TLS handshake failed",
                _ssl_words(cause),
                "Check that the registry speaks HTTPS on this port.",
                retry=True,
            )
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timed out", "", "The registry or the network is slow or down.", retry=True)
    return Failure(
        "the connection failed",
        _first_words(causes),
        "The registry or the network may be down.",
        retry=True,
    )


def https_port_answer(status: int, body: bytes) -> bool:
    """True when a plain HTTP request reached an HTTPS server (Go's and nginx's 400)."""
    return status == 400 and _HTTPS_PORT_ANSWER.search(body[:512]) is not None


def https_port_message(request: str, host: str) -> str:
    return (
        f"{request} on {host}: the registry speaks HTTPS and refused plain HTTP (400 'Client "
        "sent an HTTP request to an HTTPS server'); not retried. Plain HTTP is the default "
        f"for loopback registries only: use {USE_HTTPS}."
    )


def _certificate_failure(cause: ssl.SSLCertVerificationError) -> Failure:
    code = getattr(cause, "verify_code", None)
    words = str(getattr(cause, "verify_message", "") or _ssl_words(cause))
    if code in _NAME_MISMATCH:
        return Failure(
            "hostname mismatch",
            words,
            "The certificate was issued for other names: use the host name it names, or have "
            "the registry serve a certificate for this one.",
            retry=False,
        )
    if code in _EXPIRED:
        return Failure(
            "certificate expired or not yet valid",
            words,
            "Renew the registry's certificate, or check this machine's clock.",
            retry=False,
        )
    return Failure(
        "certificate not trusted",
        words,
        "If the registry uses a private CA, add it to the system trust store (copy it to "
        "/usr/local/share/ca-certificates/NAME.crt and run update-ca-certificates), or point "
        "SSL_CERT_FILE or SSL_CERT_DIR at it.",
        retry=False,
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _ssl_words(exc: ssl.SSLError) -> str:
    """`[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)` -> the middle part."""
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return re.sub(r"^\[SSL: \w+\]\s*|\s*\(_ssl\.c:\d+\)$", "", text)


def _first_words(causes: list[BaseException]) -> str:
    innermost = causes[-1] if causes else None
    return "" if innermost is None else f"{type(innermost).__name__}: {str(innermost)[:160]}"


class RouteTransport(httpx.AsyncBaseTransport):
    """Sends each request as the engine's own registry transport would.

    A request to `service_host` (a registry behind `--registry-service`) keeps that name in
    its URL, Host header, TLS server name and certificate check, and only its TCP dial goes
    to `dial` (the service endpoint): what the engine's `NewDialTransportWithHostAliases`
    does. It never goes through a proxy. Every other request follows `proxies` (Go's rules),
    and none lets httpx read the environment itself.
    """

    def __init__(
        self,
        verify: ssl.SSLContext,
        proxies: Proxies,
        *,
        service_host: str | None = None,
        dial: str | None = None,
    ) -> None:
        self._verify = verify
        self._proxies = proxies
        self._direct = httpx.AsyncHTTPTransport(verify=verify, trust_env=False)
        self._through: dict[str, httpx.AsyncHTTPTransport] = {}
        self._service_name = None if service_host is None else split_host_port(service_host)[0]
        self._service: httpx.AsyncHTTPTransport | None = None
        if self._service_name is not None and dial is not None:
            self._service = _DialingTransport(verify, self._service_name, dial)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if self._service is not None and url.host == self._service_name:
            return await self._service.handle_async_request(request)
        proxy = self._proxies.for_url(url.scheme, url.host, url.port)
        if proxy is None:
            return await self._direct.handle_async_request(request)
        if proxy not in self._through:
            self._through[proxy] = httpx.AsyncHTTPTransport(
                verify=self._verify, trust_env=False, proxy=proxy
            )
        return await self._through[proxy].handle_async_request(request)

    async def aclose(self) -> None:
        for transport in (self._direct, self._service, *self._through.values()):
            if transport is not None:
                await transport.aclose()


class _DialingTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool dialling `name` at `dial` instead.

    httpx has no public way to give its pool a network backend, so the pool it built is
    replaced by an identical one that has ours (httpx 0.28 keeps it in `_pool`); the
    relay test in test_routes.py fails if that ever stops working.
    """

    def __init__(self, verify: ssl.SSLContext, name: str, dial: str) -> None:
        super().__init__(verify=verify, trust_env=False)
        host, port = split_host_port(dial)
        if not host or port is None:
            raise ValueError(f"service endpoint {dial!r} is not host:port")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify, network_backend=_Redirect(name, (host, port))
        )


class _Redirect(httpcore.AsyncNetworkBackend):
    """Connects to `target` whenever `name` is dialled, on any port, like the engine's alias."""

    def __init__(self, name: str, target: tuple[str, int]) -> None:
        self._name, self._target = name, target
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if host == self._name:
            host, port = self._target
        return await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
