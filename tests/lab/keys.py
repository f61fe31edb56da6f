"""The lab's own SSH client key pair and known_hosts file."""

from __future__ import annotations

from pathlib import Path

from .util import run


def ensure_client_key(state_dir: Path) -> Path:
    """Create ``state_dir/id_ed25519`` (+ .pub) once; return the private key path."""
    key = state_dir / "id_ed25519"
    if not key.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "provisioner-lab",
             "-f", str(key)])
    return key


def known_hosts_line(names: list[str], pubkey_file: Path) -> str:
    """One known_hosts line for ``names`` with the key in ``pubkey_file``."""
    keytype, blob = pubkey_file.read_text().split()[:2]
    return f"{','.join(names)} {keytype} {blob}\n"
