"""The harness's authenticated registries, proven against the real registry: htpasswd Basic
auth and the token server's Bearer dance, directly and through the proxy."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from pathlib import Path

import pytest
from conftest import ProxyFactory, RegistryFactory
from support.bare_http import bare_request
from support.images import fetch_raw, list_tags_raw, push_image
from support.raw_http import raw_request
from support.registry import Registry
from support.tokens import TokenServer

REPO = "team/app"


def test_htpasswd_registry(htpasswd_registry: Registry, creds: tuple[str, str]) -> None:
    status, headers, _ = bare_request(htpasswd_registry.host, "GET", "/v2/")
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
    status, headers, _ = bare_request(reg.host, "GET", path)
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
    status, _, raw = bare_request(
        token_host, "GET", f"/token?{query}", headers={"Authorization": basic}
    )
    answer = json.loads(raw)
    assert status == 200 and set(answer) == {"token", "access_token"}

    # 3. Bearer accepted by the real registry (404: repo unknown, but authorized).
    bearer = {"Authorization": f"Bearer {answer['token']}"}
    assert bare_request(reg.host, "GET", path, headers=bearer)[0] == 404

    # Wrong password: the token server refuses. Anonymous: a token that grants nothing.
    wrong = "Basic " + base64.b64encode(f"{creds[0]}:nope".encode()).decode()
    assert (
        bare_request(token_host, "GET", f"/token?{query}", headers={"Authorization": wrong})[0]
        == 401
    )
    status, _, raw = bare_request(token_host, "GET", f"/token?{query}")
    anon = {"Authorization": f"Bearer {json.loads(raw)['token']}"}
    assert status == 200 and bare_request(reg.host, "GET", path, headers=anon)[0] == 401

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
    status, headers, _ = bare_request(proxy.host, "GET", f"/v2/{REPO}/tags/list")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer realm=")
