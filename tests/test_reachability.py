"""cluster.reach: which ports each node probes, how the probe's answers read, where a finding lands.

No lab here. The pairs follow kubernetes/website
content/en/docs/reference/networking/ports-and-protocols.md (6443 used by all, 2379-2380 by
kube-apiserver and etcd, 10250 by the control plane). The kernel test runs the real probe
programs (python3 and the bash fallback) inside a private network namespace, on its loopback,
against nftables rules: what a DROP, a REJECT and a TCP reset look like to a connect (linux
net/ipv4/icmp.c icmp_err_convert: port-unreachable -> ECONNREFUSED, admin-prohibited ->
EHOSTUNREACH). tests/test_preflight_lab.py shows the same between lab nodes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support.skips import skip_or_fail

from provisioner.checks import reachability as r
from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Fact, Facts, Node
from provisioner.checks.cluster import fact_commands as cluster_facts
from provisioner.validation import load_inventory

ROOT = Path(__file__).resolve().parents[1]
LAB = load_inventory(ROOT / "inventories/lab.yaml")
COLOCATED = load_inventory(ROOT / "inventories/colocated.yaml")
SINGLE = load_inventory(ROOT / "inventories/single.yaml")
ADDR = {h.hostname: str(h.address) for h in LAB.hosts}


def pairs(inv, host):
    return [str(p) + ("" if p.required else "?") for p in r.probes_for(inv, inv.host(host))]


# --- which ports, per role and mode -----------------------------------------------------------

def test_pairs_of_a_worker_pair_mode():
    assert pairs(LAB, "node1") == ["master1:6443", "master2:6443", "master3:6443",
                                   "ha1:6443", "ha2:6443", "VIP 172.31.250.100:6443?"]


def test_pairs_of_a_control_plane_never_itself():
    got = pairs(LAB, "master2")
    assert got == ["master1:6443", "master3:6443",
                   "master1:2379", "master1:2380", "master3:2379", "master3:2380",
                   "master1:10250", "master3:10250", "node1:10250", "node2:10250", "node3:10250",
                   "ha1:6443", "ha2:6443", "VIP 172.31.250.100:6443?"]
    assert not any(p.startswith("master2:") for p in got)


def test_pairs_of_a_load_balancer_are_haproxys_backends():
    assert pairs(LAB, "ha1") == ["master1:6443", "master2:6443", "master3:6443"]


def test_pairs_colocated_use_the_frontend_port_on_each_control_plane():
    assert pairs(COLOCATED, "w1") == ["cp1:6443", "cp2:6443", "cp3:6443", "cp1:8443", "cp2:8443", "cp3:8443",
                                      "VIP 192.168.56.50:8443?"]
    cp1 = pairs(COLOCATED, "cp1")
    assert "cp1:8443" not in cp1 and "cp2:8443" in cp1 and "w2:10250" in cp1


def test_pairs_without_load_balancer_the_endpoint_is_the_apiserver():
    assert pairs(SINGLE, "solo-w1") == ["solo-cp:6443"]          # endpoint == the control plane: probed once
    assert pairs(SINGLE, "solo-cp") == ["solo-w1:10250"]


def test_probe_rides_in_the_gather_facts_and_quotes_its_values():
    facts = cluster_facts(LAB.host("node1"), LAB)
    script = facts[r.FACT]
    assert "reach.control_planes" not in facts, "the old SSH-port probe is gone"
    assert "\"$py\" -I -S -c" in script and "/dev/tcp/$0/$1" in script
    assert "172.31.250.101 6443 1" in script and "172.31.250.100 6443 0" in script


# --- reading the answers ------------------------------------------------------------------------

PY_OUT = """@ 172.31.250.101 6443 refused ECONNREFUSED -
@ 172.31.250.102 6443 refused ECONNREFUSED 3/3
@ 172.31.250.103 6443 unreach EHOSTUNREACH 3/13
@ 172.31.250.107 6443 connected - -
@ 172.31.250.108 6443 timeout - -
@ 172.31.250.100 6443 pending - -"""

BASH_OUT = """172.31.250.101: connect: Connection refused
172.31.250.101: line 1: /dev/tcp/172.31.250.101/6443: Connection refused
172.31.250.103: line 1: /dev/tcp/172.31.250.103/6443: No route to host
@ 172.31.250.101 6443 exit=1
@ 172.31.250.102 6443 exit=124
@ 172.31.250.103 6443 exit=1
@ 172.31.250.107 6443 exit=0
@ 172.31.250.100 6443 pending"""


def test_parse_python_output():
    got = r.parse(PY_OUT)
    states = {a: o.state for (a, _), o in got.items()}
    assert states == {"172.31.250.101": "refused", "172.31.250.102": "rejected", "172.31.250.103": "unreach",
                      "172.31.250.107": "connected", "172.31.250.108": "timeout", "172.31.250.100": "pending"}
    assert got[("172.31.250.103", 6443)].reason() == "admin prohibited (ICMP 3/13)"
    assert got[("172.31.250.108", 6443)].reason() == "timed out (filtered?)"
    assert "REJECT" in got[("172.31.250.102", 6443)].reason()


def test_parse_bash_fallback_output():
    got = r.parse(BASH_OUT)
    states = {a: o.state for (a, _), o in got.items()}
    assert states == {"172.31.250.101": "refused", "172.31.250.102": "timeout", "172.31.250.103": "unreach",
                      "172.31.250.107": "connected", "172.31.250.100": "pending"}
    assert got[("172.31.250.103", 6443)].reason() == "no route to host / host unreachable"


# --- where findings land -------------------------------------------------------------------------

def _line(address, port, state):
    return f"@ {address} {port} {state} - -"


def lab_node(name, override=None, vip="pending", output=None):
    """Node ``name`` whose probes all answered 'refused' except ``override`` {(host, port): state}."""
    override = override or {}
    lines = []
    for p in r.probes_for(LAB, LAB.host(name)):
        state = vip if not p.required else override.get((p.name, p.port), "refused")
        lines.append(_line(p.address, p.port, state))
    text = "\n".join(lines) if output is None else output
    return Node(LAB.host(name), LAB, Facts({r.FACT: Fact(text, 0)}))


def verdicts(nodes):
    return {n.name: v for n, v in zip(nodes, r.reach(nodes))}


def test_fresh_lab_every_pair_passes_vip_not_judged():
    got = verdicts([lab_node(h.hostname) for h in LAB.hosts])
    assert {v.status for v in got.values()} == {PASS}
    assert got["node1"].observed == "5 ports reachable (0 connected, 5 refused: nothing listens yet), " \
                                    "1 not judged (VIP not answering yet)"


def test_inbound_drop_on_one_node_lands_on_it_grouped_by_destination():
    names = [h.hostname for h in LAB.hosts]
    nodes = [lab_node(n, {("master2", 6443): "timeout"}) for n in names]
    got = verdicts(nodes)
    m2 = got["master2"]
    assert m2.status == FAIL
    assert m2.observed == "master1, master3, node1, node2, node3, ha1, ha2 -> master2:6443 timed out (filtered?)"
    assert "6443 kube-apiserver into master2" in m2.fix
    for name in names:
        if name != "master2":
            assert got[name].status == WARN and got[name].observed == "cannot reach ports on master2, nor can other nodes: see master2"


def test_a_port_closed_by_the_destinations_own_firewall_that_prep_opens_names_prep():
    """firewalld active on master2 without 6443 (firewall: managed): prep opens it, so `up` may go on."""
    names = [h.hostname for h in LAB.hosts]
    nodes = [lab_node(n, {("master2", 6443): "admin"}) for n in names]
    m2 = next(n for n in nodes if n.name == "master2")
    m2.facts.values["security.firewall"] = Fact("firewalld active\nfirewalld-ports \nfirewalld-protocols \nufw inactive", 0)
    got = verdicts(nodes)
    assert got["master2"].status == FAIL and got["master2"].fixed_by == "prep", got["master2"]
    assert "`up` (prep) opens these ports" in got["master2"].fix
    # No firewall of its own on the destination: something else filters, prep cannot help.
    plain = verdicts([lab_node(n, {("master2", 6443): "admin"}) for n in names])["master2"]
    assert plain.status == FAIL and plain.fixed_by is None


def test_one_source_alone_lands_on_the_source_with_the_pair_named():
    nodes = [lab_node(h.hostname, {("master3", 6443): "timeout"} if h.hostname == "node2" else None)
             for h in LAB.hosts]
    got = verdicts(nodes)
    assert got["node2"].status == FAIL
    assert got["node2"].observed == "node2 -> master3:6443 timed out (filtered?)"
    assert all(v.status == PASS for n, v in got.items() if n != "node2")


def test_egress_filter_on_one_node_names_its_destinations():
    nodes = [lab_node(h.hostname, {("master1", 2379): "timeout", ("master1", 2380): "timeout",
                                   ("master3", 2379): "unreach"} if h.hostname == "master2" else None)
             for h in LAB.hosts]
    got = verdicts(nodes)
    m2 = got["master2"]
    assert m2.status == FAIL
    assert "master2 -> master1:2379,2380 timed out (filtered?)" in m2.observed
    assert "master2 -> master3:2379 no route to host / host unreachable" in m2.observed
    assert "2379 etcd client, 2380 etcd peer" in m2.fix


def test_vip_counts_only_where_it_answers():
    names = [h.hostname for h in LAB.hosts]
    nodes = [lab_node(n, vip="timeout" if n == "node3" else "connected") for n in names]
    got = verdicts(nodes)
    assert got["node3"].status == FAIL and "VIP 172.31.250.100:6443 timed out" in got["node3"].observed
    # Nobody reaches it: not held yet, not this check's business (cluster.vip judges the address).
    nodes = [lab_node(n, vip="timeout") for n in names]
    assert {v.status for v in r.reach(nodes)} == {PASS}


def test_refused_and_connected_pass_missing_output_is_skipped():
    nodes = [lab_node("node1"), lab_node("node2", output="")]
    got = verdicts(nodes)
    assert got["node1"].status == PASS and got["node2"].status == SKIP


def test_an_unaudited_destination_fails_on_every_source():
    """master3 unreachable over SSH (not audited): nobody can judge it from its side; each source says what it saw."""
    names = ["master1", "master2", "node1"]
    nodes = [lab_node(n, {("master3", p): "timeout" for p in (6443, 2379, 2380, 10250)}) for n in names]
    got = verdicts(nodes)
    assert got["node1"].observed == "node1 -> master3:6443 timed out (filtered?)"
    assert got["master1"].observed == "master1 -> master3:2379,2380,6443,10250 timed out (filtered?)"


# --- the real probe programs against real kernel answers -------------------------------------------

NS = f"provisioner-reach-{os.getpid()}"
RULES = """table inet reach_test {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 7101 drop
    tcp dport 7102 reject
    tcp dport 7103 reject with icmp type admin-prohibited
    tcp dport 7104 reject with tcp reset
  }
}
"""
# 7105: nothing listens; 7106: a listener.
EXPECTED = {7101: "timeout", 7102: "rejected", 7103: "unreach", 7104: "refused", 7105: "refused", 7106: "connected"}


@pytest.fixture(scope="module")
def netns():
    if os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"):
        if os.environ.get("CI") == "true":
            pytest.fail("needs root, ip and nft - .ci/setup installs nftables")
        skip_or_fail("needs root, ip and nft (apt-get install nftables)")
    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        subprocess.run(["ip", "-n", NS, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", NS, "nft", "-f", "-"], input=RULES, text=True, check=True)
        listener = subprocess.Popen(
            ["ip", "netns", "exec", NS, sys.executable, "-c",
             "import socket,sys;s=socket.socket();s.bind(('127.0.0.1',7106));s.listen();print('ready',flush=True);"
             "sys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"    # listening: no sleep needed
        try:
            yield NS
        finally:
            listener.stdin.close()
            listener.wait(timeout=10)
    finally:
        subprocess.run(["ip", "netns", "delete", NS], check=False)


PROBES = [r.Probe("t", "127.0.0.1", port, "test") for port in EXPECTED]


@pytest.mark.parametrize("variant", ["python", "bash"])
def test_probe_programs_tell_filtered_from_refused(netns, variant):
    command = r.python_command(PROBES, python="python3") if variant == "python" else r.bash_command(PROBES)
    out = subprocess.run(["ip", "netns", "exec", netns, "bash", "-c", command], capture_output=True, text=True,
                         timeout=30).stdout
    got = {port: o.state for (_, port), o in r.parse(out).items()}
    expected = dict(EXPECTED)
    if variant == "bash":
        expected[7102] = "refused"     # bash sees only ECONNREFUSED: a REJECT's ICMP port-unreachable looks refused
    assert got == expected, out


def test_probe_script_picks_python_or_falls_back_to_bash(netns, tmp_path):
    """A host without python3 (a minimal image) still gets every answer, from the bash fallback."""
    script = r.probe_script(PROBES[3:])           # no DROP: no wait
    for tool in ("bash", "timeout"):
        (tmp_path / tool).symlink_to(shutil.which(tool))
    (tmp_path / "python3").touch(mode=0o644)      # there but not runnable: bash's `command -v` would name it
    for path, marker in ((os.environ["PATH"], "ECONNREFUSED"), (str(tmp_path), "exit=")):
        out = subprocess.run(["ip", "netns", "exec", netns, "env", f"PATH={path}", "bash", "-c", script],
                             capture_output=True, text=True, timeout=30).stdout
        assert marker in out, out
        assert {port: o.state for (_, port), o in r.parse(out).items()} == {7104: "refused", 7105: "refused",
                                                                            7106: "connected"}
