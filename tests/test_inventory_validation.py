"""Every validation rule fails on its bad input (with file, line, path and fix) and passes on the good one.

The cases are data: a change to a known-good inventory, the path the problem
must be reported at, and words the message must contain.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from provisioner.errors import InventoryError, format_path
from provisioner.validation import check_inventory, load_inventory
from provisioner.versions import DEFAULT_VERSION

GOOD = yaml.safe_load((Path(__file__).resolve().parents[1] / "inventories" / "seed-ha.yaml").read_text())


def _set(data: dict, path: str, value) -> None:
    """Set ``hosts.3.address``-style paths; value None deletes the key."""
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for p in parts[:-1]:
        node = node[p]
    if value is None:
        del node[parts[-1]]
    else:
        node[parts[-1]] = value


def _pair(data):
    return data


CASES = [
    # id, {path: value} changes, reported path, words in the message, is_warning
    ("duplicate-address", {"hosts.3.address": "10.0.0.101"}, "hosts[3].address",
     "10.0.0.101 is also master1's address - give each host its own", False),
    ("duplicate-hostname", {"hosts.4.hostname": "node1"}, "hosts[4].hostname", "node1 is also hosts[3]'s hostname", False),
    ("uppercase-hostname", {"hosts.0.hostname": "Master1"}, "hosts[0].hostname", "must be lowercase (RFC 1123) - use 'master1'", False),
    ("bad-hostname", {"hosts.0.hostname": "master_1"}, "hosts[0].hostname", "is not an RFC 1123 name", False),
    ("unknown-key", {"hosts.2.adress": "10.0.0.1"}, "hosts[2].adress", "unknown key 'adress' - did you mean 'address'?", False),
    ("unknown-top-key", {"kubernetes_verison": "1.37.1"}, "kubernetes_verison", "did you mean 'kubernetes_version'?", False),
    ("version-not-full", {"kubernetes_version": "1.37"}, "kubernetes_version", "not a full version - write 1.37.1 (the newest 1.37 patch this release knows)", False),
    ("version-not-full-unknown-minor", {"kubernetes_version": "1.99"}, "kubernetes_version", "not a full version - write it like 1.37.1", False),
    # Refused: every minor below the end-of-life window (1.32 went EOL 2026-02-28), one line naming the supported minors.
    ("version-too-old", {"kubernetes_version": "1.32.1"}, "kubernetes_version",
     "1.32.1 is older than any version we accept - use a maintained minor: 1.35, 1.36 or 1.37 (default 1.37.1)", False),
    ("version-was-supported", {"kubernetes_version": "1.30.2"}, "kubernetes_version", "use a maintained minor: 1.35, 1.36 or 1.37", False),
    ("version-too-new", {"kubernetes_version": "1.40.0"}, "kubernetes_version", "newer than any version this release was tested with", False),
    # Accepted with a warning: upstream ships no more fixes for 1.33/1.34 (1.34 EOL 2026-10-27).
    ("version-eol-1.34", {"kubernetes_version": "1.34.11"}, "kubernetes_version",
     "Kubernetes 1.34 reached end of life on 2026-10-27 and gets no more fixes - move to 1.35, 1.36 or 1.37", True),
    ("version-eol-1.33", {"kubernetes_version": "1.33.13"}, "kubernetes_version", "1.33 reached end of life", True),
    # Network sizes as kubeadm checks them (cmd/kubeadm/app/apis/kubeadm/validation/validation.go
    # ValidatePodSubnetNodeMask: node mask /24, PodSubnetNodeMaskMaxDiff 16; ValidateServiceSubnetSize:
    # MaximumBitsForServiceSubnet 20; MinimumAddressesInServiceSubnet 10).
    ("pod-cidr-too-small", {"networking.pod_cidr": "10.244.0.0/25"}, "networking.pod_cidr",
     "smaller than one node's /24 block, which kubeadm refuses - use a prefix between /8 and /24", False),
    ("pod-cidr-too-large", {"networking.pod_cidr": "12.0.0.0/7"}, "networking.pod_cidr",
     "more than 16 bits larger than the /24 node mask", False),
    ("service-cidr-too-large", {"networking.service_cidr": "10.96.0.0/11"}, "networking.service_cidr",
     "10.96.0.0/11 is too large: kubeadm takes at most 2^20 service addresses - use /12 or smaller", False),
    ("service-cidr-too-few", {"networking.service_cidr": "10.96.0.0/29"}, "networking.service_cidr",
     "has 8 addresses; kubeadm needs at least 10", False),
    # Docker's daemon.json rules (moby/moby registry/config.go: ValidateMirror; splitReposName for short names).
    ("insecure-short-name", {"registry.insecure": True, "domain": None}, "registry.hostname",
     "'harbor' is a short name: Docker reads an image harbor/x as a Docker Hub path", False),
    ("mirror-user-password", {"registry_mirrors": ["https://bob:s3cret@mirror.example.org"]}, "registry_mirrors[0]",
     "'https://bob:xxxxx@mirror.example.org' carries a user name/password, which Docker refuses", False),
    ("mirror-no-scheme", {"registry_mirrors": ["mirror.example.org:5000"]}, "registry_mirrors[0]",
     "has no scheme: Docker refuses a mirror without one", False),
    ("mirror-scheme", {"registry_mirrors": ["ftp://mirror.example.org"]}, "registry_mirrors[0]",
     "unsupported scheme 'ftp'", False),
    ("mirror-query", {"registry_mirrors": ["https://mirror.example.org/?x=1"]}, "registry_mirrors[0]",
     "ends in a query or fragment", False),
    ("mirror-fragment", {"registry_mirrors": ["https://mirror.example.org/#top"]}, "registry_mirrors[0]",
     "ends in a query or fragment", False),
    ("bad-address", {"hosts.1.address": "10.0.0.300"}, "hosts[1].address", "is not an IPv4 address", False),
    ("address-type", {"hosts.1.address": 12}, "hosts[1].address", "is not an IPv4 address", False),
    ("bad-role", {"hosts.1.roles": ["master"]}, "hosts[1].roles[0]", "'master' is not one of", False),
    ("no-roles", {"hosts.1.roles": []}, "hosts[1].roles", "is empty - list at least one entry", False),
    ("role-twice", {"hosts.1.roles": ["control-plane", "control-plane"]}, "hosts[1].roles", "lists a role twice", False),
    ("port-range", {"control_plane_endpoint.port": 70000}, "control_plane_endpoint.port", "out of range", False),
    ("port-type", {"control_plane_endpoint.port": "https"}, "control_plane_endpoint.port", "not a whole number", False),
    ("ssh-port", {"host_defaults.ssh.port": 0}, "host_defaults.ssh.port", "out of range", False),
    ("vip-is-host", {"control_plane_endpoint.address": "10.0.0.107"}, "control_plane_endpoint.address",
     "the VIP 10.0.0.107 is also ha1's address - pick a free address", False),
    ("vip-outside-subnet", {"control_plane_endpoint.address": "10.0.1.100"}, "control_plane_endpoint.address",
     "outside the host network 10.0.0.0/24", False),
    ("vip-broadcast", {"control_plane_endpoint.address": "10.0.0.255"}, "control_plane_endpoint.address",
     "network or broadcast address", False),
    ("vip-missing", {"control_plane_endpoint.address": None}, "control_plane_endpoint.address",
     "required with load_balancer.mode pair - set the virtual IP", False),
    ("host-outside-subnet", {"hosts.5.address": "10.0.5.6"}, "hosts[5].address", "outside the host network", False),
    ("pod-overlaps-service", {"networking.pod_cidr": "10.96.0.0/16"}, "networking.pod_cidr",
     "overlaps networking.service_cidr 10.96.0.0/12", False),
    ("pod-overlaps-hosts", {"networking.pod_cidr": "10.0.0.0/16"}, "networking.pod_cidr", "overlaps networking.host_network", False),
    ("service-overlaps-hosts", {"networking.service_cidr": "10.0.0.0/20"}, "networking.service_cidr",
     "overlaps networking.host_network", False),
    ("network-host-bits", {"networking.pod_cidr": "10.244.0.1/16"}, "networking.pod_cidr", "is not an IPv4 network", False),
    ("pair-without-lb", {"hosts.6.roles": ["worker"], "hosts.7.roles": ["worker"]}, "hosts",
     "mode pair needs 1 or 2 hosts with role lb", False),
    ("pair-three-lb", {"hosts.5.roles": ["lb"]}, "hosts[7].roles", "at most 2 lb hosts, found 3", False),
    ("pair-one-lb", {"hosts.7.roles": ["worker"]}, "hosts[6].roles", "a single lb host gives no failover", True),
    ("lb-on-control-plane", {"hosts.6.roles": ["lb", "control-plane"]}, "hosts[6].roles",
     "both lb and control-plane", False),
    ("colocated-with-lb-role", {"load_balancer.mode": "colocated", "control_plane_endpoint.port": 8443},
     "hosts[6].roles", "role lb with load_balancer.mode colocated", False),
    ("colocated-on-6443", {"load_balancer.mode": "colocated", "hosts.6.roles": ["worker"], "hosts.7.roles": ["worker"]},
     "control_plane_endpoint.port", "6443 is taken by the apiserver", False),
    ("none-with-three-cps", {"load_balancer.mode": "none", "hosts.6.roles": ["worker"], "hosts.7.roles": ["worker"],
                             "control_plane_endpoint.address": None},
     "load_balancer.mode", "mode none allows exactly one control plane, found 3", False),
    ("no-control-plane", {"hosts.0.roles": ["worker"], "hosts.1.roles": ["worker"], "hosts.2.roles": ["worker"]},
     "hosts", "no host has the role control-plane", False),
    ("even-control-planes", {"hosts.3.roles": ["control-plane"]}, "hosts", "etcd needs an odd count", True),
    ("bad-mode", {"load_balancer.mode": "haproxy"}, "load_balancer.mode", "is not one of", False),
    ("stats-port-clash", {"load_balancer.stats_port": 6443}, "load_balancer.stats_port", "used by the API frontend", False),
    ("vrid-range", {"load_balancer.virtual_router_id": 300}, "load_balancer.virtual_router_id", "out of range", False),
    ("nic-shell", {"host_defaults.nic": "eth0;reboot"}, "host_defaults.nic", "is not a network interface name", False),
    ("nic-too-long", {"hosts.0.nic": "averyveryverylongnic"}, "hosts[0].nic", "up to 13 characters", False),
    ("user-shell", {"host_defaults.ssh.user": "$(id)"}, "host_defaults.ssh.user", "is not a login name", False),
    ("image-repo-shell", {"image_repository": "registry.k8s.io;rm -rf /"}, "image_repository", "is not an image repository", False),
    ("mirror-shell", {"package_mirrors": {"apt": "http://m.example.org/debian `id`"}}, "package_mirrors.apt",
     "is not an http(s) URL", False),
    ("ntp-shell", {"ntp_servers": ["pool.ntp.org; id"]}, "ntp_servers[0]", "neither an IPv4 address nor a DNS name", False),
    ("timezone-shell", {"timezone": "UTC && id"}, "timezone", "is not a timezone name", False),
    ("token-ttl", {"token_ttl": "one day"}, "token_ttl", "is not a duration", False),
    ("proxy-jump-shell", {"host_defaults.ssh.proxy_jump": "bastion -oProxyCommand=id"}, "host_defaults.ssh.proxy_jump",
     "is not a jump host", False),
    ("registry-clash", {"registry.address": "10.0.0.101"}, "registry.address", "already a host's or the VIP's address", False),
    ("endpoint-name-clash", {"control_plane_endpoint.name": "master1"}, "control_plane_endpoint.name",
     "is also a host's name", False),
    ("cluster-name", {"cluster_name": "My Cluster"}, "cluster_name", "is not a DNS label", False),
    ("hosts-not-list", {"hosts": {"master1": "10.0.0.101"}}, "hosts", "expected a list", False),
    ("sudo-type", {"host_defaults.sudo": "maybe"}, "host_defaults.sudo", "is not true or false", False),
    ("containerd", {"runtime": "containerd"}, "runtime", "not yet rendered or installed", True),
    # Hostile input (issue 12). Control characters in any string: ssh.key takes any path, so only
    # this guard keeps "\n" (a new ssh_config line) or "\e[2J" (a terminal escape) out of it.
    ("ssh-key-escape", {"hosts.0.ssh": {"key": "~/.ssh/id\x1b[2J"}}, "hosts[0].ssh.key",
     "'~/.ssh/id\\x1b[2J' contains the control character U+001B - remove it", False),
    ("ssh-key-newline", {"host_defaults.ssh.key": "~/.ssh/id_ed25519\nProxyCommand id"}, "host_defaults.ssh.key",
     "contains the control character U+000A - remove it", False),
    ("ssh-key-nul", {"host_defaults.ssh.key": "~/.ssh/id\x00"}, "host_defaults.ssh.key", "control character U+0000", False),
    ("ssh-key-del", {"host_defaults.ssh.key": "~/.ssh/id\x7f"}, "host_defaults.ssh.key", "control character U+007F", False),
    ("ssh-key-c1", {"host_defaults.ssh.key": "~/.ssh/id\x9b2J"}, "host_defaults.ssh.key", "control character U+009B", False),
    ("ssh-key-empty", {"host_defaults.ssh.key": " "}, "host_defaults.ssh.key", "is empty - write a file path", False),
    # re's '$' also matches before a final newline: "master1\n" passed the hostname pattern.
    ("hostname-final-newline", {"hosts.0.hostname": "master1\n"}, "hosts[0].hostname",
     "contains the control character U+000A", False),
    # Mirror URL templates take only the placeholders `up` fills in (on HEAD {nope} passed here and
    # raised KeyError in the middle of `up`; see test_accepted_mirror_templates_fill_in_up).
    ("mirror-placeholder-unknown", {"package_mirrors": {"kubernetes": "https://m.example.org/k8s/v{nope}"}},
     "package_mirrors.kubernetes", "uses the placeholder {nope}, which this field is not filled with - use only {minor}",
     False),
    ("mirror-placeholder-positional", {"package_mirrors": {"kubernetes": "https://m.example.org/k8s/v{0}"}},
     "package_mirrors.kubernetes", "uses the placeholder {0}", False),
    ("mirror-placeholder-conversion", {"package_mirrors": {"kubernetes": "https://m.example.org/k8s/v{minor!r}"}},
     "package_mirrors.kubernetes", "writes {minor!r} - write it plainly as {minor}", False),
    ("mirror-placeholder-unbalanced", {"package_mirrors": {"kubernetes": "https://m.example.org/k8s/v{minor"}},
     "package_mirrors.kubernetes", "has an unmatched '{' or '}' - use only {minor}", False),
    ("mirror-placeholder-brace", {"package_mirrors": {"kubernetes": "https://m.example.org/k8s/{{minor}}"}},
     "package_mirrors.kubernetes", "has a literal brace", False),
    ("mirror-placeholder-none-taken", {"package_mirrors": {"apt": "https://m.example.org/debian/{minor}"}},
     "package_mirrors.apt", "this URL takes no placeholders: write it out", False),
    ("mirror-placeholder-calico", {"package_mirrors": {"calico": "https://m.example.org/calico/v{minor}/manifests"}},
     "package_mirrors.calico", "use only {version}", False),
    ("mirror-placeholder-archive", {"package_mirrors": {"cri_dockerd_archive": "https://m.example.org/cri/{distro}.tgz"}},
     "package_mirrors.cri_dockerd_archive", "use only {version} or {arch}", False),
]


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_the_good_inventory_has_no_findings(tmp_path):
    inv, problems = check_inventory(_write(tmp_path, GOOD))
    assert inv is not None
    assert problems == []


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_rule(case, tmp_path):
    _, changes, path, words, is_warning = case
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        _set(data, key, value)
    file = _write(tmp_path, data)
    inv, problems = check_inventory(file)
    lines = [str(p) for p in problems]
    matching = [p for p in problems if words in p.message and str(p).split(": ", 2)[1] == path]
    assert matching, f"expected {path}: ...{words}... in {lines}"
    problem = matching[0]
    assert problem.warning is is_warning
    line = str(problem)
    assert line.startswith(f"{file}:"), line
    assert "\n" not in line
    assert " - " in problem.message, f"no fix in {line}"
    if is_warning:
        assert inv is not None, "a warning alone must not reject the inventory"
    else:
        with pytest.raises(InventoryError):
            load_inventory(file)


def test_problems_carry_the_line_of_the_key(tmp_path):
    file = tmp_path / "inv.yaml"
    text = (Path(__file__).resolve().parents[1] / "inventories" / "seed-ha.yaml").read_text()
    text = text.replace("address: 10.0.0.104", "address: 10.0.0.101")
    file.write_text(text)
    _, problems = check_inventory(file)
    (problem,) = [p for p in problems if not p.warning]
    expected_line = next(i for i, l in enumerate(text.splitlines(), 1) if "node1" in l and "hostname" in l)
    assert problem.line == expected_line
    assert str(problem) == f"{file}:{expected_line}: hosts[3].address: 10.0.0.101 is also master1's address - give each host its own"


def test_all_problems_reported_in_one_pass(tmp_path):
    data = copy.deepcopy(GOOD)
    data["hosts"][3]["address"] = "10.0.0.101"
    data["hosts"][4]["hostname"] = "node1"
    data["control_plane_endpoint"]["address"] = "10.0.0.107"
    data["networking"]["pod_cidr"] = "10.96.0.0/16"
    _, problems = check_inventory(_write(tmp_path, data))
    assert len([p for p in problems if not p.warning]) == 4


def test_all_shape_errors_reported_in_one_pass(tmp_path):
    data = copy.deepcopy(GOOD)
    data["hosts"][0]["adress"] = "x"
    data["hosts"][1]["address"] = "nope"
    data["control_plane_endpoint"]["port"] = 0
    _, problems = check_inventory(_write(tmp_path, data))
    paths = {str(p).split(": ", 2)[1] for p in problems}
    assert {"hosts[0].adress", "hosts[1].address", "control_plane_endpoint.port"} <= paths


def test_yaml_syntax_error_names_the_line(tmp_path):
    file = tmp_path / "bad.yaml"
    file.write_text("cluster_name: x\nhosts:\n  - {hostname: a, address: 10.0.0.1\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(file)
    (line,) = str(info.value).splitlines()
    assert line.startswith(f"{file}:4: ") or line.startswith(f"{file}:3: "), line
    assert "YAML syntax error" in line


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path / "absent.yaml")
    assert str(info.value) == f"{tmp_path / 'absent.yaml'}: (top level): file not found - check the path given with -i"


def test_not_a_mapping(tmp_path):
    file = tmp_path / "list.yaml"
    file.write_text("- a\n- b\n")
    with pytest.raises(InventoryError, match="expected a mapping"):
        load_inventory(file)


def test_defaults_follow_the_runbook(tmp_path):
    file = tmp_path / "small.yaml"
    file.write_text(
        "control_plane_endpoint: {address: 10.0.0.100}\n"
        "hosts:\n"
        "  - {hostname: master1, address: 10.0.0.101, roles: [control-plane]}\n"
        "  - {hostname: ha1, address: 10.0.0.107, roles: [lb]}\n"
        "  - {hostname: ha2, address: 10.0.0.108, roles: [lb]}\n"
    )
    inv = load_inventory(file)
    assert inv.kubernetes_version == DEFAULT_VERSION == "1.37.1", "no version given: the newest maintained patch"
    assert inv.load_balancer.mode == "pair" and inv.api_port == 6443
    assert str(inv.networking.pod_cidr) == "10.244.0.0/16"
    assert str(inv.networking.service_cidr) == "10.96.0.0/12"
    assert str(inv.networking.host_network) == "10.0.0.0/24"
    assert inv.runtime == "docker" and inv.cni == "flannel"
    assert inv.load_balancer.virtual_router_id == 66
    assert inv.hosts[0].nic == "eth0"
    # login user and port: unset in the model (ssh_config may give them), root and 22 once resolved
    from provisioner.sshconfig import Resolver, SshConfig

    assert (inv.hosts[0].ssh.user, inv.hosts[0].ssh.port) == (None, None)
    (tmp_path / "ssh_config").write_text("", encoding="utf-8")
    target = Resolver(SshConfig.load(tmp_path / "ssh_config")).target(inv.hosts[0])
    assert (target.user, target.port) == ("root", 22)


def test_calico_defaults_its_own_pod_cidr(tmp_path):
    data = copy.deepcopy(GOOD)
    data["cni"] = "calico"
    del data["networking"]["pod_cidr"]
    inv = load_inventory(_write(tmp_path, data))
    assert str(inv.networking.pod_cidr) == "192.168.0.0/16"


def test_host_overrides_defaults(tmp_path):
    data = copy.deepcopy(GOOD)
    data["hosts"][0]["ssh"] = {"user": "admin", "port": 2222}
    data["hosts"][0]["nic"] = "eth1"
    inv = load_inventory(_write(tmp_path, data))
    assert (inv.hosts[0].ssh.user, inv.hosts[0].ssh.port, inv.hosts[0].nic) == ("admin", 2222, "eth1")
    assert (inv.hosts[1].ssh.user, inv.hosts[1].nic) == ("root", "ens33")


@pytest.mark.parametrize("name", ["seed-ha", "colocated", "single", "lab", "vagrant", "bastion"])
def test_examples_are_valid(name):
    inv, problems = check_inventory(Path(__file__).resolve().parents[1] / "inventories" / f"{name}.yaml")
    assert inv is not None and problems == []


def test_single_mode_endpoint_is_the_control_plane():
    inv = load_inventory(Path(__file__).resolve().parents[1] / "inventories" / "single.yaml")
    assert inv.control_plane_endpoint.address == inv.first_control_plane.address
    assert inv.load_balancers == [] and inv.vip is None


# --- rows that must pass: the boundaries of each rule above ------------------------------

PASSING = [
    ("pod-cidr-/8", {"networking.pod_cidr": "12.0.0.0/8"}),
    ("pod-cidr-/24", {"networking.pod_cidr": "10.244.0.0/24"}),
    ("service-cidr-/12", {"networking.service_cidr": "10.96.0.0/12"}),
    ("service-cidr-/28", {"networking.service_cidr": "10.96.0.0/28"}),
    ("maintained-1.35", {"kubernetes_version": "1.35.8"}),
    ("maintained-1.36", {"kubernetes_version": "1.36.3"}),
    ("insecure-fqdn", {"registry.insecure": True}),                                   # harbor.example.org via domain
    ("insecure-short-name-with-port", {"registry.insecure": True, "domain": None, "registry.port": 5000}),
    ("mirror-with-path", {"registry_mirrors": ["https://mirror.example.org/docker-hub/"]}),   # Docker allows a path
    ("mirror-http-port", {"registry_mirrors": ["http://10.0.0.109:5000"]}),
    ("ssh-key-path", {"host_defaults.ssh.key": "~/.ssh/keys/id ed25519 (ops)"}),   # a path may hold spaces
    ("ssh-key-unicode", {"hosts.0.ssh": {"key": "/home/zoë/.ssh/id_ed25519"}}),
    ("mirror-placeholders", {"package_mirrors": {
        "apt": "https://m.example.org/debian",
        "kubernetes": "https://m.example.org/k8s/core:/stable:/v{minor}",
        "cri_dockerd": "https://m.example.org/cri/v{version}/cri-dockerd_{version}.3-0.{distro}-{codename}_{arch}.deb",
        "cri_dockerd_archive": "https://m.example.org/cri/v{version}/cri-dockerd-{version}.{arch}.tgz",
        "calico": "https://m.example.org/calico/v{version}/manifests"}}),
]


@pytest.mark.parametrize("case", PASSING, ids=[c[0] for c in PASSING])
def test_rule_passes_at_its_boundary(case, tmp_path):
    _, changes = case
    data = copy.deepcopy(GOOD)
    for key, value in changes.items():
        _set(data, key, value)
    inv, problems = check_inventory(_write(tmp_path, data))
    assert inv is not None and problems == [], [str(p) for p in problems]


def test_insecure_registry_renders_as_docker_matches_it(tmp_path):
    """daemon.json lists FQDN[:port], the spelling Docker compares image names with."""
    import json

    from provisioner.render import render_cluster
    from tests.support.fixed_secrets import fixed_secrets

    for changes, expected in [({"registry.insecure": True}, ["harbor.example.org"]),
                              ({"registry.insecure": True, "domain": None, "registry.port": 5000}, ["harbor:5000"]),
                              ({}, [])]:
        data = copy.deepcopy(GOOD)
        for key, value in changes.items():
            _set(data, key, value)
        inv = load_inventory(_write(tmp_path, data))
        (daemon,) = [f for f in render_cluster(inv, fixed_secrets()) if f.host == "node1" and f.path == "/etc/docker/daemon.json"]
        assert json.loads(daemon.content)["insecure-registries"] == expected


def test_mirror_password_never_reaches_the_output(tmp_path):
    data = copy.deepcopy(GOOD)
    data["registry_mirrors"] = ["https://bob:s3cret@mirror.example.org"]
    with pytest.raises(InventoryError) as info:
        load_inventory(_write(tmp_path, data))
    assert "s3cret" not in str(info.value)


def test_validate_command_on_old_eol_and_current_versions(tmp_path):
    """What a user sees: 1.32 refused in one line naming the supported minors (exit 2); 1.34 valid
    with an end-of-life warning on stderr (exit 0); every example at the default version valid."""
    from tests.support.cli import run_cli

    results = {}
    for version in ("1.32.1", "1.34.11", "1.37.1"):
        data = copy.deepcopy(GOOD)
        data["kubernetes_version"] = version
        path = tmp_path / f"{version}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        results[version] = run_cli("validate", "-i", str(path))
    old = results["1.32.1"]
    assert old.returncode == 2 and "Traceback" not in old.stderr
    (line,) = old.stderr.strip().splitlines()
    assert line.endswith("kubernetes_version: 1.32.1 is older than any version we accept - use a maintained minor: "
                         "1.35, 1.36 or 1.37 (default 1.37.1); 1.33 and 1.34 are accepted with an end-of-life warning")
    eol = results["1.34.11"]
    assert eol.returncode == 0 and "warning: Kubernetes 1.34 reached end of life on 2026-10-27" in eol.stderr
    assert results["1.37.1"].returncode == 0 and "end of life" not in results["1.37.1"].stderr
    for name in ("seed-ha", "colocated", "single", "lab", "vagrant", "bastion"):
        r = run_cli("validate", "-i", f"inventories/{name}.yaml")
        assert r.returncode == 0 and "Kubernetes 1.37.1" in r.stdout, (name, r.stdout, r.stderr)


# --- hostile input: every string of the model, every mirror template -------------------------

CONTROL_CHARACTERS = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b"]   # C0, DEL, C1
# A valid value for every optional string GOOD leaves unset, so each field is reached.
FILLED = {
    "timezone": "UTC", "containerd_version": "1.7.22", "domain": "example.org", "key": "~/.ssh/id_ed25519",
    "proxy_jump": "ops@bastion.example.org:22", "apt": "https://m.example.org/debian",
    "yum": "https://m.example.org/rocky", "calico": "https://m.example.org/calico/v{version}/manifests",
    "registry_mirrors": "https://mirror.example.org", "user": "ops",
}


def _string_paths(schema: dict, node: dict | None = None, path: tuple = ()) -> list[tuple[tuple, dict]]:
    """Every string leaf of the inventory's JSON schema, as (path, its schema); lists at index 0."""
    node = schema if node is None else node
    if "$ref" in node:
        return _string_paths(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]], path)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            return [p for sub in node[key] for p in _string_paths(schema, sub, path)]
    if node.get("type") == "object":
        extra = node.get("additionalProperties")      # a dict[str, str] field: its values are strings too
        return ([p for name, sub in node.get("properties", {}).items() for p in _string_paths(schema, sub, path + (name,))]
                + (_string_paths(schema, extra, path + ("any-key",)) if isinstance(extra, dict) else []))
    if node.get("type") == "array":
        return _string_paths(schema, node["items"], path + (0,))
    return [(path, node)] if node.get("type") == "string" else []


def _get(data, path):
    for part in path:
        if isinstance(data, dict) and part in data or isinstance(data, list) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _put(data, path, value):
    for i, part in enumerate(path[:-1]):
        empty = [] if isinstance(path[i + 1], int) else {}
        if isinstance(data, list):
            data += [empty] * (part + 1 - len(data)) if part >= len(data) else []
        else:
            data.setdefault(part, empty)
        data = data[part]
    if isinstance(data, list) and path[-1] >= len(data):
        data.append(value)
    else:
        data[path[-1]] = value


def test_every_string_field_refuses_control_characters(tmp_path):
    """Walks the inventory's JSON schema: every string field - a new one included - refuses C0, DEL
    and C1 characters, and says so (the guard is inventory.Text, the base of every str type).
    A closed set (an enum like roles) refuses them as not one of its values. Every message stays
    printable: the value is shown escaped."""
    from provisioner.inventory import inventory_json_schema

    paths = _string_paths(inventory_json_schema())
    assert len(paths) >= 40 and ("hosts", 0, "ssh", "key") in [p for p, _ in paths]
    for char in CONTROL_CHARACTERS:
        data = copy.deepcopy(GOOD)
        for path, node in paths:
            valid = _get(data, path)
            if not isinstance(valid, str):
                valid = FILLED.get(next(p for p in reversed(path) if isinstance(p, str)),
                                   node.get("default") if isinstance(node.get("default"), str) else
                                   (node.get("enum") or ["x"])[0])
            # At the end for "\n" (what re's '$' lets through), else in the middle.
            _put(data, path, valid + char if char == "\n" else valid[:1] + char + valid[1:])
        _, problems = check_inventory(_write(tmp_path, data))
        by_path = {}
        for p in problems:
            by_path.setdefault(str(p).split(": ", 2)[1], []).append(p.message)
        for path, node in paths:
            shown = format_path(path)
            messages = by_path.get(shown, [])
            expected = "is not one of" if "enum" in node else f"contains the control character U+{ord(char):04X} - remove it"
            assert any(expected in m for m in messages), f"{shown} took {char!r}: {messages}"
        assert all(str(p).isprintable() for p in problems), [str(p) for p in problems]


OSES = [("debian", "12", "bookworm", "", "amd64"), ("debian", "13", "trixie", "", "arm64"),
        ("ubuntu", "24.04", "noble", "debian", "amd64"), ("ubuntu", "22.04", "jammy", "debian", "arm64")]
URL = r"https?://[A-Za-z0-9._~:/%@+=,-]+"


@pytest.mark.parametrize("field,template", [
    ("kubernetes", "https://m.example.org/k8s/v{minor}"), ("kubernetes", "https://m.example.org/k8s/v{nope}"),
    ("kubernetes", "https://m.example.org/k8s/v{0}"), ("kubernetes", "https://m.example.org/k8s/v{version}"),
    ("cri_dockerd", "https://m.example.org/cri/{version}/{distro}-{codename}_{arch}.deb"),
    ("cri_dockerd", "https://m.example.org/cri/{version}/{os}.deb"),
    ("cri_dockerd_archive", "https://m.example.org/cri/{version}/cri-dockerd-{version}.{arch}.tgz"),
    ("cri_dockerd_archive", "https://m.example.org/cri/{version}/{codename}.tgz"),
    ("calico", "https://m.example.org/calico/v{version}/manifests"), ("calico", "https://m.example.org/calico/{nope}"),
])
def test_accepted_mirror_templates_fill_in_up(field, template, tmp_path):
    """A template `validate` accepts is one `up` can fill: every URL the phases build from it, for
    every OS and arch, is a plain URL. On HEAD {nope} passed validate and then raised KeyError in
    kube_packages.repo_url in the middle of `up` (and calico kept '{nope}' in its URL)."""
    from types import SimpleNamespace

    from provisioner.phases import cni, kube_packages, runtime
    from provisioner.phases.base import OsInfo

    data = copy.deepcopy(GOOD)
    data["package_mirrors"] = {field: template}
    inv, problems = check_inventory(_write(tmp_path, data))
    if inv is None or [p for p in problems if not p.warning]:
        (problem,) = problems
        assert str(problem).split(": ", 2)[1] == f"package_mirrors.{field}" and " - use only {" in problem.message
        return
    ctx = SimpleNamespace(inv=inv)
    for os_ in (OsInfo(*o) for o in OSES):
        for url in (kube_packages.repo_url(inv), runtime.cri_dockerd_url(ctx, os_),
                    runtime.cri_dockerd_archive_url(ctx, os_), cni.calico_manifest_base(inv)):
            assert re.fullmatch(URL, url), url


def test_a_filled_template_is_checked_again(tmp_path, monkeypatch):
    """After formatting, each URL is checked with the same rule: were a value ever to carry a space
    or a '?', the template would be refused at validate time, naming the value."""
    from provisioner import inventory

    monkeypatch.setitem(inventory.URL_FILLS, "calico", lambda: [{"version": "3.32.2 ?x=1"}])
    data = copy.deepcopy(GOOD)
    data["package_mirrors"] = {"calico": "https://m.example.org/calico/v{version}/manifests"}
    _, problems = check_inventory(_write(tmp_path, data))
    (problem,) = problems
    assert str(problem).endswith(
        "package_mirrors.calico: 'https://m.example.org/calico/v{version}/manifests' becomes "
        "'https://m.example.org/calico/v3.32.2 ?x=1/manifests' with version=3.32.2 ?x=1, which is not an http(s) URL "
        "without spaces or shell characters - put each placeholder where its value fits in a URL")


def test_template_fills_are_what_up_fills():
    """URL_FILLS (what validate formats with) holds every value the phases use: all accepted minors,
    both archive arches, the .deb targets, the pinned calico release; and each fill names exactly
    the field's placeholders."""
    from provisioner import compat, inventory
    from provisioner.phases import cni
    from provisioner.versions import EOL_MINORS, MAINTAINED_MINORS

    fills = {field: make() for field, make in inventory.URL_FILLS.items()}
    assert set(fills) == set(inventory.URL_PLACEHOLDERS) == set(inventory.PackageMirrors.model_fields)
    for field, values in fills.items():
        assert values and all(set(v) == set(inventory.URL_PLACEHOLDERS[field]) for v in values), field
    assert {v["minor"] for v in fills["kubernetes"]} == {f"1.{m}" for m in (*EOL_MINORS, *MAINTAINED_MINORS)}
    assert {v["arch"] for v in fills["cri_dockerd_archive"]} == set(compat.ARCHIVE_ARCHES)
    assert {(v["distro"], v["codename"]) for v in fills["cri_dockerd"]} >= {("debian", "bookworm"), ("ubuntu", "jammy")}
    assert fills["calico"] == [{"version": cni.CALICO_VERSION}]


def test_a_flood_of_bad_entries_lists_the_first_hundred(tmp_path):
    """A list of 500 bad entries gives 100 lines and one counting the rest, not 500 lines."""
    data = copy.deepcopy(GOOD)
    data["ntp_servers"] = ["bad_name"] * 500
    _, problems = check_inventory(_write(tmp_path, data))
    assert len(problems) == 101 and str(problems[0]).split(": ", 2)[1] == "ntp_servers[0]"
    assert problems[-1].message == "400 more problems not shown - fix the ones above and validate again"


def test_a_mirror_password_stays_masked_whatever_the_problem(tmp_path):
    """Every message shows a value through one helper that masks a URL's password, so a control
    character or a bad placeholder in a mirror with credentials does not print the password."""
    for key, value in [("registry_mirrors", ["https://bob:s3cret@mirror.example.org/\x1b"]),
                       ("registry_mirrors", ["https://bob:s3cret@mirror.example.org/?x=1"]),
                       ("package_mirrors", {"apt": "https://bob:s3cret@m.example.org/{nope}"})]:
        data = copy.deepcopy(GOOD)
        data[key] = value
        _, problems = check_inventory(_write(tmp_path, data))
        assert problems and not any("s3cret" in str(p) for p in problems), [str(p) for p in problems]
        assert any("bob:xxxxx@" in str(p) for p in problems), [str(p) for p in problems]
