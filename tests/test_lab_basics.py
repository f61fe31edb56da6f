"""The lab itself: logins, sudo, systemd, isolation, identity, repo, NTP."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap

import pytest

from tests.lab import read_inventory
from tests.lab.config import DEFAULT_INVENTORY

INVENTORY = read_inventory(os.environ.get("LAB_INVENTORY") or DEFAULT_INVENTORY)
HOSTS = [n.hostname for n in INVENTORY.nodes]


def test_cold_boot_timing(lab):
    """Boot figures of the session lab (cached rootfs); printed, not asserted."""
    print(f"\nlab cold boot: {len(lab.nodes)} nodes in {lab.timings.get('total', float('nan')):.1f}s "
          f"{ {k: round(v, 2) for k, v in lab.timings.items()} }")
    assert all(n.is_running() for n in lab.nodes.values())


@pytest.mark.parametrize("host", HOSTS)
def test_ops_has_passwordless_sudo(lab, lab_ssh, host):
    s = lab_ssh(host, "ops")
    assert s.run("id -un").stdout.strip() == "ops"
    r = s.run("sudo -n true")
    assert r.rc == 0, r.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_nosudo_cannot_sudo(lab, lab_ssh, host):
    s = lab_ssh(host, "nosudo")
    assert s.run("id -un").stdout.strip() == "nosudo"
    r = s.run("sudo -n true")
    assert r.rc != 0
    assert "password" in r.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_systemd_is_running(lab, lab_ssh, host):
    state = lab_ssh(host).run("systemctl is-system-running").stdout.strip()
    print(f"{host}: {state}")
    assert state in ("running", "degraded")
    if state == "degraded":
        print(lab_ssh(host).run("systemctl --failed --no-legend").stdout)


def test_nodes_reach_each_other(lab, lab_ssh):
    addrs = [n.address for n in lab.nodes.values()]
    probe = textwrap.dedent(f"""
        import socket
        bad = []
        for a in {addrs!r}:
            try:
                socket.create_connection((a, 22), timeout=3).close()
            except OSError as e:
                bad.append((a, str(e)))
        print(bad)
    """)
    for n in lab.nodes.values():
        r = lab_ssh(n).run("python3 -", input=probe)
        assert r.stdout.strip() == "[]", f"{n.hostname}: {r.stdout} {r.stderr}"
    first, last = list(lab.nodes.values())[0], list(lab.nodes.values())[-1]
    assert lab_ssh(first).run(f"ping -c1 -W2 {last.address}").rc == 0


@pytest.mark.parametrize("target", ["1.1.1.1", "10.0.0.1", "8.8.8.8", "192.168.1.1"])
def test_no_route_out_of_the_lab(lab, lab_ssh, target):
    s = lab_ssh(list(lab.nodes)[0])
    r = s.run(f"ip route get {target}")
    assert r.rc != 0, r.stdout
    assert "unreachable" in r.stderr.lower()
    assert s.run(f"ip route get {lab.bridge_address}").rc == 0
    assert s.run("ip route show default").stdout.strip() == ""


def test_identities_are_unique(lab, lab_ssh):
    seen = {"uuid": {}, "mac": {}, "machine_id": {}, "hostname": {}, "hostkey": {}}
    for n in lab.nodes.values():
        s = lab_ssh(n)
        uuid = s.run("sudo -n cat /sys/class/dmi/id/product_uuid", check=True).stdout.strip()
        assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", uuid), uuid
        mac = s.run("cat /sys/class/net/eth0/address", check=True).stdout.strip()
        assert mac == n.mac
        values = {"uuid": uuid, "mac": mac,
                  "machine_id": s.run("cat /etc/machine-id").stdout.strip(),
                  "hostname": s.run("hostname").stdout.strip(),
                  "hostkey": s.run("cat /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]}
        assert values["hostname"] == n.hostname
        for k, v in values.items():
            assert v not in seen[k], f"{n.hostname} shares {k} {v} with {seen[k].get(v)}"
            seen[k][v] = n.hostname


def test_signed_repo_serves_debs(lab, lab_ssh, tmp_path):
    """Add a .deb to the lab repo; a node installs it through signed apt."""
    pkg = tmp_path / "lab-hello"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: lab-hello\nVersion: 1.0\nArchitecture: all\n"
        "Maintainer: lab <lab@lab.test>\nDescription: lab repo test package\n")
    (pkg / "usr/share/lab-hello").mkdir(parents=True)
    (pkg / "usr/share/lab-hello/hello").write_text("hello from the lab repo\n")
    deb = tmp_path / "lab-hello_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)],
                   check=True, capture_output=True)
    lab.repo.add_debs([deb])
    node = list(lab.nodes.values())[3]
    s = lab_ssh(node)
    s.put(lab.repo_key_path.read_bytes(), "/etc/apt/keyrings/provisioner-lab.gpg")
    s.put(f"deb [signed-by=/etc/apt/keyrings/provisioner-lab.gpg] {lab.repo_url} bookworm main\n",
          "/etc/apt/sources.list.d/provisioner-lab.list")
    try:
        r = s.sudo("apt-get update -q 2>&1")
        print(r.stdout)
        assert r.rc == 0 and "NO_PUBKEY" not in r.stdout and "not signed" not in r.stdout
        r = s.sudo("DEBIAN_FRONTEND=noninteractive apt-get install -y -q lab-hello 2>&1")
        assert r.rc == 0, r.stdout
        assert s.run("cat /usr/share/lab-hello/hello").stdout == "hello from the lab repo\n"
    finally:
        s.sudo("apt-get purge -y -q lab-hello; rm -f /etc/apt/sources.list.d/provisioner-lab.list "
               "/etc/apt/keyrings/provisioner-lab.gpg; rm -rf /var/lib/apt/lists/*")
        lab.repo.remove_debs([deb.name])



def test_repo_listens_with_the_kernels_backlog(lab):
    """The mirrors the repo stands in for (nginx, Apache, Go servers) accept with net.core.somaxconn; http.server's
    own main listens with 5, and 98 nodes running apt at once overflowed it (TcpExtListenOverflows)."""
    somaxconn = open("/proc/sys/net/core/somaxconn").read().strip()
    out = subprocess.run(["ss", "-Hltn", f"src {lab.repo.address} and sport = :{lab.repo.port}"],
                         capture_output=True, text=True).stdout
    assert [line.split()[2] for line in out.splitlines()] == [somaxconn], out

def test_ntp_served_from_the_bridge(lab, lab_ssh):
    """The host's chronyd (-x) answers NTP on the bridge address."""
    s = lab_ssh(list(lab.nodes)[0])
    r = s.sudo(f"chronyd -Q -t 20 -f /dev/null 'pidfile /run/chrony/lab-query.pid' "
               f"'server {lab.bridge_address} iburst maxsamples 1' 2>&1", timeout=30)
    print(r.stdout)
    assert r.rc == 0 and "System clock wrong by" in r.stdout
