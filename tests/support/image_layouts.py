"""Tiny real images as OCI layouts on disk, built with umoci (no container engine needed).

Each image carries one small file whose content depends on the platform and a seed, so
distinct requests give distinct digests while identical requests give identical digests
(timestamps are pinned): that is what lets a build be cached for the whole session.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .image_tools import run_tool, workspace_dir

__all__ = ["LAYOUT_REF", "build_image"]

LAYOUT_REF = "img"
"""The ref name of the image in every layout build_image returns."""

_EPOCH = "1970-01-01T00:00:00Z"


@dataclass(frozen=True)
class _ImageKey:
    arch: str
    os: str
    variant: str | None
    labels: tuple[tuple[str, str], ...]
    seed: str


_build_lock = threading.Lock()
_built: dict[_ImageKey, Path] = {}


def build_image(
    *,
    arch: str,
    os: str = "linux",
    variant: str | None = None,
    labels: Mapping[str, str] | None = None,
    seed: str = "",
) -> Path:
    """OCI layout (ref "img") of a one-file image for this platform; cached per session."""
    key = _ImageKey(arch, os, variant, tuple(sorted((labels or {}).items())), seed)
    with _build_lock:
        cached = _built.get(key)
        if cached is not None:
            return cached
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        layout = workspace_dir() / f"layout-{name}"
        shutil.rmtree(layout, ignore_errors=True)
        _build(layout, key)
        _built[key] = layout
        return layout


def _build(layout: Path, key: _ImageKey) -> None:
    image = f"{layout}:{LAYOUT_REF}"
    payload = layout.with_name(layout.name + ".payload")
    payload.write_text(
        "release-pipeline test image\n"
        f"os={key.os}\narch={key.arch}\nvariant={key.variant or ''}\nseed={key.seed}\n"
    )
    os.utime(payload, (0, 0))  # the layer tar records mtime: pin it for stable digests
    run_tool(["umoci", "init", "--layout", str(layout)])
    run_tool(["umoci", "new", "--image", image])
    run_tool(
        [
            "umoci", "insert", "--rootless", "--image", image,
            "--history.created", _EPOCH, "--history.created_by", "release-pipeline tests",
            str(payload), "/payload",
        ]
    )  # fmt: skip
    config = [
        "umoci", "config", "--no-history", "--image", image, "--created", _EPOCH,
        "--architecture", key.arch, "--os", key.os,
    ]  # fmt: skip
    for label, value in key.labels:
        config += ["--config.label", f"{label}={value}"]
    run_tool(config)
    if key.variant:
        _patch_variant(layout, key.variant)  # umoci 0.4.7 has no --variant


def _patch_variant(layout: Path, variant: str) -> None:
    """Set `variant` in the image config, rewriting config, manifest and index.json."""
    index_path = layout / "index.json"
    index = json.loads(index_path.read_text())
    desc = next(
        d
        for d in index["manifests"]
        if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == LAYOUT_REF
    )
    manifest = json.loads(_read_blob(layout, desc["digest"]))
    config = json.loads(_read_blob(layout, manifest["config"]["digest"]))
    config["variant"] = variant
    manifest["config"]["digest"], manifest["config"]["size"] = _write_blob(
        layout, json.dumps(config, separators=(",", ":")).encode()
    )
    desc["digest"], desc["size"] = _write_blob(
        layout, json.dumps(manifest, separators=(",", ":")).encode()
    )
    index_path.write_text(json.dumps(index, separators=(",", ":")))


def _read_blob(layout: Path, digest: str) -> bytes:
    algo, _, hexd = digest.partition(":")
    return (layout / "blobs" / algo / hexd).read_bytes()


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    hexd = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / hexd).write_bytes(data)
    return f"sha256:{hexd}", len(data)
