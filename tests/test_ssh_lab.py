"""Jump hosts, ProxyCommand and the SSH agent against the real lab: every login checked on the nodes.

The lab's nodes reach each other, so ha1/ha2 serve as jump hosts for node1 (lane C's bastion lab,
where this machine cannot route to the nodes, runs full builds the same way). Each test runs
preflight (read-only) or ``provisioner ssh`` and reads sshd's own journal on the nodes: which
address a login came from (proof it went through the hop) and how many logins a hop saw in the
run (one per run, shared by every host behind it).

Every test runs with HOME in a temporary directory: ~/.ssh/config and ~/.ssh/known_hosts are the
test's own, and no default key of this machine is found by accident.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_inventory, sh

HA1, HA2 = "172.31.250.107", "172.31.250.108"


@pytest.fixture
def home(tmp_path) -> Path:
    path = tmp_path / "home"
    (path / ".ssh").mkdir(parents=True, mode=0o700)
    return path


def inventory(lab, tmp_path, proxy_jump: str | None = None, key: bool = True) -> Path:
    path = lab_inventory(lab, tmp_path)
    data = yaml.safe_load(path.read_text())
    ssh = data["host_defaults"]["ssh"]
    if proxy_jump:
        ssh["proxy_jump"] = proxy_jump
    if not key:
        del ssh["key"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def preflight(lab, inv: Path, home: Path, *hosts: str, extra=(), env=None, known_hosts=None):
    """``provisioner preflight --format json`` for ``hosts``; (exit code, report or None, stderr)."""
    args = ["preflight", "-i", str(inv), "--format", "json", "--timeout", "5",
            "--known-hosts", str(known_hosts or lab.known_hosts_path), "--state-dir", str(home / "state")]
    for h in hosts:
        args += ["--host", h]
    r = run_cli(*args, *extra, env={"HOME": str(home), "SSH_AUTH_SOCK": "", **(env or {})})
    report = json.loads(r.stdout) if r.stdout.strip() else None
    return r.returncode, report, r.stderr


def connect_result(report, host):
    h = next(h for h in report["hosts"] if h["host"] == host)
    return h["status"] != "unreachable", h.get("reason") or ""


def logins(lab, node: str, since: float, until: float) -> list[str]:
    """sshd's 'Accepted publickey for USER from ADDRESS' lines on ``node`` between two instants."""
    out = sh(lab, node, f"journalctl -u ssh --since @{since:.3f} --until @{until:.3f} -o cat --no-pager"
                        " | grep 'Accepted publickey' || true").stdout
    return [" ".join(line.split()[3:6]) for line in out.splitlines() if line.strip()]


ADMIN = "172.31.250.1"      # this machine on the lab bridge


def logged(lab, node: str, since: float, until: float, count: int = 1, deadline: float = 10) -> list[str]:
    """The logins of [since, until] on ``node`` (journal timestamps are this machine's clock). journald
    may write a line late: poll until ``count`` are there or the deadline passes. Our own reading
    session logs in after ``until``, so it is never counted."""
    end = time.monotonic() + deadline
    while True:
        seen = logins(lab, node, since, until)
        if len(seen) >= count or time.monotonic() > end:
            return seen
        time.sleep(0.2)


# --- one and two hops from the inventory; login counts on the hop -----------------------------------

def test_one_hop_shared_by_every_host_behind_it(lab, tmp_path, home):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1}")
    since = time.time()
    code, report, err = preflight(lab, inv, home, "master1", "node1", "node2")
    until = time.time()
    assert code == 0, err
    # each target saw its login come from ha1; ha1 saw ONE login for the whole run
    for node in ("master1", "node1", "node2"):
        assert logged(lab, node, since, until) == [f"ops from {HA1}"], node
    assert logged(lab, "ha1", since, until) == [f"ops from {ADMIN}"]


def test_up_plan_through_a_hop_logs_in_once_on_it(lab, tmp_path, home):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1}")
    since = time.time()
    r = run_cli("up", "-i", str(inv), "--plan", "--limit", "node1,node2", "--known-hosts", str(lab.known_hosts_path),
                "--state-dir", str(home / "state"), env={"HOME": str(home), "SSH_AUTH_SOCK": ""}, timeout=300)
    until = time.time()
    assert r.returncode in (0, 1), r.stderr         # a plan that shows changes is fine; unreachable (3) is not
    assert "unreachable" not in r.stdout + r.stderr
    assert logged(lab, "node1", since, until) == [f"ops from {HA1}"]
    assert logged(lab, "ha1", since, until) == [f"ops from {ADMIN}"]


def test_two_hops_each_hop_sees_the_one_before(lab, tmp_path, home):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1},ops@{HA2}")
    since = time.time()
    code, report, err = preflight(lab, inv, home, "node1", "node2")
    until = time.time()
    assert code == 0, err
    assert logged(lab, "node1", since, until) == [f"ops from {HA2}"]
    assert logged(lab, "ha2", since, until) == [f"ops from {HA1}"]
    assert logged(lab, "ha1", since, until) == [f"ops from {ADMIN}"]


# --- ssh_config: ProxyJump with two hops, ProxyCommand ------------------------------------------------

def test_proxyjump_two_hops_from_ssh_config(lab, tmp_path, home):
    # Was: "ProxyJump a,b" became one jump host whose user was "a,b"'s left part.
    (home / ".ssh/config").write_text(
        f"Host bastion\n  HostName {HA1}\n  User ops\nHost node1\n  ProxyJump bastion,ops@{HA2}\n")
    since = time.time()
    code, report, err = preflight(lab, inventory(lab, tmp_path), home, "node1")
    until = time.time()
    assert code == 0, err
    assert logged(lab, "node1", since, until) == [f"ops from {HA2}"]
    assert logged(lab, "ha2", since, until) == [f"ops from {HA1}"]


def test_proxycommand_from_ssh_config(lab, tmp_path, home):
    # Was: a ProxyCommand became a jump to a host named "None".
    (home / ".ssh/config").write_text(
        f"Host node1\n  ProxyCommand ssh -F none -i {lab.key_path} -o BatchMode=yes -o StrictHostKeyChecking=yes "
        f"-o UserKnownHostsFile={lab.known_hosts_path} -W %h:%p ops@{HA1}\n")
    since = time.time()
    code, report, err = preflight(lab, inventory(lab, tmp_path), home, "node1")
    until = time.time()
    assert code == 0, err
    assert logged(lab, "node1", since, until) == [f"ops from {HA1}"]


def test_proxycommand_failure_is_one_line_with_its_stderr(lab, tmp_path, home):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host node1\n  ProxyCommand sh -c 'echo no route to the moon >&2; exit 7'\n")
    code, report, err = preflight(lab, inventory(lab, tmp_path), home, "node1", extra=["--ssh-config", str(cfg)])
    assert code == 3, err
    reachable, reason = connect_result(report, "node1")
    assert not reachable and "exited 7: no route to the moon" in reason, reason


# --- host keys of hops ----------------------------------------------------------------------------------

def test_changed_hop_key_is_refused_naming_the_hop(lab, tmp_path, home, faults):
    # Was: the jump host's key problem was reported as the target's.
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host bastion\n  HostName {HA1}\n  User ops\n")
    inv = inventory(lab, tmp_path, proxy_jump=f"bastion,ops@{HA2}")
    faults.host_key_changed("ha1")
    code, report, err = preflight(lab, inv, home, "master1", "node1", extra=["--ssh-config", str(cfg)])
    assert code == 3, err
    for host in ("master1", "node1"):
        reachable, reason = connect_result(report, host)
        assert not reachable
        assert reason.startswith(f"via bastion (hop 1 of 2, ops@{HA1}:22): host key CHANGED for {HA1}"), reason


def test_hop_reached_through_its_own_proxyjump_is_verified_too(lab, tmp_path, home):
    # Was: the hops Fabric built from ssh_config (here: bastion's own ProxyJump) got Fabric's
    # AutoAddPolicy - an unknown key of "outer" was silently accepted.
    (home / ".ssh/config").write_text(f"Host outer\n  HostName {HA1}\n  User ops\n  IdentityFile {lab.key_path}\n"
                                      f"Host bastion\n  HostName {HA2}\n  User ops\n  ProxyJump outer\n")
    known = tmp_path / "known_hosts"
    known.write_text("".join(line for line in lab.known_hosts_path.read_text().splitlines(keepends=True)
                             if HA1 not in line and "ha1" not in line))
    inv = inventory(lab, tmp_path, proxy_jump="bastion")
    code, report, err = preflight(lab, inv, home, "node1", known_hosts=known)
    assert code == 3, err
    reason = connect_result(report, "node1")[1]
    assert reason.startswith(f"via outer (hop 1 of 2, ops@{HA1}:22): unknown host key ssh-ed25519"), reason
    assert HA1 not in known.read_text()
    since = time.time()
    code, report, err = preflight(lab, inv, home, "node1")      # with ha1's key known: outer -> bastion -> node1
    until = time.time()
    assert code == 0, err
    assert logged(lab, "node1", since, until) == [f"ops from {HA2}"]
    assert logged(lab, "ha2", since, until) == [f"ops from {HA1}"]


def _fingerprint(pub_file: Path) -> str:
    blob = base64.b64decode(pub_file.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_unknown_hop_key_refused_then_accepted_and_printed_once(lab, tmp_path, home):
    known = tmp_path / "known_hosts"
    known.write_text("".join(line for line in lab.known_hosts_path.read_text().splitlines(keepends=True)
                             if HA1 not in line and "ha1" not in line))
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1}")
    code, report, err = preflight(lab, inv, home, "node1", "node2", known_hosts=known)
    assert code == 3
    reason = connect_result(report, "node1")[1]
    assert reason.startswith(f"via {HA1} (hop 1 of 1, ops@{HA1}:22): unknown host key ssh-ed25519"), reason
    code, report, err = preflight(lab, inv, home, "node1", "node2", known_hosts=known,
                                  extra=["--accept-new-host-keys"])
    assert code == 0, err
    fp = _fingerprint(Path(f"{lab.node('ha1').host_key_path}.pub"))
    lines = [line for line in err.splitlines() if "accepted new host key" in line]
    assert lines == [f"{HA1} (hop 1 of 1, ops@{HA1}:22): accepted new host key ssh-ed25519 {fp} for {HA1}, "
                     f"recorded in {known}"]


# --- the SSH agent ---------------------------------------------------------------------------------------

@pytest.fixture
def agent(lab, tmp_path):
    """An ssh-agent of this test holding the lab key (the inventory names no key)."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert time.monotonic() < deadline, "ssh-agent did not start"
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(lab.key_path)], env={**os.environ, "SSH_AUTH_SOCK": str(sock)},
                       check=True)
        yield str(sock)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_agent_keys_reach_the_hop_and_the_target(lab, tmp_path, home, agent):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1}", key=False)
    code, report, err = preflight(lab, inv, home, "node1", env={"SSH_AUTH_SOCK": agent})
    assert code == 0, err
    code, report, err = preflight(lab, inv, home, "node1")          # no agent, no key: refused
    assert code == 3 and "authentication failed" in connect_result(report, "node1")[1]


def test_identities_only_limits_the_agent_to_the_configured_keys(lab, tmp_path, home, agent):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    cfg = home / ".ssh/config"
    inv = inventory(lab, tmp_path, key=False)
    # IdentitiesOnly with another key: the agent's (working) key is not offered.
    cfg.write_text(f"Host *\n  IdentitiesOnly yes\n  IdentityFile {other}\n")
    code, report, err = preflight(lab, inv, home, "node1", env={"SSH_AUTH_SOCK": agent})
    assert code == 3 and "authentication failed for ops@172.31.250.104:22" in connect_result(report, "node1")[1]
    # IdentitiesOnly naming the lab key by its public half only: the agent signs with it.
    pub_only = tmp_path / "labkey"
    shutil.copy(f"{lab.key_path}.pub", f"{pub_only}.pub")
    cfg.write_text(f"Host *\n  IdentitiesOnly yes\n  IdentityFile {pub_only}\n")
    code, report, err = preflight(lab, inv, home, "node1", env={"SSH_AUTH_SOCK": agent})
    assert code == 0, err


# --- provisioner ssh ---------------------------------------------------------------------------------------

def test_provisioner_ssh_runs_a_command_through_two_hops(lab, tmp_path, home):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1},ops@{HA2}")
    since = time.time()
    r = run_cli("ssh", "-i", str(inv), "--known-hosts", str(lab.known_hosts_path), "--state-dir", str(home / "state"),
                "node1", "--", "hostname", env={"HOME": str(home), "SSH_AUTH_SOCK": ""})
    until = time.time()
    assert (r.returncode, r.stdout.strip()) == (0, "node1"), r.stderr
    assert logged(lab, "node1", since, until) == [f"ops from {HA2}"]


def test_provisioner_ssh_refuses_a_changed_key(lab, tmp_path, home, faults):
    inv = inventory(lab, tmp_path, proxy_jump=f"ops@{HA1}")
    faults.host_key_changed("ha1")
    r = run_cli("ssh", "-i", str(inv), "--known-hosts", str(lab.known_hosts_path), "--state-dir", str(home / "state"),
                "node1", "--", "hostname", env={"HOME": str(home), "SSH_AUTH_SOCK": ""})
    assert r.returncode == 255 and "node1" not in r.stdout
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in r.stderr or "Host key verification failed" in r.stderr


# --- the cipher ---------------------------------------------------------------------------------------------

def test_connections_negotiate_aes_gcm_with_openssh(lab, tmp_path, home, monkeypatch):
    """The one connection (preflight reads over its paramiko client, up runs Fabric on the same client) agrees
    on aes128-gcm@openssh.com with the nodes' real sshd (OpenSSH's default Ciphers list it, sshd_config(5)): the
    integrity tag is checked inside the cipher, not by paramiko's per-packet Python loop over an HMAC
    (paramiko/util.py constant_time_bytes_eq), which paramiko's own order (aes-ctr first) would negotiate.
    Fabric rides that client: no second login (one transport)."""
    from provisioner.transport import HostKeys, Ssh
    from provisioner.validation import load_inventory

    monkeypatch.setenv("HOME", str(home))
    inv = load_inventory(inventory(lab, tmp_path))
    with Ssh(HostKeys(lab.known_hosts_path)) as ssh:
        target = ssh.bind(inv).target(inv.host("ha1"))
        conn = ssh.open(target, timeout=5)
        try:
            transport = conn.client.get_transport()
            assert (transport.local_cipher, transport.remote_cipher) == ("aes128-gcm@openssh.com",) * 2
            fab = conn.fabric()
            assert fab.run("echo ok", hide=True, in_stream=False).stdout.strip() == "ok"
            assert fab.client is conn.client and fab.client.get_transport() is transport
        finally:
            conn.close()
        assert not conn.is_connected
