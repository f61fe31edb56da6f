"""Load an inventory and report every problem in it at once, one line each.

>>> inv, warnings = check_inventory("inventories/seed-ha.yaml")   # doctest: +SKIP
>>> load_inventory("broken.yaml")                                 # doctest: +SKIP
InventoryError: broken.yaml:12: hosts[3].address: 10.0.0.101 is also master1's address - give each host its own

Two passes: pydantic checks keys and types (all errors collected); when the
shapes are right, the cluster rules below check how the values fit together.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError

from provisioner import compat
from provisioner.errors import InventoryError, Problem, UsageError
from provisioner.inventory import Inventory
from provisioner.inventory_shapes import Finding, shape_findings
from provisioner.versions import (DEFAULT_VERSION, LATEST_PATCH, KubeVersion, eol_warning, is_supported,
                                  prerelease_warning, support_of)
from provisioner.yaml_source import YamlDocument, load_yaml_file

MAX_PROBLEMS = 100   # problems listed at most (then one line counting the rest)


# --- pass 2: cluster rules --------------------------------------------------------------

def _unique_hosts(inv: Inventory) -> Iterator[Finding]:
    names: dict[str, str] = {}
    addresses: dict[ipaddress.IPv4Address, str] = {}
    for i, h in enumerate(inv.hosts):
        if h.hostname in names:
            yield ("hosts", i, "hostname"), f"{h.hostname} is also {names[h.hostname]}'s hostname - give each host its own", False
        else:
            names[h.hostname] = f"hosts[{i}]"
        if h.address in addresses:
            yield ("hosts", i, "address"), f"{h.address} is also {addresses[h.address]}'s address - give each host its own", False
        else:
            addresses[h.address] = h.hostname


def _addresses_in_host_network(inv: Inventory) -> Iterator[Finding]:
    net = inv.networking.host_network
    for i, h in enumerate(inv.hosts):
        if h.address not in net:
            yield (("hosts", i, "address"),
                   f"{h.address} is outside the host network {net} - fix the address or set networking.host_network", False)
        elif h.address in (net.network_address, net.broadcast_address):
            yield ("hosts", i, "address"), f"{h.address} is the network or broadcast address of {net} - use a host address", False


def _endpoint(inv: Inventory) -> Iterator[Finding]:
    ep, mode, net = inv.control_plane_endpoint, inv.load_balancer.mode, inv.networking.host_network
    path = ("control_plane_endpoint", "address")
    if mode in ("pair", "colocated"):
        if ep.address is None:
            yield path, f"required with load_balancer.mode {mode} - set the virtual IP (VIP)", False
            return
        owner = next((h.hostname for h in inv.hosts if h.address == ep.address), None)
        if owner:
            yield path, f"the VIP {ep.address} is also {owner}'s address - pick a free address for the VIP", False
        if ep.address not in net:
            yield path, f"the VIP {ep.address} is outside the host network {net} - pick an address in {net}", False
        elif ep.address in (net.network_address, net.broadcast_address):
            yield path, f"the VIP {ep.address} is the network or broadcast address of {net} - pick a host address", False
        if mode == "colocated" and ep.port == 6443:
            yield (("control_plane_endpoint", "port"),
                   "6443 is taken by the apiserver on colocated control planes - use another port, e.g. 8443", False)
    else:
        cps = inv.control_planes
        if len(cps) == 1 and ep.address not in (None, cps[0].address):
            yield path, f"with load_balancer.mode none the endpoint is {cps[0].hostname}'s address {cps[0].address} - remove this key or set it to that", False
        if ep.port != 6443:
            yield (("control_plane_endpoint", "port"),
                   f"{ep.port}: with load_balancer.mode none clients reach the apiserver on 6443 - remove this key", False)
    if ep.name in {h.hostname for h in inv.hosts} or inv.endpoint_name in {inv.fqdn(h.hostname) for h in inv.hosts}:
        yield ("control_plane_endpoint", "name"), f"{ep.name} is also a host's name - give the endpoint its own name", False


def _networks_disjoint(inv: Inventory) -> Iterator[Finding]:
    n = inv.networking
    named = [("pod_cidr", n.pod_cidr), ("service_cidr", n.service_cidr), ("host_network", n.host_network)]
    for i, (a_name, a) in enumerate(named):
        for b_name, b in named[i + 1:]:
            if a.overlaps(b):
                yield (("networking", a_name),
                       f"{a} overlaps networking.{b_name} {b} - choose networks that do not overlap", False)


# kubeadm's own limits (kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/validation/validation.go,
# ValidateNetworking -> ValidatePodSubnetNodeMask / ValidateServiceSubnetSize; the numbers are in
# cmd/kubeadm/app/constants/constants.go). kubeadm init refuses these after the hosts are prepared;
# we refuse them before anything is touched.
NODE_CIDR_MASK_IPV4 = 24            # getClusterNodeMask: default node-cidr-mask-size-ipv4 (we never override it)
POD_SUBNET_NODE_MASK_MAX_DIFF = 16  # constants.PodSubnetNodeMaskMaxDiff
MAX_BITS_SERVICE_SUBNET = 20        # constants.MaximumBitsForServiceSubnet: at most 2^20 addresses
MIN_ADDRESSES_SERVICE_SUBNET = 10   # constants.MinimumAddressesInServiceSubnet
# (constants.MinimumAddressesInPodSubnet = 14 is implied by the /24 rule.)


def _network_sizes(inv: Inventory) -> Iterator[Finding]:
    n = inv.networking
    pod = n.pod_cidr.prefixlen
    smallest_pod = NODE_CIDR_MASK_IPV4 - POD_SUBNET_NODE_MASK_MAX_DIFF   # /8
    if pod > NODE_CIDR_MASK_IPV4:
        yield (("networking", "pod_cidr"),
               f"{n.pod_cidr} is smaller than one node's /{NODE_CIDR_MASK_IPV4} block, which kubeadm refuses "
               f"- use a prefix between /{smallest_pod} and /{NODE_CIDR_MASK_IPV4}, e.g. /16", False)
    elif NODE_CIDR_MASK_IPV4 - pod > POD_SUBNET_NODE_MASK_MAX_DIFF:
        yield (("networking", "pod_cidr"),
               f"{n.pod_cidr} is more than {POD_SUBNET_NODE_MASK_MAX_DIFF} bits larger than the /{NODE_CIDR_MASK_IPV4} "
               f"node mask, which kubeadm refuses - use a prefix between /{smallest_pod} and /{NODE_CIDR_MASK_IPV4}", False)
    svc = n.service_cidr
    if 32 - svc.prefixlen > MAX_BITS_SERVICE_SUBNET:
        yield (("networking", "service_cidr"),
               f"{svc} is too large: kubeadm takes at most 2^{MAX_BITS_SERVICE_SUBNET} service addresses "
               f"- use /{32 - MAX_BITS_SERVICE_SUBNET} or smaller, e.g. 10.96.0.0/12", False)
    elif svc.num_addresses < MIN_ADDRESSES_SERVICE_SUBNET:
        yield (("networking", "service_cidr"),
               f"{svc} has {svc.num_addresses} addresses; kubeadm needs at least {MIN_ADDRESSES_SERVICE_SUBNET} "
               "- use /28 or larger, e.g. 10.96.0.0/12", False)


def _version(inv: Inventory) -> Iterator[Finding]:
    if support_of(inv.version) == "end-of-life":
        yield ("kubernetes_version",), eol_warning(inv.version), True
    if support_of(inv.version) == "pre-release":
        yield ("kubernetes_version",), prerelease_warning(inv.version), True


def _roles_fit_mode(inv: Inventory) -> Iterator[Finding]:
    mode = inv.load_balancer.mode
    cps = inv.control_planes
    lbs = [(i, h) for i, h in enumerate(inv.hosts) if h.has("lb")]
    if not cps:
        yield ("hosts",), "no host has the role control-plane - give at least one host that role", False
    if mode == "pair":
        if not lbs:
            yield ("hosts",), "load_balancer.mode pair needs 1 or 2 hosts with role lb - add them or use mode colocated/none", False
        elif len(lbs) > 2:
            yield ("hosts", lbs[2][0], "roles"), f"mode pair takes at most 2 lb hosts, found {len(lbs)} - keep two", False
        elif len(lbs) == 1:
            yield ("hosts", lbs[0][0], "roles"), "a single lb host gives no failover - add a second lb host", True
        for i, h in lbs:
            if h.has("control-plane"):
                yield (("hosts", i, "roles"),
                       f"{h.hostname} is both lb and control-plane - haproxy and the apiserver would both bind 6443; use mode colocated", False)
    else:
        for i, h in lbs:
            why = "keepalived + haproxy run on the control planes" if mode == "colocated" else "there is no load balancer"
            yield ("hosts", i, "roles"), f"role lb with load_balancer.mode {mode}: {why} - remove the role or use mode pair", False
    if mode == "none" and len(cps) > 1:
        yield (("load_balancer", "mode"),
               f"mode none allows exactly one control plane, found {len(cps)} - use mode pair or colocated", False)
    if len(cps) > 1 and len(cps) % 2 == 0:
        yield ("hosts",), f"{len(cps)} control planes: etcd needs an odd count for quorum - use 1, 3 or 5", True
    if mode == "colocated" and len(cps) > 9:
        yield ("hosts",), "colocated mode supports up to 9 control planes (keepalived priorities) - use mode pair", False


def _workloads(inv: Inventory) -> Iterator[Finding]:
    # Control planes without the worker role keep kubeadm's NoSchedule taint: no pod of a user would run.
    if inv.control_planes and not inv.workers:
        first = next(i for i, h in enumerate(inv.hosts) if h.has("control-plane"))
        yield (("hosts", first, "roles"),
               "no host has the role worker, so no node can run workloads (control planes keep their NoSchedule "
               "taint) - add a worker, or write roles: [control-plane, worker] on the control planes", True)


def _ports(inv: Inventory) -> Iterator[Finding]:
    lb = inv.load_balancer
    if lb.mode == "none":
        return
    taken = {inv.api_port: "the API frontend"}
    if lb.mode == "colocated":
        taken |= {6443: "the apiserver", 2379: "etcd", 2380: "etcd", 10250: "the kubelet", 10257: "the controller-manager", 10259: "the scheduler"}
    if lb.stats_port in taken:
        yield (("load_balancer", "stats_port"),
               f"{lb.stats_port} is used by {taken[lb.stats_port]} on the lb hosts - pick another port", False)


def _registry(inv: Inventory) -> Iterator[Finding]:
    reg = inv.registry
    if reg is None:
        return
    if reg.address in {h.address for h in inv.hosts} | {inv.control_plane_endpoint.address}:
        yield ("registry", "address"), f"{reg.address} is already a host's or the VIP's address - give the registry its own", False
    if reg.hostname in {h.hostname for h in inv.hosts} | {inv.control_plane_endpoint.name}:
        yield ("registry", "hostname"), f"{reg.hostname} is already used by a host or the endpoint - rename it", False
    # Docker splits an image name at the first '/': that part names a registry only when it holds
    # a '.' or a ':' or is 'localhost' (moby/moby registry/config.go splitReposName; today
    # distribution/reference normalize.go splitDockerDomain). Otherwise harbor/x is Docker Hub's
    # user "harbor", and an insecure-registries entry "harbor" never matches a pull.
    name = reg.docker_name(inv)
    if reg.insecure and "." not in name and ":" not in name and name != "localhost":
        yield (("registry", "hostname"),
               f"{name!r} is a short name: Docker reads an image {name}/x as a Docker Hub path, so it would never "
               f"use the insecure registry - set `domain`, write the registry's FQDN (like {name}.example.org) "
               "or set registry.port", False)


def _runtime(inv: Inventory) -> Iterator[Finding]:
    if inv.runtime == "containerd":
        yield "runtime", "containerd is accepted but not yet rendered or installed - use docker for now", True


def _runtime_versions(inv: Inventory) -> Iterator[Finding]:
    # Docker + cri-dockerd pairs the table in provisioner/compat.py knows to fail (cri-docker.service exits).
    if inv.runtime == "docker":
        # The minor's minimum first: its fix (0.4.0 or newer) also mends any Docker API pair.
        problem = (compat.cri_dockerd_minor_problem(inv.cri_dockerd_version, inv.version.minor)
                   or compat.pair_problem(inv.docker_version, inv.cri_dockerd_version))
        if problem:
            yield "cri_dockerd_version", problem, False
    if inv.cni == "calico" and inv.calico_version:
        problem = compat.calico_problem(inv.calico_version, inv.version.minor)
        if problem:
            yield "calico_version", problem, False


def _cni_sources(inv: Inventory) -> Iterator[Finding]:
    # A site with its own package mirrors is offline: the calico manifests must come from a mirror too.
    pm = inv.package_mirrors
    if inv.cni == "calico" and pm.calico is None and (pm.apt or pm.yum):
        yield (("package_mirrors", "calico"),
               "cni calico with package mirrors set but no calico mirror: the manifests would be fetched from "
               "raw.githubusercontent.com - set package_mirrors.calico to the URL holding "
               "v1_crd_projectcalico_org.yaml and tigera-operator.yaml, like http://mirror/calico/v{version}/manifests",
               False)


RULES = (_version, _unique_hosts, _addresses_in_host_network, _endpoint, _networks_disjoint, _network_sizes,
         _roles_fit_mode, _workloads, _ports, _registry, _runtime, _runtime_versions, _cni_sources)


def cluster_findings(inv: Inventory) -> list[Finding]:
    """Run every cluster rule; each yields (path, message, is_warning)."""
    out: list[Finding] = []
    for rule in RULES:
        for path, message, warning in rule(inv):
            out.append(((path,) if isinstance(path, str) else tuple(path), message, warning))
    return out


# --- entry points ----------------------------------------------------------------------

def _version_number(doc: YamlDocument, data: dict) -> tuple[dict, list[Finding]]:
    """``kubernetes_version: 1.37`` (a YAML number) read as the user meant it: the newest patch of that
    minor this release knows, said in a warning. Anything else written as a number gets one message."""
    path = ("kubernetes_version",)
    written = doc.numbers.get(path)
    if written is None:
        return data, []
    major, dot, minor = written.partition(".")
    if dot and major == "1" and minor.isdigit() and int(minor) in LATEST_PATCH \
            and is_supported(KubeVersion(1, int(minor), LATEST_PATCH[int(minor)])):
        full = f"1.{int(minor)}.{LATEST_PATCH[int(minor)]}"
        return {**data, "kubernetes_version": full}, [(path, f"{written} is a YAML number: read as {full}, the newest "
                                                             f"1.{int(minor)} patch this release knows - write "
                                                             f"\"{full}\" (in quotes) to say so", True)]
    return data, [(path, f"{written} is read by YAML as a number and is no Kubernetes version this release supports "
                         f"- write a full version in quotes, like \"{DEFAULT_VERSION}\"", False)]


def _capped(file: str, problems: list[Problem]) -> list[Problem]:
    """Sorted by line (problems without one last); at most MAX_PROBLEMS, then one line counting the rest:
    a 1 MiB list of bad entries would print 100,000 lines, and the first ones say what to fix."""
    problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = problems[MAX_PROBLEMS:]
    return problems[:MAX_PROBLEMS] + [Problem(file, (), f"{len(rest)} more problems not shown - fix the ones above "
                                                        "and validate again", warning=all(p.warning for p in rest))]


def check_document(doc: YamlDocument) -> tuple[Inventory | None, list[Problem]]:
    """Validate parsed YAML; returns the inventory (None when invalid) and all findings."""
    top = min(doc.lines.values(), default=1)      # a missing top-level key: the line the mapping starts on

    def problem(finding: Finding) -> Problem:
        path, message, warning = finding
        return Problem(doc.file, path, message, doc.line_of(path) or top, warning)

    if not isinstance(doc.data, dict):
        return None, [Problem(doc.file, (), "expected a mapping with cluster keys and a hosts list - see "
                                            "`provisioner init` or docs/inventory.md", 1)]
    data, early = _version_number(doc, doc.data)
    try:
        inv = Inventory.model_validate(data)
    except ValidationError as exc:
        said = {f[0] for f in early}
        shapes = [f for f in shape_findings(exc, data, doc.numbers) if f[0] not in said]
        return None, _capped(doc.file, [problem(f) for f in early + shapes])
    return inv, _capped(doc.file, [problem(f) for f in early + cluster_findings(inv)])


def check_inventory(path: str | Path) -> tuple[Inventory | None, list[Problem]]:
    """Like :func:`load_inventory` but returns warnings and errors instead of raising."""
    return check_document(load_yaml_file(path))


def require_known_hosts(inv, names, option: str) -> None:
    """Raise a one-line UsageError when an option names a host the inventory lacks."""
    known = [h.hostname for h in inv.hosts]
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise UsageError(f"{option}: unknown host {', '.join(unknown)} - choose from {', '.join(known)}")


def load_inventory(path: str | Path, *, strict: bool = False) -> Inventory:
    """Load and validate; raise InventoryError listing every error (warnings too when strict)."""
    inv, problems = check_inventory(path)
    errors = [p for p in problems if strict or not p.warning]
    if inv is None or errors:
        raise InventoryError(errors or problems)
    return inv
