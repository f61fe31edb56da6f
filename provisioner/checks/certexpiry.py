"""A built control plane's certificates, read by kubeadm itself: warn before they expire.

kubeadm's certificates last a year, and nothing renews them on a cluster that is never upgraded: the API
server then refuses every client. ``kubeadm certs check-expiration`` (kubernetes/kubernetes
cmd/kubeadm/app/cmd/certs.go) lists them with their expiry and their CA; its tables are read by
:mod:`provisioner.daytwo.expiration`, the parser ``provisioner certs`` shows. Asked only on a control plane
that has run kubeadm (admin.conf there) and has kubeadm installed: before `up` there is nothing to read.
"""

from __future__ import annotations

from provisioner.checks.base import FAIL, WARN, ControlPlaneCheck
from provisioner.daytwo.expiration import WARN_DAYS, ParseError, parse_check_expiration

ADMIN_CONF = "/etc/kubernetes/admin.conf"
NOT_BUILT = "not built"
FACT = (f"[ -e {ADMIN_CONF} ] && command -v kubeadm >/dev/null || {{ echo {NOT_BUILT}; exit 0; }}; "
        "kubeadm certs check-expiration 2>&1")


class CertExpiry(ControlPlaneCheck):
    id, title = "kube.cert_expiry", f"control-plane certificates valid for {WARN_DAYS} days or more"
    severity = WARN          # an expired one fails (below): the API refuses its clients
    reads = ("kubeadm certs check-expiration",)
    facts = {"kube.cert_expiry": FACT}

    def evaluate(self, f, node):
        text = f.text(self.id)
        if text == NOT_BUILT:
            return self.skipped("no kubeadm-built control plane yet")
        if f.rc(self.id) != 0:
            return self.failed(f"kubeadm certs check-expiration failed (exit {f.rc(self.id)}): "
                               f"{(text.splitlines() or [''])[-1][:120]}", "every certificate read",
                               "run `kubeadm certs check-expiration` on the node and read its error")
        try:
            rows = parse_check_expiration(text, node.name)
        except ParseError as exc:
            return self.failed(str(exc), "kubeadm's check-expiration tables", "check the node's kubeadm version")
        warnings = [w.removeprefix(f"{node.name}: ") for w in (r.warning() for r in rows) if w]
        dated = [r.days_left for r in rows if r.days_left is not None]
        if not warnings:
            return self.passed(f"{len(rows)} certificates, the first to expire in {min(dated, default=0)} days",
                               f">= {WARN_DAYS} days left")
        expired = any(d < 0 for d in dated)
        return self.failed("; ".join(warnings), f">= {WARN_DAYS} days left", "provisioner certs --renew",
                           severity=FAIL if expired else WARN)
