"""The Lab: boot an inventory (or explicit node specs) as systemd nodes.

    lab = Lab()                      # inventories/lab.yaml
    lab = Lab(nodes=generated_nodes(30), name="bench")
    lab.up(); ...; lab.down()

Hidden segments (bastion topologies, see tests/lab/bastion.py): ``segments`` are networks on
bridges ``NAMEbr1``, ``NAMEbr2``... that the host has no address on and an ``unreachable`` route
to; a node whose NodeSpec has ``legs`` sits on several segments (eth0, eth1, ...) and is the only
way in. ``lab.route(node)`` says which hops lead to a node; ``lab.ssh`` takes them.

Everything a lab creates is named after ``lab.name`` (netns ``NAME-HOST``,
veth ``NAME-hOCTET``, bridge ``NAMEbr0`` unless given, cgroups
``provisioner-lab/NAME``, state dir ``/var/lib/provisioner-lab/state/NAME``),
so ``destroy(NAME)`` removes leftovers even without a state file.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import config, keys, net, rootfs, services
from .node import CGROUP_ROOTS, Node, cgroup_dirs, cgroup_pids, kill_pids, remove_cgroups
from .repo import Repo
from .util import LabError, log, run, wait_for


def state_dir_for(name: str) -> Path:
    return config.STATE_ROOT / name


class Lab:
    """A set of nodes on one bridge, plus the repo/NTP services they use."""

    def __init__(self, inventory: str | os.PathLike | None = None, nodes=None, *,
                 name: str = config.DEFAULT_NAME, bridge: str | None = None,
                 bridge_cidr: str = config.DEFAULT_BRIDGE_CIDR, repo: bool = True,
                 ntp: bool = True, domain: str | None = None, vip: str | None = None,
                 segments=()):
        if nodes is None:
            inv = config.read_inventory(inventory or config.DEFAULT_INVENTORY)
            specs, vip, domain = inv.nodes, vip or inv.vip, domain or inv.domain
            self.inventory_path: Path | None = inv.path
        else:
            specs, self.inventory_path = config.node_specs(nodes), None
        self.name = name
        self.bridge = bridge or f"{name}br0"
        self.bridge_cidr = bridge_cidr
        iface = ipaddress.ip_interface(bridge_cidr)
        if not iface.network.subnet_of(config.LAB_NET):
            raise ValueError(f"{bridge_cidr} is not inside {config.LAB_NET}")
        self.bridge_address = str(iface.ip)
        self.network = iface.network
        # Hidden segments: (network, bridge); the host has no address on them and no route.
        self.segments: list[tuple[ipaddress.IPv4Network, str]] = []
        for i, cidr in enumerate(segments, start=1):
            seg = ipaddress.ip_network(cidr)
            if not seg.subnet_of(config.LAB_NET):
                raise ValueError(f"segment {cidr} is not inside {config.LAB_NET}")
            if any(seg.overlaps(n) for n in [self.network, *(s for s, _ in self.segments)]):
                raise ValueError(f"segment {cidr} overlaps another network of lab {name}")
            self.segments.append((seg, f"{name}br{i}"))
        for s in specs:
            nets = [self.network_of(a) for a in s.addresses]
            if s.address == self.bridge_address or None in nets:
                raise ValueError(f"{s.hostname} {s.addresses} does not fit {bridge_cidr} "
                                 f"or the segments {[str(n) for n, _ in self.segments]}")
            if len(set(nets)) != len(nets):
                raise ValueError(f"{s.hostname}: two legs on one network")
        self.vip, self.domain = vip, domain
        self.with_repo, self.with_ntp = repo, ntp
        self.state_dir = state_dir_for(name)
        self.nodes: dict[str, Node] = {s.hostname: Node(self, s) for s in specs}
        self.repo = Repo(self.state_dir / "repo", self.bridge_address)
        self.lower = str(rootfs.lower_path())
        self.timings: dict[str, float] = {}
        self.standins = None    # tests.standins.publish.Published, once up with a repo

    @property
    def has_el(self) -> bool:
        return any(n.spec.os != "debian12" for n in self.nodes.values())

    def lower_for(self, node: Node) -> Path:
        """The root filesystem ``node`` boots: the Debian one, or the EL-like one (tests/lab/eltree.py)."""
        if node.spec.os == "debian12":
            return Path(self.lower)
        from . import eltree
        return eltree.ensure_lower()

    # ---- public paths --------------------------------------------------
    @property
    def key_path(self) -> Path:
        """The lab's private ed25519 key (authorized for ops and nosudo)."""
        return self.state_dir / "id_ed25519"

    @property
    def pubkey(self) -> str:
        return (self.state_dir / "id_ed25519.pub").read_text()

    @property
    def known_hosts_path(self) -> Path:
        """known_hosts with every node's host key by address, name and FQDN."""
        return self.state_dir / "known_hosts"

    @property
    def repo_url(self) -> str:
        return self.repo.url

    @property
    def repo_key_path(self) -> Path:
        """Public key (binary) that signs the lab repo's InRelease."""
        return self.repo.key_path

    repo_signed = True

    def node(self, key: str) -> Node:
        """A node by hostname or address (any of its legs' too)."""
        if key in self.nodes:
            return self.nodes[key]
        for n in self.nodes.values():
            if key in n.spec.addresses:
                return n
        raise KeyError(key)

    # ---- segments ------------------------------------------------------------
    def network_of(self, address: str):
        """The lab network ``address`` is on (the bridge's, or a hidden segment), or None."""
        ip = ipaddress.ip_address(address)
        for net_, _ in [(self.network, self.bridge), *self.segments]:
            if ip in net_:
                return net_
        return None

    def bridge_of(self, address: str) -> tuple[str, int, bool]:
        """(bridge, prefix length, hidden?) for a node address."""
        net_ = self.network_of(address)
        if net_ == self.network:
            return self.bridge, net_.prefixlen, False
        return dict((n, b) for n, b in self.segments)[net_], net_.prefixlen, True

    def reachable(self, address: str) -> bool:
        """Whether this machine reaches ``address`` directly (it is on the lab's own bridge)."""
        return self.network_of(address) == self.network

    def route(self, node: str | Node) -> list[tuple[Node, str]]:
        """How this machine reaches ``node``: ``[(hop, address), ..., (node, address)]``, the
        hops being nodes with legs, each reached at ``address`` from the one before.

        >>> [(n.hostname, a) for n, a in lab.route("lb1")]      # doctest: +SKIP
        [('bastion', '172.31.250.178'), ('lb1', '172.31.250.211')]
        """
        node = node if isinstance(node, Node) else self.node(node)
        came_from = {self.network: None}      # network -> (previous network, hop, hop's address there)
        queue = [self.network]
        while queue:
            here = queue.pop(0)
            for n in self.nodes.values():
                on_here = [a for a in n.spec.addresses if self.network_of(a) == here]
                for a in n.spec.addresses if on_here else ():
                    there = self.network_of(a)
                    if there not in came_from:
                        came_from[there] = (here, n, on_here[0])
                        queue.append(there)
        target = self.network_of(node.address)
        if target not in came_from:
            raise LabError(f"{node.hostname}: no node with legs leads to {target}")
        hops, at = [], target
        while came_from[at] is not None:
            at, hop, address = came_from[at]
            hops.append((hop, address))
        return [*reversed(hops), (node, node.address)]

    def ssh(self, node: str | Node, user: str = "ops", **kw):
        """A connected paramiko-based SSH session (see tests.lab.ssh.SSH)."""
        from .ssh import SSH
        return SSH(self, node if isinstance(node, Node) else self.node(node), user, **kw)

    # ---- lifecycle -------------------------------------------------------
    def up(self, timeout: float = 120) -> "Lab":
        """Boot all nodes (removing leftovers of a lab with the same name)."""
        t0 = time.monotonic()
        destroy(self.name, self.bridge)
        claim_subnet(self.bridge, ipaddress.ip_interface(self.bridge_cidr).network)
        t = time.monotonic()
        self.lower = str(rootfs.ensure_lower())
        self.timings["rootfs"] = time.monotonic() - t
        try:
            self._up(timeout)
        except BaseException:
            log.error("lab %s failed to boot; tearing down", self.name)
            self.down()
            raise
        self.timings["total"] = time.monotonic() - t0
        print(f"lab {self.name}: {len(self.nodes)} nodes up in {self.timings['total']:.1f}s "
              f"({', '.join(f'{k} {v:.1f}s' for k, v in self.timings.items() if k != 'total')})")
        return self

    def _up(self, timeout: float) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.save()
        keys.ensure_client_key(self.state_dir)
        net.ensure_bridge(self.bridge, self.bridge_cidr)
        for seg, bridge in self.segments:
            net.ensure_hidden_bridge(bridge)
            net.block_route(seg)
        ensure_inotify_instances(len(self.nodes))
        ensure_backlog(len(self.nodes))
        ensure_neigh_table(len(self.nodes))
        t = time.monotonic()
        if self.with_repo:
            from ..standins.publish import publish
            self.repo.init()
            self.standins = publish(self.repo, Path(self.lower), el=self.has_el)
            self.repo.serve(self.state_dir / "repo-http.log")
        if self.with_ntp:
            services.start_chronyd(self.state_dir, self.bridge_address,
                                   str(ipaddress.ip_interface(self.bridge_cidr).network))
        self.timings["services"] = time.monotonic() - t
        t = time.monotonic()
        if self.has_el:     # built once, before the boot threads (each would build it, racing on one .part file)
            from . import eltree
            eltree.ensure_lower()

        def boot(n: Node) -> None:
            n.prepare(self.lower_for(n))
            n.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(boot, self.nodes.values()))
        self.write_known_hosts()
        self.timings["start"] = time.monotonic() - t
        t = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(lambda n: n.wait_ready(timeout), self.nodes.values()))
        if self.with_repo:
            wait_for(self._repo_answers, timeout=10, what="lab repo HTTP server")
        self.timings["boot"] = time.monotonic() - t

    def _repo_answers(self) -> bool:
        import urllib.request
        with urllib.request.urlopen(f"{self.repo.url}/dists/{config.SUITE}/InRelease",
                                    timeout=2) as r:
            return r.status == 200

    def write_known_hosts(self) -> None:
        lines = []
        for n in self.nodes.values():
            names = [*n.spec.addresses, n.hostname]
            if self.domain:
                names.append(f"{n.hostname}.{self.domain}")
            lines.append(keys.known_hosts_line(names, Path(f"{n.host_key_path}.pub")))
        tmp = self.known_hosts_path.with_suffix(".tmp")
        tmp.write_text("".join(lines))
        os.replace(tmp, self.known_hosts_path)
        self.write_ssh_config()

    @property
    def ssh_config_path(self) -> Path:
        """An OpenSSH client config for the lab: ``ssh -F PATH ops@NODE`` (hops included)."""
        return self.state_dir / "ssh_config"

    def write_ssh_config(self) -> None:
        """One Host block per node (name and addresses): the lab key only, the lab's
        known_hosts only, and the ProxyJump chain of a node behind bastions. OpenSSH passes
        ``-F`` on to the ssh it runs for each jump, so the hops get the same settings."""
        blocks = []
        for n in self.nodes.values():
            hops = [f"ops@{address}" for _, address in self.route(n)[:-1]]
            blocks.append(f"Host {n.hostname} {' '.join(n.spec.addresses)}\n  HostName {n.address}\n"
                          + (f"  ProxyJump {','.join(hops)}\n" if hops else ""))
        blocks.append(f"Host *\n  User ops\n  IdentityFile {self.key_path}\n  IdentitiesOnly yes\n"
                      f"  UserKnownHostsFile {self.known_hosts_path}\n  GlobalKnownHostsFile /dev/null\n"
                      "  StrictHostKeyChecking yes\n  ForwardAgent no\n")
        self.ssh_config_path.write_text("\n".join(blocks))

    def down(self) -> None:
        """Stop everything of this lab and delete its state (not the rootfs cache)."""
        destroy(self.name, self.bridge)

    def save(self) -> None:
        """Write state.json so another process (the CLI) can attach."""
        data = {
            "name": self.name, "bridge": self.bridge, "bridge_cidr": self.bridge_cidr,
            "repo": self.with_repo, "ntp": self.with_ntp, "domain": self.domain,
            "vip": self.vip, "lower": self.lower,
            "inventory": str(self.inventory_path) if self.inventory_path else None,
            "segments": [str(n) for n, _ in self.segments],
            "nodes": [{"hostname": n.hostname, "address": n.address, "roles": list(n.roles),
                       "legs": list(n.spec.legs), "relay_to": n.spec.relay_to, "os": n.spec.os}
                      for n in self.nodes.values()],
        }
        (self.state_dir / "state.json").write_text(json.dumps(data, indent=1))

    @classmethod
    def attach(cls, name: str = config.DEFAULT_NAME) -> "Lab":
        """The Lab described by a running lab's state.json."""
        path = state_dir_for(name) / "state.json"
        if not path.exists():
            raise LabError(f"no lab named {name!r} is up ({path} missing)")
        d = json.loads(path.read_text())
        lab = cls(nodes=d["nodes"], name=d["name"], bridge=d["bridge"],
                  bridge_cidr=d["bridge_cidr"], repo=d["repo"], ntp=d["ntp"],
                  domain=d["domain"], vip=d["vip"], segments=d.get("segments") or ())
        lab.lower = d["lower"]
        lab.inventory_path = Path(d["inventory"]) if d.get("inventory") else None
        return lab

    def status(self) -> dict[str, dict]:
        """Per node: running?, systemd state, address, MAC."""
        out = {}
        for n in self.nodes.values():
            running = n.is_running()
            state = ""
            if running:
                try:
                    state = n.system_state()
                except LabError as exc:
                    state = f"? ({exc})"
            out[n.hostname] = {"address": n.address, "mac": n.mac, "running": running,
                               "systemd": state}
        return out


SUBNET_WAIT = float(os.environ.get("LAB_SUBNET_WAIT", "600"))


def claim_subnet(bridge: str, network, wait: float = SUBNET_WAIT) -> None:
    """Make sure no other lab holds ``network`` before ``bridge`` takes it.

    Labs on the same network (the default /24 mirrors the runbook's address
    plan) cannot run at once. A lab whose nodes are gone (a killed run) is removed;
    one whose nodes still run is waited for, then reported by name.
    """
    def others() -> list[str]:
        return [link for link in net.links_on_network(network) if link != bridge]

    def alive(link: str) -> bool:
        name = link[:-3] if link.endswith("br0") else link
        return bool(services.pids_with_cmdline(f"--machine={name}-"))

    for link in others():
        if not alive(link) and link.endswith("br0"):
            log.warning("lab %s: removing the leftovers of a dead run", link[:-3])
            destroy(link[:-3], link)
    if others():
        print(f"lab: {', '.join(others())} holds {network}; waiting up to {wait:.0f}s")
        try:
            wait_for(lambda: not any(alive(link) for link in others()) or not others(),
                     timeout=wait, interval=1, what="the other lab to go down")
        except LabError:
            raise LabError(f"{', '.join(others())} still holds {network}: stop it with "
                           f"`python -m tests.lab down --name NAME`") from None
        for link in others():
            if link.endswith("br0"):
                destroy(link[:-3], link)
    if others():
        raise LabError(f"{', '.join(others())} holds an address on {network} "
                       "and is not a lab bridge: remove it first")


INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_ORIG = config.LIB_DIR / "inotify-max-user-instances.orig"
INOTIFY_PER_NODE = 10   # systemd + journald + udev-less services use about 7


def inotify_instances_in_use() -> int:
    """inotify instances held by processes now (all run as root here)."""
    count = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for fd in os.scandir(fd_dir):
                try:
                    if os.readlink(fd.path) == "anon_inode:inotify":
                        count += 1
                except OSError:
                    pass
        except OSError:
            pass
    return count


def ensure_inotify_instances(nodes: int) -> None:
    """Raise fs.inotify.max_user_instances if ``nodes`` more systemd nodes
    would exceed it (every node's root is the host's root user; the default
    128 fits about 15 nodes). With the netdev backlog (:func:`ensure_backlog`) and the ARP table
    (:func:`ensure_neigh_table`), the only host settings the lab changes; never lowered while a lab runs."""
    need = inotify_instances_in_use() + INOTIFY_PER_NODE * nodes + 32
    raise_host_setting(INOTIFY_LIMIT, INOTIFY_ORIG, need, nodes, new=max(need * 2, 512))


def raise_host_setting(setting: Path, orig: Path, need: int, nodes: int, new: int | None = None) -> None:
    """Write ``new`` (default ``need``) to the /proc/sys ``setting`` when it is below ``need``, keeping its first
    value in ``orig`` for :func:`restore_inotify_instances`."""
    limit = int(setting.read_text())
    if need > limit:
        new = need if new is None else new
        if not orig.exists():
            orig.parent.mkdir(parents=True, exist_ok=True)
            orig.write_text(f"{limit}\n")
        setting.write_text(f"{new}\n")
        name = str(setting.relative_to("/proc/sys")).replace("/", ".")
        print(f"lab: raised {name} {limit} -> {new} for {nodes} nodes")


def restore_inotify_instances() -> None:
    """Put the original limits back (called once no lab runs any more)."""
    for limit, orig in ((INOTIFY_LIMIT, INOTIFY_ORIG), (BACKLOG_LIMIT, BACKLOG_ORIG), *NEIGH_SETTINGS):
        if orig.exists():
            limit.write_text(orig.read_text())
            orig.unlink()


BACKLOG_LIMIT = Path("/proc/sys/net/core/netdev_max_backlog")
BACKLOG_ORIG = config.LIB_DIR / "netdev-max-backlog.orig"
# A broadcast (an ARP request) is copied to every port of the lab bridge, and all of it is softirq work on this
# machine's 2 CPUs: N nodes resolving their peers at once queue about N^2 packets. With the default 1000 per CPU
# a 98-node `up` dropped ARP answers (/proc/net/softnet_stat), and the product saw "no route" to a node.
BACKLOG_PER_NODE = 100


def ensure_backlog(nodes: int) -> None:
    """Raise net.core.netdev_max_backlog for a lab of ``nodes`` when the default would drop its broadcasts."""
    raise_host_setting(BACKLOG_LIMIT, BACKLOG_ORIG, BACKLOG_PER_NODE * nodes, nodes)


# The kernel has ONE ARP table for every network namespace (net/ipv4/arp.c arp_tbl), bounded by the host's
# gc_thresh3 (1024 by default). N nodes that each resolve their peers hold up to N*(N+1) entries: at 98
# nodes a full `up` overflowed it ("neighbour: arp_cache: neighbor table overflow!" in dmesg), an address
# stayed INCOMPLETE and the product saw "no route" to a node that was up.
NEIGH_SETTINGS = tuple((Path("/proc/sys/net/ipv4/neigh/default") / name, config.LIB_DIR / f"neigh-{name}.orig")
                       for name in ("gc_thresh2", "gc_thresh3"))       # soft, hard


def ensure_neigh_table(nodes: int) -> None:
    """Raise the ARP table's soft and hard limits for a lab of ``nodes`` (every node may know every other)."""
    hard = (nodes + 2) ** 2
    for (setting, orig), need in zip(NEIGH_SETTINGS, (hard * 3 // 4, hard)):
        raise_host_setting(setting, orig, need, nodes)


def _segments_of(name: str) -> list[str]:
    """The hidden segments recorded in lab ``name``'s state.json (none if it is gone)."""
    try:
        return list(json.loads((state_dir_for(name) / "state.json").read_text()).get("segments") or [])
    except (OSError, ValueError):
        return []


def _segment_bridge(name: str, link: str) -> bool:
    """``NAMEbr1``, ``NAMEbr2``...: the bridges of a lab's hidden segments."""
    return re.fullmatch(re.escape(name) + r"br[1-9][0-9]?", link) is not None


def leftovers(name: str, bridge: str | None = None, segments: list[str] | None = None) -> dict[str, list]:
    """What of lab ``name`` still exists on the host (empty lists = nothing)."""
    sd = str(state_dir_for(name)) + "/"
    bridge = bridge or f"{name}br0"
    segments = _segments_of(name) if segments is None else segments
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
              if line.split()[1].startswith(sd)]
    return {
        "netns": [ns for ns in net.list_netns() if ns.startswith(f"{name}-")],
        "links": [link for link in net.list_links()
                  if link == bridge or link.startswith((f"{name}-h", f"{name}-p"))
                  or _segment_bridge(name, link)],
        "routes": [r for r in net.blocked_routes() if r in segments],
        "mounts": mounts,
        "processes": sorted(set(services.pids_with_cmdline(sd))
                            | set(services.pids_with_cmdline(f"--machine={name}-"))
                            | cgroup_pids(cgroup_dirs(name))),
        "cgroups": [str(d) for d in cgroup_dirs(name)],
        "files": ([sd] if os.path.exists(sd) else [])
                 + [str(p) for p in Path("/run/systemd/nspawn").glob(f"*/{name}-*")],
    }


def destroy(name: str = config.DEFAULT_NAME, bridge: str | None = None) -> None:
    """Remove every trace of lab ``name``: processes, mounts, netns, links,
    cgroups, state dir. Safe to call when nothing is there."""
    sd = state_dir_for(name)
    state = sd / "state.json"
    if bridge is None and state.exists():
        try:
            bridge = json.loads(state.read_text()).get("bridge")
        except (OSError, ValueError):
            pass
    bridge = bridge or f"{name}br0"
    segments = _segments_of(name)
    # Power off all nodes at once (SIGTERM = poweroff for nspawn --boot).
    nspawns = services.pids_with_cmdline(f"--machine={name}-")
    for pid in nspawns:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    try:
        wait_for(lambda: all(services.gone(p) for p in nspawns), timeout=15,
                 interval=0.1, what="nodes to power off")
    except LabError:
        log.warning("lab %s: some nodes did not power off, killing", name)
    dirs = cgroup_dirs(name)
    for _ in range(100):
        pids = cgroup_pids(dirs) | set(services.pids_with_cmdline(f"--machine={name}-"))
        if not pids:
            break
        kill_pids(pids)
        for p in pids:
            services.gone(p)
        time.sleep(0.05)
    Repo(sd / "repo", "").stop_gpg_agent()
    for pidfile, marker in ((sd / "repo-http.pid", "http.server"),
                            (sd / "chronyd.pid", "chrony")):
        services.stop_pidfile(pidfile, marker)
    for pid in services.pids_with_cmdline(str(sd) + "/"):
        services.kill_and_wait(pid)
    remove_cgroups(cgroup_dirs(name))
    for root in CGROUP_ROOTS:  # the shared parent, once no lab uses it
        try:
            (Path(root) / config.CGROUP_NAME).rmdir()
        except OSError:
            pass
    if not any((Path(r) / config.CGROUP_NAME).exists() for r in CGROUP_ROOTS):
        restore_inotify_instances()
    for mp in sorted(leftovers(name, bridge)["mounts"], key=len, reverse=True):
        if run(["umount", mp], check=False).returncode != 0:
            run(["umount", "-l", mp], check=False)
    for ns in net.list_netns():
        if ns.startswith(f"{name}-"):
            run(["ip", "netns", "del", ns], check=False)
    for link in net.list_links():
        if link.startswith((f"{name}-h", f"{name}-p")):
            run(["ip", "link", "del", link], check=False)
    net.del_bridge(bridge)
    for link in net.list_links():
        if _segment_bridge(name, link):
            net.del_bridge(link)
    for seg in segments:
        net.unblock_route(seg)
    for d in Path("/run/systemd/nspawn").glob(f"*/{name}-*"):
        shutil.rmtree(d, ignore_errors=True) if d.is_dir() else d.unlink(missing_ok=True)
    shutil.rmtree(sd, ignore_errors=True)
    left = {k: v for k, v in leftovers(name, bridge, segments).items() if v}
    if left:
        raise LabError(f"lab {name}: could not remove {left}")
