"""The lies a hostile test proxy tells: what a test asks for, and the handler that serves it.

A compromised mirror or a broken registry answers with tampered, oversized, invalid or
unknown manifests, or redirects blobs to another host. `Hostile` names which requests get
which lie; `rewrite` hands any other answer (`Answer`) to the test to change at will.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from .forged_manifests import (
    OCI_INDEX,
    OCI_MANIFEST,
    oversize_manifest,
    tamper,
    unknown_child_index,
)
from .forwarding import ForwardingHandler, passable
from .sink import Sink

__all__ = ["Answer", "Hostile", "HostileAnswers"]

_MANIFEST_RE = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_RE = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>[a-z0-9]+:[a-fA-F0-9]+)$")


@dataclass
class Answer:
    """An upstream answer, whole, as a `Hostile.rewrite` hook sees and changes it. Content-
    Length is recomputed from `body`; header values must encode as Latin-1 (HTTP/1.1)."""

    method: str
    path: str  # with the query
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def set_header(self, name: str, value: str) -> None:
        """Replace every `name` header (case-insensitive) with one holding `value`."""
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        self.headers.append((name, value))


@dataclass
class Hostile:
    """Answers a malicious or broken registry would give. Patterns are regexes searched in
    the request path (a repository name, "manifests/v1", a digest... all work)."""

    tamper_manifest_for: str | None = None
    """Manifest GETs: one byte changed (a digest hex digit), original Docker-Content-Digest."""
    oversize_manifest_for: str | None = None
    """Manifest GET/HEAD: a valid JSON manifest of `oversize_bytes` bytes."""
    oversize_bytes: int = 5 * 1024 * 1024
    invalid_json_for: str | None = None
    """Manifest GET/HEAD: `{not json` with a manifest content type and its digest."""
    unknown_child_for: str | None = None
    """Manifest GET/HEAD: an OCI index whose child has an unknown media type."""
    endless_tags: bool = False
    """Tag lists page forever: every page links to a next one."""
    redirect_blobs_to: str | Sink | None = None
    """Blob GETs: 307 to http://<host>/same/path. With a Sink, the proxy first fetches the
    blob upstream (with the client's credentials) and hands it to the sink to serve."""
    rewrite: Callable[[Answer], None] | None = None
    """Every answer not faked above is read whole and handed to this hook, which may change
    it in place (status, headers, body) before the client gets it: a lying registry."""


class HostileAnswers(ForwardingHandler):
    """Serves the lies of the proxy's `Hostile` in place of the registry's answer."""

    def _hostile(self, method: str, path: str) -> bool:
        """Answer with the lie `Hostile` asks for on this request: True, or False if none."""
        hostile = self.proxy.hostile
        manifest = _MANIFEST_RE.match(path)
        if manifest and method in ("GET", "HEAD"):
            if _hit(hostile.oversize_manifest_for, path):
                self._fake_manifest(oversize_manifest(hostile.oversize_bytes), OCI_MANIFEST)
                return True
            if _hit(hostile.invalid_json_for, path):
                self._fake_manifest(b"{not json", OCI_MANIFEST)
                return True
            if _hit(hostile.unknown_child_for, path):
                self._fake_manifest(unknown_child_index(), OCI_INDEX)
                return True
            if method == "GET" and _hit(hostile.tamper_manifest_for, path):
                status, headers, body = self._fetch(self.path)
                if status == 200:
                    body = tamper(body)
                self._answer(status, body, passable(headers))
                return True
        blob = _BLOB_RE.match(path)
        if blob and method == "GET" and hostile.redirect_blobs_to is not None:
            target = hostile.redirect_blobs_to
            if isinstance(target, Sink):
                status, headers, body = self._fetch(self.path)
                if status != 200:
                    self._answer(status, body, passable(headers))
                    return True
                target.stash(path, body)
                target_host = target.host
            else:
                target_host = target
            self._drain()
            self._answer(307, b"", [("Location", f"http://{target_host}{self.path}")])
            return True
        return False

    def _fake_manifest(self, body: bytes, media_type: str) -> None:
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self._answer(
            200,
            body,
            [
                ("Content-Type", media_type),
                ("Docker-Content-Digest", digest),
                ("Docker-Distribution-Api-Version", "registry/2.0"),
            ],
        )


def _hit(pattern: str | None, path: str) -> bool:
    return pattern is not None and re.search(pattern, path) is not None
