"""What a node's own environment must give the kubelet: a resolver, kubeadm's mandatory tools, memory.

- resolv.conf: the kubelet hands the host's /etc/resolv.conf to every pod with dnsPolicy Default and CoreDNS
  forwards to its nameservers (the CoreDNS Corefile kubeadm writes: ``forward . /etc/resolv.conf``); without a
  nameserver line, names outside the cluster never resolve.
- tools: kubeadm's InPathCheck marks mount and nsenter mandatory (kubernetes/kubernetes
  cmd/kubeadm/app/preflight/checks_linux.go addExecChecks): the kubelet mounts volumes and enters namespaces.
- memory: kubespray's minimal_node_memory_mb (1024, roles/kubernetes/preinstall/tasks/0040-verify-settings.yml
  "Stop if memory is too small for nodes"); control planes have hw.memory (kubeadm's 1700 MB).
"""

from __future__ import annotations

from provisioner.checks.base import WARN, NodeCheck
from provisioner.checks.system import Memory


class ResolvConf(NodeCheck):
    id, title = "dns.resolv_conf", "the kubelet's resolv.conf names a nameserver"
    severity = WARN     # the install goes through; the cluster's DNS does not (see the fix)
    reads = ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf")
    # The file the kubelet gets: kubeadm points resolvConf at systemd-resolved's upstream file when that runs
    # (cmd/kubeadm/app/componentconfigs/kubelet_unix.go mutateResolverConfig), else /etc/resolv.conf. Its nameserver lines only,
    # by bash itself (no grep); a missing file prints nothing.
    facts = {"dns.resolv_conf": "_f=/etc/resolv.conf; [ -e /run/systemd/resolve/resolv.conf ] && "
                                "_f=/run/systemd/resolve/resolv.conf; echo \"$_f\"; { while read -r _k _v _r; do "
                                "[ \"$_k\" = nameserver ] && echo \"$_v\"; done <\"$_f\"; } 2>/dev/null; true"}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        path, *servers = f.lines(self.id) or ["/etc/resolv.conf"]
        if servers:
            return self.passed(f"{path}: {', '.join(servers)}", "at least one nameserver")
        # One line in the table: CoreDNS forwards to it; without one, outside names never resolve (docs/checks.md)
        return self.failed(f"{path}: no nameserver line", "at least one nameserver",
                           f"add a nameserver to {path} (pods and CoreDNS forward to it)")


TOOLS = ("mount", "nsenter")


class HostTools(NodeCheck):
    id, title = "host.tools", "mount and nsenter on PATH"
    reference = "kubeadm"
    reads = TOOLS
    # As Go's exec.LookPath (kubeadm's InPathCheck): a regular file with an execute bit in a PATH directory.
    # Not `command -v`: bash prints a non-executable match when it finds no executable one.
    facts = {"host.tools": "IFS=: read -ra _ps <<<\"$PATH\"; for _t in " + " ".join(TOOLS) + "; do _ok=; "
                           "for _d in \"${_ps[@]}\"; do [ -f \"$_d/$_t\" ] && [ -x \"$_d/$_t\" ] && { _ok=1; break; }; "
                           "done; [ -n \"$_ok\" ] || echo \"$_t\"; done; true"}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        missing = f.lines(self.id)
        if not missing:
            return self.passed(" ".join(TOOLS), "on PATH")
        return self.failed(", ".join(missing) + " not found", "on PATH",
                           "install util-linux (mount, nsenter): kubeadm refuses a node without them")


MIN_NODE_MB = 1024


class NodeMemory(NodeCheck):
    id, title = "hw.memory_node", f"at least {MIN_NODE_MB} MB memory on workers"
    reference = "kubespray"
    reads = ("/proc/meminfo",)
    facts = Memory.facts               # the same read as hw.memory: one fact, asked once

    def applies(self, node):
        return node.is_kube_node and not node.is_control_plane

    def evaluate(self, f, node):
        kb = next((int(line.split()[1]) for line in f.lines("hw.meminfo") if line.startswith("MemTotal:")), 0)
        mb = kb // 1024
        if mb >= MIN_NODE_MB:
            return self.passed(f"{mb} MB", f">= {MIN_NODE_MB} MB")
        return self.failed(f"{mb} MB", f">= {MIN_NODE_MB} MB", "give this worker at least 1 GiB of memory")

