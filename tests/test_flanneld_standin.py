"""The stand-in flanneld chooses the interface as upstream flanneld does (no lab needed).

Upstream: flannel-io/flannel main.go (order: each --iface, each --iface-regex, then
--iface-can-reach; none given: the default route), pkg/ipmatch/match.go (LookupExtIface),
pkg/ip/iface.go (GetInterfaceBySpecificIPRouting: the interface and source address of the
route to the address; GetInterfaceIP4Addrs: global unicast first, no loopback addresses).
The interfaces are a colocated VIP holder's: lo, eth0 with 172.31.250.101/24 and the VIP
172.31.250.100 as a secondary, and a NAT NIC eth1 (Vagrant's 10.0.2.15) holding the default route.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "standins" / "src"))
import flanneld  # noqa: E402  (a stand-in program, stdlib only)

from provisioner.phases.cni import flannel_iface_args  # noqa: E402
from provisioner.validation import load_inventory  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LINKS = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK", "UP", "LOWER_UP"], "mtu": 65536,
     "addr_info": [{"family": "inet", "local": "127.0.0.1", "prefixlen": 8, "scope": "host"}]},
    {"ifindex": 2, "ifname": "eth1", "flags": ["BROADCAST", "UP"], "mtu": 1500,
     "addr_info": [{"family": "inet", "local": "10.0.2.15", "prefixlen": 24, "scope": "global"}]},
    {"ifindex": 3, "ifname": "eth0", "flags": ["BROADCAST", "UP"], "mtu": 1500,
     "addr_info": [{"family": "inet", "local": "172.31.250.101", "prefixlen": 24, "scope": "global"},
                   {"family": "inet", "local": "172.31.250.100", "prefixlen": 24, "scope": "global"}]},
]
ROUTES = {  # `ip -j route get ADDR` on this node
    "172.31.250.101": [{"type": "local", "dst": "172.31.250.101", "dev": "lo", "prefsrc": "172.31.250.101"}],
    "172.31.250.100": [{"type": "local", "dst": "172.31.250.100", "dev": "lo", "prefsrc": "172.31.250.100"}],
    "172.31.250.102": [{"dst": "172.31.250.102", "dev": "eth0", "prefsrc": "172.31.250.101"}],
}


@pytest.fixture(autouse=True)
def node(monkeypatch):
    def ip_json(*args):
        if args[:3] == ("-4", "addr", "show"):
            return LINKS
        if args[:2] == ("link", "show"):
            return LINKS
        if args[:3] == ("-4", "route", "get"):
            return ROUTES[args[3]]
        if args[:3] == ("-4", "route", "show"):
            return [{"dst": "default", "gateway": "10.0.2.2", "dev": "eth1"}]
        raise AssertionError(args)
    monkeypatch.setattr(flanneld, "ip_json", ip_json)


def choose(*args):
    f, _, _ = flanneld.parse_flags(list(args), flanneld.SPEC)
    choice, log = flanneld.select(f)
    return choice, log, flanneld.verdict(choice, log, "172.31.250.101")


def test_iface_can_reach_an_address_the_node_holds_picks_lo():
    # GetInterfaceBySpecificIPRouting: RouteGet(own address) is the local route on lo.
    for address in ("172.31.250.101", "172.31.250.100"):      # mode none's endpoint, colocated's VIP
        choice, _, (ok, message) = choose(f"--iface-can-reach={address}")
        assert choice["iface"] == "lo" and choice["loopback"] and not ok
        assert "loopback" in message
    choice, _, (ok, _) = choose("--iface-can-reach=172.31.250.102")   # another node's: eth0, fine
    assert (choice["iface"], choice["address"], ok) == ("eth0", "172.31.250.101", True)


def test_iface_by_name_takes_the_first_global_address():
    choice, _, (ok, _) = choose("--iface=eth0")
    assert (choice["iface"], choice["address"], ok) == ("eth0", "172.31.250.101", True)


def test_several_iface_flags_take_the_first_that_exists():
    # main.go: the first --iface that LookupExtIface accepts wins - here the NAT NIC.
    choice, log, (ok, message) = choose("--iface=ens33", "--iface=eth1", "--iface=eth0")
    assert choice["iface"] == "eth1" and not ok and "not the node's InternalIP" in message
    assert "Could not find valid interface matching ens33" in log[0]


def test_iface_lo_has_no_usable_address_and_flanneld_exits():
    choice, log, (ok, message) = choose("--iface=lo")
    assert choice is None and not ok
    assert log[-1] == "Failed to find interface to use that matches the interfaces and/or regexes provided"
    assert "failed to find IPv4 address for interface lo" in log[0]


def test_iface_regex_matches_addresses_before_names():
    choice, _, (ok, _) = choose(r"--iface-regex=^(172\.31\.250\.101|172\.31\.250\.102)$")
    assert (choice["iface"], choice["address"], ok) == ("eth0", "172.31.250.101", True)
    choice, _, _ = choose("--iface-regex=^eth")            # no address matches: names, in index order
    assert choice["iface"] == "eth1"


def test_no_flag_takes_the_default_route_interface():
    choice, _, (ok, _) = choose()
    assert choice["iface"] == "eth1" and not ok


def test_product_pins_by_nic_name_or_node_addresses(tmp_path):
    inv = load_inventory(REPO / "inventories/lab.yaml")
    assert flannel_iface_args(inv) == ["--iface=eth0"]
    text = (REPO / "inventories/lab.yaml").read_text().replace(
        "{hostname: node3,   address: 172.31.250.106, roles: [worker]}",
        "{hostname: node3,   address: 172.31.250.106, roles: [worker], nic: ens33}")
    (tmp_path / "inv.yaml").write_text(text)
    args = flannel_iface_args(load_inventory(tmp_path / "inv.yaml"))
    assert len(args) == 1 and args[0].startswith("--iface-regex=^(172\\.31\\.250\\.101|")
    choice, _, (ok, _) = choose(*args)
    assert (choice["iface"], ok) == ("eth0", True)     # on this node: the NIC holding its address
