"""Registry I/O over the distribution spec v1.1, and nothing else.

Like go-containerregistry's `remote`: it reads and writes manifests, small blobs and tag
lists, handles auth and retries, and knows no release policy. Every manifest it returns has
been checked against its digest; every answer's size is bounded before it is trusted.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import anyio
import httpx

from .answers import B64TOKEN, auth_challenge, checked_url, content_digest
from .auth import Challenge, Credentials, check_realm
from .errors import AuthError, NotFound, RegistryError, shown
from .inputs import TAG, ImageRef
from .manifests import ACCEPT, MAX_MANIFEST_BYTES, Manifest, digest_of, json_object
from .routes import Proxies, Route, cli_route
from .transport import (
    Failure,
    RouteTransport,
    classify,
    https_port_answer,
    https_port_message,
    trust_context,
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_TAG_LIST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryNotice:
    """One failed attempt about to be retried: what a person watching should see, so a
    registry that is down reads as retries in progress rather than as silence."""

    request: str  # e.g. "GET /v2/app/tags/list"
    host: str
    cause: str  # e.g. "connection refused", "answered 503"
    attempt: int  # the attempt that failed, from 1
    attempts: int  # how many the policy allows
    delay: float  # seconds until the next attempt

    def __str__(self) -> str:
        return (
            f"{self.request} on {self.host}: {self.cause}; attempt {self.attempt} of "
            f"{self.attempts} failed, waiting {self.delay:.1f} s"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for 408/429/5xx and dropped connections; Retry-After wins when sent.

    `notify`, when set, hears of every retry before its wait (the CLI prints it on stderr)."""

    attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0
    max_retry_after: float = 60.0
    notify: Callable[[RetryNotice], None] | None = field(default=None, compare=False)

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None and (seconds := _retry_after_seconds(retry_after)) is not None:
            return min(seconds, self.max_retry_after)
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


@dataclass(frozen=True)
class Limits:
    page_size: int = 1000  # ECR refuses n > 1000
    max_tag_pages: int = 1000


@dataclass
class _Response:
    status: int
    headers: httpx.Headers
    body: bytes


@dataclass
class RequestStats:
    """Requests this client sent, by method: what the benchmarks print."""

    by_method: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_method.values())


class RegistryClient:
    """One registry host. Use as `async with RegistryClient(...) as client:`."""

    def __init__(
        self,
        host: str,
        *,
        secure: bool = True,
        credentials: Credentials | None = None,
        push: bool = True,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        timeout: float = 30.0,
        proxies: Proxies | None = None,
        dial: str | None = None,
    ) -> None:
        """`host` is the registry's name in every URL, Host header and TLS check; `dial`, a
        Dagger service endpoint that `host` is dialled at instead (never proxied). Other
        requests follow `proxies` (default: this process's environment, as Go reads it)."""
        self.host = host
        self._origin = f"{'https' if secure else 'http'}://{host}"
        self._credentials = credentials
        self._actions = "pull,push" if push else "pull"
        self._retry = retry or RetryPolicy()
        self._limits = limits or Limits()
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

    @classmethod
    def for_route(
        cls,
        route: Route,
        credentials: Credentials | None = None,
        *,
        push: bool = True,
        retry: RetryPolicy | None = None,
        dial: str | None = None,
    ) -> RegistryClient:
        """A client that reaches the registry the way `route` says (`routes` decides it)."""
        return cls(
            route.host,
            secure=route.secure,
            credentials=credentials,
            push=push,
            retry=retry,
            proxies=route.proxies,
            dial=dial if route.service else None,
        )

    @classmethod
    def for_image(
        cls,
        image: ImageRef,
        credentials: Credentials | None = None,
        *,
        push: bool = True,
        retry: RetryPolicy | None = None,
        plain_http: bool | None = None,
    ) -> RegistryClient:
        """The CLI's client for an image's registry (`routes.cli_route`: plain HTTP for
        loopback only unless `plain_http` says otherwise; Docker Hub at its API host)."""
        route = cli_route(image, plain_http, os.environ)
        return cls.for_route(route, credentials, push=push, retry=retry)

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    # --- the verbs ---------------------------------------------------------------------

    async def list_tags(self, repository: str) -> list[str]:
        """Every tag, following `Link: rel="next"` pages; a repository not yet created has none."""
        url = f"{self._origin}/v2/{repository}/tags/list?n={self._limits.page_size}"
        tags: dict[str, None] = {}
        for page in range(self._limits.max_tag_pages):
            resp = await self._request("GET", url, repository, max_bytes=MAX_TAG_LIST_BYTES)
            if resp.status == 404 and page == 0 and _error_code(resp) == "NAME_UNKNOWN":
                return []
            self._expect(resp, (200,), f"list tags of {repository}")
            page_tags = json_object(resp.body, f"tag list of {repository}").get("tags")
            if page_tags is not None and not (
                isinstance(page_tags, list) and all(isinstance(t, str) for t in page_tags)
            ):
                raise RegistryError(f"tag list of {repository}: 'tags' is not a list of strings")
            for tag in page_tags or []:
                if TAG.fullmatch(tag) is None:  # no registry can hold it: a forged list
                    raise RegistryError(
                        f"tag list of {repository}: {shown(tag)!r} is not a tag name"
                    )
            tags.update(dict.fromkeys(page_tags or []))
            link = _NEXT_LINK.search(resp.headers.get("link", ""))
            if link is None:
                return list(tags)
            url = checked_url(url, link.group(1), f"tag list of {repository}")
            if not url.startswith(self._origin + "/"):
                raise RegistryError(f"tag list of {repository}: next page is on another host")
        raise RegistryError(
            f"tag list of {repository} did not end after {self._limits.max_tag_pages} pages"
        )

    async def get_manifest(self, repository: str, reference: str) -> Manifest:
        where = f"{repository}:{reference}" if ":" not in reference else f"{repository}@{reference}"
        resp = await self._request(
            "GET",
            self._manifest_url(repository, reference),
            repository,
            headers={"Accept": ACCEPT},
            max_bytes=MAX_MANIFEST_BYTES,
        )
        if resp.status == 404:
            raise NotFound(f"{where} is not in the registry")
        self._expect(resp, (200,), f"read {where}")
        manifest = Manifest.parse(resp.body, resp.headers.get("content-type", ""), where)
        claimed = content_digest(resp.headers, where)
        for expected in (claimed, reference if reference.startswith("sha256:") else None):
            if expected is not None and expected != manifest.digest:
                raise RegistryError(
                    f"{where}: bytes hash to {manifest.digest} but the registry says {expected}"
                )
        return manifest

    async def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest a tag points at, or None when the tag does not exist."""
        resp = await self._request(
            "HEAD",
            self._manifest_url(repository, reference),
            repository,
            headers={"Accept": ACCEPT},
        )
        if resp.status == 404:
            return None
        self._expect(resp, (200,), f"check {repository}:{reference}")
        digest = content_digest(resp.headers, f"{repository}:{reference}")
        if digest is None:  # optional in the spec: fall back to the bytes
            return (await self.get_manifest(repository, reference)).digest
        return digest

    async def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> None:
        """Store the exact bytes under `tag`: the digest is kept."""
        resp = await self._request(
            "PUT",
            self._manifest_url(repository, tag),
            repository,
            headers={"Content-Type": manifest.media_type},
            content=manifest.raw,
        )
        self._expect(resp, (200, 201, 202), f"write {repository}:{tag}")
        claimed = content_digest(resp.headers, f"{repository}:{tag}")
        if claimed is not None and claimed != manifest.digest:
            raise RegistryError(
                f"{repository}:{tag}: registry stored {claimed}, we sent {manifest.digest}"
            )

    async def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository still holds the blob: what a manifest PUT will check."""
        resp = await self._request(
            "HEAD", f"{self._origin}/v2/{repository}/blobs/{digest}", repository, follow=True
        )
        if resp.status == 404:
            return False
        self._expect(resp, (200,), f"check blob {digest}")
        return True

    async def get_blob(self, repository: str, digest: str, max_bytes: int) -> bytes:
        """A small blob (an image config), checked against its digest."""
        resp = await self._request(
            "GET",
            f"{self._origin}/v2/{repository}/blobs/{digest}",
            repository,
            max_bytes=max_bytes,
            follow=True,
        )
        if resp.status == 404:
            raise NotFound(f"blob {digest} is not in {repository}")
        self._expect(resp, (200,), f"read blob {digest}")
        if digest_of(resp.body) != digest:
            raise RegistryError(f"blob {digest} of {repository}: bytes do not match the digest")
        return resp.body

    # --- transport: auth, retries, redirects, size limits ------------------------------

    def _manifest_url(self, repository: str, reference: str) -> str:
        return f"{self._origin}/v2/{repository}/manifests/{reference}"

    async def _request(
        self,
        method: str,
        url: str,
        repository: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int = 64 * 1024,
        follow: bool = False,
    ) -> _Response:
        attempt, reauthenticated, redirects = 0, False, 0
        while True:
            send_headers = dict(headers or {})
            authorization = self._authorization(repository)
            if authorization is not None and url.startswith(self._origin + "/"):
                send_headers["Authorization"] = authorization  # never to another host
            resp = await self._attempt(method, url, send_headers, content, max_bytes, attempt)
            if isinstance(resp, Failure):
                await self._backoff(method, url, resp.kind, attempt, None)
                attempt += 1
                continue
            if resp.status == 401 and url.startswith(self._origin + "/"):
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
            if resp.status in RETRY_STATUSES and attempt + 1 < self._retry.attempts:
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
    ) -> _Response | Failure:
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
    ) -> _Response:
        self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
        async with self._http.stream(method, url, headers=headers, content=content) as resp:
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise RegistryError(
                        f"{method} {urlsplit(url).path}: answer is larger than {max_bytes} bytes"
                    )
            return _Response(resp.status_code, resp.headers, bytes(body))

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

    def _expect(self, resp: _Response, ok: tuple[int, ...], what: str) -> None:
        if resp.status in ok:
            return
        if resp.status == 403:  # authenticated (or anonymous) but not allowed: not a login issue
            who = "anonymous" if self._credentials is None else repr(self._credentials.username)
            detail = f"{resp.status} {_describe(resp)}".rstrip()
            raise AuthError(f"{what}: {self.host} denied it to {who} ({detail})")
        if resp.status == 401:
            raise AuthError(f"{what}: {self._refused()} ({resp.status} {_error_code(resp)})")
        raise RegistryError(f"{what}: registry answered {resp.status} {_describe(resp)}".rstrip())


async def _check_location(response: httpx.Response) -> None:
    """A redirect's Location, checked by the one URL rule before httpx parses it (a control
    character would otherwise surface as a retried "connection failed")."""
    if response.has_redirect_location:
        request = response.request
        where = f"{request.method} {request.url.path} redirect"
        checked_url(str(request.url), response.headers["location"], where)


def _error_code(resp: _Response) -> str:
    return _describe(resp).split(":", 1)[0]


def _describe(resp: _Response) -> str:
    """The first distribution-spec error, e.g. `MANIFEST_UNKNOWN: manifest unknown`."""
    try:
        first = json.loads(resp.body)["errors"][0]
        code, message = str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, UnicodeDecodeError):
        return ""
    return f"{shown(code, limit=40)}: {shown(message, limit=160)}"


def _retry_after_seconds(value: str) -> float | None:
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
