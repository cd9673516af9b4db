"""The harness's proxy in front of the real registry: forwarding and counting, tag paging,
injected faults, refused writes and hostile answers, each proven through real sockets."""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import ProxyFactory
from support.bare_http import bare_request
from support.faults import Faults
from support.forged_manifests import UNKNOWN_CHILD_TYPE
from support.hostile_answers import Hostile
from support.images import (
    ACCEPT_MANIFESTS,
    OCI_MANIFEST,
    fetch_blob_raw,
    fetch_raw,
    list_tags_raw,
    push_image,
    put_manifest_raw,
)
from support.raw_http import raw_request
from support.registry import Registry
from support.sink import Sink

REPO = "team/app"


def _bulk_tag(host: str, repo: str, body: bytes, media_type: str, tags: list[str]) -> None:
    """PUT the same manifest bytes under many tags, one keep-alive connection per worker."""
    local = threading.local()

    def put(tag: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(host, timeout=30)
        conn.request(
            "PUT", f"/v2/{repo}/manifests/{tag}", body=body, headers={"Content-Type": media_type}
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 201, (tag, resp.status)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, tags))


# -- proxy: forwarding and counting -------------------------------------------------------


def test_proxy_forwards_a_real_push_and_counts_calls(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    proxy = proxy_factory(registry.host)
    digest = push_image(proxy.host, REPO, "via-proxy", arch="amd64", seed="proxy")
    assert fetch_raw(registry.host, REPO, "via-proxy")[2] == digest
    methods = {m for m, _ in proxy.counted()}
    assert {"HEAD", "POST", "PUT"} <= methods  # blob uploads came back through the proxy
    assert all(p.startswith("/v2/") and p != "/v2/" for _, p in proxy.counted())
    assert ("GET", "/v2/") in proxy.requests

    proxy.reset()
    assert fetch_raw(proxy.host, REPO, "via-proxy")[2] == digest
    assert proxy.counted() == [("GET", f"/v2/{REPO}/manifests/via-proxy")]


# -- proxy: paging -------------------------------------------------------------------------


def test_paging_proxy_pages_2500_tags(registry: Registry, proxy_factory: ProxyFactory) -> None:
    push_image(registry.host, REPO, "seed", arch="amd64")
    body, media_type, _ = fetch_raw(registry.host, REPO, "seed")
    tags = [f"t{i:04d}" for i in range(2500)]
    _bulk_tag(registry.host, REPO, body, media_type, tags)
    everything = sorted([*tags, "seed"])

    # Debian's registry ignores n: one unsorted page of everything.
    direct = raw_request("GET", registry.url(f"/v2/{REPO}/tags/list?n=10")).json()["tags"]
    assert sorted(direct) == everything

    proxy = proxy_factory(registry.host, page_size=100)
    seen: list[str] = []
    path: str | None = f"/v2/{REPO}/tags/list"
    pages = 0
    while path:
        status, headers, raw = bare_request(proxy.host, "GET", path)
        assert status == 200
        page = json.loads(raw)
        assert page["name"] == REPO
        assert page["tags"] == sorted(page["tags"]) and len(page["tags"]) <= 100
        seen += page["tags"]
        pages += 1
        link = headers.get("Link")
        if link is None:
            path = None
            continue
        match = re.fullmatch(r'<(/v2/[^>]+)>; rel="next"', link)
        assert match, link
        path = match.group(1)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(path).query)
        assert query["last"] == [page["tags"][-1]]
    assert seen == everything
    assert pages == 26  # 2501 tags in pages of 100

    # The client's n is honoured up to page_size, and last is exclusive.
    _, headers, raw = bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=7&last=t0100")
    assert json.loads(raw)["tags"] == [f"t{i:04d}" for i in range(101, 108)]
    assert "last=t0107" in headers["Link"] and "n=7" in headers["Link"]
    _, _, raw = bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=1000")
    assert len(json.loads(raw)["tags"]) == 100
    _, headers, raw = bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list?last=t2450")
    assert len(json.loads(raw)["tags"]) == 49 and "Link" not in headers

    assert bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=many")[0] == 400
    assert list_tags_raw(proxy.host, REPO) == everything
    status, _, _ = bare_request(proxy.host, "GET", "/v2/missing/repo/tags/list")
    assert status == 404


# -- proxy: faults -------------------------------------------------------------------------


def test_faults_are_injected_at_about_the_rate(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    faults = Faults(rate=0.3, seed=7, kinds=("429", "500", "502", "503"))
    proxy = proxy_factory(registry.host, faults=faults)
    statuses = [bare_request(proxy.host, "GET", "/v2/")[0] for _ in range(300)]
    failed = [s for s in statuses if s != 200]
    assert 60 <= len(failed) <= 120
    assert faults.total == len(failed)
    assert set(faults.injected) == {"429", "500", "502", "503"}
    for kind, count in faults.injected.items():
        assert statuses.count(int(kind)) == count

    # Same seed, same faults: failures are reproducible.
    replay = Faults(rate=0.3, seed=7, kinds=("429", "500", "502", "503"))
    proxy2 = proxy_factory(registry.host, faults=replay)
    assert [bare_request(proxy2.host, "GET", "/v2/")[0] for _ in range(300)] == statuses


def test_fault_kinds_behave(registry: Registry, proxy_factory: ProxyFactory) -> None:
    seq = ["429", "503", "reset", "delay", None]
    faults = Faults(sequence=seq, retry_after="2", delay=0.2)
    proxy = proxy_factory(registry.host, faults=faults)
    status, headers, body = bare_request(proxy.host, "GET", "/v2/")
    assert (status, headers["Retry-After"]) == (429, "2")
    assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
    status, _, body = bare_request(proxy.host, "GET", "/v2/")
    assert status == 503 and b"injected" in body
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        bare_request(proxy.host, "GET", "/v2/")
    start = time.monotonic()
    assert bare_request(proxy.host, "GET", "/v2/")[0] == 200
    assert time.monotonic() - start >= 0.2
    assert bare_request(proxy.host, "GET", "/v2/")[0] == 200
    assert dict(faults.injected) == {"429": 1, "503": 1, "reset": 1, "delay": 1}


def test_drop_after_write_applies_the_write(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    push_image(registry.host, REPO, "src", arch="amd64")
    body, media_type, digest = fetch_raw(registry.host, REPO, "src")
    faults = Faults(rate=1.0, kinds=("drop_after_write",), methods=frozenset({"PUT"}))
    proxy = proxy_factory(registry.host, faults=faults)
    headers = {"Content-Type": media_type}
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        bare_request(proxy.host, "PUT", f"/v2/{REPO}/manifests/copied", body, headers)
    assert fetch_raw(registry.host, REPO, "copied")[2] == digest  # applied upstream
    assert bare_request(proxy.host, "GET", "/v2/")[0] == 200  # GET is not restricted to PUT
    assert faults.injected == {"drop_after_write": 1}


def test_faults_restricted_by_path(registry: Registry, proxy_factory: ProxyFactory) -> None:
    faults = Faults(rate=1.0, kinds=("500",), path=r"/tags/list")
    proxy = proxy_factory(registry.host, faults=faults)
    assert bare_request(proxy.host, "GET", "/v2/")[0] == 200
    assert bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list")[0] == 500


def test_refuse_writes(registry: Registry, proxy_factory: ProxyFactory) -> None:
    push_image(registry.host, REPO, "src", arch="amd64")
    body, media_type, _ = fetch_raw(registry.host, REPO, "src")
    proxy = proxy_factory(registry.host, refuse_writes=True)
    path = f"/v2/{REPO}/manifests/nope"
    status, _, answer = bare_request(proxy.host, "PUT", path, body, {"Content-Type": media_type})
    assert status == 403
    assert json.loads(answer)["errors"][0]["code"] == "DENIED"
    assert list_tags_raw(registry.host, REPO) == ["src"]
    assert fetch_raw(proxy.host, REPO, "src")[0] == body  # reads still pass


# -- proxy: hostile answers ----------------------------------------------------------------


def test_hostile_manifest_answers(registry: Registry, proxy_factory: ProxyFactory) -> None:
    digest = push_image(registry.host, REPO, "good", arch="amd64")
    hostile = Hostile(
        tamper_manifest_for=r"/manifests/tampered$",
        oversize_manifest_for=r"/manifests/huge$",
        invalid_json_for=r"/manifests/broken$",
        unknown_child_for=r"/manifests/odd$",
    )
    proxy = proxy_factory(registry.host, hostile=hostile)
    put_manifest_raw(registry.host, REPO, "tampered", *fetch_raw(registry.host, REPO, "good")[:2])
    accept = {"Accept": ACCEPT_MANIFESTS}

    status, headers, body = bare_request(
        proxy.host, "GET", f"/v2/{REPO}/manifests/tampered", None, accept
    )
    assert status == 200 and headers["Docker-Content-Digest"] == digest
    with pytest.raises(AssertionError, match="bytes hash to"):
        fetch_raw(proxy.host, REPO, "tampered")
    original = fetch_raw(registry.host, REPO, "tampered")[0]
    assert (
        len(body) == len(original) and sum(a != b for a, b in zip(body, original, strict=True)) == 1
    )
    json.loads(body)  # still valid JSON: only the digest it names is wrong

    status, headers, body = bare_request(
        proxy.host, "GET", f"/v2/{REPO}/manifests/huge", None, accept
    )
    assert len(body) == 5 * 1024 * 1024 and headers["Content-Type"] == OCI_MANIFEST
    status, headers, body = bare_request(proxy.host, "GET", f"/v2/{REPO}/manifests/broken")
    assert body == b"{not json" and "Docker-Content-Digest" in headers
    _, headers, body = bare_request(proxy.host, "GET", f"/v2/{REPO}/manifests/odd")
    assert json.loads(body)["manifests"][0]["mediaType"] == UNKNOWN_CHILD_TYPE
    assert fetch_raw(proxy.host, REPO, "good")[2] == digest  # the rest is untouched


def test_endless_tags(registry: Registry, proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory(registry.host, hostile=Hostile(endless_tags=True), page_size=5)
    path = f"/v2/{REPO}/tags/list"
    for _ in range(3):
        _, headers, raw = bare_request(proxy.host, "GET", path)
        assert len(json.loads(raw)["tags"]) == 5
        path = re.fullmatch(r"<([^>]+)>; rel=\"next\"", headers["Link"]).group(1)  # type: ignore[union-attr]
    with pytest.raises(AssertionError, match="still paging"):
        list_tags_raw(proxy.host, REPO, max_pages=20)


def test_blob_redirect_to_another_host(
    htpasswd_registry: Registry, proxy_factory: ProxyFactory, sink: Sink, creds: tuple[str, str]
) -> None:
    host = htpasswd_registry.host
    push_image(host, REPO, "t", arch="amd64", creds=creds)
    manifest = json.loads(fetch_raw(host, REPO, "t", creds=creds)[0])
    layer = manifest["layers"][0]["digest"]
    assert sink.host.startswith("127.0.0.2:")
    proxy = proxy_factory(host, hostile=Hostile(redirect_blobs_to=sink))

    # A careful client (Authorization not redirected) gets the blob from the other host.
    assert fetch_blob_raw(proxy.host, REPO, layer, creds=creds)
    assert sink.requests and "authorization" not in sink.requests[-1].headers

    # A careless client leaks its credentials, and the sink sees it.
    basic = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
    resp = raw_request(
        "GET", proxy.url(f"/v2/{REPO}/blobs/{layer}"), headers={"Authorization": basic}
    )
    assert resp.status == 200
    assert sink.requests[-1].headers.get("authorization") == basic
