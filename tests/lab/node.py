"""One lab node: overlay root, identity files, a systemd-nspawn container.

A node lives in ``<state>/nodes/<hostname>/``: ``upper``/``work``/``root``
(overlayfs over the shared read-only lower), ``sysclass/dmi/id/*`` (its DMI
identity, overlaid on /sys/class inside), ``swap/`` (an ext4 directory for
the swap fault) and ``nspawn.log``. Its processes sit in the cgroups
``provisioner-lab/<lab>/<hostname>`` of the v1 ``name=systemd`` and the v2
hierarchies, which is also how they are found and killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from . import config, net, rootfs
from .util import LabError, log, run, wait_for, write_file



def _cgroup_roots() -> tuple[str, ...]:
    """Hierarchies to place nodes in: v1 name=systemd + v2 (hybrid, as on
    this VM), or the v2 root on a pure cgroup v2 host."""
    hybrid = tuple(r for r in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
                   if os.path.exists(f"{r}/cgroup.procs"))
    if hybrid:
        return hybrid
    return ("/sys/fs/cgroup",) if os.path.exists("/sys/fs/cgroup/cgroup.procs") else ()


CGROUP_ROOTS = _cgroup_roots()
TRUSTED_KEY = "/etc/apt/trusted.gpg.d/provisioner-lab.gpg"
NODE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", "HOME": "/root"}


def _octet(address: str) -> int:
    """Last octet of an address: names a leg's host-side veth."""
    return int(address.rsplit(".", 1)[1])


def cgroup_dirs(lab: str, hostname: str | None = None) -> list[Path]:
    """The node's (or whole lab's) cgroup directories that exist."""
    rel = Path(config.CGROUP_NAME, lab, *( [hostname] if hostname else []))
    return [Path(r) / rel for r in CGROUP_ROOTS if (Path(r) / rel).is_dir()]


def cgroup_pids(dirs: list[Path]) -> set[int]:
    """All pids in the cgroup trees under ``dirs``."""
    pids: set[int] = set()
    for d in dirs:
        # os.walk, not Path.rglob: systemd removes a cgroup (a user session's) while we walk, and rglob
        # raises FileNotFoundError for a directory gone between its listing and its scan; os.walk skips it.
        for top, _, files in os.walk(d):
            if "cgroup.procs" not in files:
                continue
            try:
                pids.update(int(p) for p in Path(top, "cgroup.procs").read_text().split())
            except OSError:
                pass
    return pids


def remove_cgroups(dirs: list[Path]) -> None:
    """rmdir cgroup trees deepest first (they must be empty of processes)."""
    for d in dirs:
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()),
                          key=lambda p: len(p.parts), reverse=True):
            try:
                sub.rmdir()
            except OSError:
                pass
        try:
            d.rmdir()
        except OSError:
            pass


def kill_pids(pids: set[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Node:
    """A booted (or bootable) lab node. Use the Lab API to create these."""

    def __init__(self, lab, spec: config.NodeSpec):
        self.lab = lab
        self.spec = spec
        self.hostname = spec.hostname
        self.address = spec.address
        self.roles = spec.roles
        self.mac = spec.mac
        self.dir = Path(lab.state_dir) / "nodes" / spec.hostname
        self.root = self.dir / "root"
        self.netns = net.netns_name(lab.name, spec.hostname)
        self.veth = net.veth_host(lab.name, spec.octet)
        self.machine = f"{lab.name}-{spec.hostname}"
        self._proc: subprocess.Popen | None = None

    def __repr__(self) -> str:
        return f"<Node {self.hostname} {self.address}>"

    # ---- paths -----------------------------------------------------------
    @property
    def product_uuid_path(self) -> Path:
        """Host file shown as /sys/class/dmi/id/product_uuid in the node."""
        return self.dir / "sysclass" / "dmi" / "id" / "product_uuid"

    @property
    def host_key_path(self) -> Path:
        """The node's ed25519 host key as seen from the host (in its root)."""
        return self.root / "etc/ssh/ssh_host_ed25519_key"

    def path(self, inside: str) -> Path:
        """Host path of a file inside the node's (mounted) root."""
        return self.root / inside.lstrip("/")

    @property
    def pidfile(self) -> Path:
        return self.dir / "nspawn.pid"

    # ---- lifecycle ---------------------------------------------------------
    def prepare(self, lower: Path) -> None:
        """Network, overlay mount and (first time) per-node identity."""
        first = not (self.dir / "upper").exists()
        for sub in ("upper", "work", "root", "swap"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        bridge, prefix, hidden = self.lab.bridge_of(self.address)
        net.add_node_net(self.lab.name, bridge, self.hostname,
                         self.spec.octet, self.address, prefix, self.mac, hidden=hidden)
        for i, leg in enumerate(self.spec.legs, start=1):
            bridge, prefix, hidden = self.lab.bridge_of(leg)
            net.add_leg(self.lab.name, self.netns, bridge, f"eth{i}", _octet(leg), leg, prefix,
                        config.mac_for(leg), hidden=hidden)
        if self.spec.legs:
            # A bastion is a door, not a router: it never forwards between its legs (a new netns
            # inherits the host's IPv4 settings, whatever they are).
            run(["ip", "netns", "exec", self.netns, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
        run(["mount", "-t", "overlay", f"lab-{self.machine}", "-o",
             f"lowerdir={lower},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
             str(self.root)])
        if first:
            self._write_identity(lower)
        if self.spec.relay_to:
            self._write_relays()
        if first and self.spec.os != "debian12":
            from . import eltree
            key = self.lab.repo.root / "el" / "RPM-GPG-KEY-lab"
            eltree.write_identity(self.path, self.spec.os, key.read_text() if key.exists() else "", write_file)
        if self.lab.with_repo and self.lab.repo.key_path.exists():
            # The lab repo's key in the system keyring, as a site mirror's key would be
            # in a golden image: sources without signed-by (the debian mirror) trust it.
            write_file(str(self.path(TRUSTED_KEY)), self.lab.repo.key_path.read_bytes())

    def _relay_units(self) -> list[str]:
        return [f"lab-relay-{kind}@{leg}.service" for leg in self.spec.legs for kind in ("http", "ntp")]

    def _write_relays(self) -> None:
        """socat units forwarding the lab's package mirrors (TCP 8080) and NTP (UDP 123) from
        each leg address to ``relay_to``: the nodes behind a bastion use the bastion's inner
        address as their mirror and NTP server, as a site's bastion or proxy would serve them."""
        up = self.spec.relay_to
        port = config.REPO_PORT
        units = {
            "http": f"TCP4-LISTEN:{port},bind=%i,reuseaddr,fork TCP4:{up}:{port}",
            # One child per client datagram; it relays the answer and exits after 5 s idle.
            "ntp": f"-T 5 UDP4-RECVFROM:123,bind=%i,reuseaddr,fork UDP4-SENDTO:{up}:123",
        }
        for kind, args in units.items():
            write_file(str(self.path(f"/etc/systemd/system/lab-relay-{kind}@.service")),
                       f"[Unit]\nDescription=provisioner-lab relay ({kind}) on %i to {up}\n"
                       "After=network.target\n\n"
                       f"[Service]\nExecStart=/usr/bin/socat {args}\nRestart=always\nRestartSec=1\n\n"
                       "[Install]\nWantedBy=multi-user.target\n")
        wants = self.path("/etc/systemd/system/multi-user.target.wants")
        wants.mkdir(parents=True, exist_ok=True)
        for unit in self._relay_units():
            link = wants / unit
            if not link.is_symlink():
                os.symlink(f"../{unit.split('@')[0]}@.service", link)

    def relays_active(self) -> bool:
        """True once every relay unit of a bastion runs (always True without relays)."""
        units = self._relay_units() if self.spec.relay_to else []
        return not units or self.exec(["systemctl", "is-active", "--quiet", *units],
                                      check=False).returncode == 0

    def _write_identity(self, lower: Path) -> None:
        fqdn = f"{self.hostname}.{self.lab.domain}" if self.lab.domain else self.hostname
        write_file(str(self.path("/etc/machine-id")), uuid.uuid4().hex + "\n", 0o444)
        write_file(str(self.path("/etc/hostname")), self.hostname + "\n")
        write_file(str(self.path("/etc/hosts")),
                   f"127.0.0.1\tlocalhost\n127.0.1.1\t{fqdn} {self.hostname}\n"
                   "::1\tlocalhost ip6-localhost ip6-loopback\n")
        key = self.host_key_path
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{self.hostname}",
             "-f", str(key)])
        pub = self.lab.pubkey
        for user in ("ops", "nosudo"):
            uid, gid = rootfs.user_ids(lower, user)
            write_file(str(self.path(f"/home/{user}/.ssh/authorized_keys")), pub,
                       0o600, uid, gid)
        dmi = self.product_uuid_path.parent
        write_file(str(self.product_uuid_path), str(uuid.uuid4()) + "\n", 0o400)
        write_file(str(dmi / "product_name"), "provisioner-lab node\n")
        write_file(str(dmi / "sys_vendor"), "provisioner-lab\n")
        write_file(str(dmi / "product_serial"), f"LAB-{self.machine}\n", 0o400)

    def start(self) -> None:
        """Launch systemd-nspawn (detached) inside the node's cgroups."""
        cgs = []
        for r in CGROUP_ROOTS:
            d = Path(r) / config.CGROUP_NAME / self.lab.name / self.hostname
            d.mkdir(parents=True, exist_ok=True)
            cgs.append(str(d / "cgroup.procs"))
        argv = [
            "systemd-nspawn", "--boot", f"--directory={self.root}",
            f"--machine={self.machine}", "--register=no", "--keep-unit",
            f"--network-namespace-path={net.netns_path(self.netns)}",
            "--capability=CAP_NET_ADMIN", "--system-call-filter=@swap",
            "--console=read-only",
            "--resolv-conf=off", "--timezone=off", "--link-journal=no",
            f"--bind-ro={self.dir / 'sysclass'}:{rootfs.SYSCLASS_LAYER}",
            f"--bind={self.dir / 'swap'}:{rootfs.SWAP_DIR}",
        ]
        script = 'for f in "$@"; do case $f in */cgroup.procs) echo $$ > "$f";; *) break;; esac; ' \
                 'shift; done; exec "$@"'
        # Nodes boot cgroup v2 (cgroup2 on /sys/fs/cgroup, from the host's unified hierarchy) even on this
        # hybrid host: the kubelet of 1.35+ refuses anything else. The cgroup_v1 fault gives a node v1 back.
        env = {**os.environ, "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network", "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}
        with open(self.console, "ab") as logf:
            self._proc = subprocess.Popen(["sh", "-c", script, "sh", *cgs, *argv],
                                          stdin=subprocess.DEVNULL, stdout=logf,
                                          stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True)
        self.pidfile.write_text(f"{self._proc.pid}\n")

    @property
    def cmdline_marker(self) -> bytes:
        """What only this node's launcher process has on its command line."""
        return f"--machine={self.machine}".encode()

    def nspawn_pid(self) -> int | None:
        """pid of the running systemd-nspawn for this node, if any."""
        try:
            pid = int(self.pidfile.read_text())
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if self._proc is not None and self._proc.poll() is not None:
            return None
        return pid if self.cmdline_marker in cmd else None

    def leader(self) -> int:
        """Host pid of the node's PID 1 (systemd)."""
        for pid in sorted(cgroup_pids(cgroup_dirs(self.lab.name, self.hostname))):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                # "NSpid: <host pid> 1": PID 1 of a pid namespace one level down
                if line.startswith("NSpid:") and line.split()[2:] == ["1"]:
                    return pid
        raise LabError(f"{self.hostname}: no PID 1 found (is it running?)")

    def is_running(self) -> bool:
        return self.nspawn_pid() is not None

    def exec(self, cmd: list[str] | str, *, check: bool = True, timeout: float = 60,
             input: str | None = None) -> subprocess.CompletedProcess:
        """Run a command inside the node as root (nsenter, no SSH needed).

        ``cmd`` is an argv list, or a string run with ``sh -c``.
        """
        argv = ["sh", "-c", cmd] if isinstance(cmd, str) else list(cmd)
        return run(["nsenter", f"--target={self.leader()}", "--mount", "--uts",
                    "--ipc", "--net", "--pid", "--", "env", "-i",
                    *[f"{k}={v}" for k, v in NODE_ENV.items()], *argv],
                   check=check, timeout=timeout, input=input)

    def system_state(self) -> str:
        """``systemctl is-system-running`` as seen by the node's PID 1."""
        return self.exec(["systemctl", "is-system-running"], check=False).stdout.strip()

    def ssh_banner(self, timeout: float = 2.0) -> bool:
        """True once sshd on the node sends its SSH banner (asked from the node's own network
        namespace when this machine cannot reach it: a node behind a bastion)."""
        if not self.lab.reachable(self.address):
            probe = ("import socket,sys; s=socket.create_connection((sys.argv[1],22),timeout=float(sys.argv[2]));"
                     "s.settimeout(float(sys.argv[2])); sys.exit(0 if s.recv(64).startswith(b'SSH-') else 1)")
            return run(["ip", "netns", "exec", self.netns, sys.executable, "-c", probe, self.address,
                        str(timeout)], check=False, timeout=timeout + 5).returncode == 0
        with socket.create_connection((self.address, 22), timeout=timeout) as s:
            s.settimeout(timeout)
            return s.recv(64).startswith(b"SSH-")

    def wait_ready(self, timeout: float = 60) -> None:
        """Poll until systemd finished booting and sshd answers."""
        try:
            wait_for(lambda: self.system_state() in ("running", "degraded"),
                     timeout=timeout, interval=0.2, what=f"{self.hostname} systemd boot")
            wait_for(self.ssh_banner, timeout=timeout, interval=0.2,
                     what=f"{self.hostname} sshd")
            wait_for(self.relays_active, timeout=timeout, interval=0.2,
                     what=f"{self.hostname} relays")
        except LabError as exc:
            raise LabError(f"{exc}\n--- last lines of {self.console}:\n"
                           f"{self.console_tail()}") from exc

    @property
    def console(self) -> Path:
        """The node's console log (nspawn + systemd output)."""
        return self.dir / "nspawn.log"

    def console_tail(self, lines: int = 25) -> str:
        """The end of the node's console log."""
        try:
            text = self.console.read_text(errors="replace")
        except OSError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15) -> None:
        """Power the node off (SIGTERM to nspawn), kill what is left."""
        pid = self.nspawn_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                wait_for(lambda: not Path(f"/proc/{pid}").exists()
                         or (self._proc is not None and self._proc.poll() is not None),
                         timeout=timeout, interval=0.1, what=f"{self.hostname} poweroff")
            except LabError:
                log.warning("%s: did not power off in %ss, killing", self.hostname, timeout)
        dirs = cgroup_dirs(self.lab.name, self.hostname)
        for _ in range(50):
            pids = cgroup_pids(dirs)
            if not pids:
                break
            kill_pids(pids)
            time.sleep(0.05)
        if self._proc is not None:
            self._proc.wait(timeout=5)
            self._proc = None
        remove_cgroups(dirs)
        self.pidfile.unlink(missing_ok=True)

    def teardown_net_and_mount(self) -> None:
        """Undo prepare(): unmount the overlay, delete veth and netns."""
        if os.path.ismount(self.root):
            run(["umount", str(self.root)], check=False)
        net.del_node_net(self.lab.name, self.hostname, self.spec.octet,
                         *(_octet(leg) for leg in self.spec.legs))

    def power_off(self) -> None:
        """Stop the node as if powered off: no process, no link, no netns."""
        self.stop()
        self.teardown_net_and_mount()

    def reinstall(self, timeout: float = 60) -> None:
        """The same name and address on a wiped disk: new machine-id, host key and product_uuid
        (as a host reinstalled from its image). The lab's known_hosts learns the new key."""
        self.power_off()
        for sub in ("upper", "work"):
            shutil.rmtree(self.dir / sub, ignore_errors=True)
        self.power_on(timeout)
        self.lab.write_known_hosts()

    def power_on(self, timeout: float = 60) -> None:
        """Boot a powered-off node again with the same identity and disk."""
        self.prepare(self.lab.lower_for(self))
        self.start()
        self.wait_ready(timeout)
