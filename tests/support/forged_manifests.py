"""Manifest bodies a lying registry serves: tampered, oversized, or naming an unknown child.

Each is built so that exactly one thing is wrong (a digest that no longer matches, a size
past the pipeline's limit, a media type it cannot know), so a test shows which check
caught it rather than a JSON parser tripping first.
"""

from __future__ import annotations

import hashlib
import json
import re

__all__ = [
    "OCI_INDEX",
    "OCI_MANIFEST",
    "UNKNOWN_CHILD_TYPE",
    "oversize_manifest",
    "tamper",
    "unknown_child_index",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
UNKNOWN_CHILD_TYPE = "application/vnd.example.unknown+json"


def tamper(body: bytes) -> bytes:
    """Change one byte, keeping valid JSON when possible: a hex digit of the first digest."""
    match = re.search(rb"sha256:[0-9a-f]{64}", body)
    pos = match.end() - 1 if match else len(body) - 1
    if pos < 0:
        return b"x"
    old = body[pos : pos + 1]
    new = b"0" if old != b"0" else b"1"
    if not match:
        new = bytes([body[pos] ^ 0x01])
    return body[:pos] + new + body[pos + 1 :]


def oversize_manifest(size: int) -> bytes:
    """A valid OCI manifest padded to `size` bytes in an annotation: only its size is wrong."""
    head = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": "sha256:" + "0" * 64,
                "size": 2,
            },
            "layers": [],
            "annotations": {"padding": ""},
        },
        separators=(",", ":"),
    ).encode()
    pad = max(0, size - len(head))
    return head.replace(b'"padding":""', b'"padding":"' + b"x" * pad + b'"')


def unknown_child_index() -> bytes:
    """A valid OCI index whose one child has a media type no client can know."""
    child = json.dumps({"unknown": True}).encode()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": UNKNOWN_CHILD_TYPE,
                    "digest": "sha256:" + hashlib.sha256(child).hexdigest(),
                    "size": len(child),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
