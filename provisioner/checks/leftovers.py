"""What an earlier kubeadm attempt left on a host: kubeadm's own FileAvailable/DirAvailable preflight errors.

kubernetes/kubernetes cmd/kubeadm/app/preflight/checks.go: InitNodeChecks refuses the four static pod
manifests (FileAvailableCheck) and a non-empty etcd data dir (DirAvailableCheck: any entry, dotfiles too);
JoinNodeChecks refuses kubelet.conf and bootstrap-kubelet.conf, and on a worker the CA certificate
(FileAvailableCheck{Path: cfg.CACertPath}). kubeadm stops there; `up` instead asks the cluster whether the
node finished (phases/halfdone.py) and resets a half-done node itself. A node with kubelet.conf or admin.conf
is such a member (or half-done) and passes; on any other node the files are a warning that names them, not a
failure, and no phase is named as its fix: `up` resets only what it finds half-done.
"""

from __future__ import annotations

from provisioner.checks.base import WARN, NodeCheck

MANIFESTS = [f"/etc/kubernetes/manifests/{c}.yaml"
             for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")]
JOIN_FILES = ["/etc/kubernetes/kubelet.conf", "/etc/kubernetes/bootstrap-kubelet.conf"]
CA_CERT = "/etc/kubernetes/pki/ca.crt"
ETCD_DIR = "/var/lib/etcd"


def paths_for(control_plane: bool) -> list[str]:
    return MANIFESTS + JOIN_FILES if control_plane else JOIN_FILES + [CA_CERT]


class KubeadmLeftovers(NodeCheck):
    id, title = "kube.leftovers", "no files of an earlier kubeadm init/join"
    severity = WARN
    reference = "kubeadm"
    reads = ("/etc/kubernetes/manifests/*.yaml", "/etc/kubernetes/{kubelet,bootstrap-kubelet}.conf", CA_CERT, ETCD_DIR)

    def applies(self, node):
        return node.is_kube_node

    def fact_commands(self, inv, host):
        cp = host.has("control-plane")
        # Builtins only: [ -e ] per file (kubeadm: os.Stat succeeds), and for the etcd dir any entry,
        # dotfiles included (kubeadm: Readdirnames(1) != EOF), by three globs.
        files = " ".join(paths_for(cp))
        etcd = ("; [ -d /var/lib/etcd ] && { compgen -G '/var/lib/etcd/*' || compgen -G '/var/lib/etcd/.[!.]*' "
                "|| compgen -G '/var/lib/etcd/..?*'; } >/dev/null && echo /var/lib/etcd/" if cp else "")
        return {self.id: f"for _f in {files}; do [ -e \"$_f\" ] && echo \"$_f\"; done{etcd}; true"}

    def evaluate(self, f, node):
        found = f.lines(self.id)
        if node.joined:       # kubelet.conf or admin.conf: a member, or one `up` finds half-done and resets
            return self.passed("in a cluster (or half-joined: up asks the cluster and resets it)", "none")
        if not found:
            return self.passed("none", "none")
        observed = ", ".join(p.replace("/var/lib/etcd/", "/var/lib/etcd (not empty)") for p in found)
        return self.failed(observed, "none (kubeadm init/join refuse them)",
                           f"if {node.name} is not a working member: `provisioner reset --limit {node.name}` (kubeadm reset -f) before "
                           "up; up itself resets a node whose init/join it finds half-done and keeps a finished one")
