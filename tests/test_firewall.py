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


def _fake_tools(tmp_path, chains_loaded: bool):
    """A ufw that logs each call and prints status as ufw 0.36 does; an iptables whose `-L CHAIN` exits 1 with
    its own message for a chain that is not there (what ufw's backend_iptables.py get_status reads)."""
    bin_dir, log = tmp_path / "bin", tmp_path / "ufw.calls"
    bin_dir.mkdir()
    (bin_dir / "ufw").write_text(f"#!/bin/bash\necho \"$*\" >> {log}\n"
                                 "printf 'Status: active\\n\\nTo                         Action      From\\n"
                                 "--                         ------      ----\\n"
                                 "10250/tcp                  ALLOW       Anywhere\\n"
                                 "30000:32767/tcp            ALLOW       Anywhere\\n'\n")
    rc = 0 if chains_loaded else 1
    (bin_dir / "iptables").write_text(
        "#!/bin/bash\n"
        + ("echo 'iptables: No chain/target/match by that name.' >&2\n" if rc else "echo \"Chain ${@: -1}\"\n")
        + f"exit {rc}\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}, log


def test_ufw_is_asked_for_its_rules_only_when_its_chains_are_loaded(tmp_path):
    """`ufw status` is a Python program (about 150 ms of CPU per node); whether ufw filters is the presence of its
    ufw-user-* chains, which ufw itself reads with iptables (ufw 0.36.2 backend_iptables.py get_status: rc 1 from
    `iptables -L ufw-user-input -n` is "Status: inactive")."""
    import subprocess

    from provisioner.checks.system import Firewall
    fact = Firewall.facts["security.firewall"]
    for loaded in (False, True):
        case = tmp_path / str(loaded)
        case.mkdir()
        env, log = _fake_tools(case, loaded)
        out = subprocess.run(["bash", "-c", fact], env=env, capture_output=True, text=True).stdout
        probe = subprocess.run(["bash", "-c", f"{firewall.UFW_ACTIVE} && echo yes || echo no"], env=env,
                               capture_output=True, text=True).stdout.strip()
        if loaded:
            assert "ufw active" in out and firewall.active(out)["ufw"] == {"10250/tcp", "30000-32767/tcp"}
            assert probe == "yes" and log.read_text().splitlines() == ["status"]
        else:
            assert "ufw inactive" in out and "ufw" not in firewall.active(out) and probe == "no"
            assert not log.exists()
