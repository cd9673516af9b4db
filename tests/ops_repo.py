"""A deployment-manifests directory shaped like a real ops repository, and the registry
history `pin` is tested against.

The tree: a workers Deployment in a multi-document file with CRLF line endings, comments,
an initContainer and a sidecar of another image, a production web container of the same
repository (another flavor, which `pin --flavor workers` must leave alone), a CronJob with
a quoted image, a kustomization over a workers-only base, a production kustomization, a
Helm values file and a Helm template. The registry: workers 0.22.6 (as the old workflow
left it: one single-platform image), 0.22.7 (this pipeline's index), 0.22.8 yanked, and
production 0.22.7, plus the docs image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from history import seed_docs, seed_legacy
from seeding import merged_release
from support.commands import run_json, sha_of
from support.images import fetch_raw

REPO = "testplanit/testplanit"


def tree(image: str) -> dict[str, bytes]:
    """path -> bytes; `image` is HOST/REPO."""
    crlf = (
        "# workers: the queue consumers (ops ticket OPS-112)\n"
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata: {name: workers}\n"
        "---\n"
        "apiVersion: apps/v1\n"
        "kind: Deployment\n"
        "metadata:\n"
        "  name: workers\n"
        "spec:\n"
        "  replicas: 2\n"
        "  template:\n"
        "    spec:\n"
        "      initContainers:\n"
        "        - name: migrate\n"
        f'          image: "{image}:latest-workers"   # runs the migrations\n'
        "      containers:\n"
        "        - name: workers\n"
        f"          image: {image}:latest-workers\n"
        "          args: [--queue, default]\n"
        "        - name: web\n"
        f"          image: {image}:latest\n"
        "        - name: valkey\n"
        "          image: docker.io/valkey/valkey:8\n"
    ).replace("\n", "\r\n")
    return {
        "apps/workers.yaml": crlf.encode(),
        "apps/cleanup.yml": (
            "apiVersion: batch/v1\n"
            "kind: CronJob\n"
            "metadata:\n"
            "  name: cleanup\n"
            "spec:\n"
            '  schedule: "0 3 * * *"\n'
            "  jobTemplate:\n"
            "    spec:\n"
            "      template:\n"
            "        spec:\n"
            "          containers:\n"
            "          - name: cleanup\n"
            f"            image: '{image}:0.22.6-workers'\n"
            "            command: [node, scripts/cleanup.js]\n"
        ).encode(),
        "overlays/workers/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\n"
            "kind: Kustomization\n"
            "resources:\n"
            "  - deployment.yaml\n"
            "images:\n"
            f"  - name: {image}\n"
            "    newTag: latest-workers  # moved by the release\n"
        ).encode(),
        "overlays/workers/deployment.yaml": (
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata:\n"
            "  name: workers\n"
            "spec:\n"
            "  selector:\n"
            "    matchLabels: {app: workers}\n"
            "  template:\n"
            "    metadata:\n"
            "      labels: {app: workers}\n"
            "    spec:\n"
            "      containers:\n"
            "        - name: workers\n"
            f"          image: {image}:latest-workers\n"
        ).encode(),
        "overlays/web/kustomization.yaml": (
            f"resources: [deployment.yaml]\nimages:\n- name: {image}\n  newTag: latest\n"
        ).encode(),
        "overlays/web/deployment.yaml": (
            "apiVersion: apps/v1\n"
            "kind: Deployment\n"
            "metadata: {name: web}\n"
            "spec:\n"
            "  template:\n"
            "    spec:\n"
            "      containers:\n"
            f"      - {{name: web, image: {image}}}\n"
        ).encode(),
        "chart/values.yaml": (
            "# TestPlanIt workers chart\n"
            "image:\n"
            f"  repository: {image}\n"
            '  tag: "latest-workers"\n'
            "  pullPolicy: IfNotPresent\n"
            "replicas: 1\n"
        ).encode(),
        "chart/templates/deployment.yaml": (
            b"kind: Deployment\n"
            b"spec:\n"
            b"  template:\n"
            b"    spec:\n"
            b"      containers:\n"
            b"        - name: workers\n"
            b'          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n'
        ),
        "README.md": b"not a manifest\n",
    }


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (symlinks as their target) -> the hash of its bytes."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(root))] = "-> " + str(path.readlink())
        elif path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def seed_history(host: str, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """The registry of the module docstring; returns 'flavor/version' -> index digest."""
    seed_docs(host, REPO)
    digests = {
        "workers/0.22.6": seed_legacy(host, REPO, "0.22.6", sha_of("w6"), latest=False),
        "/0.22.7": seed_legacy(host, REPO, "0.22.7", sha_of("p7"), flavor=""),
    }
    for version, commit in (("0.22.7", "w7"), ("0.22.8", "w8")):
        digests[f"workers/{version}"] = release(host, capsys, version, commit)
    code, _, err = run_json(capsys, "promote", f"--image={host}/{REPO}", "--from=0.22.7")
    assert code == 0, err  # 0.22.8 is yanked, latest-workers is 0.22.7
    return digests


def release(host: str, capsys: pytest.CaptureFixture[str], version: str, commit: str) -> str:
    """Publish a workers release of `commit` as CI would (per-arch images, then merge)."""
    merged_release(host, REPO, capsys, version, commit)
    return fetch_raw(host, REPO, f"{version}-workers")[2]
