"""Every fault helper changes what a node reports, and its undo restores it."""

from __future__ import annotations

import errno
import socket
import time

import paramiko
import pytest

from tests.lab import faults as F
from tests.lab.util import run


def _tcp(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def _nodes(lab, k=2):
    return list(lab.nodes.values())[-k:]


def test_duplicate_product_uuid(lab, lab_ssh):
    a, b = _nodes(lab)
    read = "sudo -n cat /sys/class/dmi/id/product_uuid"
    ua, ub = (lab_ssh(n).run(read, check=True).stdout.strip() for n in (a, b))
    assert ua != ub
    with F.duplicate_product_uuid(b, like=a):
        assert lab_ssh(b).run(read, check=True).stdout.strip() == ua
    assert lab_ssh(b).run(read, check=True).stdout.strip() == ub


def test_duplicate_mac(lab, lab_ssh):
    a, b = _nodes(lab)
    read = ["cat", "/sys/class/net/eth0/address"]
    assert b.exec(read).stdout.strip() == b.mac
    with F.duplicate_mac(b, like=a):
        assert lab_ssh(b).run(" ".join(read)).stdout.strip() == a.mac
        assert lab_ssh(a).run(" ".join(read)).stdout.strip() == a.mac
        assert lab_ssh(a).run(f"ping -c1 -W2 {b.address}").ok   # both stay reachable
    assert b.exec(read).stdout.strip() == b.mac
    for n in (a, b):
        assert lab_ssh(n).run("true").ok


def test_swap_on(lab, lab_ssh):
    n = _nodes(lab, 1)[0]
    s = lab_ssh(n)
    assert "/swapfile" not in s.run("cat /proc/swaps").stdout
    with F.swap_on(n):
        assert "/swapfile" in s.run("cat /proc/swaps").stdout
        assert "/swapfile" in s.run("sudo -n swapon --show --noheadings").stdout
        assert "/swapfile none swap sw" in s.run("cat /etc/fstab").stdout
        print(s.run("free -m").stdout)
    assert "/swapfile" not in s.run("cat /proc/swaps").stdout
    assert "swap" not in s.run("cat /etc/fstab").stdout


def test_swap_can_be_turned_off_from_inside(lab, lab_ssh):
    """What the product will do: swapoff -a works in a node (seccomp allows @swap)."""
    n = _nodes(lab, 1)[0]
    s = lab_ssh(n)
    with F.swap_on(n, fstab=False):
        r = s.sudo("swapoff -a")
        assert r.rc == 0, r.stderr
        assert "/swapfile" not in s.run("cat /proc/swaps").stdout


def test_swap_line_in_fstab_only(lab, lab_ssh):
    n = _nodes(lab, 1)[0]
    s = lab_ssh(n)
    with F.swap_on(n, active=False):
        assert "/swapfile none swap" in s.run("cat /etc/fstab").stdout
        assert "/swapfile" not in s.run("cat /proc/swaps").stdout
    assert "swap" not in s.run("cat /etc/fstab").stdout


def test_ip_forward_off(lab, lab_ssh):
    n = _nodes(lab, 1)[0]
    s = lab_ssh(n)
    read = "cat /proc/sys/net/ipv4/ip_forward"
    s.sudo("sysctl -q -w net.ipv4.ip_forward=1", check=True)   # as the product sets it
    try:
        assert s.run(read).stdout.strip() == "1"
        with F.ip_forward_off(n):
            assert s.run(read).stdout.strip() == "0"
        assert s.run(read).stdout.strip() == "1"
    finally:
        s.sudo("sysctl -q -w net.ipv4.ip_forward=0")
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert f.read().strip() == "0", "the host's ip_forward must stay 0"


def test_port_taken(lab, lab_ssh):
    n = _nodes(lab, 1)[0]
    s = lab_ssh(n)
    listening = "ss -Htln 'sport = :6443'"
    assert s.run(listening).stdout.strip() == ""
    with F.port_taken(n, 6443):
        assert ":6443" in s.run(listening).stdout
        assert _tcp(n.address, 6443)
    assert s.run(listening).stdout.strip() == ""
    assert not _tcp(n.address, 6443)


def test_sshd_stopped(lab):
    n = _nodes(lab, 1)[0]
    assert _tcp(n.address, 22)
    with F.sshd_stopped(n):
        assert not _tcp(n.address, 22)
        assert n.exec(["systemctl", "is-active", "ssh"], check=False).stdout.strip() != "active"
        with pytest.raises((paramiko.SSHException, OSError)):
            lab.ssh(n, timeout=3)
    with lab.ssh(n) as s:
        assert s.run("true").ok


def test_host_key_changed(lab):
    n = _nodes(lab, 1)[0]
    with F.host_key_changed(n) as new_key:
        assert new_key not in lab.known_hosts_path.read_text()
        with pytest.raises(paramiko.BadHostKeyException):
            lab.ssh(n, timeout=5)
    with lab.ssh(n) as s:
        assert s.run("true").ok


def test_link_down(lab):
    n = _nodes(lab, 1)[0]
    carrier = ["cat", "/sys/class/net/eth0/carrier"]
    assert n.exec(carrier).stdout.strip() == "1"
    with F.link_down(n):
        assert n.exec(carrier, check=False).stdout.strip() != "1"
        assert "NO-CARRIER" in n.exec(["ip", "-br", "link", "show", "eth0"]).stdout
        assert not _tcp(n.address, 22)
    assert n.exec(carrier).stdout.strip() == "1"
    with lab.ssh(n) as s:
        assert s.run("true").ok


def test_node_stopped(lab):
    n = _nodes(lab, 1)[0]
    with lab.ssh(n) as s:
        before = s.run("cat /etc/machine-id; sudo -n cat /sys/class/dmi/id/product_uuid").stdout
    t0 = time.monotonic()
    with F.node_stopped(n):
        print(f"\n{n.hostname} powered off in {time.monotonic() - t0:.1f}s")
        assert not n.is_running()
        assert not _tcp(n.address, 22)
        with pytest.raises((paramiko.SSHException, OSError)):
            lab.ssh(n, timeout=3)
        t0 = time.monotonic()
    print(f"{n.hostname} booted again in {time.monotonic() - t0:.1f}s")
    with lab.ssh(n) as s:
        assert s.run("cat /etc/machine-id; sudo -n cat /sys/class/dmi/id/product_uuid").stdout == before
        assert s.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")


def test_clock_off(lab):
    n = _nodes(lab, 1)[0]

    def skew() -> float:
        with lab.ssh(n) as s:
            return float(s.run("date +%s.%N", check=True).stdout) - time.time()
    assert abs(skew()) < 5
    with F.clock_off(n, minutes=7):
        off = skew()
        print(f"\n{n.hostname} clock off by {off:.1f}s")
        assert 7 * 60 - 10 < off < 7 * 60 + 10
        with lab.ssh(n) as s:
            sudo_off = float(s.run("sudo -n date +%s", check=True).stdout) - time.time()
            assert abs(sudo_off - 420) < 10
    assert abs(skew()) < 5


def test_faults_fixture_undoes_everything(lab, lab_ssh, faults):
    """The ``faults`` fixture stacks faults and undoes them (last first)."""
    a, b = _nodes(lab)
    s = lab_ssh(b)
    before = s.run("sudo -n cat /sys/class/dmi/id/product_uuid; cat /proc/swaps; "
                   "ss -Htln 'sport = :6443'").stdout
    faults.duplicate_product_uuid(b, a)
    faults.swap_on(b)
    faults.port_taken(b, 6443)
    changed = s.run("sudo -n cat /sys/class/dmi/id/product_uuid; cat /proc/swaps; "
                    "ss -Htln 'sport = :6443'").stdout
    assert changed != before
    faults.undo_all()      # what the fixture's teardown does
    after = s.run("sudo -n cat /sys/class/dmi/id/product_uuid; cat /proc/swaps; "
                  "ss -Htln 'sport = :6443'").stdout
    assert after == before


def _connect(address: str, port: int) -> str:
    """What a connect from this machine meets: "open", "refused", "timeout" or the errno's name."""
    try:
        socket.create_connection((address, port), timeout=1).close()
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))


def test_ports_filtered(lab):
    n = _nodes(lab, 1)[0]
    tables = ["ip", "netns", "exec", n.netns, "nft", "list", "tables"]
    assert _connect(n.address, 6443) == "refused"
    with F.ports_filtered(n, [6443, "2379-2380"]):
        assert [_connect(n.address, p) for p in (6443, 2380)] == ["timeout"] * 2
        assert _connect(n.address, 22) == "open"
    with F.ports_filtered(n, [6443], action="reject with tcp reset"):
        assert _connect(n.address, 6443) == "refused"
    with F.ports_filtered(n, [6443], action="reject with icmp type admin-prohibited"):
        assert _connect(n.address, 6443) == "EHOSTUNREACH"
    out = ["timeout", "1", "bash", "-c", f": <>/dev/tcp/{lab.nodes['master1'].address}/2379"]   # from the node
    assert n.exec(out, check=False).returncode == 1, "refused: nothing listens"
    with F.ports_filtered(n, [2379], chain="output", peer=lab.nodes["master1"].address):
        assert n.exec(out, check=False).returncode == 124, "timed out: dropped on the way out"
    assert _connect(n.address, 6443) == "refused"
    assert F.FILTER_TABLE not in run(tables).stdout
    with pytest.raises(F.LabError, match="action"):
        with F.ports_filtered(n, [6443], action="accept; flush ruleset"):
            pass


def test_python3_hidden(lab):
    n = _nodes(lab, 1)[0]
    runs = "command -v python3 >/dev/null && python3 -c pass"
    assert n.exec(runs, check=False).returncode == 0
    with F.python3_hidden(n):
        assert n.exec(runs, check=False).returncode != 0
    assert n.exec(runs, check=False).returncode == 0
