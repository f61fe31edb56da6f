"""The container runtime's CRI socket answers, not only its service state.

kubeadm's ContainerRuntimeCheck (kubernetes/kubernetes cmd/kubeadm/app/preflight/checks.go) calls the runtime's
IsRunning: a CRI Status call on the socket. Here: ``crictl info`` (the same Status call) when crictl is there,
else a connect by curl (exit 7: nothing accepts on the socket; any other answer means something listens).
Before `up` installed a runtime there is no socket and nothing to judge.
"""

from __future__ import annotations

from provisioner.checks.base import WARN, NodeCheck, Result, unit_file_exists
from provisioner.compat import CRI_SOCKET

SOCKET = CRI_SOCKET.removeprefix("unix://")


def socket_command(path: str = SOCKET) -> str:
    # A refused socket also says whether cri-docker.socket is stopped: systemd leaves the file of a stopped
    # socket unit behind (RemoveOnStop=no), and up's runtime phase starts the unit again.
    stopped = "{ systemctl is-active --quiet cri-docker.socket 2>/dev/null || echo 'unit stopped'; }"
    return (f"_s={path}; if [ -S $_s ]; then "
            "if command -v crictl >/dev/null 2>&1; then crictl --runtime-endpoint unix://$_s --timeout 2s info "
            f">/dev/null 2>&1 && echo 'answers crictl info' || {{ echo 'refused crictl info'; {stopped}; }}; "
            "elif command -v curl >/dev/null 2>&1; then curl -s -m 2 --unix-socket $_s -o /dev/null http://cri/; "
            f"if [ $? = 7 ]; then echo 'refused connect'; {stopped}; else echo 'answers connect'; fi; "
            "else echo 'present unprobed'; fi; "
            "elif [ -e $_s ]; then echo 'not-a-socket'; "
            f"elif {unit_file_exists('cri-docker.service')}; then echo 'missing installed'; else echo absent; fi")


class CriSocket(NodeCheck):
    id, title = "runtime.socket", f"the CRI socket {SOCKET} answers"
    reference = "kubeadm"
    reads = (SOCKET,)
    # A socket missing, or left behind by a stopped cri-docker.socket, while cri-docker is installed (a run
    # stopped inside the runtime phase): that phase writes cri-docker.socket and starts it. A socket whose
    # unit is active and still refuses is not repaired by up.
    fixed_by = "runtime"
    facts = {"runtime.socket": socket_command()}

    def applies(self, node):
        return node.is_kube_node

    def evaluate(self, f, node):
        state = f.text(self.id) or "absent"
        if state == "absent":
            return self.skipped("no container runtime installed yet")
        if state.startswith("answers"):
            return self.passed(f"{SOCKET}: {state}", "answers")
        if state == "present unprobed":
            return self.failed(f"{SOCKET} present, neither crictl nor curl to ask it", "answers",
                               "install curl (prep does) or crictl (cri-tools) so preflight can ask the socket",
                               severity=WARN)
        fix = "systemctl restart cri-docker.socket cri-docker.service and read journalctl -u cri-docker"
        if state == "missing installed":
            return self.failed(f"cri-docker.service installed, {SOCKET} missing", "answers", fix)
        if state.startswith("refused") and state.endswith("\nunit stopped"):
            return self.failed(f"{SOCKET}: {state.splitlines()[0]} (cri-docker.socket stopped)", "answers", fix)
        observed = f"{SOCKET} is not a socket" if state == "not-a-socket" else f"{SOCKET}: {state}"
        return Result(self.id, self.severity, observed, "answers", fix, fixed_by=None)
