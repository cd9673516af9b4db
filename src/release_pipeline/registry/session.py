"""One registry host's HTTP exchange: auth, retries, redirects and size limits; no verbs.

Like go-containerregistry's `remote/transport` under `remote`: `registry.py` says what to
ask, this says how it is sent. A Bearer or Basic challenge is answered once per repository,
transient failures are retried by `RetryPolicy`, a redirect is followed only where a verb
asks and only after its Location passes the URL rule, and no answer is read past its bound.
Credentials go to the registry's own origin only, never to a redirect's or a realm's host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import anyio
import httpx

from release_pipeline.errors import AuthError, RegistryError, shown
from release_pipeline.registry.answers import B64TOKEN, auth_challenge, checked_url
from release_pipeline.registry.auth import Challenge, Credentials, check_realm
from release_pipeline.registry.retries import RETRY_STATUSES, RetryNotice, RetryPolicy
from release_pipeline.registry.routes import Proxies
from release_pipeline.registry.transport import (
    Failure,
    RouteTransport,
    classify,
    https_port_answer,
    https_port_message,
    trust_context,
)
from release_pipeline.rules.manifests import json_object


@dataclass
class Response:
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass
class RequestStats:
    """Requests this session sent, by method: what the benchmarks print."""

    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_method.values())


class Session:
    """Requests to one registry host, authenticated and retried; `aclose` when done."""

    def __init__(
        self,
        host: str,
        *,
        secure: bool,
        credentials: Credentials | None,
        push: bool,
        retry: RetryPolicy,
        timeout: float,
        proxies: Proxies | None,
        dial: str | None,
    ) -> None:
        self.host = host
        self.origin = f"{'https' if secure else 'http'}://{host}"
        self._credentials = credentials
        self._actions = "pull,push" if push else "pull"
        self._retry = retry
        self._tokens: dict[str, str] = {}
        self._basic = False
        self.stats = RequestStats()
        # Verification stays on even for a plain-HTTP registry: its token realm may be HTTPS.
        transport = RouteTransport(
            trust_context(),
            Proxies.from_env(os.environ) if proxies is None else proxies,
            service_host=None if dial is None else host,
            dial=dial,
        )
        self._http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False, transport=transport
        )
        # httpx parses a redirect's Location before handing the answer back: check it first.
        self._http.event_hooks = {"response": [_check_location]}

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        repository: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int = 64 * 1024,
        follow: bool = False,
        transient: Callable[[Response], bool] | None = None,
    ) -> Response:
        """Send one request, retrying what `RETRY_STATUSES` and `transient` say is "not now"."""
        attempt, reauthenticated, redirects = 0, False, 0
        while True:
            send_headers = dict(headers or {})
            authorization = self._authorization(repository)
            if authorization is not None and url.startswith(self.origin + "/"):
                send_headers["Authorization"] = authorization  # never to another host
            resp = await self._attempt(method, url, send_headers, content, max_bytes, attempt)
            if isinstance(resp, Failure):
                await self._backoff(method, url, resp.kind, attempt, None)
                attempt += 1
                continue
            if resp.status == 401 and url.startswith(self.origin + "/"):
                challenge = auth_challenge(resp.headers, self.host)
                if reauthenticated:
                    raise AuthError(self._refused(challenge, f"{method} {urlsplit(url).path}"))
                await self._authenticate(challenge, repository)
                reauthenticated = True
                continue
            if follow and resp.status in (301, 302, 303, 307, 308) and redirects < 5:
                where = f"{method} {urlsplit(url).path} redirect"
                url = checked_url(url, resp.headers.get("location", ""), where)
                redirects += 1
                continue
            again = resp.status in RETRY_STATUSES or (transient is not None and transient(resp))
            if again and attempt + 1 < self._retry.attempts:
                retry_after = resp.headers.get("retry-after")
                await self._backoff(method, url, f"answered {resp.status}", attempt, retry_after)
                attempt += 1
                continue
            return resp

    async def _backoff(
        self, method: str, url: str, cause: str, attempt: int, retry_after: str | None
    ) -> None:
        """Wait before attempt `attempt + 1`, telling `RetryPolicy.notify` first."""
        delay = self._retry.delay(attempt, retry_after)
        if self._retry.notify is not None:
            where = urlsplit(url)
            self._retry.notify(
                RetryNotice(
                    shown(f"{method} {where.path}", limit=200),
                    shown(where.netloc.rpartition("@")[2], limit=200),
                    cause,
                    attempt + 1,
                    self._retry.attempts,
                    delay,
                )
            )
        await anyio.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        max_bytes: int,
        attempt: int,
    ) -> Response | Failure:
        """One send. A Failure: a transient transport failure, worth another attempt."""
        request, where = f"{method} {urlsplit(url).path}", urlsplit(url).netloc.rpartition("@")[2]
        try:
            resp = await self._send(method, url, headers, content, max_bytes)
        except httpx.TransportError as exc:
            failure = classify(exc)
            if failure.retry and attempt + 1 < self._retry.attempts:
                return failure
            raise RegistryError(failure.message(request, where, attempt + 1)) from None
        if url.startswith("http://") and https_port_answer(resp.status, resp.body):
            raise RegistryError(https_port_message(request, where))
        return resp

    async def _send(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None, max_bytes: int
    ) -> Response:
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        async with self._http.stream(method, url, headers=headers, content=content) as resp:
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise RegistryError(
                        f"{method} {urlsplit(url).path}: answer is larger than {max_bytes} bytes"
                    )
            return Response(resp.status_code, resp.headers, bytes(body))

    def _authorization(self, repository: str) -> str | None:
        if (token := self._tokens.get(repository)) is not None:
            return f"Bearer {token}"
        if self._basic and self._credentials is not None:
            return self._credentials.basic()
        return None

    def _refused(self, challenge: str | None = None, request: str = "this request") -> str:
        if self._credentials is None:
            return f"{self.host} requires credentials (set --username and REGISTRY_PASSWORD)"
        user = self._credentials.username
        if challenge and 'error="insufficient_scope"' in challenge:  # a token, but too weak
            return (
                f"{self.host} accepted user {user!r} but did not grant the access {request} "
                "needs (insufficient_scope: a read-only token?)"
            )
        return f"{self.host} refused the credentials of user {user!r}"

    async def _authenticate(self, header: str | None, repository: str) -> None:
        challenge = Challenge.parse(header, self.host)
        if challenge.scheme == "basic":
            if self._credentials is None:
                raise AuthError(self._refused())
            self._basic = True
            return
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(f"{self.host} sent a Bearer challenge with no realm")
        params = {"scope": f"repository:{repository}:{self._actions}"}
        if service := challenge.params.get("service"):
            params["service"] = service
        realm = checked_url(None, realm, f"the Bearer challenge of {self.host}")
        token_url = httpx.URL(check_realm(realm, self.host), params=params)
        headers = {} if self._credentials is None else {"Authorization": self._credentials.basic()}
        for attempt in range(self._retry.attempts):
            resp = await self._attempt("GET", str(token_url), headers, None, 1024 * 1024, attempt)
            if not isinstance(resp, Failure) and resp.status not in RETRY_STATUSES:
                break
            if attempt + 1 < self._retry.attempts:
                failed = resp.kind if isinstance(resp, Failure) else f"answered {resp.status}"
                retry_after = None if isinstance(resp, Failure) else resp.headers.get("retry-after")
                await self._backoff("GET", str(token_url), failed, attempt, retry_after)
        else:  # every attempt answered 408/429/5xx: a transport failure raised in _attempt
            status = "no answer" if isinstance(resp, Failure) else resp.status
            raise AuthError(
                f"the token service of {self.host} answered {status} to all "
                f"{self._retry.attempts} attempts"
            )
        if resp.status in (401, 403):
            raise AuthError(self._refused())
        if resp.status != 200:
            raise AuthError(f"the token service of {self.host} answered {resp.status}")
        body = json_object(resp.body, f"token from {self.host}")
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(f"the token service of {self.host} sent no token")
        if len(token) > 64 * 1024 or B64TOKEN.fullmatch(token) is None:
            # Never quoted: it is a credential. It would go into a header as is.
            raise AuthError(
                f"the token service of {self.host} sent a token that is not an RFC 6750 "
                "bearer token (letters, digits and -._~+/ only)"
            )
        self._tokens[repository] = token

    def expect(self, resp: Response, ok: tuple[int, ...], what: str) -> None:
        if resp.status in ok:
            return
        if resp.status == 403:  # authenticated (or anonymous) but not allowed: not a login issue
            who = "anonymous" if self._credentials is None else repr(self._credentials.username)
            detail = f"{resp.status} {describe(resp)}".rstrip()
            raise AuthError(f"{what}: {self.host} denied it to {who} ({detail})")
        if resp.status == 401:
            raise AuthError(f"{what}: {self._refused()} ({resp.status} {error_code(resp)})")
        raise RegistryError(f"{what}: registry answered {resp.status} {describe(resp)}".rstrip())


async def _check_location(response: httpx.Response) -> None:
    """A redirect's Location, checked by the one URL rule before httpx parses it (a control
    character would otherwise surface as a retried "connection failed")."""
    if response.has_redirect_location:
        request = response.request
        where = f"{request.method} {request.url.path} redirect"
        checked_url(str(request.url), response.headers["location"], where)


def error_code(resp: Response) -> str:
    return describe(resp).split(":", 1)[0]


def describe(resp: Response) -> str:
    """The first distribution-spec error, e.g. `MANIFEST_UNKNOWN: manifest unknown`."""
    try:
        first = json.loads(resp.body)["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, UnicodeDecodeError):
        return ""
    return f"{shown(code, limit=40)}: {shown(message, limit=160)}"
