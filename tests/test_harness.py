"""The harness itself, proven against the real registry: if these fail, nothing else is
trustworthy. Every check goes through real sockets to Debian's docker-registry."""

from __future__ import annotations

import base64
import http.client
import json
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from conftest import ProxyFactory, RegistryFactory
from support import registry as registry_module
from support.images import (
    ACCEPT_MANIFESTS,
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    build_image,
    fetch_blob_raw,
    fetch_config,
    fetch_raw,
    list_tags_raw,
    push_image,
    put_manifest_raw,
    raw_request,
)
from support.proxy import UNKNOWN_CHILD_TYPE, Faults, Hostile
from support.registry import Registry, RegistryError, start_registry
from support.sink import Sink
from support.tokens import TokenServer

REPO = "team/app"


def _request(
    host: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Message, bytes]:
    """One request on a fresh connection, no retries, no auth: sees faults as they are."""
    conn = http.client.HTTPConnection(host, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


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


# -- registry ----------------------------------------------------------------------------


def test_registry_starts_serves_v2_and_stops(registry: Registry) -> None:
    status, headers, body = _request(registry.host, "GET", "/v2/")
    assert status == 200
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert json.loads(body) == {}
    assert registry.host.startswith("127.0.0.1:")
    assert registry.url("/v2/") == f"http://{registry.host}/v2/"
    assert registry.root.is_dir()
    assert list_tags_raw(registry.host, "nothing/here") == []
    registry.stop()
    assert not registry.running
    with pytest.raises(OSError):
        _request(registry.host, "GET", "/v2/")


def test_registry_restarts_on_the_same_storage(tmp_path: Path) -> None:
    first = start_registry(tmp_path / "reg")
    try:
        digest = push_image(first.host, REPO, "kept", arch="amd64")
    finally:
        first.stop()
    second = start_registry(tmp_path / "reg")
    try:
        assert fetch_raw(second.host, REPO, "kept")[2] == digest
    finally:
        second.stop()


def test_registry_retries_when_its_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken, registry_module.free_port()])
        monkeypatch.setattr(registry_module, "free_port", lambda: next(ports))
        reg = start_registry(tmp_path)
        try:
            assert reg.host != f"127.0.0.1:{taken}"
            assert _request(reg.host, "GET", "/v2/")[0] == 200
        finally:
            reg.stop()


def test_missing_registry_binary_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="docker-registry"):
        start_registry(tmp_path, binary=str(tmp_path / "no-such-registry"))


def test_broken_config_fails_with_the_log_tail(tmp_path: Path) -> None:
    two_drivers: dict[str, Any] = {"storage": {"inmemory": {}}}
    with pytest.raises(RegistryError, match=r"(?s)log tail.*exactly one storage type"):
        start_registry(tmp_path, extra_config=two_drivers)


# -- images ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "variant"), [("amd64", None), ("arm64", "v8"), ("arm", "v7"), ("s390x", None)]
)
def test_push_image_config_names_its_platform(
    registry: Registry, arch: str, variant: str | None
) -> None:
    labels = {"org.opencontainers.image.revision": "c804cace", "with.equals": "a=b"}
    digest = push_image(registry.host, REPO, "t", arch=arch, variant=variant, labels=labels)
    body, media_type, got = fetch_raw(registry.host, REPO, "t")
    assert got == digest
    assert media_type == OCI_MANIFEST
    assert json.loads(body)["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
    config = fetch_config(registry.host, REPO, digest)
    assert (config["architecture"], config["os"]) == (arch, "linux")
    assert config.get("variant") == variant
    assert config["config"]["Labels"] == labels


def test_digests_depend_on_platform_and_seed_only(registry: Registry) -> None:
    a = push_image(registry.host, REPO, "a", arch="amd64", seed="1")
    again = push_image(registry.host, "other/repo", "b", arch="amd64", seed="1")
    other_seed = push_image(registry.host, REPO, "c", arch="amd64", seed="2")
    other_arch = push_image(registry.host, REPO, "d", arch="arm64", seed="1")
    other_variant = push_image(registry.host, REPO, "e", arch="arm64", variant="v8", seed="1")
    assert a == again
    assert len({a, other_seed, other_arch, other_variant}) == 4


def test_docker_format_pushes_a_schema2_manifest(registry: Registry) -> None:
    digest = push_image(registry.host, REPO, "d", arch="arm64", docker_format=True)
    body, media_type, got = fetch_raw(registry.host, REPO, "d")
    assert (media_type, got) == (DOCKER_MANIFEST, digest)
    manifest = json.loads(body)
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == "application/vnd.docker.container.image.v1+json"
    assert fetch_config(registry.host, REPO, "d")["architecture"] == "arm64"


def test_two_arch_images_tags_like_ci(
    registry: Registry, two_arch_images: Callable[..., dict[str, str]]
) -> None:
    pushed = two_arch_images(registry.host, REPO, "c804cace")
    assert set(pushed) == {"workers-sha-c804cace-amd64", "workers-sha-c804cace-arm64"}
    assert list_tags_raw(registry.host, REPO) == sorted(pushed)
    for tag, digest in pushed.items():
        assert fetch_raw(registry.host, REPO, tag)[2] == digest
        assert fetch_config(registry.host, REPO, tag)["architecture"] == tag.rsplit("-", 1)[1]
    next_commit = two_arch_images(registry.host, REPO, "0badf00d")
    assert set(next_commit.values()).isdisjoint(pushed.values())


def test_a_repeated_push_reuses_the_session_build(registry: Registry) -> None:
    # What keeps the suite fast is that umoci builds each image once per session; checked by
    # the layout being left untouched, not by a wall-clock bound that fails under load.
    warm = push_image(registry.host, REPO, "warm", arch="amd64", seed="timing")
    layout = build_image(arch="amd64", seed="timing")
    stamp = (layout / "index.json").stat().st_mtime_ns
    again = push_image(registry.host, REPO, "again", arch="amd64", seed="timing")
    assert again == warm == fetch_raw(registry.host, REPO, "again")[2]
    assert build_image(arch="amd64", seed="timing") == layout
    assert (layout / "index.json").stat().st_mtime_ns == stamp  # not rebuilt


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
        status, headers, raw = _request(proxy.host, "GET", path)
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
    _, headers, raw = _request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=7&last=t0100")
    assert json.loads(raw)["tags"] == [f"t{i:04d}" for i in range(101, 108)]
    assert "last=t0107" in headers["Link"] and "n=7" in headers["Link"]
    _, _, raw = _request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=1000")
    assert len(json.loads(raw)["tags"]) == 100
    _, headers, raw = _request(proxy.host, "GET", f"/v2/{REPO}/tags/list?last=t2450")
    assert len(json.loads(raw)["tags"]) == 49 and "Link" not in headers

    assert _request(proxy.host, "GET", f"/v2/{REPO}/tags/list?n=many")[0] == 400
    assert list_tags_raw(proxy.host, REPO) == everything
    status, _, _ = _request(proxy.host, "GET", "/v2/missing/repo/tags/list")
    assert status == 404


# -- proxy: faults -------------------------------------------------------------------------


def test_faults_are_injected_at_about_the_rate(
    registry: Registry, proxy_factory: ProxyFactory
) -> None:
    faults = Faults(rate=0.3, seed=7, kinds=("429", "500", "502", "503"))
    proxy = proxy_factory(registry.host, faults=faults)
    statuses = [_request(proxy.host, "GET", "/v2/")[0] for _ in range(300)]
    failed = [s for s in statuses if s != 200]
    assert 60 <= len(failed) <= 120
    assert faults.total == len(failed)
    assert set(faults.injected) == {"429", "500", "502", "503"}
    for kind, count in faults.injected.items():
        assert statuses.count(int(kind)) == count

    # Same seed, same faults: failures are reproducible.
    replay = Faults(rate=0.3, seed=7, kinds=("429", "500", "502", "503"))
    proxy2 = proxy_factory(registry.host, faults=replay)
    assert [_request(proxy2.host, "GET", "/v2/")[0] for _ in range(300)] == statuses


def test_fault_kinds_behave(registry: Registry, proxy_factory: ProxyFactory) -> None:
    seq = ["429", "503", "reset", "delay", None]
    faults = Faults(sequence=seq, retry_after="2", delay=0.2)
    proxy = proxy_factory(registry.host, faults=faults)
    status, headers, body = _request(proxy.host, "GET", "/v2/")
    assert (status, headers["Retry-After"]) == (429, "2")
    assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
    status, _, body = _request(proxy.host, "GET", "/v2/")
    assert status == 503 and b"injected" in body
    with pytest.raises((ConnectionResetError, http.client.RemoteDisconnected)):
        _request(proxy.host, "GET", "/v2/")
    start = time.monotonic()
    assert _request(proxy.host, "GET", "/v2/")[0] == 200
    assert time.monotonic() - start >= 0.2
    assert _request(proxy.host, "GET", "/v2/")[0] == 200
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
        _request(proxy.host, "PUT", f"/v2/{REPO}/manifests/copied", body, headers)
    assert fetch_raw(registry.host, REPO, "copied")[2] == digest  # applied upstream
    assert _request(proxy.host, "GET", "/v2/")[0] == 200  # GET is not restricted to PUT
    assert faults.injected == {"drop_after_write": 1}


def test_faults_restricted_by_path(registry: Registry, proxy_factory: ProxyFactory) -> None:
    faults = Faults(rate=1.0, kinds=("500",), path=r"/tags/list")
    proxy = proxy_factory(registry.host, faults=faults)
    assert _request(proxy.host, "GET", "/v2/")[0] == 200
    assert _request(proxy.host, "GET", f"/v2/{REPO}/tags/list")[0] == 500


def test_refuse_writes(registry: Registry, proxy_factory: ProxyFactory) -> None:
    push_image(registry.host, REPO, "src", arch="amd64")
    body, media_type, _ = fetch_raw(registry.host, REPO, "src")
    proxy = proxy_factory(registry.host, refuse_writes=True)
    path = f"/v2/{REPO}/manifests/nope"
    status, _, answer = _request(proxy.host, "PUT", path, body, {"Content-Type": media_type})
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

    status, headers, body = _request(
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

    status, headers, body = _request(proxy.host, "GET", f"/v2/{REPO}/manifests/huge", None, accept)
    assert len(body) == 5 * 1024 * 1024 and headers["Content-Type"] == OCI_MANIFEST
    status, headers, body = _request(proxy.host, "GET", f"/v2/{REPO}/manifests/broken")
    assert body == b"{not json" and "Docker-Content-Digest" in headers
    _, headers, body = _request(proxy.host, "GET", f"/v2/{REPO}/manifests/odd")
    assert json.loads(body)["manifests"][0]["mediaType"] == UNKNOWN_CHILD_TYPE
    assert fetch_raw(proxy.host, REPO, "good")[2] == digest  # the rest is untouched


def test_endless_tags(registry: Registry, proxy_factory: ProxyFactory) -> None:
    proxy = proxy_factory(registry.host, hostile=Hostile(endless_tags=True), page_size=5)
    path = f"/v2/{REPO}/tags/list"
    for _ in range(3):
        _, headers, raw = _request(proxy.host, "GET", path)
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


# -- auth ----------------------------------------------------------------------------------


def test_htpasswd_registry(htpasswd_registry: Registry, creds: tuple[str, str]) -> None:
    status, headers, _ = _request(htpasswd_registry.host, "GET", "/v2/")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
    assert (
        raw_request("GET", htpasswd_registry.url("/v2/"), creds=(creds[0], "wrong")).status == 401
    )
    assert raw_request("GET", htpasswd_registry.url("/v2/"), creds=creds).status == 200
    digest = push_image(htpasswd_registry.host, REPO, "t", arch="amd64", creds=creds)
    assert fetch_raw(htpasswd_registry.host, REPO, "t", creds=creds)[2] == digest
    with pytest.raises(Exception, match="skopeo"):
        push_image(htpasswd_registry.host, REPO, "anon", arch="amd64")


@pytest.mark.parametrize("key_hint", ["x5c", "kid"])
def test_token_registry_bearer_dance(
    registry_factory: RegistryFactory, tmp_path: Path, creds: tuple[str, str], key_hint: str
) -> None:
    tokens = TokenServer(tmp_path / "tok", {creds[0]: creds[1]}, key_hint=key_hint)  # type: ignore[arg-type]
    try:
        reg = registry_factory(token=tokens)
        _token_dance(reg, tokens, creds)
    finally:
        tokens.stop()


def _token_dance(reg: Registry, tokens: TokenServer, creds: tuple[str, str]) -> None:
    path = f"/v2/{REPO}/tags/list"
    # 1. Anonymous: 401 with a Bearer challenge naming realm, service and scope.
    status, headers, _ = _request(reg.host, "GET", path)
    assert status == 401
    challenge = dict(re.findall(r'(\w+)="([^"]*)"', headers["WWW-Authenticate"]))
    assert headers["WWW-Authenticate"].startswith("Bearer ")
    assert challenge == {
        "realm": tokens.realm,
        "service": tokens.service,
        "scope": f"repository:{REPO}:pull",
    }
    query = urllib.parse.urlencode({"service": challenge["service"], "scope": challenge["scope"]})
    basic = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()

    # 2. Realm with Basic: GHCR-shaped answer, no expires_in.
    token_host = urllib.parse.urlsplit(tokens.realm).netloc
    status, _, raw = _request(
        token_host, "GET", f"/token?{query}", headers={"Authorization": basic}
    )
    answer = json.loads(raw)
    assert status == 200 and set(answer) == {"token", "access_token"}

    # 3. Bearer accepted by the real registry (404: repo unknown, but authorized).
    bearer = {"Authorization": f"Bearer {answer['token']}"}
    assert _request(reg.host, "GET", path, headers=bearer)[0] == 404

    # Wrong password: the token server refuses. Anonymous: a token that grants nothing.
    wrong = "Basic " + base64.b64encode(f"{creds[0]}:nope".encode()).decode()
    assert (
        _request(token_host, "GET", f"/token?{query}", headers={"Authorization": wrong})[0] == 401
    )
    status, _, raw = _request(token_host, "GET", f"/token?{query}")
    anon = {"Authorization": f"Bearer {json.loads(raw)['token']}"}
    assert status == 200 and _request(reg.host, "GET", path, headers=anon)[0] == 401

    # A real client (skopeo) through the whole flow, then the raw urllib helper.
    digest = push_image(reg.host, REPO, "t", arch="arm64", creds=creds)
    assert fetch_raw(reg.host, REPO, "t", creds=creds)[2] == digest
    assert list_tags_raw(reg.host, REPO, creds=creds) == ["t"]
    assert raw_request("GET", reg.url(path), creds=(creds[0], "nope")).status == 401

    seen = tokens.requests
    assert any(r.username == creds[0] and r.status == 200 and r.granted for r in seen)
    assert any(r.status == 401 for r in seen) and any(not r.basic for r in seen)
    assert any("push" in g for r in seen for g in r.granted)
    assert creds[1] not in repr(seen)  # passwords are never stored


def test_token_server_permissions(
    registry_factory: RegistryFactory, tmp_path: Path, creds: tuple[str, str]
) -> None:
    tokens = TokenServer(
        tmp_path / "tok",
        {creds[0]: creds[1], "reader": "pw"},
        permissions={"reader": {"pull"}},
        anonymous_pull=True,
    )
    try:
        reg = registry_factory(token=tokens)
        digest = push_image(reg.host, REPO, "t", arch="amd64", creds=creds)
        assert fetch_raw(reg.host, REPO, "t")[2] == digest  # anonymous pull allowed
        assert fetch_raw(reg.host, REPO, "t", creds=("reader", "pw"))[2] == digest
        with pytest.raises(Exception, match="skopeo"):
            push_image(reg.host, REPO, "r", arch="amd64", creds=("reader", "pw"))
    finally:
        tokens.stop()


def test_proxy_in_front_of_token_registry(
    token_registry: Registry, proxy_factory: ProxyFactory, creds: tuple[str, str]
) -> None:
    proxy = proxy_factory(token_registry.host)
    digest = push_image(proxy.host, REPO, "t", arch="amd64", creds=creds)
    assert fetch_raw(proxy.host, REPO, "t", creds=creds)[2] == digest
    status, headers, _ = _request(proxy.host, "GET", f"/v2/{REPO}/tags/list")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer realm=")
