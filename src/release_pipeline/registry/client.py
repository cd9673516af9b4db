"""Registry I/O over the distribution spec v1.1, and nothing else.

Like go-containerregistry's `remote`: it reads and writes manifests, small blobs and tag
lists, and knows no release policy; `session.py` sends its requests (auth, retries,
redirects, size bounds). Every manifest it returns has been checked against its digest.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from types import TracebackType

from release_pipeline.errors import NotFound, RegistryError, shown
from release_pipeline.registry.answers import checked_url, content_digest
from release_pipeline.registry.auth import Credentials
from release_pipeline.registry.retries import RetryPolicy
from release_pipeline.registry.routes import Proxies, Route, cli_route
from release_pipeline.registry.session import RequestStats, Response, Session, error_code
from release_pipeline.rules.inputs import TAG, ImageRef
from release_pipeline.rules.manifests import (
    ACCEPT,
    MAX_MANIFEST_BYTES,
    Manifest,
    digest_of,
    json_object,
)

_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
MAX_TAG_LIST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    page_size: int = 1000  # ECR refuses n > 1000
    max_tag_pages: int = 1000


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
        self._limits = limits or Limits()
        self._session = Session(
            host,
            secure=secure,
            credentials=credentials,
            push=push,
            retry=retry or RetryPolicy(),
            timeout=timeout,
            proxies=proxies,
            dial=dial,
        )
        self._origin = self._session.origin

    @property
    def stats(self) -> RequestStats:
        """Requests sent so far, by method."""
        return self._session.stats

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
        await self._session.aclose()

    async def list_tags(self, repository: str) -> list[str]:
        """Every tag, following `Link: rel="next"` pages; a repository not yet created has none."""
        url = f"{self._origin}/v2/{repository}/tags/list?n={self._limits.page_size}"
        tags: dict[str, None] = {}
        for page in range(self._limits.max_tag_pages):
            resp = await self._session.request("GET", url, repository, max_bytes=MAX_TAG_LIST_BYTES)
            if resp.status == 404 and page == 0 and error_code(resp) == "NAME_UNKNOWN":
                return []
            self._session.expect(resp, (200,), f"list tags of {repository}")
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
        resp = await self._session.request(
            "GET",
            self._manifest_url(repository, reference),
            repository,
            headers={"Accept": ACCEPT},
            max_bytes=MAX_MANIFEST_BYTES,
        )
        if resp.status == 404:
            raise NotFound(f"{where} is not in the registry")
        self._session.expect(resp, (200,), f"read {where}")
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
        resp = await self._session.request(
            "HEAD",
            self._manifest_url(repository, reference),
            repository,
            headers={"Accept": ACCEPT},
        )
        if resp.status == 404:
            return None
        self._session.expect(resp, (200,), f"check {repository}:{reference}")
        digest = content_digest(resp.headers, f"{repository}:{reference}")
        if digest is None:  # optional in the spec: fall back to the bytes
            return (await self.get_manifest(repository, reference)).digest
        return digest

    async def put_manifest(self, repository: str, tag: str, manifest: Manifest) -> None:
        """Store the exact bytes under `tag`: the digest is kept."""
        resp = await self._session.request(
            "PUT",
            self._manifest_url(repository, tag),
            repository,
            headers={"Content-Type": manifest.media_type},
            content=manifest.raw,
            transient=link_race,
        )
        self._session.expect(resp, (200, 201, 202), f"write {repository}:{tag}")
        claimed = content_digest(resp.headers, f"{repository}:{tag}")
        if claimed is not None and claimed != manifest.digest:
            raise RegistryError(
                f"{repository}:{tag}: registry stored {claimed}, we sent {manifest.digest}"
            )

    async def has_blob(self, repository: str, digest: str) -> bool:
        """Whether the repository still holds the blob: what a manifest PUT will check."""
        resp = await self._session.request(
            "HEAD", f"{self._origin}/v2/{repository}/blobs/{digest}", repository, follow=True
        )
        if resp.status == 404:
            return False
        self._session.expect(resp, (200,), f"check blob {digest}")
        return True

    async def get_blob(self, repository: str, digest: str, max_bytes: int) -> bytes:
        """A small blob (an image config), checked against its digest."""
        resp = await self._session.request(
            "GET",
            f"{self._origin}/v2/{repository}/blobs/{digest}",
            repository,
            max_bytes=max_bytes,
            follow=True,
        )
        if resp.status == 404:
            raise NotFound(f"blob {digest} is not in {repository}")
        self._session.expect(resp, (200,), f"read blob {digest}")
        if digest_of(resp.body) != digest:
            raise RegistryError(f"blob {digest} of {repository}: bytes do not match the digest")
        return resp.body

    # --- transport: auth, retries, redirects, size limits ------------------------------

    def _manifest_url(self, repository: str, reference: str) -> str:
        return f"{self._origin}/v2/{repository}/manifests/{reference}"


def link_race(resp: Response) -> bool:
    """A manifest PUT refused with 400 DIGEST_INVALID: distribution's filesystem driver
    truncates a manifest's link file before rewriting it, so while another writer PUTs one
    of an index's children (a per-arch channel tag, say), the index's check of that child
    reads an empty link and fails. The bytes sent are checked against their digest, so
    sending them again is safe; a real refusal fails the same way every attempt."""
    return resp.status == 400 and error_code(resp) == "DIGEST_INVALID"
