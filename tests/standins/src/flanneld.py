"""Stand-in flanneld: upstream's choice of the external interface, on this node's real interfaces.

NOT the real program: it creates no VXLAN device and routes nothing. It applies
the rules flanneld uses to pick the interface and address it announces to the
other nodes, to the arguments of the DaemonSet actually applied, and reports
the outcome to the stand-in API server, which keeps the node NotReady when the
choice is wrong:

- the order of main.go (flannel-io/flannel): each ``--iface`` in turn, then each
  ``--iface-regex``, then ``--iface-can-reach``; none given: the default route's
  interface; nothing found: "Failed to find interface to use that matches the
  interfaces and/or regexes provided", exit 1;
- ``LookupExtIface`` (pkg/ipmatch/match.go): ``--iface`` is a name or an address
  (the interface holding it); ``--iface-regex`` is matched against each
  interface's IPv4 addresses first, then against names; ``--iface-can-reach`` takes
  the interface *and source address* of the route to the address
  (pkg/ip/iface.go ``GetInterfaceBySpecificIPRouting``, netlink RouteGet) - on
  the node that holds the address, that is ``lo``; the address is the
  interface's first global (else link-local) IPv4 address (``GetInterfaceIP4Addrs``).

What the real flanneld does next with a wrong choice: on ``lo`` it sizes the
VXLAN MTU from lo's 65536 and binds the tunnel to lo, so cross-node pod traffic
breaks while the node may even say Ready. The stand-in is stricter: the node
stays NotReady with the reason, so ``verify`` shows it.

    flanneld --iface=eth0 --ip-masq --kube-subnet-mgr     # one selection here, printed; exit 0/1
    flanneld --standin-pod-runner                         # the node's pod runner (standin-pods.service)
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import ipaddress
import subprocess

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
# flanneld's flags (main.go); a flag outside this set stops it as Go's flag package does.
SPEC = {"iface": "list", "iface-regex": "list", "iface-can-reach": "str", "public-ip": "str", "public-ipv6": "str",
        "ip-masq": "bool", "kube-subnet-mgr": "bool", "kube-api-url": "str", "kubeconfig-file": "str",
        "subnet-file": "str", "subnet-lease-renew-margin": "int", "iptables-resync": "int",
        "iptables-forward-rules": "bool", "net-config-path": "str", "healthz-ip": "str", "healthz-port": "int",
        "v": "int", "version": "bool", "standin-pod-runner": "bool"}


class NoIface(Exception):
    pass


def ip_json(*args) -> list:
    r = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise NoIface(r.stderr.strip() or f"ip {' '.join(args)} failed")
    return json.loads(r.stdout or "[]")


def interfaces() -> list:
    """Like Go's net.Interfaces(): every link in index order, with its IPv4 addresses."""
    links = ip_json("-4", "addr", "show")
    names = {l["ifname"] for l in links}
    for l in ip_json("link", "show"):           # links without an IPv4 address are interfaces too
        if l["ifname"] not in names:
            links.append({**l, "addr_info": []})
    return sorted(links, key=lambda l: l["ifindex"])


def ip4_addrs(link: dict) -> list:
    """GetInterfaceIP4Addrs: global unicast addresses, then link-local ones; else an error."""
    glob, ll = [], []
    for a in link.get("addr_info", []):
        if a.get("family") != "inet":
            continue
        ip = ipaddress.IPv4Address(a["local"])
        if ip.is_link_local:
            ll.append(str(ip))
        elif not (ip.is_loopback or ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255")):
            glob.append(str(ip))
    if not glob + ll:
        raise NoIface("No IPv4 address found for given interface")
    return glob + ll


def lookup(ifname: str = "", regex: str = "", can_reach: str = "") -> dict:
    """LookupExtIface for the IPv4 stack: {iface, address, mtu, loopback}."""
    links = interfaces()
    iface, addr = None, None
    if ifname:
        try:
            want = str(ipaddress.IPv4Address(ifname))
        except ValueError:
            want = None
        if want:
            iface = next((l for l in links if want in [a.get("local") for a in l.get("addr_info", [])]), None)
            if iface is None:
                raise NoIface(f"error looking up interface {ifname}: No interface with given IP found")
            addr = want
        else:
            iface = next((l for l in links if l["ifname"] == ifname), None)
            if iface is None:
                raise NoIface(f"error looking up interface {ifname}: route ip+net: no such network interface")
    elif regex:
        try:
            rx = re.compile(regex)
        except re.error as exc:
            raise NoIface(f"could not compile the IP address regex '{regex}': {exc}") from None
        for l in links:
            try:
                ips = ip4_addrs(l)
            except NoIface:
                continue
            hit = next((ip for ip in ips if rx.search(ip)), None)
            if hit:
                iface, addr = l, hit
                break
        if iface is None:
            iface = next((l for l in links if rx.search(l["ifname"])), None)
        if iface is None:
            avail = ", ".join(f"{l['ifname']}:[{' '.join(_safe_addrs(l))}]" for l in links)
            raise NoIface(f"Could not match pattern {regex} to any of the available network interfaces ({avail})")
    elif can_reach:
        routes = ip_json("-4", "route", "get", can_reach)
        if not routes:
            raise NoIface(f"failed to get ifcanreach based interface: No interface with given IP found")
        iface = next((l for l in links if l["ifname"] == routes[0].get("dev")), None)
        if iface is None:
            raise NoIface("failed to get ifcanreach based interface: couldn't lookup interface")
        addr = routes[0].get("prefsrc")
    else:
        default = [r for r in ip_json("-4", "route", "show") if r.get("dst") == "default"]
        if not default:
            raise NoIface("failed to get default interface: Unable to find default route")
        iface = next((l for l in links if l["ifname"] == default[0].get("dev")), None)
        if iface is None:
            raise NoIface("failed to get default interface: Found default route but could not determine interface")
    if addr is None:
        try:
            addr = ip4_addrs(iface)[0]
        except NoIface:
            raise NoIface(f"failed to find IPv4 address for interface {iface['ifname']}") from None
    if not iface.get("mtu"):
        raise NoIface(f"failed to determine MTU for {addr} interface")
    return {"iface": iface["ifname"], "address": addr, "mtu": iface["mtu"],
            "loopback": "LOOPBACK" in iface.get("flags", [])}


def _safe_addrs(link: dict) -> list:
    try:
        return ip4_addrs(link)
    except NoIface:
        return []


def select(f: dict) -> tuple[dict | None, list]:
    """main.go's order; returns (choice or None, log lines)."""
    log = []
    if not f.get("iface") and not f.get("iface-regex") and not f.get("iface-can-reach"):
        log.append("Determining IP address of default interface")
        try:
            return lookup(f.get("public-ip") or ""), log
        except NoIface as exc:
            log.append(f"Failed to find any valid interface to use: {exc}")
            return None, log
    for name in f.get("iface") or []:
        try:
            return lookup(ifname=name), log
        except NoIface as exc:
            log.append(f"Could not find valid interface matching {name}: {exc}")
    for rx in f.get("iface-regex") or []:
        try:
            return lookup(regex=rx), log
        except NoIface as exc:
            log.append(f"Could not find valid interface matching {rx}: {exc}")
    if f.get("iface-can-reach"):
        log.append(f"Determining interface to use based on given ifcanreach: {f['iface-can-reach']}")
        try:
            return lookup(can_reach=f["iface-can-reach"]), log
        except NoIface as exc:
            log.append(f"Could not find valid interface matching ifaceCanReach: {f['iface-can-reach']}: {exc}")
    log.append("Failed to find interface to use that matches the interfaces and/or regexes provided")
    return None, log


def verdict(choice: dict | None, log: list, node_ip: str, public_ip: str = "") -> tuple[bool, str]:
    """Is the choice usable for pod traffic between nodes? (ok, message)."""
    if choice is None:
        return False, f"flanneld exited 1 (CrashLoopBackOff): {log[-1]}"
    ext = public_ip or choice["address"]
    if choice["loopback"]:
        return False, (f"flanneld chose interface {choice['iface']} (loopback, MTU {choice['mtu']}) with address "
                       f"{choice['address']}: the VXLAN device would sit on loopback; cross-node pod traffic "
                       f"breaks - pin flannel with --iface=NIC or --iface-regex, not --iface-can-reach")
    if node_ip and ext != node_ip:
        return False, (f"flanneld chose interface {choice['iface']} with address {ext}, which is not the node's "
                       f"InternalIP {node_ip}: other nodes would tunnel pod traffic to the wrong address")
    return True, f"using interface {choice['iface']} with address {ext} (MTU {choice['mtu']})"


def flanneld_args(containers: list) -> list | None:
    for c in containers or []:
        if "flanneld" in " ".join(c.get("command") or []):
            return list(c.get("args") or [])
    return None


# How often the pod runner asks which DaemonSet pods this node should run, and how soon a flanneld that exited
# (a wrong interface) is started again: the kubelet's first crash back-off is 10 s (pkg/kubelet/kubelet.go
# backOffPeriod), doubling to 5 min; the stand-in keeps the first step so a fixed DaemonSet shows soon.
POLL_S = 2
RESTART_S = 10


class PodRunner:
    """What the kubelet does for the flannel DaemonSet's pod on this node. The pod starts when the DaemonSet
    appears and again when its pod template changes (its hash); flanneld picks its interface once, at start
    (main.go), announces it, and runs on. So a pod still running with the same template is left alone: the
    poll is one request on a kept connection (client-go keeps them), not a selection, a Node read and a report
    every time - 98 nodes did that every 2 s and the stand-in API server fell behind. The API says which
    template's report it holds for this node (``reported``): a report it lost (the Node registered again after
    a reset) is made again, as the kubelet starts the pod on a node it joins. A flanneld that exited (wrong
    interface) is started again after the crash back-off."""

    def __init__(self, node: str):
        self.node = node
        self.client: KeptClient | None = None
        self.conf_id: tuple | None = None
        self.last: dict | None = None
        self.started = 0.0

    def _client(self) -> KeptClient | None:
        """The client for the node's kubelet.conf, made again when that file changes (a new join)."""
        try:
            st = os.stat(P(KUBELET_CONF))
        except FileNotFoundError:
            st = None
        conf_id = (st.st_ino, st.st_mtime_ns, st.st_size) if st else None
        if conf_id != self.conf_id:
            if self.client is not None:
                self.client.close()
            self.client = KeptClient.from_kubeconfig(load_kubeconfig(P(KUBELET_CONF))) if st else None
            self.conf_id, self.last = conf_id, None
        return self.client

    def tick(self) -> dict | None:
        client = self._client()
        if client is None:
            return None
        code, data = client.request("GET", f"/standin/v1/node-pods/{self.node}")
        if code >= 300:
            return None
        doc = json.loads(data)
        ds = next((d for d in doc.get("daemonsets", []) if flanneld_args(d.get("containers")) is not None), None)
        if ds is None:
            self.last = None
            return None
        last = self.last
        running = last is not None and last["hash"] == ds.get("hash") == doc.get("reported")
        if running and (last["ok"] or time.monotonic() - self.started < RESTART_S):
            return last
        self.last, self.started = start_flanneld(client, self.node, ds), time.monotonic()
        return self.last


def pod_runner() -> int:
    node = hostname()
    runner, last, last_error = PodRunner(node), None, ""
    klog("I", f'"stand-in pod runner started" node="{node}" (runs flanneld\'s interface selection only)')
    sd_notify("READY=1")
    while True:
        try:
            report = runner.tick()
            if report is not None and report != last:
                klog("I" if report["ok"] else "E", f'"flanneld" node="{node}" ok={report["ok"]} {report["message"]}')
                last = report
            last_error = ""
        except (OSError, ValueError, KeyError, ConnError, NoIface) as exc:
            if str(exc) != last_error:           # the API is down for a while at every init: say it once
                klog("W", f'"pod runner: {exc}"')
            last_error = str(exc)
        time.sleep(POLL_S)


def start_flanneld(client: KeptClient, node: str, ds: dict) -> dict:
    """flanneld started with the DaemonSet's arguments: its interface selection, and the report of it."""
    args = flanneld_args(ds["containers"])
    try:
        f, _, _ = parse_flags(args, SPEC)
        unknown = None
    except Exception as exc:   # the real flanneld stops on a flag it does not know
        f, unknown = {}, str(exc)
    code, data = client.request("GET", f"/api/v1/nodes/{node}")
    node_ip = ""
    if code < 300:
        node_ip = next((a["address"] for a in json.loads(data)["status"].get("addresses", [])
                        if a.get("type") == "InternalIP"), "")
    if unknown:
        ok, message, choice = False, f"flanneld exited 2 (CrashLoopBackOff): {unknown}", None
    else:
        choice, log = select(f)
        ok, message = verdict(choice, log, node_ip, f.get("public-ip") or "")
    report = {"hash": ds.get("hash"), "pod": ds["name"], "ok": ok, "message": message, "args": args,
              "iface": (choice or {}).get("iface"), "address": (choice or {}).get("address")}
    if ok:
        report["annotations"] = {"flannel.alpha.coreos.com/public-ip": f.get("public-ip") or choice["address"],
                                 "flannel.alpha.coreos.com/backend-type": "vxlan",
                                 "flannel.alpha.coreos.com/kube-subnet-mgr": "true"}
    code, data = client.request("POST", f"/standin/v1/nodes/{node}/network", report)
    if code >= 300:
        raise ValueError(f"reporting to the API server: HTTP {code}")
    return report


def main(argv) -> int:
    f, _, _ = flags_or_exit(argv, SPEC, None, "flag provided but not defined: {exc}", 2)
    if f.get("version"):
        err("v0.28.9 (stand-in)")
        return 0
    if f.get("standin-pod-runner"):
        return pod_runner()
    choice, log = select(f)
    for line in log:
        klog("I", line)
    if choice is None:
        return 1
    klog("I", f"Using interface with name {choice['iface']} and address {choice['address']}")
    out(json.dumps(choice))
    return 0


if __name__ == "__main__":
    run_main("flanneld", main, daemon="--standin-pod-runner" in sys.argv)
