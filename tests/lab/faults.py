"""Fault injection on lab nodes. Every fault is a context manager that
undoes itself on exit; ``Faults`` stacks them for a pytest test.

What a container cannot fake (see README "Faults in a container"):
- swap: the kernel's swap list is global, so an active swap file shows in
  /proc/swaps and ``free`` on every node and on the host while it is on.
- clock: all nodes share the kernel clock. ``clock_off`` preloads libfaketime
  in the node (/etc/ld.so.preload + /etc/faketimerc): every process started
  there afterwards (SSH sessions, sudo, restarted services) sees the offset;
  already running daemons (e.g. chronyd) and sshd itself do not.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shutil
import socket
from pathlib import Path

from . import rootfs
from .node import Node
from .util import LabError, run, wait_for, write_file

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SSH_FAKETIME_DROPIN = "/etc/systemd/system/ssh.service.d/lab-faketime.conf"


def _tcp_open(address: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def _restore(path: Path, old: bytes | None) -> None:
    """Put a file back as it was (None = it did not exist)."""
    if old is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(old)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


@contextlib.contextmanager
def duplicate_product_uuid(node: Node, like: Node):
    """``node`` reports ``like``'s /sys/class/dmi/id/product_uuid."""
    f = node.product_uuid_path
    old = f.read_bytes()
    write_file(str(f), like.product_uuid_path.read_bytes(), 0o400)
    try:
        yield like.product_uuid_path.read_text().strip()
    finally:
        write_file(str(f), old, 0o400)


def _forget(lab, address: str) -> None:
    """Forget learned MACs (bridge FDB) and ARP entries for ``address`` on
    the host and every running node, so a MAC change takes effect at once."""
    run(["ip", "neigh", "flush", "to", address, "dev", lab.bridge], check=False)
    for n in lab.nodes.values():
        if Path(f"/run/netns/{n.netns}").exists():
            run(["ip", "link", "set", "dev", n.veth, "type", "bridge_slave", "fdb_flush"],
                check=False)
            run(["ip", "-n", n.netns, "neigh", "flush", "to", address], check=False)


def _set_mac(node: Node, mac: str) -> None:
    run(["ip", "-n", node.netns, "link", "set", "eth0", "address", mac])
    _forget(node.lab, node.address)


@contextlib.contextmanager
def duplicate_mac(node: Node, like: Node):
    """``node``'s eth0 takes ``like``'s MAC.

    A learning switch would flap between the two ports and make both nodes
    intermittently unreachable; to keep tests deterministic the bridge floods
    every frame meanwhile (ageing time 0, a hub), so both stay reachable by
    IP and only what they report changes."""
    ageing = Path(f"/sys/class/net/{node.lab.bridge}/bridge/ageing_time")
    old_ageing = ageing.read_text().strip()
    ageing.write_text("0\n")
    try:
        _set_mac(node, like.mac)
        yield like.mac
    finally:
        _set_mac(node, node.mac)
        ageing.write_text(old_ageing + "\n")


@contextlib.contextmanager
def swap_on(node: Node, size_mb: int = 16, active: bool = True, fstab: bool = True):
    """An active swap file /swapfile (on ext4, bind-mounted: overlayfs cannot
    hold swap) and/or a swap line in /etc/fstab. Swap is kernel-global: while
    active, every node and the host list it in /proc/swaps."""
    host_file = node.dir / "swap" / "swapfile"
    inside = f"{rootfs.SWAP_DIR}/swapfile"
    fstab_path = node.path("/etc/fstab")
    old_fstab = _read(fstab_path)
    placeholder = node.path("/swapfile")
    try:
        if active:
            with open(host_file, "wb") as f:
                chunk = b"\0" * (1 << 20)
                for _ in range(size_mb):
                    f.write(chunk)
            host_file.chmod(0o600)
            run(["mkswap", str(host_file)])
            placeholder.touch(mode=0o600)
            node.exec(["mount", "--bind", inside, "/swapfile"])
            node.exec(["swapon", "/swapfile"])
        if fstab:
            text = (old_fstab or b"").decode()
            if text and not text.endswith("\n"):
                text += "\n"
            fstab_path.write_text(text + "/swapfile none swap sw 0 0\n")
            node.exec(["systemctl", "daemon-reload"])
        yield "/swapfile"
    finally:
        if active:
            node.exec(["swapoff", "/swapfile"], check=False)
            node.exec(["umount", "/swapfile"], check=False)
            placeholder.unlink(missing_ok=True)
            host_file.unlink(missing_ok=True)
        if fstab:
            _restore(fstab_path, old_fstab)
            node.exec(["systemctl", "daemon-reload"], check=False)


@contextlib.contextmanager
def ip_forward_off(node: Node):
    """net.ipv4.ip_forward=0 in the node (runtime), previous value restored."""
    key = "net.ipv4.ip_forward"
    old = run(["ip", "netns", "exec", node.netns, "sysctl", "-n", key]).stdout.strip()
    run(["ip", "netns", "exec", node.netns, "sysctl", "-q", "-w", f"{key}=0"])
    try:
        yield old
    finally:
        run(["ip", "netns", "exec", node.netns, "sysctl", "-q", "-w", f"{key}={old}"])


@contextlib.contextmanager
def port_taken(node: Node, port: int = 6443):
    """A listener (socat, unit lab-fault-port-PORT) on 0.0.0.0:PORT in the node."""
    unit = f"lab-fault-port-{port}"
    node.exec(["systemd-run", "--quiet", f"--unit={unit}", "socat",
               f"TCP-LISTEN:{port},reuseaddr,fork", "SYSTEM:echo lab-fault-port"])
    try:
        wait_for(lambda: _tcp_open(node.address, port), timeout=10,
                 what=f"{node.hostname}:{port} listener")
        yield port
    finally:
        node.exec(["systemctl", "stop", unit], check=False)
        node.exec(["systemctl", "reset-failed", unit], check=False)
        wait_for(lambda: not _tcp_open(node.address, port), timeout=10,
                 what=f"{node.hostname}:{port} free again")


def _restart_ssh(node: Node) -> None:
    node.exec(["systemctl", "restart", "ssh.service"])
    wait_for(node.ssh_banner, timeout=15, what=f"{node.hostname} sshd")


@contextlib.contextmanager
def sshd_stopped(node: Node):
    """sshd stopped in the node (port 22 refuses)."""
    node.exec(["systemctl", "stop", "ssh.socket", "ssh.service"])
    try:
        wait_for(lambda: not _tcp_open(node.address, 22), timeout=10,
                 what=f"{node.hostname} sshd to stop")
        yield
    finally:
        node.exec(["systemctl", "start", "ssh.service"])
        wait_for(node.ssh_banner, timeout=15, what=f"{node.hostname} sshd")


@contextlib.contextmanager
def host_key_changed(node: Node):
    """The node gets a new ed25519 host key (known_hosts keeps the old one)."""
    key = node.host_key_path
    pub = Path(f"{key}.pub")
    old_key, old_pub = key.read_bytes(), pub.read_bytes()
    key.unlink()
    pub.unlink()
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{node.hostname}",
         "-f", str(key)])
    try:
        _restart_ssh(node)
        yield pub.read_text().split()[1]
    finally:
        write_file(str(key), old_key, 0o600)
        write_file(str(pub), old_pub, 0o644)
        _restart_ssh(node)


def _brport_forwarding(veth: str) -> bool:
    return Path(f"/sys/class/net/{veth}/brport/state").read_text().strip() == "3"


@contextlib.contextmanager
def link_down(node: Node):
    """The cable is pulled: host end of the node's veth down (eth0 loses carrier)."""
    run(["ip", "link", "set", node.veth, "down"])
    try:
        yield
    finally:
        run(["ip", "link", "set", node.veth, "up"])
        wait_for(lambda: _brport_forwarding(node.veth), timeout=10,
                 what=f"{node.veth} forwarding")


@contextlib.contextmanager
def node_stopped(node: Node, timeout: float = 60):
    """The node is powered off (no process, no link); undo boots it again
    with the same disk and identity."""
    node.power_off()
    try:
        yield
    finally:
        node.power_on(timeout)


@contextlib.contextmanager
def clock_off(node: Node, minutes: int = 5):
    """Processes started in the node see its clock ``minutes`` off (libfaketime).

    sshd is exempt (its seccomp sandbox kills a preloaded child), its sessions
    are not. Nothing changes the shared kernel clock.
    """
    preload, rc = node.path("/etc/ld.so.preload"), node.path("/etc/faketimerc")
    old_preload, old_rc = _read(preload), _read(rc)
    dropin = node.path(SSH_FAKETIME_DROPIN)
    try:
        write_file(str(rc), f"{minutes:+d}m\n")
        write_file(str(preload), (old_preload or b"").decode() + FAKETIME_LIB + "\n")
        # Order matters: sshd must be (re)started with the preload already in
        # place and FAKETIME_SKIP_CMDS set, or its sandboxed preauth child
        # dies of SIGSYS.
        write_file(str(dropin), "[Service]\nEnvironment=FAKETIME_SKIP_CMDS=sshd\n")
        node.exec(["systemctl", "daemon-reload"])
        _restart_ssh(node)
        yield minutes
    finally:
        _restore(preload, old_preload)
        _restore(rc, old_rc)
        dropin.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            dropin.parent.rmdir()
        node.exec(["systemctl", "daemon-reload"], check=False)
        _restart_ssh(node)


FILTER_TABLE = "lab_fault_filter"
FILTER_ACTIONS = {"drop", "reject", "reject with tcp reset", "reject with icmp type admin-prohibited",
                  "reject with icmp type host-unreachable"}


@contextlib.contextmanager
def ports_filtered(node: Node, ports, *, chain: str = "input", action: str = "drop", peer: str | None = None):
    """A firewall in ``node``'s network namespace: TCP ``ports`` (ints or "2379-2380") get ``action``
    ("drop", "reject with tcp reset", "reject with icmp type admin-prohibited", "reject") on the way
    in (``chain="input"``) or out (``"output"``), optionally only from/to ``peer``'s address. nftables,
    from the host (``ip netns exec``): nothing is installed in the node. Undo deletes the table."""
    if chain not in ("input", "output") or action not in FILTER_ACTIONS:
        raise LabError(f"ports_filtered: chain input|output and action one of {sorted(FILTER_ACTIONS)}, "
                       f"not {chain!r}, {action!r}")
    if not all(re.fullmatch(r"\d+(-\d+)?", str(p)) for p in ports):
        raise LabError(f"ports_filtered: ports are numbers or ranges like 2379-2380, not {ports!r}")
    if not shutil.which("nft"):
        raise LabError("ports_filtered needs nft on the host (apt-get install nftables; .ci/setup does)")
    match = f"ip {'saddr' if chain == 'input' else 'daddr'} {ipaddress.IPv4Address(peer)} " if peer else ""
    dports = ", ".join(str(p) for p in ports)
    ruleset = (f"table inet {FILTER_TABLE} {{\n  chain {chain} {{\n"
               f"    type filter hook {chain} priority 0; policy accept;\n"
               f"    {match}tcp dport {{ {dports} }} {action}\n  }}\n}}\n")
    nft = ["ip", "netns", "exec", node.netns, "nft"]
    run(nft + ["-f", "-"], input=ruleset)
    try:
        yield ruleset
    finally:
        run(nft + ["delete", "table", "inet", FILTER_TABLE], check=False)


@contextlib.contextmanager
def python3_hidden(node: Node):
    """The node looks like a minimal image without python3: an empty, non-executable file is bind-mounted
    over /usr/bin/python3 (``command -v python3`` finds nothing). Only the node's mount namespace changes."""
    node.exec("install -m 0644 /dev/null /run/lab-no-python3 && mount --bind /run/lab-no-python3 /usr/bin/python3")
    try:
        yield
    finally:
        node.exec("umount /usr/bin/python3; rm -f /run/lab-no-python3", check=False)


CGROUP_V1_UNITS = ("ssh.service", "kubelet.service")
CGROUP_V1_DROPIN = "lab-cgroup-v1.conf"


@contextlib.contextmanager
def cgroup_v1(node: Node):
    """The node looks like a cgroup v1 host to SSH sessions (preflight, up, sudo) and to the kubelet:
    a systemd drop-in for ssh.service and kubelet.service mounts a tmpfs over /sys/fs/cgroup in their
    mount namespace (TemporaryFileSystem=), which is what statfs(/sys/fs/cgroup) shows on a v1 or hybrid
    host (no cgroup.controllers, type tmpfs). A real mount, no marker: the kernel answers. PID 1 and other
    services keep the real cgroup2 view, so systemd goes on managing units."""
    dropins = [node.path(f"/etc/systemd/system/{u}.d/{CGROUP_V1_DROPIN}") for u in CGROUP_V1_UNITS]
    try:
        for d in dropins:
            write_file(str(d), "[Service]\nTemporaryFileSystem=/sys/fs/cgroup:ro\n")
        node.exec(["systemctl", "daemon-reload"])
        _restart_ssh(node)
        node.exec("systemctl try-restart kubelet.service", check=False)
        yield
    finally:
        for d in dropins:
            d.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                d.parent.rmdir()
        node.exec(["systemctl", "daemon-reload"], check=False)
        _restart_ssh(node)
        node.exec("systemctl try-restart kubelet.service", check=False)


class Faults:
    """Faults for one test: each call applies one, ``undo_all`` (run by the
    ``faults`` fixture at teardown, also on failure) reverts them, last first."""

    def __init__(self, lab):
        self.lab = lab
        self._stack = contextlib.ExitStack()

    def _node(self, n) -> Node:
        return n if isinstance(n, Node) else self.lab.node(n)

    def _enter(self, cm):
        return self._stack.enter_context(cm)

    def duplicate_product_uuid(self, node, like):
        return self._enter(duplicate_product_uuid(self._node(node), self._node(like)))

    def duplicate_mac(self, node, like):
        return self._enter(duplicate_mac(self._node(node), self._node(like)))

    def swap_on(self, node, **kw):
        return self._enter(swap_on(self._node(node), **kw))

    def ip_forward_off(self, node):
        return self._enter(ip_forward_off(self._node(node)))

    def port_taken(self, node, port: int = 6443):
        return self._enter(port_taken(self._node(node), port))

    def sshd_stopped(self, node):
        return self._enter(sshd_stopped(self._node(node)))

    def host_key_changed(self, node):
        return self._enter(host_key_changed(self._node(node)))

    def link_down(self, node):
        return self._enter(link_down(self._node(node)))

    def node_stopped(self, node):
        return self._enter(node_stopped(self._node(node)))

    def clock_off(self, node, minutes: int = 5):
        return self._enter(clock_off(self._node(node), minutes))

    def ports_filtered(self, node, ports, **kw):
        return self._enter(ports_filtered(self._node(node), ports, **kw))

    def python3_hidden(self, node):
        return self._enter(python3_hidden(self._node(node)))

    def cgroup_v1(self, node):
        return self._enter(cgroup_v1(self._node(node)))

    def undo_all(self) -> None:
        self._stack.close()


__all__ = ["Faults", "LabError", "cgroup_v1", "clock_off", "duplicate_mac", "duplicate_product_uuid",
           "host_key_changed", "ip_forward_off", "link_down", "node_stopped", "port_taken", "ports_filtered",
           "python3_hidden",
           "sshd_stopped", "swap_on"]
