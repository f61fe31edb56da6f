"""What `up` will fetch, asked FROM each node before anything is installed: package repositories, the registry.

A node that cannot reach pkgs.k8s.io or the inventory's mirror fails in the middle of `up` (apt's "Failed to
fetch"), and one that cannot reach the image registry fails at `kubeadm init`/`join` (kubeadm's own preflight
pulls the images: ImagePullCheck in kubernetes/kubernetes cmd/kubeadm/app/preflight/checks.go). Both are asked
here in preflight's round trip, with one curl on the node fetching every URL at once:

- each repository's index: apt ``InRelease`` (``dists/CODENAME/InRelease``; the pkgs.k8s.io layout's flat
  ``deb/InRelease``), dnf ``repodata/repomd.xml``; which ones follows the node's /etc/os-release and role, as
  `up` picks them (the inventory's apt mirror on every host, Kubernetes on kube nodes, Docker's with runtime
  docker or containerd, calico's manifests on the first control plane);
- the registry's API version check ``GET /v2/``: a registry answers 200 or 401 (the distribution spec,
  distribution/distribution docs/spec/api.md "API Version Check"); over TLS verified by curl, or plain HTTP
  for the inventory's ``registry`` marked insecure, whose name is sent to its address as the /etc/hosts block
  `up` writes will (``curl --resolve``). Docker's registry mirrors too: dockerd falls back to the upstream
  when one fails, so they only warn. A registry that cannot be reached is a warning: air-gapped sites load
  the images beforehand (``docker load``), and kubeadm then never asks the registry.

The inventory's proxy, which `up` gives apt and the runtime, is given to curl. A ranged GET of one byte,
never a HEAD: release-asset and object-store URLs sign GET only.
"""

from __future__ import annotations

import shlex
from typing import NamedTuple
from urllib.parse import urlsplit

from provisioner.checks.base import WARN, NodeCheck
from provisioner.desired import calico_manifest_base, docker_repo_url, kubernetes_repo_url

TIMEOUT_S = 6          # per URL, all URLs in parallel: bounds what this adds to the round trip
CURL = (f"curl -sS -o /dev/null -r 0-0 -L --connect-timeout 3 --max-time {TIMEOUT_S} "
        "-w ' http=%{http_code}'")
# One line per URL: ``LABEL|curl exit|message http=CODE|URL`` (a line is written at once: no interleaving).
PROBE_FN = ('_sp() { local _o _r _nl=$\'\\n\'; _o=$(' + CURL + ' "${@:3}" "$2" 2>&1); _r=$?; '
            'printf "%s|%s|%s|%s\\n" "$1" "$_r" "${_o//$_nl/ }" "$2"; }; ')
NO_CURL = "no curl"


class Probe(NamedTuple):
    label: str          # what the URL is, in the verdict
    url: str            # may hold $ID, $VERSION_CODENAME, $_MAJOR, $_ARCH: expanded on the node
    extra: tuple[str, ...] = ()   # more curl arguments (--resolve)


def _proxy_env(inv) -> str:
    """The inventory proxy as curl's environment (apt and the runtime get the same from `up`)."""
    if not inv.proxy or not (inv.proxy.http or inv.proxy.https):
        return ""
    http = str(inv.proxy.http or inv.proxy.https)
    https = str(inv.proxy.https or inv.proxy.http)
    no_proxy = ",".join(inv.proxy.no_proxy)
    return f"export http_proxy={shlex.quote(http)} https_proxy={shlex.quote(https)} no_proxy={shlex.quote(no_proxy)}; "


def _quoted_url(prefix: str, suffix: str) -> str:
    """``prefix`` (the inventory's, quoted) then ``suffix`` (ours, with node variables left to expand)."""
    return shlex.quote(prefix.rstrip("/")) + f'"{suffix}"'


def repository_probes(inv, host) -> dict[str, list[Probe]]:
    """By package family (``deb``/``rpm``), the repository indexes `up` will fetch on ``host``."""
    kube = host in inv.kube_nodes
    deb, rpm = [], []
    if inv.package_mirrors.apt:
        deb.append(Probe("apt mirror", _quoted_url(inv.package_mirrors.apt, "/dists/$VERSION_CODENAME/InRelease")))
    if kube:
        k8s = kubernetes_repo_url(inv)
        deb.append(Probe("kubernetes repository", _quoted_url(k8s, "/deb/InRelease")))
        rpm.append(Probe("kubernetes repository", _quoted_url(k8s, "/rpm/repodata/repomd.xml")))
        docker = docker_repo_url(inv)
        deb.append(Probe("docker repository", _quoted_url(docker, "/$ID/dists/$VERSION_CODENAME/InRelease")))
        rpm.append(Probe("docker repository", _quoted_url(docker, "/rhel/$_MAJOR/$_ARCH/stable/repodata/repomd.xml")))
        if inv.cni == "calico" and host == inv.first_control_plane:
            calico = Probe("calico manifests", _quoted_url(calico_manifest_base(inv), "/tigera-operator.yaml"))
            deb.append(calico)
            rpm.append(calico)
    return {"deb": deb, "rpm": rpm}


def registry_probes(inv) -> list[Probe]:
    """The image repository's registry and Docker's mirrors: their ``/v2/``."""
    out = []
    host = inv.image_repository.split("/", 1)[0]
    name, _, port = host.partition(":")
    reg = inv.registry
    ours = reg is not None and name in (reg.hostname, inv.fqdn(reg.hostname))
    scheme = "http" if ours and reg.insecure else "https"
    extra: tuple[str, ...] = ()
    if ours:
        extra = ("--resolve", f"{name}:{port or (80 if scheme == 'http' else 443)}:{reg.address}")
    out.append(Probe(f"registry {host}", shlex.quote(f"{scheme}://{host}/v2/"), extra))
    for mirror in inv.registry_mirrors:
        parts = urlsplit(str(mirror))
        out.append(Probe(f"registry mirror {parts.netloc}", shlex.quote(f"{parts.scheme}://{parts.netloc}/v2/")))
    return out


# ONE curl fetching every URL at once (-Z; %{urlnum}, %{exitcode} and %{errormsg} since curl 7.75: Debian 12 has
# 7.88, Ubuntu 22.04 7.81, EL 9 7.76), its lines numbered back to their labels by bash; an older curl (its
# first field is then not a number) falls back to one curl per URL, in parallel.
MULTI = ("curl -sS -Z -r 0-0 -L --connect-timeout 3 --max-time " + str(TIMEOUT_S) +
         " -w '%{urlnum}|%{exitcode}|%{errormsg} http=%{http_code}|%{url}\\n'")


def _script(inv, by_family: dict[str, list[Probe]]) -> str:
    """Read the node's OS, then fetch the family's URLs at once, a line each: ``N:LABEL|curl exit|text|URL``."""
    def lists(probes):
        labels = " ".join(shlex.quote(p.label) for p in probes)
        return f"_l=({labels}); _u=({' '.join(p.url for p in probes)})"
    extra = " ".join(shlex.quote(x) for x in next((p.extra for ps in by_family.values() for p in ps if p.extra), ()))
    return ("command -v curl >/dev/null || { echo " + NO_CURL + "; exit 0; }; " + _proxy_env(inv) +
            ". /etc/os-release 2>/dev/null; _MAJOR=${VERSION_ID%%.*}; _ARCH=$(uname -m); "
            'case " $ID $ID_LIKE " in *" rhel "*|*" fedora "*|*" centos "*) ' + lists(by_family["rpm"]) + ";; "
            "*) " + lists(by_family["deb"]) + ";; esac; "
            '[ ${#_u[@]} -gt 0 ] || exit 0; _a=(); for _x in "${_u[@]}"; do _a+=(-o /dev/null "$_x"); done; '
            f'_o=$({MULTI} {extra} "${{_a[@]}}" 2>/dev/null); '
            "case $_o in [0-9]*'|'[0-9]*) while IFS='|' read -r _n _r _t; do "
            'printf \'%s:%s|%s|%s\\n\' "$_n" "${_l[_n]}" "$_r" "$_t"; done <<<"$_o";; '
            "*) " + PROBE_FN + '_i=0; for _x in "${_u[@]}"; do _sp "$_i:${_l[_i]}" "$_x" ' + extra +
            " & _i=$((_i+1)); done; wait;; esac")


class Answer(NamedTuple):
    label: str
    url: str
    code: int           # HTTP status, 0 when none
    error: str          # curl's message, "" when curl succeeded


def answers(lines: list[str]) -> list[Answer]:
    out = []
    for line in lines:
        parts = line.split("|", 3)
        if len(parts) != 4:
            continue
        numbered, rc, text, url = parts
        index, _, label = numbered.partition(":")
        message, _, code = text.rpartition(" http=")
        # curl's own "(N) message" on stderr (one curl per URL) and -w's %{errormsg} (one for all) alike
        message = message.strip().removeprefix("curl: ")
        error = "" if rc == "0" else (message if message.startswith("(") else f"({rc}) {message}".strip())
        out.append((int(index) if index.isdigit() else 0,
                    Answer(label, url, int(code) if code.isdigit() else 0, error)))
    return [a for _, a in sorted(out, key=lambda pair: pair[0])]


def _describe(a: Answer) -> str:
    return f"{a.label} {a.url}: {a.error or f'HTTP {a.code}'}"


class _Reach(NodeCheck):
    ok_codes: tuple[int, ...] = (200, 206)
    expected = ""
    fix = ""

    def evaluate(self, f, node):
        lines = f.lines(self.id)
        if lines == [NO_CURL]:
            return self.failed("curl is not installed: not asked", self.expected,
                               "install curl (up's prep installs it), then run preflight again", severity=WARN)
        got = answers(lines)
        return self._judge(f, got, [a for a in got if a.error or a.code not in self.ok_codes])

    def _judge(self, f, got: list[Answer], bad: list[Answer]):
        if not got:
            return self.passed("nothing to fetch", self.expected)
        if not bad:
            return self.passed("; ".join(f"{a.label}: HTTP {a.code}" for a in got), self.expected)
        return self.failed("; ".join(_describe(a) for a in bad), self.expected, self.fix)


class PackageSources(_Reach):
    id, title = "net.package_repos", "the package repositories up installs from answer from the node"
    reads = ("/etc/os-release", "GET each repository index (InRelease, repomd.xml)")
    expected = "each repository index answers 200"
    fix = "set package_mirrors to repositories the node reaches (or its proxy: the inventory's proxy section)"

    def fact_commands(self, inv, host):
        return {self.id: _script(inv, repository_probes(inv, host))}


class RegistryReachable(_Reach):
    id, title = "net.registry", "the image registry answers /v2/ from the node"
    severity = WARN
    reference = "kubeadm"
    reads = ("GET /v2/ of the image repository's registry and Docker's registry mirrors",)
    ok_codes = (200, 401)          # 401: a registry asking for credentials is still a registry
    expected = "/v2/ answers 200 or 401"
    fix = ("make the registry reachable (image_repository, registry.insecure for plain HTTP), "
           "or load the images on the nodes beforehand")

    def applies(self, node):
        return node.is_kube_node

    def fact_commands(self, inv, host):
        probes = registry_probes(inv)
        return {self.id: _script(inv, {"deb": probes, "rpm": probes})}

    def _judge(self, f, got, bad):
        # One cause, one finding: names that cannot resolve (curl exit 6) on a node without a nameserver are
        # dns.resolv_conf's warning (whose fix is the cause's); here it says so and points there.
        no_dns = "dns.resolv_conf" in f.values and f.lines("dns.resolv_conf")[1:] == []
        if no_dns and bad and all(a.error.startswith("(6)") for a in bad):
            hosts = ", ".join(urlsplit(a.url).hostname or a.url for a in bad)
            return self.skipped(f"not asked: {hosts} needs DNS and the node has no nameserver (dns.resolv_conf)")
        return super()._judge(f, got, bad)
