"""Container runtime and Kubernetes packages, when already installed."""

from __future__ import annotations

import re
import shlex

from provisioner.checks.base import WARN, NodeCheck, Result, unit_property
from provisioner.facts import PACKAGE_FORMAT      # dpkg-query -W -f, as up's package probes
from provisioner.compat import CRI_SOCKET       # not from render: that would pull in jinja2 for one string
from provisioner.versions import KubeVersion, pause_version


class RuntimeConsistent(NodeCheck):
    id, title = "runtime.docker", "Docker cgroup driver and cri-dockerd pause image match the cluster"
    fixed_by = "runtime"
    reads = ("/etc/docker/daemon.json", "cri-docker.service")   # through docker info and the unit's ExecStart
    facts = {
        "runtime.docker": "command -v docker >/dev/null 2>&1 && docker info --format '{{.CgroupDriver}}' 2>&1 || echo absent",
        "runtime.cri": unit_property("cri-docker.service", "ExecStart"),
    }

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        driver = f.text("runtime.docker").splitlines()[-1:] or ["absent"]
        driver = driver[0].strip()
        if driver == "absent":
            return self.skipped("no container runtime installed yet")
        pause = f"{node.inv.image_repository}/pause:{pause_version(node.inv.version)}"
        found = re.search(r"--pod-infra-container-image[= ](\S+)", f.text("runtime.cri"))
        problems = []
        if driver != "systemd":
            problems.append(f"cgroup driver {driver}")
        if f.text("runtime.cri") and (not found or found.group(1) != pause):
            problems.append(f"pause image {found.group(1) if found else 'default'}")
        observed = f"cgroup driver {driver}, pause {found.group(1) if found else 'n/a'}"
        if not problems:
            return self.passed(observed, f"systemd, {pause}")
        return self.failed(", ".join(problems), f"cgroup driver systemd, pause {pause}, socket {CRI_SOCKET}",
                           "re-run `provisioner up --only runtime` to render daemon.json and cri-docker.service")




def kube_versions_command(also: list[str] | tuple = ()) -> str:
    """The kube.versions fact: ``kubeadm vX`` and ``kubelet vY`` lines (``absent`` where neither a package nor a
    binary provides it). With ``also`` (package names ``up``'s step probes read in the same round trip), its one
    dpkg-query asks for those too and first prints its own lines and exit code, up to a ``@@PKGS RC`` line:
    preflight cuts them off and answers those probes from them (``preflight.join_package_reads``).

    >>> kube_versions_command().count("dpkg-query"), "@@PKGS" in kube_versions_command(["chrony"])
    (1, True)
    """
    names = " ".join(shlex.quote(n) for n in dict.fromkeys(["kubeadm", "kubelet", *also]))
    raw = "_prc=$?; printf '%s\\n@@PKGS %s\\n' \"$_p\" \"$_prc\"; " if also else ""
    return (f"_p=$(dpkg-query -W -f='{PACKAGE_FORMAT}' {names} 2>/dev/null); {raw}"
            "for _b in kubeadm kubelet; do _v=; while read -r _n _ver _st; do "
            "[ \"$_n\" = $_b ] && [ \"${_st:1:1}\" = i ] && _v=${_ver#*:} && _v=v${_v%%-*}; "
            "done <<<\"$_p\"; if [ -z \"$_v\" ] && command -v $_b >/dev/null; then "
            "if [ $_b = kubeadm ]; then _v=$(kubeadm version -o short 2>/dev/null); "
            "else _v=$(kubelet --version 2>/dev/null) && _v=${_v##* }; fi; fi; "
            "echo \"$_b ${_v:-absent}\"; done")


class KubeVersions(NodeCheck):
    id, title = "kube.versions", "kubeadm and kubelet match the inventory version"
    fixed_by = "kube-packages"
    reads = ("kubeadm", "kubelet")     # their packages (dpkg-query), else the binaries
    reference = "kubeadm"              # checks.go KubeletVersionCheck, KubernetesVersionCheck
    # One dpkg-query for both: what `up` installs and holds are the packages (pkgs.k8s.io versions like
    # 1.37.1-1.1: epoch and Debian revision off -> v1.37.1); a binary is asked (`kubeadm version -o short`,
    # `kubelet --version` -> "Kubernetes v1.37.1") only where no installed package provides it.
    facts = {"kube.versions": kube_versions_command()}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        found = {}
        for line in f.lines("kube.versions"):
            name, _, version = line.partition(" ")
            found[name] = version.strip() or "absent"
        wanted = f"v{node.inv.kubernetes_version}"
        installed = {k: v for k, v in found.items() if v not in ("absent", "")}
        if not installed:
            return self.skipped("kubeadm/kubelet not installed yet")
        observed = ", ".join(f"{k} {v}" for k, v in installed.items())
        wrong = [k for k, v in installed.items() if v != wanted]
        if not wrong:
            return self.passed(observed, wanted)
        newer = [k for k in wrong if _newer(installed[k], node.inv.version)]
        if newer:
            # after `provisioner upgrade`: no phase of `up` can fix this (apt and kubeadm do not go back)
            return Result(self.id, self.severity, observed, wanted,
                          f"{' and '.join(newer)} {installed[newer[0]]} is newer than the inventory's kubernetes_version "
                          f"{node.inv.kubernetes_version} - after `provisioner upgrade`, set kubernetes_version: "
                          f"\"{installed[newer[0]].lstrip('v')}\" in the inventory")
        return self.failed(observed, wanted, f"install {', '.join(wrong)} {node.inv.kubernetes_version} and hold it "
                           "(provisioner up --only kube-packages)")


def _newer(installed: str, wanted: KubeVersion) -> bool:
    try:
        v = KubeVersion.parse(installed)
    except ValueError:
        return False
    return (v.major, v.minor, v.patch) > (wanted.major, wanted.minor, wanted.patch)


class KubeletEnabled(NodeCheck):
    id, title = "kube.kubelet_enabled", "the kubelet service is enabled where it is installed"
    severity = WARN            # kubeadm: a warning (checks.go ServiceCheck{Service: "kubelet", CheckIfActive: false})
    fixed_by = "kube-packages"
    reads = ("kubelet",)       # its unit (kubelet.service)
    reference = "kubeadm"
    # What `systemctl enable` leaves: a link to the unit in a .wants directory (its [Install] WantedBy), read by
    # bash itself - one more `systemctl show` here would be 100-200 ms of the node's CPU in every round trip.
    facts = {"kube.kubelet_enabled": (
        "_u=; for _d in /etc/systemd/system /run/systemd/system /usr/lib/systemd/system /lib/systemd/system "
        "/usr/local/lib/systemd/system; do [ -e \"$_d/kubelet.service\" ] && _u=1; done; if [ -n \"$_u\" ]; then "
        "_e=disabled; for _w in /etc/systemd/system/*.wants/kubelet.service /run/systemd/system/*.wants/kubelet.service; "
        "do { [ -e \"$_w\" ] || [ -L \"$_w\" ]; } && _e=enabled; done; echo \"$_e\"; fi")}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        state = f.text(self.id)
        if not state:
            return self.skipped("kubelet not installed yet")
        if state == "enabled":
            return self.passed(state, "enabled")
        return self.failed(state, "enabled", "systemctl enable kubelet.service")
