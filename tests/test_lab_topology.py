"""The lab's bastion topologies as data, and its lock (plain unit tests: no root, no booted lab)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from tests.lab import Lab, NodeSpec, bastion_lab, fixtures, proxy_jump


def hops_to(lab, node):
    return [(n.hostname, address) for n, address in lab.route(node)]


def test_one_hop_topology():
    lab = bastion_lab(hops=1)
    assert (lab.name, lab.bridge, lab.bridge_address) == ("bast1", "bast1br0", "172.31.250.177")
    assert [(str(n), b) for n, b in lab.segments] == [("172.31.250.208/28", "bast1br1")]
    assert hops_to(lab, "cp1") == [("bastion", "172.31.250.178"), ("cp1", "172.31.250.213")]
    assert hops_to(lab, "bastion") == [("bastion", "172.31.250.178")]
    assert proxy_jump(lab) == "ops@172.31.250.178"
    assert lab.bridge_of("172.31.250.214") == ("bast1br1", 28, True)
    assert lab.reachable("172.31.250.178") and not lab.reachable("172.31.250.209")
    assert lab.node("172.31.250.209").hostname == "bastion"        # a leg's address names its node


def test_two_hop_topology():
    lab = bastion_lab(hops=2)
    assert [b for _, b in lab.segments] == ["bast2br1", "bast2br2"]
    assert hops_to(lab, "w1") == [("bastion", "172.31.250.178"), ("inner-bastion", "172.31.250.194"),
                                  ("w1", "172.31.250.214")]
    assert proxy_jump(lab) == "ops@172.31.250.178,ops@172.31.250.194"
    # each bastion relays mirrors and NTP one segment further in, towards this machine
    relays = {n.hostname: (n.spec.legs, n.spec.relay_to) for n in lab.nodes.values() if n.spec.legs}
    assert relays == {"bastion": (("172.31.250.193",), "172.31.250.177"),
                      "inner-bastion": (("172.31.250.209",), "172.31.250.193")}


@pytest.mark.parametrize("kw, problem", [
    ({"nodes": [("n1", "172.31.250.211")]}, "does not fit"),            # on no segment
    ({"nodes": [("n1", "172.31.250.180")], "segments": ["10.0.0.0/28"]}, "not inside"),
    ({"nodes": [("n1", "172.31.250.180")], "segments": ["172.31.250.176/29"]}, "overlaps"),
    ({"nodes": [NodeSpec("b", "172.31.250.180", legs=("172.31.250.181",))]}, "two legs on one network"),
])
def test_bad_topologies_are_refused(kw, problem):
    with pytest.raises(ValueError, match=problem):
        Lab(name="t", bridge_cidr="172.31.250.177/28", **kw)


def test_a_relay_needs_a_leg():
    with pytest.raises(ValueError, match="relay_to needs a leg"):
        NodeSpec("b", "172.31.250.178", relay_to="172.31.250.177")


def test_session_lock_is_reentrant_in_a_process_and_exclusive_between_processes(tmp_path, monkeypatch):
    """The session's lab and a module's bastion labs hold the machine-wide lock together; a second
    session still waits. (Each open() of the file is its own flock owner: a nested plain flock
    would wait for itself forever - the thread below would never finish.)"""
    monkeypatch.setattr(fixtures, "LOCK_PATH", tmp_path / "lab.lock")
    other = [sys.executable, "-c", "import fcntl,sys; f=open(sys.argv[1],'w'); "
             "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(tmp_path / "lab.lock")]
    other_got_it = []

    def nested():
        with fixtures.session_lock("lab"), fixtures.session_lock("bastion-1"):
            other_got_it.append(subprocess.run(other, capture_output=True).returncode == 0)
    t = threading.Thread(target=nested, daemon=True)
    t.start()
    t.join(timeout=20)
    assert other_got_it == [False], "session_lock blocked on itself" if not other_got_it else "not exclusive"
    assert subprocess.run(other).returncode == 0, "released after the outermost holder"


def test_generated_nodes_reach_98_around_the_lab_inventory():
    """Issue 27's benches need 98 bare nodes (bench/compare --sizes 98); .10-.99 holds 90. The addresses go on
    at .110, past the lab inventory's .100-.109, and stop before the VM and bastion segments (.160 on)."""
    from tests.lab.config import generated_nodes
    nodes = generated_nodes(98, prefix="b")
    addresses = [n.address for n in nodes]
    assert (nodes[0].hostname, addresses[0], addresses[89], addresses[90], addresses[97]) == (
        "b1", "172.31.250.10", "172.31.250.99", "172.31.250.110", "172.31.250.117")
    assert not {f"172.31.250.{o}" for o in range(100, 110)} & set(addresses)
    assert generated_nodes(140)[-1].address == "172.31.250.159"
    with pytest.raises(ValueError, match="must fit"):
        generated_nodes(141)
