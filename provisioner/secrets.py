"""Cluster secrets: generated once, stored 0600 in the state directory, reused.

>>> store = SecretStore(Path("/tmp/state/lab"))        # doctest: +SKIP
>>> s = store.load_or_create()                          # doctest: +SKIP
>>> len(s.vrrp_auth_pass) <= 8                          # doctest: +SKIP
True

Secrets never go on a command line or into a log: templates read them from
this object, and :func:`redact` masks them in any text we print.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets as random
import string
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml
# cryptography (x509: ~15 ms to import) is imported by the two functions that use it: `validate` and
# `preflight` need only write_private from here.

from provisioner.errors import ProvisionerError

_TOKEN_CHARS = string.ascii_lowercase + string.digits
_PASS_CHARS = string.ascii_letters + string.digits


def _pick(alphabet: str, n: int) -> str:
    return "".join(random.choice(alphabet) for _ in range(n))


def new_bootstrap_token() -> str:
    """A kubeadm bootstrap token: ``[a-z0-9]{6}.[a-z0-9]{16}``."""
    return f"{_pick(_TOKEN_CHARS, 6)}.{_pick(_TOKEN_CHARS, 16)}"


def new_certificate_key() -> str:
    """kubeadm's --certificate-key: 32 random bytes, hex encoded (AES-256)."""
    return random.token_hex(32)


@dataclass
class ClusterSecrets:
    """Everything secret about one cluster. ``ca_cert_pem`` is public, the rest is not."""

    bootstrap_token: str
    certificate_key: str
    vrrp_auth_pass: str        # keepalived PASS auth uses at most 8 characters
    haproxy_stats_password: str
    ca_cert_pem: str
    ca_key_pem: str

    @property
    def ca_cert_hash(self) -> str:
        """``sha256:<hex>`` of the CA's SubjectPublicKeyInfo, as kubeadm's caCertHashes wants."""
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        cert = x509.load_pem_x509_certificate(self.ca_cert_pem.encode())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        return "sha256:" + hashlib.sha256(spki).hexdigest()

    def values(self) -> list[str]:
        """Every secret value, for redaction (the public CA certificate is not one)."""
        return [getattr(self, f.name) for f in fields(self) if f.name != "ca_cert_pem"] + \
               [self.bootstrap_token.split(".")[1]]


def new_cluster_ca(cluster_name: str) -> tuple[str, str]:
    """A CA like kubeadm's own (CN=kubernetes, 10 years), made here so the
    join configs can pin its hash before init runs; kubeadm reuses a CA it
    finds in /etc/kubernetes/pki instead of generating one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, key_cert_sign=True,
                                     content_commitment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SecretStore:
    """The ``secrets.yaml`` file of one cluster's state directory."""

    FILE = "secrets.yaml"

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / self.FILE

    def load(self) -> ClusterSecrets | None:
        if not self.path.exists():
            return None
        mode = self.path.stat().st_mode & 0o777
        if mode & 0o077:
            raise ProvisionerError(f"{self.path}: mode {mode:o} lets others read cluster secrets - run chmod 600 {self.path}")
        try:
            # libyaml's parser where PyYAML has it (the same safe constructors, ~5x less CPU at every run's start)
            data = yaml.load(self.path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            return ClusterSecrets(**data)
        except (yaml.YAMLError, TypeError) as exc:
            raise ProvisionerError(f"{self.path}: unreadable secrets file ({type(exc).__name__}) - restore it from backup "
                                   "or remove it to generate new secrets for a cluster not yet built") from None

    def save(self, s: ClusterSecrets) -> None:
        write_private(self.path, yaml.safe_dump(asdict(s), sort_keys=False))

    def load_or_create(self, cluster_name: str) -> ClusterSecrets:
        """Return the stored secrets, generating and storing them on first use."""
        existing = self.load()
        if existing:
            return existing
        ca_cert, ca_key = new_cluster_ca(cluster_name)
        fresh = ClusterSecrets(
            bootstrap_token=new_bootstrap_token(),
            certificate_key=new_certificate_key(),
            vrrp_auth_pass=_pick(_PASS_CHARS, 8),
            haproxy_stats_password=_pick(_PASS_CHARS, 24),
            ca_cert_pem=ca_cert,
            ca_key_pem=ca_key,
        )
        self.save(fresh)
        return fresh


def redact(text: str, secrets: ClusterSecrets | None) -> str:
    """Replace every secret value in ``text`` with ``<redacted>``."""
    if not secrets:
        return text
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, "<redacted>")
    return text
