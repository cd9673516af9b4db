"""The harness's registry and the images it seeds, proven against Debian's docker-registry:
if these fail, nothing else is trustworthy. Every check goes through real sockets."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import registry as registry_module
from support.bare_http import bare_request
from support.image_layouts import build_image
from support.images import (
    DOCKER_MANIFEST,
    OCI_MANIFEST,
    fetch_config,
    fetch_raw,
    list_tags_raw,
    push_image,
)
from support.registry import Registry, RegistryError, start_registry

REPO = "team/app"


# -- registry ----------------------------------------------------------------------------


def test_registry_starts_serves_v2_and_stops(registry: Registry) -> None:
    status, headers, body = bare_request(registry.host, "GET", "/v2/")
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
        bare_request(registry.host, "GET", "/v2/")


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
            assert bare_request(reg.host, "GET", "/v2/")[0] == 200
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
