"""The hosts' own proxy settings must not send cluster traffic through the proxy.

kubeadm warns when a connection to the API endpoint would use a proxy (HTTPProxyCheck) and when the first
address of the service or pod subnet would (HTTPProxyCIDRCheck), both in kubernetes/kubernetes
cmd/kubeadm/app/preflight/checks.go, asking Go's http.ProxyFromEnvironment. Here the same question for every
address the cluster talks to - node addresses, the VIP, the endpoint name, the first address of the service
and pod CIDRs - against the proxy settings the host gives its logins (/etc/environment), its services
(systemd's DefaultEnvironment) and Docker, containerd and the kubelet (their drop-ins, where Docker's docs put
the proxy and `up` writes the inventory's), with the NO_PROXY rules of golang.org/x/net/http/httpproxy (config.go:
``*``; an IP; a CIDR; a domain matching itself and its subdomains, ``.domain`` only subdomains).
"""

from __future__ import annotations

import ipaddress
import shlex

from provisioner.checks.base import WARN, NodeCheck

SOURCES = ("/etc/environment", "/etc/systemd/system.conf", "/etc/systemd/system.conf.d/*.conf",
           *(f"/etc/systemd/system/{unit}.service.d/*.conf" for unit in ("docker", "containerd", "kubelet")))
PROXY_FACT = ("for _f in " + " ".join(SOURCES) + "; do [ -f \"$_f\" ] && while IFS= read -r _l || [ -n \"$_l\" ]; "
              "do case $_l in *[Pp][Rr][Oo][Xx][Yy]*) echo \"$_f: $_l\";; esac; done <\"$_f\"; done; true")


def proxy_settings(lines: list[str]) -> dict[str, dict[str, str]]:
    """{source file: {lowercased variable: value}} from the fact's ``FILE: LINE`` lines."""
    out: dict[str, dict[str, str]] = {}
    for line in lines:
        source, _, text = line.partition(": ")
        text = text.strip()
        if text.startswith("#"):
            continue
        for prefix in ("DefaultEnvironment=", "Environment="):      # systemd: manager-wide, one unit's
            text = text.removeprefix(prefix)
        try:
            words = shlex.split(text.removeprefix("export "))
        except ValueError:
            continue
        for word in words:
            key, eq, value = word.partition("=")
            if eq and key.lower() in ("http_proxy", "https_proxy", "no_proxy"):
                out.setdefault(source, {})[key.lower()] = value
    return out


def bypassed(target: str, no_proxy: str) -> bool:
    """Does NO_PROXY ``no_proxy`` keep ``target`` (an address or a name) off the proxy (Go's httpproxy rules)?"""
    try:
        ip = ipaddress.ip_address(target)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback or target == "localhost":
        return True
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        host = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        if ip is not None:
            try:
                if ip in ipaddress.ip_network(host, strict=False):
                    return True
            except ValueError:
                pass
            continue
        suffix = host[1:] if host.startswith("*.") else host
        name = target.lower()
        if suffix.startswith("."):
            if name.endswith(suffix):
                return True
        elif name == suffix or name.endswith("." + suffix):
            return True
    return False


def cluster_targets(inv) -> list[str]:
    """What the cluster's own https connections go to: kubeadm's endpoints and CIDRs, and every node."""
    targets = [str(h.address) for h in inv.hosts]
    if inv.vip:
        targets.append(str(inv.vip))
    targets.append(inv.endpoint_name)
    for net in (inv.networking.service_cidr, inv.networking.pod_cidr):
        targets.append(str(net[1]))          # kubeadm: GetIndexedIP(cidr, 1)
    return list(dict.fromkeys(targets))


class ProxyEnv(NodeCheck):
    id, title = "proxy.no_proxy", "a host proxy leaves cluster addresses direct (NO_PROXY)"
    severity = WARN          # kubeadm: warnings
    reference = "kubeadm"
    reads = SOURCES
    facts = {"proxy.env": PROXY_FACT}

    def evaluate(self, f, node):
        settings = proxy_settings(f.lines("proxy.env"))
        problems = []
        for source, env in settings.items():
            proxy = env.get("https_proxy") or env.get("http_proxy")
            if not proxy:
                continue
            missed = [t for t in cluster_targets(node.inv) if not bypassed(t, env.get("no_proxy", ""))]
            if missed:
                shown = ", ".join(missed[:5]) + (f" (+{len(missed) - 5} more)" if len(missed) > 5 else "")
                problems.append(f"{source}: proxy {proxy} also for {shown}")
        if not settings:
            return self.passed("no proxy set", "no proxy, or NO_PROXY covering the cluster")
        if not problems:
            return self.passed("proxy set, NO_PROXY covers the cluster", "NO_PROXY covering the cluster")
        return self.failed("; ".join(problems), "NO_PROXY covering nodes, VIP, endpoint name, service and pod CIDRs",
                           "add to NO_PROXY/no_proxy: " + ",".join([node.inv.endpoint_name,
                                                                   str(node.inv.networking.host_network),
                                                                   str(node.inv.networking.service_cidr),
                                                                   str(node.inv.networking.pod_cidr)]))
