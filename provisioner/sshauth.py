"""How we log in over SSH: public keys in OpenSSH's order (:class:`KeyAuth`), AES-GCM offered first
(:func:`aead_first`), and one ``SSHClient.connect`` with both (:func:`authenticated`)."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from provisioner import deferred

deferred.defer("invoke")     # before paramiko: its config module imports invoke for `Match exec` only
import paramiko  # noqa: E402
from paramiko.auth_strategy import AuthStrategy, InMemoryPrivateKey  # noqa: E402

from provisioner.sshconfig import Endpoint  # noqa: E402


def _public_blob(path: str) -> bytes | None:
    """The public key of an identity file without its private part: ``FILE.pub``, or FILE itself
    when it holds a public key (OpenSSH accepts both for agent keys with IdentitiesOnly)."""
    for candidate in (f"{path}.pub", path):
        try:
            fields = Path(candidate).read_text(encoding="utf-8", errors="replace").split()
        except OSError:
            continue
        if len(fields) >= 2 and not fields[0].startswith("-----"):
            try:
                return base64.b64decode(fields[1])
            except ValueError:
                continue
    return None


class KeyAuth(AuthStrategy):
    """Public-key authentication as OpenSSH orders it: agent keys matching an identity file, the
    identity files themselves, then (without IdentitiesOnly) the agent's other keys."""

    def __init__(self, endpoint: Endpoint):
        super().__init__(ssh_config=None)
        self.endpoint = endpoint
        self.agent: paramiko.Agent | None = None
        self.notes: list[str] = []

    def keys(self) -> list[paramiko.PKey]:
        ep = self.endpoint
        files = list(ep.identity_files) or [p for p in map(os.path.expanduser, ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa",
                                                                                 "~/.ssh/id_ed25519"))
                                            if os.path.exists(p)]
        loaded: list[paramiko.PKey] = []
        wanted: list[bytes] = []
        for path in files:
            try:
                key = paramiko.PKey.from_path(path)
                loaded.append(key)
                wanted.append(key.asbytes())
            except paramiko.PasswordRequiredException:
                self.notes.append(f"{path} is encrypted (load it into ssh-agent)")
                blob = _public_blob(path)
                if blob:
                    wanted.append(blob)
            except (OSError, paramiko.SSHException, ValueError) as exc:
                blob = _public_blob(path)
                if blob:
                    wanted.append(blob)     # e.g. only FILE.pub here, its private key in the agent
                else:
                    self.notes.append(f"{path}: {getattr(exc, 'strerror', None) or exc}")
        agent_keys: list[paramiko.PKey] = []
        if os.environ.get("SSH_AUTH_SOCK"):
            try:
                self.agent = paramiko.Agent()
                agent_keys = list(self.agent.get_keys())
            except paramiko.SSHException as exc:
                self.notes.append(f"ssh-agent: {exc}")
        by_blob = {k.asbytes(): k for k in agent_keys}
        ordered = [by_blob[b] for b in wanted if b in by_blob]
        ordered += [k for k in loaded if k.asbytes() not in by_blob]
        if not ep.identities_only:
            ordered += [k for k in agent_keys if k not in ordered]
        seen: set[bytes] = set()
        return [k for k in ordered if not (k.asbytes() in seen or seen.add(k.asbytes()))]

    def get_sources(self):
        for key in self.keys():
            yield InMemoryPrivateKey(self.endpoint.user, key)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.close()
            self.agent = None


def aead_first(sock, disabled_algorithms=None) -> paramiko.Transport:
    """A paramiko Transport that offers AES-GCM first (``SSHClient.connect``'s ``transport_factory``).

    paramiko's own order starts with aes-ctr, whose HMAC every received packet has checked by a Python loop
    (paramiko/util.py constant_time_bytes_eq); with AES-GCM (an AEAD, OpenSSH's aes128-gcm@openssh.com,
    offered by sshd since 6.2) the tag is checked inside the cipher, in C. The other ciphers stay offered
    after it, in paramiko's order, for a server that does not take GCM."""
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    offered = list(options.ciphers)
    gcm = [c for c in offered if c.endswith("-gcm@openssh.com")]
    options.ciphers = tuple(gcm + [c for c in offered if c not in gcm])
    return transport


def authenticated(client: paramiko.SSHClient, ep: Endpoint, sock, timeout: float) -> None:
    """``client.connect`` to ``ep`` over ``sock`` (None: TCP), host key checked first."""
    strategy = KeyAuth(ep)
    try:
        client.connect(ep.address, port=ep.port, username=ep.user, sock=sock, timeout=timeout,
                       banner_timeout=timeout, auth_timeout=timeout, auth_strategy=strategy,
                       transport_factory=aead_first)
    except paramiko.AuthenticationException as exc:
        exc.notes_for_user = strategy.notes    # type: ignore[attr-defined]
        raise
    finally:
        strategy.close()
