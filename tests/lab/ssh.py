"""Real SSH to lab nodes with paramiko: lab key, lab known_hosts, RejectPolicy.

Never reads ~/.ssh, never uses an agent, never accepts an unknown host key.
A node behind bastions is reached through them (``lab.route``): one login
as ops on each hop, then a direct-tcpip channel to the next address.
"""

from __future__ import annotations

import io
import shlex
import uuid
from dataclasses import dataclass

import paramiko

from .util import LabError


@dataclass
class Result:
    """Outcome of a remote command."""

    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class SSH:
    """One SSH connection to a lab node as ``user`` (``ops`` by default)."""

    def __init__(self, lab, node, user: str = "ops", timeout: float = 10,
                 known_hosts=None):
        self.node, self.user = node, user
        self.hops: list[paramiko.SSHClient] = []
        route = lab.route(node) if hasattr(lab, "route") else [(node, node.address)]
        sock = None
        try:
            for i, (hop, address) in enumerate(route):
                client = paramiko.SSHClient()
                client.load_host_keys(str(known_hosts or lab.known_hosts_path))
                client.set_missing_host_key_policy(paramiko.RejectPolicy())
                client.connect(address, port=22, username=user if i == len(route) - 1 else "ops",
                               key_filename=str(lab.key_path), look_for_keys=False,
                               allow_agent=False, timeout=timeout, banner_timeout=timeout,
                               auth_timeout=timeout, sock=sock)
                if i < len(route) - 1:
                    self.hops.append(client)
                    sock = client.get_transport().open_channel(
                        "direct-tcpip", (route[i + 1][1], 22), ("127.0.0.1", 0), timeout=timeout)
                else:
                    self.client = client
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "SSH":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            self.client.close()
        for hop in reversed(self.hops):
            hop.close()

    def run(self, cmd: str, *, check: bool = False, timeout: float = 60,
            input: str | None = None) -> Result:
        """Run a shell command line; returns rc/stdout/stderr."""
        stdin, stdout, stderr = self.client.exec_command(cmd, timeout=timeout)
        if input is not None:
            stdin.write(input)
        stdin.channel.shutdown_write()
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        rc = stdout.channel.recv_exit_status()
        res = Result(rc, out, err)
        if check and rc != 0:
            raise LabError(f"{self.user}@{self.node.hostname}: {cmd!r} exited {rc}: {err.strip()}")
        return res

    def sudo(self, cmd: str, **kw) -> Result:
        """Run ``cmd`` as root through ``sudo -n sh -c``."""
        return self.run(f"sudo -n sh -c {shlex.quote(cmd)}", **kw)

    def put(self, data: bytes | str, path: str, *, mode: int = 0o644,
            owner: str = "root", group: str = "root") -> None:
        """Copy ``data`` to ``path`` by SFTP to a temp file + ``sudo install``."""
        raw = data.encode() if isinstance(data, str) else data
        tmp = f"/tmp/.lab-put-{uuid.uuid4().hex}"
        with self.client.open_sftp() as sftp:
            sftp.putfo(io.BytesIO(raw), tmp)
        self.sudo(f"install -D -m {mode:o} -o {shlex.quote(owner)} -g {shlex.quote(group)} "
                  f"{shlex.quote(tmp)} {shlex.quote(path)} && rm -f {shlex.quote(tmp)}",
                  check=True)

    def get(self, path: str) -> bytes:
        """Read a file (via ``sudo cat``)."""
        stdin, stdout, stderr = self.client.exec_command(f"sudo -n cat {shlex.quote(path)}")
        data = stdout.read()
        if stdout.channel.recv_exit_status() != 0:
            raise LabError(f"cannot read {path} on {self.node.hostname}: {stderr.read().decode()}")
        return data
