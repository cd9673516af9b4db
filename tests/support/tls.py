"""A private CA for tests, server certificates it signs, and a system trust store to try it in.

The TLS tests need what a team behind a private CA has: a CA nobody trusts by default, a
registry certificate it signed, and a machine whose system store holds that CA after
`update-ca-certificates`. The first two are made here with `cryptography`; the third is
`system_store_with`: the machine's own store plus the CA, built by `update-ca-certificates`
itself into a temporary directory and shown to one subprocess at /etc/ssl/certs through a
private mount namespace (`run_with_system_store`), so the machine is never changed.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "SYSTEM_CERTS_DIR",
    "ServerCert",
    "TestCA",
    "env_without_trust_overrides",
    "run_with_system_store",
    "self_signed_ca",
    "system_store_with",
]

SYSTEM_CERTS_DIR = Path("/etc/ssl/certs")
"""Debian's system store: OpenSSL's default capath and the bundle curl and skopeo read."""


def self_signed_ca(key: ec.EllipticCurvePrivateKey, common_name: str) -> x509.Certificate:
    """A CA certificate valid for a week around now, signing with `key`."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class ServerCert:
    """PEM files for a TLS server (docker-registry's `http.tls.certificate` and `.key`)."""

    certificate: Path
    key: Path


class TestCA:
    """A private CA that signs server certificates; `pem` is what a user would install."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, workdir: Path, name: str = "release-pipeline test CA") -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self._workdir = workdir
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self_signed_ca(self._key, name)
        self.pem = workdir / "ca.pem"
        self.pem.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, ips: Sequence[str] = (), dns: Sequence[str] = ()) -> ServerCert:
        """A server certificate for exactly these subject alternative names."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [
            x509.DNSName(d) for d in dns
        ]
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        out = ServerCert(self._workdir / f"{name}.crt", self._workdir / f"{name}.key")
        out.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return out


def system_store_with(ca: TestCA, workdir: Path) -> Path:
    """A copy of the machine's /etc/ssl/certs with `ca` added by `update-ca-certificates`.

    This is exactly what a user does (copy the CA to /usr/local/share/ca-certificates, run
    `update-ca-certificates`), pointed at temporary directories with the tool's own
    `--localcertsdir`/`--etccertsdir` options, and with no hooks (Debian's Java hook would
    write outside them). Nothing under /etc or /usr is written.
    """
    local, certs, hooks = workdir / "local-ca", workdir / "etc-ssl-certs", workdir / "hooks"
    local.mkdir(parents=True)
    hooks.mkdir()
    shutil.copyfile(ca.pem, local / "release-pipeline-test-ca.crt")
    shutil.copytree(SYSTEM_CERTS_DIR, certs, symlinks=True)
    subprocess.run(
        [
            "update-ca-certificates",
            "--localcertsdir",
            str(local),
            "--etccertsdir",
            str(certs),
            "--hooksdir",
            str(hooks),
        ],
        check=True,
        capture_output=True,
    )
    return certs


def run_with_system_store(
    store: Path, argv: Sequence[str], env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `argv` with `store` mounted over /etc/ssl/certs, for that process alone.

    `unshare --mount --propagation private` gives the child its own mount table: the bind
    mount is invisible to every other process and vanishes when the child exits, even if the
    test is killed. The child reads the real path /etc/ssl/certs, so it exercises the system
    store lookup itself, not a path the test passes in. Needs root (CI runs as root).
    """
    script = 'mount --bind "$0" /etc/ssl/certs && exec "$@"'
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(store), *argv],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def env_without_trust_overrides() -> dict[str, str]:
    """This process's environment without SSL_CERT_FILE/SSL_CERT_DIR (nor proxies)."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR") and "proxy" not in k.lower()
    }
