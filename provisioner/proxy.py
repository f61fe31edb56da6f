"""The inventory's ``proxy:`` as the files `up` writes: apt's proxy, and the proxy environment of Docker
(its image pulls) and of the kubelet, with NO_PROXY completed from the inventory.

Without the cluster's own addresses in NO_PROXY, the kubelet's and Docker's connections to the API server,
to other nodes and to Services would go through the proxy (kubeadm warns about exactly this: HTTPProxy and
HTTPProxyCIDR in cmd/kubeadm/app/preflight/checks.go). Go's NO_PROXY takes IPs, CIDRs and domain suffixes
(golang.org/x/net/http/httpproxy), so the networks are listed as CIDRs and the domains with a leading dot.

>>> from provisioner.validation import load_inventory                                   # doctest: +SKIP
>>> environment(inv)["NO_PROXY"].split(",")[:3]                                          # doctest: +SKIP
['localhost', '127.0.0.1', '172.31.250.101']
"""

from __future__ import annotations

APT_CONF = "/etc/apt/apt.conf.d/95provisioner-proxy"
DOCKER_DROPIN = "/etc/systemd/system/docker.service.d/provisioner-proxy.conf"
KUBELET_DROPIN = "/etc/systemd/system/kubelet.service.d/provisioner-proxy.conf"


def no_proxy(inv) -> list[str]:
    """The inventory's NO_PROXY entries after what the cluster itself needs direct."""
    own = ["localhost", "127.0.0.1", *(str(h.address) for h in inv.hosts)]
    if inv.control_plane_endpoint.address:
        own.append(str(inv.control_plane_endpoint.address))
    own += [inv.endpoint_name, inv.control_plane_endpoint.name, *(h.hostname for h in inv.hosts),
            str(inv.networking.host_network), str(inv.networking.service_cidr), str(inv.networking.pod_cidr),
            f".{inv.networking.dns_domain}", ".svc"]
    if inv.domain:
        own.append(f".{inv.domain}")
    return list(dict.fromkeys([*own, *inv.proxy.no_proxy]))


def environment(inv) -> dict[str, str]:
    """HTTP(S)_PROXY and NO_PROXY, upper and lower case (programs read either), or nothing without a proxy."""
    if inv.proxy is None or not (inv.proxy.http or inv.proxy.https):
        return {}
    env = {"HTTP_PROXY": inv.proxy.http or inv.proxy.https, "HTTPS_PROXY": inv.proxy.https or inv.proxy.http,
           "NO_PROXY": ",".join(no_proxy(inv))}
    return {**env, **{k.lower(): v for k, v in env.items()}}


def has_credentials(inv) -> bool:
    """A user:password@ in a proxy URL: the files are then 0600 and masked in diffs."""
    return any("@" in url.split("://", 1)[-1].split("/", 1)[0] for url in environment(inv).values() if "://" in url)


def apt_conf(inv) -> str:
    env = environment(inv)
    return ("// Managed by provisioner: the inventory's proxy\n"
            f"Acquire::http::Proxy \"{env['HTTP_PROXY']}\";\nAcquire::https::Proxy \"{env['HTTPS_PROXY']}\";\n")


def systemd_dropin(inv) -> str:
    """A [Service] drop-in giving the unit the proxy environment (systemd.exec Environment=, each quoted)."""
    def quoted(text: str) -> str:      # systemd: \ and " escaped inside quotes, % is a specifier (%%)
        return text.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    lines = "".join(f"Environment=\"{quoted(f'{k}={v}')}\"\n" for k, v in environment(inv).items())
    return "# Managed by provisioner: the inventory's proxy\n[Service]\n" + lines
