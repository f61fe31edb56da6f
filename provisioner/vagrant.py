"""Render a Vagrantfile from an inventory: the inventory stays the one source of truth for lab VMs.

>>> inv = load_inventory("inventories/vagrant.yaml")                       # doctest: +SKIP
>>> text = render_vagrantfile(inv, machine_specs(inv, boxes=["rocky-9"]))  # doctest: +SKIP
>>> Path("Vagrantfile").write_text(text)                                   # doctest: +SKIP

One VM per inventory host, named by its hostname, with the inventory address
on a ``private_network`` (the box's second NIC: ``eth1`` on most boxes,
``enp0s8`` on some VirtualBox ones - set ``host_defaults.nic`` to what
``ip -br -4 addr`` shows). CPUs and memory follow the host's roles
(:data:`ROLE_SIZES`, overridable per role or per host). The admin's public key
(the inventory's ``ssh.key`` + ``.pub``) is installed for the inventory's SSH
user by a shell provisioner, so ``provisioner`` logs in exactly as it would on
real machines.

The first NIC of every box is the provider's NAT/management network
(VirtualBox 10.0.2.15 on every box, libvirt 192.168.121.0/24). It carries the
default route, so nothing may pick "the address of the default route" as the
node IP: the kubeadm configs pin it, and preflight's ``net.default_route`` and
``net.peer_route`` checks say when a host would use the wrong address.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from provisioner.errors import UsageError
from provisioner.inventory import Host, Inventory
from provisioner.render import template_env

TEMPLATE = "vagrant/Vagrantfile.j2"

# Short names accepted by --box, and the boxes they stand for (bento: VirtualBox, libvirt, VMware, Parallels).
BOX_ALIASES = {
    "ubuntu-22.04": "bento/ubuntu-22.04",
    "ubuntu-24.04": "bento/ubuntu-24.04",
    "rocky-9": "bento/rockylinux-9",
}
DEFAULT_BOX = BOX_ALIASES["ubuntu-24.04"]
_BOX_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?")

# The providers' own networks on the first NIC: an inventory address there would clash with them.
NAT_NETWORKS = {
    "VirtualBox NAT": ipaddress.IPv4Network("10.0.2.0/24"),
    "libvirt management network": ipaddress.IPv4Network("192.168.121.0/24"),
}


@dataclass(frozen=True)
class Size:
    cpus: int
    memory: int   # MB


# kubeadm init refuses fewer than 2 CPUs / ~1.7 GB on a control plane; the rest only need room for their pods.
ROLE_SIZES = {
    "control-plane": Size(2, 2048),
    "worker": Size(1, 1536),
    "lb": Size(1, 512),
}
MAX_CPUS, MAX_MEMORY = 64, 262144


@dataclass(frozen=True)
class Machine:
    """One VM of the Vagrantfile, every value final (validated, defaults applied)."""

    name: str                       # inventory hostname = Vagrant machine name
    hostname: str                   # set on the guest (FQDN when the inventory has a domain)
    address: str
    netmask: str
    nic: str                        # what the inventory expects the private network's NIC to be called
    box: str
    cpus: int
    memory: int
    user: str
    sudo: bool
    public_keys: tuple[str, ...]    # candidate public key files, first existing one is installed
    primary: bool = False


def _parse_pairs(values: list[str] | None, option: str) -> tuple[str | None, dict[str, str]]:
    """Split ``VALUE`` / ``NAME=VALUE`` options into (default, {name: value})."""
    default, named = None, {}
    for raw in values or []:
        name, sep, value = raw.partition("=")
        if not sep:
            if default is not None:
                raise UsageError(f"{option}: two defaults ({default!r}, {raw!r}) - give one, and NAME=VALUE for the rest")
            default = raw
        elif not name or not value:
            raise UsageError(f"{option}: {raw!r} is not NAME=VALUE - write it like {option} master1=VALUE")
        else:
            named[name] = value
    return default, named


def _box(value: str, option: str = "--box") -> str:
    box = BOX_ALIASES.get(value, value)
    if not _BOX_RE.fullmatch(box) or len(box) > 200:
        raise UsageError(f"{option}: {value!r} is not a box name - use owner/name like bento/ubuntu-24.04 "
                         f"or one of {', '.join(BOX_ALIASES)}")
    return box


def _number(value: str, option: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise UsageError(f"{option}: {value!r} is not a number from {low} to {high} - write it like {option} worker={low * 2}")
    return int(value)


def _check_targets(named: dict[str, str], inv: Inventory, option: str, roles: bool) -> None:
    known = {h.hostname for h in inv.hosts} | (set(ROLE_SIZES) if roles else set())
    unknown = sorted(set(named) - known)
    if unknown:
        kinds = "a host or role" if roles else "a host"
        raise UsageError(f"{option}: {', '.join(unknown)} is not {kinds} of this inventory - choose from "
                         f"{', '.join(sorted(known))}")


def _size(host: Host, cpus: dict[str, int], memory: dict[str, int]) -> Size:
    """The largest size any of the host's roles needs, then role overrides, then host overrides."""
    base = Size(max(ROLE_SIZES[r].cpus for r in host.roles), max(ROLE_SIZES[r].memory for r in host.roles))
    c = max((cpus[r] for r in host.roles if r in cpus), default=base.cpus)
    m = max((memory[r] for r in host.roles if r in memory), default=base.memory)
    return Size(cpus.get(host.hostname, c), memory.get(host.hostname, m))


def _public_keys(host: Host) -> tuple[str, ...]:
    """Public key files to install, in order of preference: the inventory's key + .pub, else the usual defaults."""
    key = host.ssh.key
    if key:
        # Relative paths are relative to where provisioner runs; the Vagrantfile may be used elsewhere.
        if not key.startswith("~") and not os.path.isabs(key):
            key = os.path.abspath(key)
        return (f"{key}.pub",)
    return tuple(f"~/.ssh/{name}.pub" for name in ("id_ed25519", "id_ecdsa", "id_rsa"))


def machine_specs(
    inv: Inventory,
    boxes: list[str] | None = None,
    cpus: list[str] | None = None,
    memory: list[str] | None = None,
) -> list[Machine]:
    """Every VM, from the inventory plus ``--box/--cpus/--memory`` style options (``VALUE`` or ``NAME=VALUE``).

    >>> [m.box for m in machine_specs(inv, boxes=["ubuntu-22.04", "node1=rocky-9"])]   # doctest: +SKIP
    ['bento/ubuntu-22.04', ..., 'bento/rockylinux-9', ...]
    """
    net = inv.networking.host_network
    for what, nat in NAT_NETWORKS.items():
        if net.overlaps(nat):
            raise UsageError(f"networking.host_network: {net} overlaps the {what} {nat} on every box's first NIC - "
                             "put the cluster on another private network, e.g. 192.168.56.0/24")
    default_box, named_boxes = _parse_pairs(boxes, "--box")
    _check_targets(named_boxes, inv, "--box", roles=False)
    cpu_default, named_cpus = _parse_pairs(cpus, "--cpus")
    mem_default, named_mem = _parse_pairs(memory, "--memory")
    for option, default in (("--cpus", cpu_default), ("--memory", mem_default)):
        if default is not None:
            raise UsageError(f"{option}: {default!r} names no role or host - write it like {option} worker=VALUE")
    _check_targets(named_cpus, inv, "--cpus", roles=True)
    _check_targets(named_mem, inv, "--memory", roles=True)
    cpu_map = {k: _number(v, "--cpus", 1, MAX_CPUS) for k, v in named_cpus.items()}
    mem_map = {k: _number(v, "--memory", 256, MAX_MEMORY) for k, v in named_mem.items()}
    box = _box(default_box) if default_box else DEFAULT_BOX

    machines = []
    for host in inv.hosts:
        size = _size(host, cpu_map, mem_map)
        machines.append(Machine(
            name=host.hostname,
            hostname=inv.fqdn(host.hostname),
            address=str(host.address),
            netmask=str(net.netmask),
            nic=str(host.nic),
            box=_box(named_boxes[host.hostname]) if host.hostname in named_boxes else box,
            cpus=size.cpus,
            memory=size.memory,
            user=host.ssh.user or "root",     # a box has no ssh_config of ours
            sudo=bool(host.sudo),
            public_keys=_public_keys(host),
            primary=host == inv.first_control_plane,
        ))
    return machines


def ruby_literal(value) -> str:
    """A Ruby literal for ``value``: strings single-quoted (no interpolation), numbers, booleans, nil, arrays."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # In a single-quoted Ruby string only \\ and \' are escapes: #{...} and everything else stay literal.
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(ruby_literal(v) for v in value) + "]"
    raise TypeError(f"no Ruby literal for {type(value).__name__}")


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = template_env().overlay()
    env.filters["ruby"] = ruby_literal
    return env


def render_vagrantfile(inv: Inventory, machines: list[Machine], source: str = "") -> str:
    """The Vagrantfile text for ``machines`` (from :func:`machine_specs`); ``source`` names the inventory in a comment."""
    # The source path lands in a Ruby comment: keep it on one printable line.
    source = re.sub(r"[^\x20-\x7e]", "?", source)
    return _env().get_template(TEMPLATE).render(inv=inv, machines=machines, source=source)
