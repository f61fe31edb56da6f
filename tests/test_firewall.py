"""The ports each role opens (provisioner/firewall.py) and the prep steps that open them (phases/hostsec.py).

Ports per kubernetes/website content/en/docs/reference/networking/ports-and-protocols.md; the lab test
(tests/test_firewall_lab.py) runs the steps against the real firewalld."""

from __future__ import annotations

from pathlib import Path

from provisioner import firewall
from provisioner.phases import hostsec
from provisioner.validation import load_inventory

REPO = Path(__file__).resolve().parents[1]


def test_each_role_gets_exactly_its_ports():
    inv = load_inventory(REPO / "inventories/lab.yaml")
    assert firewall.openings(inv, inv.host("master1")) == firewall.Openings(
        ("6443/tcp", "2379-2380/tcp", "10250/tcp", "10259/tcp", "10257/tcp", "8472/udp"), ())
    assert firewall.openings(inv, inv.host("node1")) == firewall.Openings(
        ("10250/tcp", "10256/tcp", "30000-32767/tcp", "30000-32767/udp", "8472/udp"), ())
    assert firewall.openings(inv, inv.host("ha1")) == firewall.Openings(("6443/tcp",), ("vrrp",))
    calico = inv.model_copy(update={"cni": "calico"})
    assert firewall.openings(calico, calico.host("node1")).ports[-3:] == ("179/tcp", "4789/udp", "5473/tcp")


def test_a_port_inside_an_open_range_is_open():
    want = firewall.Openings(("10250/tcp", "30000-32767/udp", "2379/tcp"), ("vrrp",))
    gap = firewall.missing(want, {"10000-11000/tcp", "30000-32767/tcp"}, set())
    assert gap == firewall.Openings(("30000-32767/udp", "2379/tcp"), ("vrrp",))


def test_prep_opens_firewalld_permanently_then_reloads_and_ufw_with_its_range_syntax():
    inv = load_inventory(REPO / "inventories/lab.yaml")
    fwd, ufw = hostsec.firewall_steps(inv, inv.host("ha1"))
    assert "--permanent" in fwd.command and fwd.command.endswith("firewall-cmd --reload")
    assert "--add-protocol=vrrp" in fwd.command and "--get-zone-of-interface=eth0" in fwd.command
    assert fwd.check.startswith("! systemctl is-active -q firewalld")
    master = hostsec.firewall_steps(inv, inv.host("master1"))[1]
    assert "ufw allow 2379:2380/tcp" in master.command
    off = inv.model_copy(update={"firewall": "disabled"})
    assert [s.command for s in hostsec.firewall_steps(off, off.host("node1"))] == [
        "systemctl disable --now firewalld", "ufw disable"]
