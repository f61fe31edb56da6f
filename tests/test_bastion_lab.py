"""Full builds through bastions: this machine cannot route to the cluster's nodes, only to a jump host.

Two lab topologies (tests/lab/bastion.py), in this order, each booted fresh once for the module:
one hop (host -> bastion -> nodes) and two hops (host -> bastion -> inner-bastion -> nodes), both
with the nodes of inventories/bastion.yaml (2 lb + 1 control plane + 1 worker, stand-in Kubernetes
from the lab's mirrors, relayed by the last bastion like the NTP server). For each: the nodes are
really out of reach, then `preflight`, a full `up`, a no-op `up` (0 changed) and
`verify --failover`, every run through the hops in the inventory's `host_defaults.ssh.proxy_jump`,
every hop's host key checked against the known_hosts given with --known-hosts. Each bastion's sshd
logs one login per provisioner run (the hop connection is shared by the hosts behind it).
"""

from __future__ import annotations

import json
import socket
import time

import pytest
import yaml

from tests.lab.bastion import BASTION_INVENTORY, hop_nodes, proxy_jump
from tests.support.cli import run_cli
from tests.support.lab_inventory import lab_cli_args, lab_inventory

LBS = ["lb1", "lb2"]
KUBE = ["cp1", "w1"]
NODES = LBS + KUBE
TOPOLOGY = {1: "one-hop", 2: "two-hops"}
LOGINS: dict[tuple[str, str], dict[str, int]] = {}     # (topology, command) -> {bastion: logins}


@pytest.fixture(scope="module", params=[1, 2], ids=TOPOLOGY.values())
def cluster(request, bastion_labs, tmp_path_factory):
    """A freshly booted bastion topology, an inventory for it, a state dir (shared by the module's
    tests of that topology: pytest runs all one-hop tests, then all two-hop ones)."""
    lab = bastion_labs.get(request.param)
    base = tmp_path_factory.mktemp(f"bastion{request.param}")
    inv = lab_inventory(lab, base, source=BASTION_INVENTORY)
    data = yaml.safe_load(inv.read_text())
    if request.param == 1:      # the example inventory is the one-hop topology as it is
        assert data["host_defaults"]["ssh"]["proxy_jump"] == proxy_jump(lab) == "ops@172.31.250.178"
    data["host_defaults"]["ssh"]["proxy_jump"] = proxy_jump(lab)
    inv.write_text(yaml.safe_dump(data, sort_keys=False))
    return lab, inv, base / "state", TOPOLOGY[request.param]


def logins(node) -> int:
    """`Accepted publickey` lines in a node's sshd journal (read with nsenter: no login of our own)."""
    out = node.exec("journalctl -u ssh -o cat --no-pager | grep -c 'Accepted publickey' || true").stdout
    return int(out.strip() or 0)


def provisioner(cluster, command, *args, timeout=300):
    """Run `provisioner COMMAND` through the hops; record each bastion's logins during the run."""
    lab, inv, state, topology = cluster
    hops = hop_nodes(lab)
    before = {h.hostname: logins(h) for h in hops}
    t0 = time.monotonic()
    r = run_cli(command, "-i", str(inv), *lab_cli_args(lab, state), *args, timeout=timeout)
    print(f"{topology}: provisioner {command} {' '.join(args)}: exit {r.returncode} in "
          f"{time.monotonic() - t0:.1f}s")
    LOGINS[(topology, f"{command} {' '.join(args)}".strip())] = {
        h.hostname: logins(h) - before[h.hostname] for h in hops}
    return r


def can_connect(address: str, port: int = 22) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return True
    except OSError:
        return False


def test_this_machine_cannot_reach_the_nodes_the_last_bastion_can(cluster):
    lab, inv, state, topology = cluster
    hops = hop_nodes(lab)
    assert [h.hostname for h in hops] == (["bastion"] if topology == "one-hop" else ["bastion", "inner-bastion"])
    assert can_connect(hops[0].address), "the first bastion is on this machine's bridge"
    for name in NODES:
        address = lab.node(name).address
        assert not can_connect(address), f"this machine reached {name} {address}:22 directly"
        # only the last bastion is on the nodes' segment (two hops: the first one cannot reach them)
        for i, hop in enumerate(hops):
            tcp = hop.exec(["timeout", "3", "bash", "-c", 'exec 3<>"/dev/tcp/$1/22"', "probe", address],
                           check=False)
            assert (tcp.returncode == 0) == (i == len(hops) - 1), (hop.hostname, name, tcp.returncode)
    for hop in hops:    # a bastion is a door, not a router
        assert hop.exec(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "0"
    # the nodes' mirrors and NTP server: the last bastion's inner address (relayed to this machine)
    apt = yaml.safe_load(inv.read_text())["package_mirrors"]["apt"]
    got = lab.node("w1").exec(["curl", "-fsS", "-o", "/dev/null", "-w", "%{http_code}",
                               f"{apt}/dists/bookworm/InRelease"], check=False)
    assert got.stdout == "200", got


def test_preflight_through_the_hops(cluster):
    r = provisioner(cluster, "preflight", "--format", "json", "--timeout", "5")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert sorted(h["host"] for h in report["hosts"]) == sorted(NODES)


def test_up_builds_the_cluster_through_the_hops(cluster):
    lab, inv, state, topology = cluster
    r = provisioner(cluster, "up", "--json", str(state.parent / "up.json"), timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    report = json.loads((state.parent / "up.json").read_text())
    assert report["ok"] and report["changed"] > 0
    nodes = lab.node("cp1").exec("kubectl --kubeconfig=/etc/kubernetes/admin.conf get nodes --no-headers").stdout
    assert sorted(line.split()[0] for line in nodes.splitlines()) == sorted(KUBE)
    assert all(line.split()[1] == "Ready" for line in nodes.splitlines()), nodes
    # packages came through the bastion's relay: the nodes' apt sources name its inner address
    sources = lab.node("w1").exec("cat /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources "
                                  "2>/dev/null || true").stdout
    assert "172.31.250.209:8080" in sources, sources


def test_rerun_changes_nothing(cluster):
    r = provisioner(cluster, "up", "--json", "-", timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert report["changed"] == 0, [(p["name"], h["host"], h["changes"]) for p in report["phases"]
                                    for h in p["hosts"] if h["changes"]]
    assert "0 changed" in r.stderr


def test_failover_through_the_hops(cluster):
    lab, inv, state, topology = cluster
    r = provisioner(cluster, "verify", "--failover", "--json", "-")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    fo = json.loads(r.stdout[r.stdout.index("{"):])["failover"]
    assert fo["holder"] == "lb1" and fo["new_holder"] == "lb2" and fo["restored"], fo
    # this machine cannot reach the VIP: the probe loop ran on the control plane
    assert fo["probe"] == "cp1", fo
    print(f"{topology}: failover: API back through the VIP after {fo['seconds']:.2f}s (probe from {fo['probe']})")


def test_each_bastion_logs_one_login_per_run(cluster):
    """The hop connection is opened once per provisioner process and shared by every host behind it
    (4 hosts here: without sharing, each bastion would log 4 logins or more per run)."""
    topology = cluster[3]
    runs = {cmd: counts for (topo, cmd), counts in LOGINS.items() if topo == topology}
    assert len(runs) == 4, runs
    print(f"{topology}: logins per bastion per run: {runs}")
    assert all(n == 1 for counts in runs.values() for n in counts.values()), runs
