"""Start and stop a real registry: Debian's docker-registry (distribution 2.8) on loopback.

Tests must exercise real registry behaviour (media-type negotiation, digests, auth), so this
runs the actual binary with a config we write ourselves: the packaged one is unusable. The
config is written as JSON, which YAML parsers accept, so no YAML library is needed.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tls import ServerCert
    from .tokens import TokenServer

__all__ = [
    "REGISTRY_BIN",
    "TEST_CREDS",
    "Registry",
    "RegistryError",
    "free_port",
    "start_registry",
]

REGISTRY_BIN = "/usr/bin/docker-registry"
"""Where Debian's docker-registry package puts the binary (ci/test installs it)."""

TEST_CREDS = ("ci-bot", "correct-horse-battery-staple")
"""Credentials the auth-enabled fixtures accept."""

_START_TIMEOUT = 15.0
_PORT_ATTEMPTS = 5

# Every registry process still running, killed at interpreter exit as a last resort so an
# interrupted session never leaves registries behind.
_running: set[subprocess.Popen[bytes]] = set()
_running_lock = threading.Lock()


class RegistryError(RuntimeError):
    """The registry could not be started; the message carries the tail of its log."""


@dataclass
class Registry:
    """A running registry process. `host` is "127.0.0.1:PORT"; storage lives under `root`."""

    host: str
    root: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path = field(repr=False)
    config_path: Path = field(repr=False)
    auth: str = "none"  # "none", "htpasswd" or "token"
    scheme: str = "http"  # "https" when started with a TLS certificate

    def url(self, path: str) -> str:
        """Absolute URL on this registry, e.g. url("/v2/") -> "http://127.0.0.1:PORT/v2/"."""
        return f"{self.scheme}://{self.host}{path}"

    def log_tail(self, lines: int = 40) -> str:
        """Last lines of the registry log, for failure messages."""
        return _tail(self.log_path, lines)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process (SIGKILL if it lingers). Idempotent; keeps storage on disk."""
        _terminate(self.process)


def free_port(bind: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (callers retry if another process grabs it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        return int(sock.getsockname()[1])


def start_registry(
    workdir: Path,
    *,
    htpasswd: tuple[str, str] | None = None,
    token: TokenServer | None = None,
    tls: ServerCert | None = None,
    binary: str = REGISTRY_BIN,
    extra_config: dict[str, Any] | None = None,
) -> Registry:
    """Start a registry storing under `workdir`/storage and wait until /v2/ answers.

    `htpasswd=(user, password)` turns on Basic auth (bcrypt hash, as 2.8 requires);
    `token=` turns on Bearer auth against that token server; `tls=` serves HTTPS only, with
    that certificate (Go's server then answers plain HTTP with 400). Calling it again with the same
    workdir after stop() restarts on the same storage. Raises RegistryError, never skips,
    when the binary is missing or the registry does not come up.
    """
    if htpasswd is not None and token is not None:
        raise ValueError("choose htpasswd or token auth, not both")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise RegistryError(
            f"registry binary {binary!r} not found: install Debian's docker-registry package "
            "(ci/test does this); the harness never mocks the registry"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    root = workdir / "storage"
    root.mkdir(exist_ok=True)
    log_path = workdir / "registry.log"
    config_path = workdir / "registry.yml"

    auth_conf: dict[str, Any] | None = None
    auth = "none"
    if htpasswd is not None:
        auth = "htpasswd"
        htpasswd_path = workdir / "htpasswd"
        htpasswd_path.write_text(_htpasswd_line(*htpasswd))
        auth_conf = {"htpasswd": {"realm": "release-pipeline-tests", "path": str(htpasswd_path)}}
    elif token is not None:
        auth = "token"
        auth_conf = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }

    last_error = ""
    for _ in range(_PORT_ATTEMPTS):
        port = free_port()
        config = _config(root, port, auth_conf)
        if tls is not None:
            config["http"]["tls"] = {"certificate": str(tls.certificate), "key": str(tls.key)}
        if extra_config:
            _merge(config, extra_config)
        config_path.write_text(json.dumps(config, indent=2))
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        proc = _spawn(binary, config_path, log_path)
        scheme = "http" if tls is None else "https"
        reg = Registry(f"127.0.0.1:{port}", root, proc, log_path, config_path, auth, scheme)
        try:
            _wait_ready(reg, log_offset)
            return reg
        except _PortTaken:
            reg.stop()
            last_error = f"port {port} was taken"
        except BaseException:
            reg.stop()
            raise
    raise RegistryError(f"could not bind a free port after {_PORT_ATTEMPTS} tries: {last_error}")


class _PortTaken(Exception):
    pass


def _config(root: Path, port: int, auth: dict[str, Any] | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "version": "0.1",
        # info level: every request and every auth decision lands in the log file, which is
        # what the failure message shows; stdout/stderr never reach the test output.
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(root)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth is not None:
        config["auth"] = auth
    return config


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _htpasswd_line(user: str, password: str) -> str:
    """One htpasswd line with a bcrypt hash (registry 2.8 accepts nothing else).

    Cost 4 (bcrypt's minimum) keeps every authenticated request cheap.
    """
    try:
        import bcrypt
    except ImportError as exc:  # pragma: no cover - the test extra pins it
        raise RegistryError("htpasswd auth needs the 'bcrypt' package (test extra)") from exc
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


def _spawn(binary: str, config_path: Path, log_path: Path) -> subprocess.Popen[bytes]:
    # REGISTRY_* variables override the config file; proxies must never apply to loopback.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("REGISTRY_") and "proxy" not in k.lower()
    }
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(config_path.parent),
        )
    with _running_lock:
        _running.add(proc)
    return proc


def _wait_ready(reg: Registry, log_offset: int) -> None:
    """Ready = our process logged that it listens on the port AND GET /v2/ answers.

    The log check guards against a port race: another process that grabbed the port could
    otherwise answer the probe while our registry is dying of "address already in use".
    """
    deadline = time.monotonic() + _START_TIMEOUT
    listening = f"listening on {reg.host}"
    while True:
        code = reg.process.poll()
        if code is not None:
            tail = reg.log_tail()
            if "address already in use" in _read_from(reg.log_path, log_offset):
                raise _PortTaken
            raise RegistryError(f"registry exited with code {code} on start; log tail:\n{tail}")
        if listening in _read_from(reg.log_path, log_offset):
            try:
                conn = _probe_connection(reg)
                try:
                    conn.request("GET", "/v2/")
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if status == 200 or (status == 401 and reg.auth != "none"):
                    return
                raise RegistryError(f"GET /v2/ answered {status}; log tail:\n{reg.log_tail()}")
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise RegistryError(
                f"registry on {reg.host} not ready after {_START_TIMEOUT:.0f}s; "
                f"log tail:\n{reg.log_tail()}"
            )
        time.sleep(0.01)


def _probe_connection(reg: Registry) -> http.client.HTTPConnection:
    if reg.scheme == "http":
        return http.client.HTTPConnection(reg.host, timeout=1)
    # Only "is it up?": whether the certificate is trusted is what the TLS tests check.
    unverified = ssl._create_unverified_context()
    return http.client.HTTPSConnection(reg.host, timeout=1, context=unverified)


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    with _running_lock:
        _running.discard(proc)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@atexit.register
def _kill_leftovers() -> None:
    with _running_lock:
        leftovers = list(_running)
    for proc in leftovers:
        with contextlib.suppress(Exception):
            _terminate(proc)
