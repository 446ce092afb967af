"""HTTPS: a real ``luna-hub serve`` with a certificate made here; clients and an agent that verify it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from luna_agent.buffer import ReadingBuffer
from luna_agent.sample import Sample
from support.processes import BIN, ManagedProcess, free_port


@dataclass(frozen=True)
class Authority:
    """A CA file, and a certificate with its key for 127.0.0.1 signed by it."""

    ca: Path
    cert: Path
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_authority(folder: Path, label: str) -> Authority:
    """A fresh CA and a server certificate for 127.0.0.1, as PEM files in ``folder``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(f"luna test CA {label}"))
        .issuer_name(_name(f"luna test CA {label}"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)  # noqa: FBT003
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = Authority(folder / f"{label}-ca.pem", folder / f"{label}-cert.pem", folder / f"{label}-key.pem")
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    files.key.chmod(0o600)
    return files


@dataclass(frozen=True)
class TlsHub:
    url: str
    env: dict[str, str]
    authority: Authority
    folder: Path


@pytest.fixture
def tls_hub(system_dsn: str, tmp_path: Path) -> Iterator[TlsHub]:
    authority = make_authority(tmp_path, "hub")
    env = {
        "LUNA_DATABASE_URL": system_dsn,
        "LUNA_DATA_DIR": str(tmp_path / "hub"),
        "LUNA_SERVER__TLS_CERT": str(authority.cert),
        "LUNA_SERVER__TLS_KEY": str(authority.key),
        "LUNA_LOG__LEVEL": "WARNING",
    }
    process = ManagedProcess(
        [str(BIN / "luna-hub"), "serve", "--port", str(free_port())], log=tmp_path / "hub.log", env=env
    )
    try:
        url = process.wait_ready()["luna-hub"]
        yield TlsHub(url, env, authority, tmp_path)
    finally:
        if process.process.poll() is None:
            process.interrupt()


def test_the_hub_serves_https_verified_against_its_ca(tls_hub: TlsHub) -> None:
    assert tls_hub.url.startswith("https://127.0.0.1:")
    trusting = ssl.create_default_context(cafile=str(tls_hub.authority.ca))
    response = httpx.get(f"{tls_hub.url}/health", verify=trusting)
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{tls_hub.url}/health")  # the system's CAs do not know the test CA
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(tls_hub.url.replace("https://", "http://") + "/health")


def _fill_buffer(folder: Path, count: int) -> None:
    buffer = ReadingBuffer(folder / "buffer.sqlite3")
    t0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    buffer.append(
        [
            Sample(meter_id="m", metric="power_w", ts=t0 + dt.timedelta(seconds=i), value=1.0, unit="W")
            for i in range(count)
        ]
    )
    buffer.close()


def _sync_once(config: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / "luna-agent"), "sync", "--once", "-c", str(config)]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def _agent_config(folder: Path, hub_url: str, key_file: Path, ca_file: Path, agent: str) -> Path:
    path = folder / "agent.toml"
    path.write_text(
        f'agent_id = "{agent}"\nsite_id = "site-{agent}"\ndata_dir = "{folder}"\n'
        f'[sync]\nhub_url = "{hub_url}"\nkey_file = "{key_file}"\n'
        f'ca_file = "{ca_file}"\ntimeout_s = 5\n',
        encoding="utf-8",
    )
    return path


def test_an_agent_syncs_over_https_with_the_ca_and_refuses_an_untrusted_hub(tls_hub: TlsHub) -> None:
    unique_id = f"tls-{uuid.uuid4().hex[:10]}"
    key_file = tls_hub.folder / "agent.key"
    created = subprocess.run(
        [str(BIN / "luna-hub"), "create-agent", unique_id, "--site", f"site-{unique_id}", "--key-file", str(key_file)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**tls_hub.env},
        check=False,
    )
    assert created.returncode == 0, created.stderr

    trusting = tls_hub.folder / "trusting"
    trusting.mkdir()
    _fill_buffer(trusting, 5)
    synced = _sync_once(_agent_config(trusting, tls_hub.url, key_file, tls_hub.authority.ca, unique_id))
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "backlog 0" in synced.stdout

    doubting = tls_hub.folder / "doubting"
    doubting.mkdir()
    other = make_authority(tls_hub.folder, "other")
    _fill_buffer(doubting, 5)
    refused = _sync_once(_agent_config(doubting, tls_hub.url, key_file, other.ca, unique_id))
    assert refused.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in refused.stdout
    assert "backlog 5" in refused.stdout
