"""Faults for the preflight checks of issue 26 (tests/test_preflight_parity_lab.py). Each undoes itself.

Kernel facts the nodes share with the host (the release, /proc/config.gz, /proc/meminfo) are shown to one
node only by a bind mount in that node's mount namespace, over the file the check reads; nothing outside
the node changes. The slow disk is a preloaded library (tests/lab/slow_dsync.c) that makes synchronous
writes in that node slow, as libfaketime makes its clock off in ``faults.clock_off``.
"""

from __future__ import annotations

import contextlib
import gzip
import tempfile
from pathlib import Path

from .faults import _read, _restore
from .node import Node
from .util import run, wait_for, write_file

SLOW_DSYNC_SOURCE = Path(__file__).with_name("slow_dsync.c")
PRELOAD_LIB = "/usr/local/lib/lab-slow-dsync.so"


@contextlib.contextmanager
def _shown_over(node: Node, target: str, content: bytes):
    """``content`` appears at ``target`` inside ``node`` only (a read-only bind mount in its mount namespace)."""
    stash = f"/var/tmp/lab-fault{target.replace('/', '-')}"
    write_file(str(node.path(stash)), content, 0o444)
    node.exec(["mount", "--bind", "-o", "ro", stash, target])
    try:
        yield target
    finally:
        node.exec(["umount", target], check=False)
        node.path(stash).unlink(missing_ok=True)


@contextlib.contextmanager
def kube_leftovers(node: Node, paths: list[str]):
    """Files an earlier kubeadm run left (a path ending in / is a directory with one file in it)."""
    created: list[Path] = []
    try:
        for inside in paths:
            target = node.path(inside.rstrip("/") + ("/member/snap/db" if inside.endswith("/") else ""))
            for parent in reversed([p for p in target.parents if p != node.path("/")]):
                if not parent.exists():
                    parent.mkdir()
                    created.append(parent)
            write_file(str(target), "left by an earlier kubeadm run\n", 0o600)
            created.append(target)
        yield paths
    finally:
        for p in reversed(created):
            p.unlink() if p.is_file() else p.rmdir()


@contextlib.contextmanager
def resolv_conf(node: Node, text: str):
    """/etc/resolv.conf holding ``text`` (a symlink is put back as it was). The lab's own has no nameserver:
    no DNS server reaches the nodes (tests/lab/rootfs.py)."""
    path = node.path("/etc/resolv.conf")
    link = path.readlink() if path.is_symlink() else None
    old = None if link else _read(path)
    if link:
        path.unlink()
    write_file(str(path), text, 0o644)
    try:
        yield
    finally:
        path.unlink()
        if link:
            path.symlink_to(link)
        else:
            _restore(path, old)


@contextlib.contextmanager
def tool_hidden(node: Node, tool: str = "nsenter"):
    """``command -v TOOL`` finds nothing: an empty, non-executable file is bind-mounted over it in the node."""
    where = node.exec(["sh", "-c", f"command -v {tool}"]).stdout.strip()
    node.exec(f"install -m 0644 /dev/null /run/lab-no-{tool} && mount --bind /run/lab-no-{tool} {where}")
    try:
        yield where
    finally:
        node.exec(f"umount {where}; rm -f /run/lab-no-{tool}", check=False)


def memory_shown(node: Node, mb: int):
    """The node's /proc/meminfo says MemTotal is ``mb`` MB (the other lines as the kernel's)."""
    real = node.exec(["cat", "/proc/meminfo"]).stdout.splitlines()
    lines = [f"MemTotal:       {mb * 1024} kB" if line.startswith("MemTotal:") else line for line in real]
    return _shown_over(node, "/proc/meminfo", ("\n".join(lines) + "\n").encode())


def kernel_release_shown(node: Node, release: str):
    return _shown_over(node, "/proc/sys/kernel/osrelease", f"{release}\n".encode())


def kernel_config_without(node: Node, option: str):
    """The node's /proc/config.gz without ``CONFIG_OPTION`` (as a kernel built without it: "is not set")."""
    text = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
    lines = [f"# CONFIG_{option} is not set" if line.startswith(f"CONFIG_{option}=") else line
             for line in text.splitlines()]
    return _shown_over(node, "/proc/config.gz", gzip.compress(("\n".join(lines) + "\n").encode()))


@contextlib.contextmanager
def https_proxy_env(node: Node, proxy: str = "http://172.31.250.1:3128", no_proxy: str | None = None):
    """HTTPS_PROXY (and NO_PROXY when given) in the node's /etc/environment."""
    path = node.path("/etc/environment")
    old = _read(path)
    extra = f"HTTPS_PROXY={proxy}\n" + (f"NO_PROXY={no_proxy}\n" if no_proxy is not None else "")
    write_file(str(path), (old or b"").decode() + extra, 0o644)
    try:
        yield proxy
    finally:
        _restore(path, old)


@contextlib.contextmanager
def cri_socket(node: Node, listening: bool, path: str = "/run/cri-dockerd.sock"):
    """A unix socket at ``path``: served (socat, unit lab-fault-cri) or stale (bound, then its owner gone)."""
    unit = "lab-fault-cri"
    if listening:
        node.exec(["systemd-run", "--quiet", f"--unit={unit}", "socat", f"UNIX-LISTEN:{path},fork",
                   "SYSTEM:true"])
        wait_for(lambda: node.exec(["test", "-S", path], check=False).returncode == 0, timeout=10,
                 what=f"{node.hostname}:{path} listening")
    else:
        node.exec(["python3", "-c", f"import socket; socket.socket(socket.AF_UNIX).bind({path!r})"])
    try:
        yield path
    finally:
        if listening:
            node.exec(["systemctl", "stop", unit], check=False)
            node.exec(["systemctl", "reset-failed", unit], check=False)
        node.exec(["rm", "-f", path], check=False)


@contextlib.contextmanager
def slow_disk_sync(node: Node):
    """Synchronous writes (O_DSYNC/O_SYNC) in the node take 40 ms more each (tests/lab/slow_dsync.c,
    preloaded). Processes started in the node afterwards see it; nothing else does."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "slow.so"
        run(["gcc", "-shared", "-fPIC", "-O2", "-o", str(lib), str(SLOW_DSYNC_SOURCE), "-ldl"])
        write_file(str(node.path(PRELOAD_LIB)), lib.read_bytes(), 0o755)
    preload = node.path("/etc/ld.so.preload")
    old = _read(preload)
    write_file(str(preload), (old or b"").decode() + PRELOAD_LIB + "\n", 0o644)
    try:
        yield
    finally:
        _restore(preload, old)
        node.path(PRELOAD_LIB).unlink(missing_ok=True)


__all__ = ["cri_socket", "https_proxy_env", "kernel_config_without", "kernel_release_shown", "kube_leftovers",
           "memory_shown", "resolv_conf", "slow_disk_sync", "tool_hidden"]
