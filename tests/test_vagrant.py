"""`provisioner vagrantfile`: the rendered Vagrantfile passes the real `vagrant validate`, and Vagrant reads it as meant.

Real parts: Debian's vagrant (2.3) and vagrant-libvirt evaluate the file
(`vagrant validate`, and Vagrant's own config loader for what each machine
gets); ruby reads back every quoted value; the key-installing shell step runs
in a throwaway mount namespace; the route checks read a network namespace set
up like a Vagrant box (NAT NIC + private network). No box is downloaded and no
VM is started: that needs a hypervisor (see molecule/vagrant and
examples/ci/github-actions.yml).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from provisioner.checks.base import FAIL, PASS, WARN, Fact, Facts, Node
from provisioner.checks.network import DefaultRoute, PeerRoute
from provisioner.errors import UsageError
from provisioner.inventory import Inventory
from provisioner.render import render_cluster
from provisioner.vagrant import DEFAULT_BOX, machine_specs, render_vagrantfile, ruby_literal
from provisioner.validation import load_inventory
from tests.support.cli import REPO, run_cli
from tests.support.fixed_secrets import fixed_secrets
from tests.support.skips import skip_or_fail

IN_CI = os.environ.get("CI") == "true"
VAGRANT_INV = REPO / "inventories/vagrant.yaml"


def _need(tool: str, package: str) -> None:
    if not shutil.which(tool):
        if IN_CI:
            pytest.fail(f"{tool} is not installed - .ci/setup must install {package}")
        skip_or_fail(f"{tool} not installed (apt-get install {package})")


def _need_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("this test needs root (namespaces)")
        skip_or_fail("needs root (namespaces)")


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return load_inventory(VAGRANT_INV)


@pytest.fixture
def home(tmp_path) -> Path:
    """A HOME with the admin key the inventory names (~/.ssh/id_ed25519), its comment full of shell syntax."""
    _need("ssh-keygen", "openssh-client")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / ".ssh/id_ed25519"),
                    "-C", "admin $(touch pwned) `touch pwned2` 'q\" #{exit 1}"], check=True, cwd=tmp_path)
    return home


def _need_libvirt_plugin(home: Path) -> None:
    plugins = subprocess.run(["vagrant", "plugin", "list"], capture_output=True, text=True, env=_vagrant_env(home))
    if "vagrant-libvirt" not in plugins.stdout:
        if IN_CI:
            pytest.fail("the vagrant-libvirt plugin is not installed - .ci/setup must install vagrant-libvirt")
        skip_or_fail("vagrant-libvirt not installed (apt-get install vagrant-libvirt)")


def _vagrant_env(home: Path, provider: str = "libvirt", **extra) -> dict:
    return {**os.environ, "HOME": str(home), "VAGRANT_HOME": str(home / ".vagrant.d"),
            "VAGRANT_DEFAULT_PROVIDER": provider, "VAGRANT_CHECKPOINT_DISABLE": "1", **extra}


def _write(tmp_path: Path, text: str) -> Path:
    work = tmp_path / "vm"
    work.mkdir(exist_ok=True)
    (work / "Vagrantfile").write_text(text)
    return work


def _validate(work: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["vagrant", "validate"], cwd=work, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def vbox_probe(tmp_path) -> Path:
    """VirtualBox is not installable here; Vagrant only asks `VBoxManage --version` before it checks the
    virtualbox block of the config, so a script that answers that one question lets the real check run."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    probe = bindir / "VBoxManage"
    probe.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 7.0.14r161095 && exit 0\nexit 1\n")
    probe.chmod(0o755)
    return bindir


# --- vagrant validate ---------------------------------------------------------------

@pytest.mark.parametrize("provider", ["libvirt", "virtualbox"])
def test_rendered_vagrantfile_passes_vagrant_validate(tmp_path, home, inv, provider, vbox_probe):
    _need("vagrant", "vagrant")
    if provider == "libvirt":
        _need_libvirt_plugin(home)
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv, boxes=["ubuntu-22.04", "node1=rocky-9"])))
    env = _vagrant_env(home, provider, PATH=f"{vbox_probe}:{os.environ['PATH']}")
    result = _validate(work, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout
    assert not (tmp_path / "pwned").exists() and not (work / "pwned").exists()


def test_vagrant_validate_can_fail(tmp_path, home, inv, vbox_probe):
    """The check above is not a rubber stamp: a syntax error and an unknown provider setting both fail."""
    _need("vagrant", "vagrant")
    text = render_vagrantfile(inv, machine_specs(inv))
    broken = _write(tmp_path, text.replace("].freeze", "].freeze end", 1))
    result = _validate(broken, _vagrant_env(home))
    assert result.returncode != 0 and "syntax error" in result.stderr
    unknown = _write(tmp_path, text.replace("vb.cpus = m[:cpus]", "vb.cpus = m[:cpus]\n        vb.cpu_count = 2"))
    result = _validate(unknown, _vagrant_env(home, "virtualbox", PATH=f"{vbox_probe}:{os.environ['PATH']}"))
    assert result.returncode != 0 and "cpu_count" in result.stdout + result.stderr


# What Vagrant itself makes of the file: its own config loader, per machine (no provider is started).
DUMP_CONFIG = r"""
require "json"
require "vagrant"
env = Vagrant::Environment.new(cwd: ARGV[0])
out = env.machine_names.map do |name|
  cfg = env.vagrantfile.machine_config(name, :libvirt, env.boxes)[:config]
  vbox = cfg.vm.get_provider_config(:virtualbox)
  lv = cfg.vm.get_provider_config(:libvirt)
  { name: name.to_s, box: cfg.vm.box, hostname: cfg.vm.hostname,
    networks: cfg.vm.networks.map { |type, opts| { type: type.to_s, ip: opts[:ip], netmask: opts[:netmask],
                                                   hostname: opts[:hostname] } },
    synced: cfg.vm.synced_folders.transform_values { |o| o[:disabled] },
    provisioners: cfg.vm.provisioners.map { |p| { name: p.name.to_s, args: p.config.args, inline: p.config.inline } },
    libvirt: { cpus: lv.cpus, memory: lv.memory },
    virtualbox: { name: vbox.name, customize: vbox.customizations.map { |_event, cmd| cmd[2..] } } }
end
puts JSON.generate(out)
"""


def _vagrant_config(work: Path, home: Path) -> dict[str, dict]:
    result = subprocess.run(["ruby", "-e", DUMP_CONFIG, str(work)], env=_vagrant_env(home), capture_output=True,
                            text=True, timeout=120, cwd=work)
    assert result.returncode == 0, result.stderr
    return {m["name"]: m for m in json.loads(result.stdout)}


def test_vagrant_reads_one_machine_per_host_as_the_inventory_says(tmp_path, home, inv):
    _need("vagrant", "vagrant")
    machines = machine_specs(inv, boxes=["rocky-9", "ha2=bento/ubuntu-22.04"], memory=["worker=1024", "node3=2048"])
    work = _write(tmp_path, render_vagrantfile(inv, machines))
    config = _vagrant_config(work, home)
    assert list(config) == [h.hostname for h in inv.hosts]
    expected_size = {"master1": (2, 2048), "node1": (1, 1024), "node3": (1, 2048), "ha1": (1, 512)}
    for host in inv.hosts:
        vm = config[host.hostname]
        assert vm["hostname"] == f"{host.hostname}.vagrant.test"
        assert vm["box"] == ("bento/ubuntu-22.04" if host.hostname == "ha2" else "bento/rockylinux-9")
        private = [n for n in vm["networks"] if n["type"] == "private_network"]
        assert private == [{"type": "private_network", "ip": str(host.address), "netmask": "255.255.255.0",
                            "hostname": True}]
        assert vm["synced"] == {"/vagrant": True}, "synced folders are off by default"
        if host.hostname in expected_size:
            cpus, memory = expected_size[host.hostname]
            assert vm["libvirt"] == {"cpus": cpus, "memory": memory}
            assert _sizes(vm["virtualbox"]["customize"]) == [["--cpus", cpus], ["--memory", memory]]
        assert vm["virtualbox"]["name"] == f"vagrant-{host.hostname}"
        (key_step, nic_step) = vm["provisioners"]
        assert key_step["name"] == "authorize-key" and nic_step["name"] == "check-nic"
        assert nic_step["args"] == f"{host.address} eth1"


def test_virtualbox_gets_the_sizes_too(tmp_path, home, inv):
    _need("vagrant", "vagrant")
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv)))
    config = _vagrant_config(work, home)
    # vb.cpus = N is stored as customize ["modifyvm", :id, "--cpus", N]: the part after :id.
    assert _sizes(config["master1"]["virtualbox"]["customize"]) == [["--cpus", 2], ["--memory", 2048]]
    assert _sizes(config["ha1"]["virtualbox"]["customize"]) == [["--cpus", 1], ["--memory", 512]]


def _sizes(customize: list) -> list:
    return [[option, int(value)] for option, value in customize]


def test_the_admin_key_reaches_the_guest_unmangled(tmp_path, home, inv):
    """Vagrant runs `SCRIPT ARGS` through the guest's shell: the key (comment full of $(), backticks,
    quotes) arrives as one argument, nothing in it runs."""
    _need("vagrant", "vagrant")
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv)))
    step = _vagrant_config(work, home)["node1"]["provisioners"][0]
    echo = tmp_path / "argv.sh"
    echo.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n--\\n" "$a"; done\n')
    echo.chmod(0o755)
    out = subprocess.run(["bash", "-lc", f"{echo} {step['args']}"], capture_output=True, text=True, cwd=tmp_path).stdout
    key = (home / ".ssh/id_ed25519.pub").read_text().strip()
    assert out.split("\n--\n")[:3] == ["vagrant", "true", key]
    assert not list(tmp_path.glob("pwned*"))


def test_missing_public_key_fails_the_provision_step_with_the_fix(tmp_path, inv):
    _need("vagrant", "vagrant")
    empty = tmp_path / "emptyhome"
    empty.mkdir()
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv)))
    assert _validate(work, _vagrant_env(empty)).returncode == 0, "a missing key must not break other vagrant commands"
    step = _vagrant_config(work, empty)["master1"]["provisioners"][0]
    result = subprocess.run(["bash", "-c", step["inline"]], capture_output=True, text=True)
    assert result.returncode == 1
    assert "no public key at ~/.ssh/id_ed25519.pub" in result.stderr and "ssh-keygen" in result.stderr


def test_authorize_key_step_installs_the_key_for_the_inventory_user(tmp_path, home, inv):
    """The real shell step, run as root in a private mount namespace over a copy of /etc and an empty /home."""
    _need("vagrant", "vagrant"), _need("unshare", "util-linux"), _need("useradd", "passwd")
    _need_root()
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv)))
    step = _vagrant_config(work, home)["node1"]["provisioners"][0]
    (tmp_path / "step.sh").write_text(step["inline"])
    probe = (f"set -e; cp -a /etc {tmp_path}/etc; mkdir -p {tmp_path}/etc/sudoers.d; "   # as on every box
             f"mount --bind {tmp_path}/etc /etc; mount -t tmpfs none /home; "
             f"bash {tmp_path}/step.sh {step['args']}; bash {tmp_path}/step.sh {step['args']}; "
             "stat -c '%a %U' /home/vagrant/.ssh /home/vagrant/.ssh/authorized_keys; "
             "cat /home/vagrant/.ssh/authorized_keys; echo @@; cat /etc/sudoers.d/90-provisioner-vagrant; "
             "stat -c '%a' /etc/sudoers.d/90-provisioner-vagrant")
    result = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", probe],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    key = (home / ".ssh/id_ed25519.pub").read_text().strip()
    modes, _, rest = result.stdout.partition(key)
    assert modes.splitlines()[-2:] == ["700 vagrant", "600 vagrant"]
    assert rest.count(key) == 0, "a second run does not add the key twice"
    assert "vagrant ALL=(ALL) NOPASSWD:ALL" in rest and rest.strip().endswith("440")


# --- quoting ------------------------------------------------------------------------

NASTY = ["plain", "it's", "back\\slash", "\\'", "#{system('touch pwned')}", "`touch pwned`", "line\nbreak", "ünï"]


def test_ruby_literals_read_back_exactly(tmp_path):
    _need("ruby", "ruby")
    program = "values = " + ruby_literal(NASTY + [1, True, None]) + "\nrequire 'json'\nputs JSON.generate(values)\n"
    result = subprocess.run(["ruby", "-e", program], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == NASTY + [1, True, None]
    assert not (tmp_path / "pwned").exists()


def test_every_inventory_value_is_a_quoted_literal(inv):
    text = render_vagrantfile(inv, machine_specs(inv), source="inv\n`touch x`.yaml")
    assert "{ name: 'master1', hostname: 'master1.vagrant.test', address: '192.168.56.101'" in text
    assert "CLUSTER = 'vagrant'" in text
    assert "inventory inv?`touch x`.yaml." in text, "the source path stays inside its one comment line"
    assert "#{CLUSTER}" in text and "{{" not in text


# --- sizes, boxes, options ----------------------------------------------------------

def test_sizes_follow_roles_and_overrides():
    data = yaml.safe_load(VAGRANT_INV.read_text())
    data["hosts"][3]["roles"] = ["worker", "lb"]                 # node1: max of both roles
    data["hosts"][0]["roles"] = ["control-plane", "worker"]      # master1
    inv = Inventory.model_validate(data)
    sizes = {m.name: (m.cpus, m.memory) for m in machine_specs(inv)}
    assert sizes["master1"] == (2, 2048) and sizes["master2"] == (2, 2048)
    assert sizes["node1"] == (1, 1536) and sizes["node2"] == (1, 1536) and sizes["ha1"] == (1, 512)
    sizes = {m.name: (m.cpus, m.memory) for m in machine_specs(inv, cpus=["worker=2", "ha1=2"],
                                                                memory=["control-plane=4096", "node2=3000"])}
    assert sizes["master1"] == (2, 4096) and sizes["node1"] == (2, 1536) and sizes["node2"] == (2, 3000)
    assert sizes["ha1"] == (2, 512) and sizes["ha2"] == (1, 512)


def test_boxes_default_alias_and_per_host(inv):
    assert {m.box for m in machine_specs(inv)} == {DEFAULT_BOX}
    boxes = {m.name: m.box for m in machine_specs(inv, boxes=["rocky-9", "node1=ubuntu-22.04", "ha1=my/box"])}
    assert boxes["master1"] == "bento/rockylinux-9" and boxes["node1"] == "bento/ubuntu-22.04"
    assert boxes["ha1"] == "my/box"


@pytest.mark.parametrize("kwargs, words", [
    ({"boxes": ["nosuch=rocky-9"]}, "--box: nosuch is not a host"),
    ({"boxes": ["a b"]}, "--box: 'a b' is not a box name"),
    ({"boxes": ["rocky-9", "ubuntu-22.04"]}, "--box: two defaults"),
    ({"cpus": ["4"]}, "--cpus: '4' names no role or host"),
    ({"cpus": ["worker=0"]}, "--cpus: '0' is not a number from 1"),
    ({"memory": ["gpu=4096"]}, "--memory: gpu is not a host or role"),
    ({"memory": ["worker=lots"]}, "--memory: 'lots' is not a number"),
    ({"memory": ["=1"]}, "is not NAME=VALUE"),
])
def test_bad_options_say_what_to_do(inv, kwargs, words):
    with pytest.raises(UsageError, match=words.replace("(", r"\(")):
        machine_specs(inv, **kwargs)


def test_host_network_on_a_nat_network_is_refused():
    data = yaml.safe_load(VAGRANT_INV.read_text())
    data["networking"]["host_network"] = "10.0.2.0/24"
    data["control_plane_endpoint"]["address"] = "10.0.2.100"
    for i, host in enumerate(data["hosts"]):
        host["address"] = f"10.0.2.{101 + i}"
    with pytest.raises(UsageError, match="overlaps the VirtualBox NAT 10.0.2.0/24"):
        machine_specs(Inventory.model_validate(data))


def test_relative_key_paths_become_absolute(tmp_path, monkeypatch):
    data = yaml.safe_load(VAGRANT_INV.read_text())
    data["host_defaults"]["ssh"]["key"] = "keys/admin"
    monkeypatch.chdir(tmp_path)
    (m, *_) = machine_specs(Inventory.model_validate(data))
    assert m.public_keys == (f"{tmp_path}/keys/admin.pub",)
    data["host_defaults"]["ssh"].pop("key")
    (m, *_) = machine_specs(Inventory.model_validate(data))
    assert m.public_keys[0] == "~/.ssh/id_ed25519.pub"


def test_cli_writes_the_file_and_reports_bad_input_in_one_line(tmp_path):
    out = tmp_path / "Vagrantfile"        # a missing parent is an error (tests/test_cli_conventions.py)
    result = run_cli("vagrantfile", "-i", "inventories/vagrant.yaml", "-o", str(out), "--box", "rocky-9")
    assert result.returncode == 0, result.stderr
    assert "bento/rockylinux-9" in out.read_text() and f"wrote {out} (8 machines)" in result.stderr
    stdout = run_cli("vagrantfile", "-i", "inventories/vagrant.yaml")
    assert stdout.returncode == 0 and stdout.stdout.startswith("# -*- mode: ruby -*-")
    bad = run_cli("vagrantfile", "-i", "inventories/vagrant.yaml", "--memory", "nosuch=1024")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    helptext = run_cli("vagrantfile", "--help")
    assert helptext.returncode == 0 and "Example: provisioner vagrantfile" in helptext.stdout


# --- the NAT trap ------------------------------------------------------------------

@pytest.mark.parametrize("version", ["1.35.8", "1.37.1"])
def test_kubeadm_configs_pin_the_inventory_address_never_the_nat_one(version):
    data = yaml.safe_load(VAGRANT_INV.read_text())
    data["kubernetes_version"] = version
    inv = Inventory.model_validate(data)
    files = render_cluster(inv, fixed_secrets())
    for f in files:
        assert "10.0.2." not in f.content, f"{f.host}:{f.path}"
    for host in inv.kube_nodes:
        name = "kubeadm-init.yaml" if host == inv.first_control_plane else "kubeadm-join.yaml"
        (f,) = [f for f in files if f.host == host.hostname and f.path.endswith(name)]
        first = list(yaml.safe_load_all(f.content))[0]
        args = first["nodeRegistration"]["kubeletExtraArgs"]
        node_ip = args["node-ip"] if isinstance(args, dict) else {a["name"]: a["value"] for a in args}["node-ip"]
        assert node_ip == str(host.address), host.hostname
        if host.has("control-plane"):
            endpoint = first["localAPIEndpoint"] if name.startswith("kubeadm-init") else first["controlPlane"]["localAPIEndpoint"]
            assert endpoint["advertiseAddress"] == str(host.address), host.hostname
    (calico,) = [f for f in files if f.path.endswith("calico-installation.yaml")]
    assert yaml.safe_load(calico.content)["spec"]["calicoNetwork"]["nodeAddressAutodetectionV4"] == {
        "kubernetes": "NodeInternalIP"}


NETNS_SETUP = """
set -e
ip netns add {ns}
ip -n {ns} link set lo up
ip -n {ns} link add eth0 type veth peer name nat0
ip -n {ns} link add eth1 type veth peer name priv0
for l in eth0 nat0 eth1 priv0; do ip -n {ns} link set $l up; done
ip -n {ns} addr add 10.0.2.15/24 dev eth0
ip -n {ns} route add default via 10.0.2.2 dev eth0
ip -n {ns} addr add 192.168.56.101/24 dev eth1
"""


@pytest.fixture
def vagrant_box_netns():
    """A network namespace wired like a Vagrant box: NAT NIC with the default route, private network on eth1."""
    _need("ip", "iproute2"), _need_root()
    ns = f"pv-vagrant-{os.getpid()}"
    setup = subprocess.run(["bash", "-c", NETNS_SETUP.format(ns=ns)], capture_output=True, text=True)
    try:
        assert setup.returncode == 0, setup.stderr
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def _facts_in(ns: str, commands: dict[str, str]) -> Facts:
    facts = Facts()
    for name, command in commands.items():
        r = subprocess.run(["ip", "netns", "exec", ns, "bash", "-c", command], capture_output=True, text=True)
        facts.values[name] = Fact(r.stdout + r.stderr, r.returncode)
    return facts


def test_route_checks_on_a_box_shaped_namespace(vagrant_box_netns, inv):
    ns, host = vagrant_box_netns, inv.host("master1")
    checks = (DefaultRoute(), PeerRoute())
    commands = {k: v for c in checks for k, v in c.fact_commands(inv, host).items()}
    node = Node(host, inv, _facts_in(ns, commands))
    default, peers = (c.evaluate(node.facts, node) for c in checks)
    assert default.status == WARN and "10.0.2.15 on eth0 (Vagrant/VirtualBox NAT)" in default.observed
    assert peers.status == PASS and peers.observed == "7 peers via eth1 src 192.168.56.101"
    # The private network missing (a box whose second NIC did not come up): peers go out the NAT NIC.
    subprocess.run(["ip", "-n", ns, "addr", "flush", "dev", "eth1"], check=True)
    node = Node(host, inv, _facts_in(ns, commands))
    verdict = PeerRoute().evaluate(node.facts, node)
    assert verdict.status == FAIL
    assert "192.168.56.102, 192.168.56.103, 192.168.56.104 (+4 more) via eth0 src 10.0.2.15 (Vagrant/VirtualBox NAT)" \
        == verdict.observed
    assert verdict.fix.startswith("configure 192.168.56.101/24 on eth1")


def test_check_nic_step_names_the_right_nic(vagrant_box_netns, tmp_path, home, inv):
    _need("vagrant", "vagrant")
    work = _write(tmp_path, render_vagrantfile(inv, machine_specs(inv)))
    step = _vagrant_config(work, home)["master1"]["provisioners"][1]

    def run(nic: str) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", vagrant_box_netns, "bash", "-c", step["inline"], "_",
                               "192.168.56.101", nic], capture_output=True, text=True)

    ok = run("eth1")
    assert ok.returncode == 0 and "192.168.56.101 is on eth1 as the inventory says" in ok.stdout
    wrong = run("enp0s8")
    assert wrong.returncode == 0 and "is on eth1, the inventory says enp0s8 - set nic: eth1" in wrong.stderr
