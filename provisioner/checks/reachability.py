"""Filtered ports before install: FROM each node, the TCP ports that node will need to reach.

A firewall that drops 6443 or 2379 between two nodes is invisible until a join
times out. Before anything listens, a connect still tells the two cases apart:
"refused" (a TCP reset: the packet arrived, nothing listens yet) and "connected"
mean the path is open; "timed out", "no route", "admin prohibited" or an ICMP
port-unreachable (a firewall REJECT, never a TCP stack's own answer) mean it is
filtered. Which pairs (kubernetes/website,
content/en/docs/reference/networking/ports-and-protocols.md: 6443 "used by all",
2379-2380 by kube-apiserver and etcd, 10250 by the control plane)::

    workers, control planes (and pair-mode lbs: haproxy's backends) -> every control plane :6443
    control plane <-> control plane                                    :2379, :2380
    control planes -> every kube node                                  :10250
    kube nodes -> the endpoint: each lb's frontend (pair), each control plane's frontend
                  (colocated), the apiserver (none); the VIP only counts where it answers

>>> [str(p) for p in probes_for(inv, inv.host("node1"))]            # doctest: +SKIP
['master1:6443', 'master2:6443', 'master3:6443', 'ha1:6443', 'ha2:6443', 'VIP 172.31.250.100:6443']

The probes ride in the host's ONE gather round trip (a fact command like any
other): one python3 process doing every connect at once (non-blocking, poll),
or, on a host without python3 (minimal images), a bash fallback with one
background ``timeout`` + ``/dev/tcp`` per port. Either waits at most ``WAIT``
seconds, and only when something does not answer.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from provisioner import firewall
from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Node, Result
from provisioner.inventory import Host, Inventory
from provisioner.transport import quote

FACT = "reach.ports"
CHECK = "cluster.reach"
# Covers one SYN retransmission (initial RTO 1 s, RFC 6298 2.1): a single lost SYN is not "filtered".
WAIT = 1.5

PURPOSE = {6443: "kube-apiserver", 2379: "etcd client", 2380: "etcd peer", 10250: "kubelet"}


@dataclass(frozen=True)
class Probe:
    """One destination port a node must reach; ``required=False`` only counts where it answered elsewhere."""

    name: str          # the destination host's name, or "VIP <address>"
    address: str
    port: int
    why: str
    required: bool = True

    def __str__(self) -> str:
        return f"{self.name}:{self.port}"


def probes_for(inv: Inventory, host: Host) -> list[Probe]:
    """The ports ``host`` will connect to, once each, never its own address."""
    cps, mode = inv.control_planes, inv.load_balancer.mode
    kube = host in inv.kube_nodes
    wanted: list[Probe] = []
    if kube or (mode == "pair" and host.has("lb")):
        wanted += [Probe(cp.hostname, str(cp.address), 6443, "kube-apiserver") for cp in cps]
    if host.has("control-plane"):
        wanted += [Probe(cp.hostname, str(cp.address), port, PURPOSE[port]) for cp in cps for port in (2379, 2380)]
        wanted += [Probe(n.hostname, str(n.address), 10250, "kubelet") for n in inv.kube_nodes]
    if kube:
        port = inv.api_port
        if mode == "pair":
            wanted += [Probe(lb.hostname, str(lb.address), port, "API frontend (haproxy)") for lb in inv.load_balancers]
        elif mode == "colocated":
            wanted += [Probe(cp.hostname, str(cp.address), port, "API frontend (haproxy)") for cp in cps]
        else:
            address = str(inv.control_plane_endpoint.address or cps[0].address)
            name = next((h.hostname for h in inv.hosts if str(h.address) == address), address)
            wanted.append(Probe(name, address, port, "API endpoint"))
        if inv.vip:
            wanted.append(Probe(f"VIP {inv.vip}", str(inv.vip), port, "API endpoint (VIP)", required=False))
    seen, out = {str(host.address)}, []
    for probe in wanted:
        key = f"{probe.address}:{probe.port}"
        if key not in seen and probe.address != str(host.address):
            seen.add(key)
            out.append(probe)
    return out


# --- on the node -------------------------------------------------------------------------
# Python 3.6 compatible (RHEL 8's platform-python). Prints "@ ADDR PORT STATE ERRNO ICMP-TYPE/CODE".
# IP_RECVERR queues the ICMP error that failed a connect (linux net/ipv4/tcp_ipv4.c tcp_v4_err calls
# ip_icmp_error in SYN_SENT), so a REJECT's port-unreachable is told from a TCP reset, although both
# fail the connect with ECONNREFUSED (linux net/ipv4/icmp.c icmp_err_convert).
_PROGRAM = r"""
import errno,select,socket,struct,sys,time
w=float(sys.argv[1]);a=sys.argv[2:];end=time.monotonic()+w
RE=getattr(socket,"IP_RECVERR",11);EQ=getattr(socket,"MSG_ERRQUEUE",8192)
live={};need=0;P=select.poll()
def icmp(s):
  try:
    for lv,ty,d in s.recvmsg(1,512,EQ|socket.MSG_DONTWAIT)[1]:
      if lv==socket.IPPROTO_IP and ty==RE and len(d)>=16:
        e=struct.unpack("=IBBBBII",d[:16])
        if e[1]==2:return "%d/%d"%(e[2],e[3])
  except OSError:pass
  return "-"
def out(k,e,s):
  if e==0:st="connected"
  elif e==errno.ECONNREFUSED:st="refused"
  elif e in(errno.EHOSTUNREACH,errno.ENETUNREACH,errno.EHOSTDOWN,errno.ENONET,errno.EACCES):st="unreach"
  elif e==errno.EPERM:st="blocked"
  elif e==errno.ETIMEDOUT:st="timeout"
  else:st="error"
  print("@",k[0],k[1],st,errno.errorcode.get(e,"-") if e else "-",icmp(s) if e else "-")
  s.close()
for i in range(0,len(a)-2,3):
  k=(a[i],a[i+1],a[i+2]=="1");s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)
  s.setblocking(False)
  try:s.setsockopt(socket.IPPROTO_IP,RE,1)
  except OSError:pass
  e=s.connect_ex((k[0],int(k[1])))
  if e==errno.EINPROGRESS:live[s.fileno()]=(s,k);P.register(s,select.POLLOUT);need+=k[2]
  else:out(k,e,s)
def ready(t):
  global need
  for fd,ev in P.poll(t):
    s,k=live.pop(fd);P.unregister(fd);need-=k[2];out(k,s.getsockopt(socket.SOL_SOCKET,socket.SO_ERROR),s)
while need and time.monotonic()<end:ready(max(0,end-time.monotonic())*1000)
if live:ready(0)
late="timeout" if time.monotonic()>=end else "pending"
for s,k in live.values():print("@",k[0],k[1],late,"-","-")
"""


def python_command(probes: list[Probe], wait: float = WAIT, python: str = "\"$py\"") -> str:
    args = " ".join(f"{quote(p.address)} {int(p.port)} {int(p.required)}" for p in probes)
    return f"{python} -I -S -c {quote(_PROGRAM)} {wait} {args}"


def bash_command(probes: list[Probe], wait: float = WAIT) -> str:
    """The fallback: every connect in the background at once, each bounded by ``timeout``; the optional ones
    are not waited for. Prints "@ ADDR PORT exit=N" (0 connected, 124 timed out) or "@ ADDR PORT pending";
    bash itself prints "bash: /dev/tcp/ADDR/PORT: <strerror>" for a failed connect (LC_ALL=C: English)."""
    start, finish = [], []
    for i, p in enumerate(probes):
        a, port = quote(p.address), int(p.port)
        start.append(f"LC_ALL=C timeout {wait} bash -c ': <>\"/dev/tcp/$0/$1\"' {a} {port} 2>&1 & p{i}=$!")
        if p.required:
            finish.append(f"wait $p{i}; echo @ {a} {port} \"exit=$?\"")
    for i, p in enumerate(probes):
        if not p.required:
            a, port = quote(p.address), int(p.port)
            finish.append(f"if kill -0 $p{i} 2>/dev/null; then kill $p{i} 2>/dev/null; echo @ {a} {port} pending; "
                          f"else wait $p{i}; echo @ {a} {port} \"exit=$?\"; fi")
    return "\n".join(start + finish)


def probe_script(probes: list[Probe], wait: float = WAIT) -> str:
    """python3 (or RHEL's platform-python) when the node has it, else the bash fallback."""
    if not probes:
        return ""
    # An executable python3 on PATH, found with builtins (bash's `command -v` also names a file it cannot run).
    return ("py=; IFS=: read -ra _d <<<\"$PATH\"; for _x in \"${_d[@]/%//python3}\" /usr/libexec/platform-python; do "
            "[ -f \"$_x\" ] && [ -x \"$_x\" ] && { py=$_x; break; }; done\n"
            f"if [ -n \"$py\" ]; then\n{python_command(probes, wait)}\nelse\n{bash_command(probes, wait)}\nfi")


def fact_commands(host: Host, inv: Inventory) -> dict[str, str]:
    script = probe_script(probes_for(inv, host))
    return {FACT: script} if script else {}


# --- reading the answers ---------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    state: str          # connected refused timeout unreach rejected blocked pending error
    detail: str = ""    # errno name and/or ICMP type/code

    @property
    def open(self) -> bool:
        return self.state in ("connected", "refused")

    def reason(self) -> str:
        icmp = re.search(r"\b3/(\d+)\b", self.detail)
        code = int(icmp.group(1)) if icmp else None
        if self.state == "timeout":
            return "timed out (filtered?)"
        if self.state == "rejected":
            return "rejected (ICMP port-unreachable: a firewall REJECT)"
        if self.state == "blocked":
            return "blocked by its own firewall's output rules (EPERM)"
        if self.state == "unreach":
            named = {13: "admin prohibited", 10: "host prohibited", 9: "network prohibited",
                     1: "host unreachable", 0: "network unreachable"}
            if code in named:
                return f"{named[code]} (ICMP 3/{code})"
            return "network unreachable" if "ENETUNREACH" in self.detail else "no route to host / host unreachable"
        if self.state == "missing":
            return "not probed"
        return f"failed ({self.detail or self.state})"


_BASH_ERRORS = (("refused", "refused"), ("No route", "unreach"), ("unreachable", "unreach"),
                ("not permitted", "blocked"), ("timed out", "timeout"))


def parse(text: str) -> dict[tuple[str, int], Outcome]:
    """Both variants' output -> {(address, port): Outcome}."""
    messages: dict[tuple[str, int], str] = {}
    out: dict[tuple[str, int], Outcome] = {}
    for line in text.splitlines():
        m = re.search(r"/dev/tcp/([\d.]+)/(\d+): (.+)$", line)
        if m:
            messages[(m.group(1), int(m.group(2)))] = m.group(3).strip()
            continue
        parts = line.split()
        if len(parts) < 4 or parts[0] != "@" or not parts[2].isdigit():
            continue
        key, state = (parts[1], int(parts[2])), parts[3]
        if state.startswith("exit="):
            rc = state[5:]
            if rc == "0":
                out[key] = Outcome("connected")
            elif rc == "124":
                out[key] = Outcome("timeout")
            else:
                message = messages.get(key, "")
                kind = next((k for word, k in _BASH_ERRORS if word in message), "error")
                out[key] = Outcome(kind, message or f"exit {rc}")
            continue
        detail = " ".join(p for p in parts[4:] if p != "-")
        if state == "refused" and re.search(r"\b3/3\b", detail):
            state = "rejected"      # ICMP port-unreachable: a REJECT rule, a TCP stack answers with a reset
        out[key] = Outcome(state, detail)
    return out


# --- the cross-node verdict --------------------------------------------------------------------

@dataclass(frozen=True)
class Failure:
    source: str
    probe: Probe
    outcome: Outcome


def _ports(ports) -> str:
    return ",".join(str(p) for p in sorted(set(ports)))


def _names(names, n: int = 8) -> str:
    names = list(dict.fromkeys(names))
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def _why(failures: list[Failure]) -> str:
    return ", ".join(f"{port} {why}" for port, why in sorted({(f.probe.port, f.probe.why) for f in failures}))


def reach(nodes: list[Node]) -> list[Result]:
    """One result per audited node. A destination that several sources cannot reach carries the finding
    (its own firewall is the common factor: "node1, node2 -> master2:6443 timed out (filtered?)"); the
    sources get a warning pointing at it. Any other failure lands on its source."""
    if not nodes:
        return []
    order = [h.hostname for h in nodes[0].inv.hosts]
    audited = {n.name for n in nodes}
    wanted = {n.name: probes_for(n.inv, n.host) for n in nodes}
    outcomes = {n.name: parse(n.facts.text(FACT)) for n in nodes}
    vip_answers = any(outcomes[name].get((p.address, p.port), Outcome("missing")).open
                      for name, probes in wanted.items() for p in probes if not p.required)
    failures: list[Failure] = []
    tallies: dict[str, dict[str, int]] = {}
    for node in nodes:
        got, tally = outcomes[node.name], defaultdict(int)
        if not got:
            continue        # the probe printed nothing (see the SKIP below): no verdict about anyone
        for probe in wanted[node.name]:
            outcome = got.get((probe.address, probe.port), Outcome("missing"))
            if not probe.required and (outcome.state in ("pending", "missing") or not vip_answers):
                tally["not judged"] += 1      # a VIP nobody reaches is not held yet (cluster.vip judges it)
            elif outcome.open:
                tally[outcome.state] += 1
            else:
                failures.append(Failure(node.name, probe, outcome))
        tallies[node.name] = tally
    sources: dict[str, set[str]] = defaultdict(set)
    for f in failures:
        sources[f.probe.name].add(f.source)
    on_dest = {d for d, s in sources.items() if len(s) >= 2 and d in audited}

    expected = "every needed port connected or refused"
    by_name = {n.name: n for n in nodes}
    out = []
    for node in nodes:
        mine = [f for f in failures if f.source == node.name and f.probe.name not in on_dest]
        inbound = [f for f in failures if f.probe.name == node.name and node.name in on_dest]
        elsewhere = [f for f in failures if f.source == node.name and f.probe.name in on_dest]
        if mine or inbound:
            fix = []
            if inbound:
                fix.append(f"open TCP {_why(inbound)} into {node.name} from the nodes named (its firewall, a "
                           "security group or an ACL on the way)")
            if mine:
                fix.append(f"open TCP {_why(mine)} from {node.name} to the hosts named (a firewall at either end "
                           "or on the path)")
            phrases = _inbound(inbound, order, node.name) + _outbound(mine, order, node.name)
            # Every port blocked by its destination's own firewalld/ufw, which prep opens: `up` fixes it.
            opened = all(_prep_opens(by_name.get(f.probe.name), f.probe.port) for f in inbound + mine)
            if opened:
                fix.append("`up` (prep) opens these ports in the destination's firewall (docs/firewall-selinux.md)")
            out.append(Result(CHECK, FAIL, "; ".join(phrases), expected, "; ".join(fix),
                              fixed_by="prep" if opened else None))
        elif not wanted[node.name]:
            out.append(Result(CHECK, SKIP, "no other host to reach", ""))
        elif node.name not in tallies:
            first = node.facts.text(FACT).splitlines()[:1]
            out.append(Result(CHECK, SKIP, f"ports not probed ({first[0][:80] if first else 'no output'})", expected))
        elif elsewhere:
            dests = _names(f.probe.name for f in elsewhere)
            # The same words on every such source, so a report can show them as one line.
            out.append(Result(CHECK, WARN, f"cannot reach ports on {dests}, nor can other nodes: see {dests}", expected,
                              f"see the finding on {dests}"))
        else:
            tally = tallies[node.name]
            note = f", {tally['not judged']} not judged (VIP not answering yet)" if tally.get("not judged") else ""
            out.append(Result(CHECK, PASS, f"{tally['connected'] + tally['refused']} ports reachable "
                                           f"({tally['connected']} connected, {tally['refused']} refused: nothing "
                                           f"listens yet){note}", expected))
    return out


def _prep_opens(dest: Node | None, port: int) -> bool:
    """``port`` into ``dest`` is closed by dest's own active firewall, which prep opens (or stops)."""
    return dest is not None and firewall.up_opens(dest.inv, dest.host, dest.facts.text("security.firewall"), port)


def _inbound(failures: list[Failure], order: list[str], dest: str) -> list[str]:
    """'node1, node2 -> master2:2379,6443 timed out (filtered?)': ports merged where sources and reason agree."""
    by_port: dict[tuple[int, str], list[str]] = defaultdict(list)
    for f in failures:
        by_port[(f.probe.port, f.outcome.reason())].append(f.source)
    merged: dict[tuple[tuple[str, ...], str], list[int]] = defaultdict(list)
    for (port, reason), srcs in by_port.items():
        merged[(tuple(sorted(set(srcs), key=_rank(order))), reason)].append(port)
    return [f"{_names(srcs)} -> {dest}:{_ports(ports)} {reason}" for (srcs, reason), ports in merged.items()]


def _outbound(failures: list[Failure], order: list[str], source: str) -> list[str]:
    """'node2 -> master1:6443, master3:6443 timed out (filtered?)': destinations merged per reason."""
    by_reason: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for f in failures:
        by_reason[f.outcome.reason()][f.probe.name].append(f.probe.port)
    phrases = []
    for reason, dests in by_reason.items():
        targets = ", ".join(f"{d}:{_ports(ports)}" for d, ports in sorted(dests.items(), key=lambda kv: _rank(order)(kv[0])))
        phrases.append(f"{source} -> {targets} {reason}")
    return phrases


def _rank(order: list[str]):
    return lambda name: (order.index(name) if name in order else len(order), name)
