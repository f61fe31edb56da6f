"""Has kubeadm finished on a node, not started, or stopped half-way? Read-only probes, and the redo.

>>> p = init_probe("master1", "172.31.250.101")          # one shell command, batched with the other probes
>>> state = NodeState.parse("half kubelet.conf,admin.conf etcd,node ab12")
>>> state.kind, state.traces, state.missing, state.ca_sha
('half', ['kubelet.conf', 'admin.conf'], ['etcd', 'node'], 'ab12')
>>> state.line("master2", "joined", "joining again")
'master2: half-joined (kubelet.conf, admin.conf present; no etcd member, no node object) - kubeadm reset -f, joining again'

A file kubeadm writes early (admin.conf, kubelet.conf) says kubeadm *started*,
not that it finished: a run killed inside ``kubeadm init``/``join`` leaves
them. So "done" is what the cluster says:

- init: the API server on the node answers ``/healthz`` (verified with our
  CA), admin.conf authenticates against it (and kubeadm's upload-config
  ConfigMap is there), and the node's etcd member is listed by name;
- control-plane join: its etcd member is listed by name and its Node object
  exists, marked control-plane (kubeadm's last join phase);
- worker join: its Node object exists.

Which Node objects exist comes from ONE read of the node list on the first control plane (:data:`NODE_LIST`,
given to every joining host's step by the engine: ``Step.elsewhere``), not from each node asking the API for
its own: at 98 nodes those were 96 requests at once through the VIP.

The etcd member list is etcd's own ``POST /v3/cluster/member/list`` (grpc-gateway, etcd-io/etcd
``api/etcdserverpb/rpc.proto``) on the node's client port with kubeadm's healthcheck-client certificate: a
member that was added but never started has no name there. A node with traces of kubeadm and a missing
piece is *half-done*: ``kubeadm reset -f`` on that node only (plus the cleanup ``provisioner reset`` does),
then init/join again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace

from provisioner.factdata import Fact
from provisioner.phases.base import CA, KUBECTL, api_read, q
from provisioner.phases.curlreads import Read, curl_reads, ok
from provisioner.render import CRI_SOCKET, KUBEADM_DIR

ADMIN_CONF = "/etc/kubernetes/admin.conf"
PKI = "/etc/kubernetes/pki"
KUBEADM_CONFIG = "/api/v1/namespaces/kube-system/configmaps/kubeadm-config"

# What kubeadm init/join leave behind, in the order they write it (cmd/kubeadm/app/cmd/init.go, join.go).
TRACE_FILES = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", "/etc/kubernetes/kubelet.conf",
               "/etc/kubernetes/bootstrap-kubelet.conf", "/var/lib/kubelet/config.yaml"]
TRACE_DIRS = ["/etc/kubernetes/manifests", "/var/lib/etcd"]

MISSING = {"api": "API not answering /healthz", "admin": "admin.conf not accepted by its API server",
           "etcd": "no etcd member", "node": "no node object", "cp-label": "node not marked control-plane",
           "node-unknown": "node object not confirmed (the API server did not answer the node list)"}


@dataclass
class NodeState:
    kind: str                                   # fresh | done | half
    traces: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    ca_sha: str = ""

    @classmethod
    def parse(cls, output: str) -> "NodeState":
        lines = (output or "").strip().splitlines()
        words = (lines[-1].split() if lines else []) + ["", "", "", ""]
        kind = words[0] if words[0] in ("fresh", "done", "half") else "fresh"

        def items(word: str) -> list[str]:
            return [w for w in word.split(",") if w and w != "-"]
        return cls(kind, items(words[1]), items(words[2]), "" if words[3] == "-" else words[3])

    def with_nodes(self, nodes: dict[str, bool] | None, name: str, control_plane: bool) -> "NodeState":
        """This state with what the node list says of ``name`` (:func:`node_list`; None: the list was not read):
        its Node missing, not marked control-plane, or not confirmed. A fresh node needs no Node."""
        if self.kind == "fresh":
            return self
        missing = list(self.missing)
        if nodes is None:
            missing.append("node-unknown")
        elif name not in nodes:
            missing.append("node")
        elif control_plane and not nodes[name]:
            missing.append("cp-label")
        return replace(self, kind="half" if missing else "done", missing=missing)

    @property
    def problems(self) -> str:
        return ", ".join(MISSING.get(m, m) for m in self.missing)

    def why(self, done_word: str) -> str:
        return f"half-{done_word} ({', '.join(self.traces) or 'kubeadm files'} present; {self.problems})"

    def line(self, host: str, done_word: str, again: str) -> str:
        """The line ``up`` prints before redoing a half-done node."""
        return f"{host}: {self.why(done_word)} - kubeadm reset -f, {again}"


def _traces(extra: tuple = ()) -> str:
    """Shell: ``t`` = comma list of what kubeadm left on this node."""
    parts = ["t=''"]
    for path in [*TRACE_FILES, *extra]:
        parts.append(f"if [ -e {path} ]; then t=\"$t,{path.rsplit('/', 1)[1]}\"; fi")
    for path in TRACE_DIRS:
        # Not empty (what `ls -A` would list, dot files included), by bash's own globbing: no process.
        parts.append(f"for f in {path}/* {path}/.[!.]* {path}/..?*; do if [ -e \"$f\" ] || [ -L \"$f\" ]; then "
                     f"t=\"$t,{path}\"; break; fi; done")
    return "; ".join(parts)


def etcd_call(call: str, body: str, seconds: int) -> str:
    """``POST /v3/cluster/CALL`` on the local etcd's grpc-gateway with kubeadm's healthcheck-client certificate,
    answered within ``seconds``."""
    return (f"curl -fsS --max-time {seconds} --cacert {PKI}/etcd/ca.crt --cert {PKI}/etcd/healthcheck-client.crt "
            f"--key {PKI}/etcd/healthcheck-client.key -X POST -d {q(body)} "
            f"https://127.0.0.1:2379/v3/cluster/{call}")


def member_list(seconds: int = 3) -> str:
    """etcd's member list JSON, asked with kubeadm's healthcheck-client certificate within ``seconds``."""
    return etcd_call("member/list", "{}", seconds)


MEMBER_LIST = member_list()
# A member list that did not come within the batched read's 3 s is asked again for this long before the
# member counts as missing: a busy control plane answering late is not a node that lost its member.
SLOW_MEMBER_LIST_S = 20
SLOW_NODE_LIST_S = 20      # the same for the node list

CP_LABEL = "node-role.kubernetes.io/control-plane"
# The Node objects, read once with admin.conf on the first control plane: by one curl within 5 s, else (a busy
# API server, or an admin.conf curl cannot use) by kubectl within SLOW_NODE_LIST_S. Its NodeList JSON is parsed
# here (node_list), not on the node.
NODE_LIST = (f"if _l=$({api_read(ADMIN_CONF, '/api/v1/nodes', timeout=5)} 2>/dev/null); then printf '%s\\n' \"$_l\"; "
             f"else {KUBECTL} --request-timeout={SLOW_NODE_LIST_S}s get nodes -o json; fi")


def node_list(fact: Fact | None) -> dict[str, bool] | None:
    """Node name -> marked control-plane, from :data:`NODE_LIST`'s answer; None when it has none (no answer, an
    error, anything but a NodeList).

    >>> node_list(Fact('{"kind": "NodeList", "items": [{"metadata": {"name": "m1", "labels": {"%s": ""}}},'
    ...                '{"metadata": {"name": "w1"}}]}' % CP_LABEL, 0))
    {'m1': True, 'w1': False}
    >>> node_list(Fact("Unable to connect to the server: EOF", 1)) is None
    True
    """
    if fact is None or fact.rc != 0:
        return None
    try:
        items = json.loads(fact.output)["items"]
        return {n["metadata"]["name"]: CP_LABEL in (n["metadata"].get("labels") or {}) for n in items}
    except (ValueError, KeyError, TypeError):
        return None


def member_names(output: str) -> list[str]:
    """Names in etcd's member list JSON (a member added but not started has none).

    >>> member_names('{"members":[{"ID":"1","name":"master1"},{"ID":"2","peerURLs":["https://10.0.0.2:2380"]}]}')
    ['master1']
    """
    return re.findall(r'"name": ?"([^"]+)"', output)


# The reads of the probes below, asked by ONE curl per probe (curlreads): each probe's reads were one curl each.
ETCD_MEMBERS = Read("https://127.0.0.1:2379/v3/cluster/member/list", cacert=f"{PKI}/etcd/ca.crt",
                    cert=f"{PKI}/etcd/healthcheck-client.crt", key=f"{PKI}/etcd/healthcheck-client.key", post="{}",
                    body=True)


def _etcd_member(i: int, name: str) -> str:
    """Read ``i`` (the member list) names ``name``: ``"name":"N"`` or ``"name": "N"`` (what member_names reads).
    When read ``i`` did not answer 2xx, the list is asked once more with :data:`SLOW_MEMBER_LIST_S` to answer."""
    tight, spaced = q(f'"name":"{name}"'), q(f'"name": "{name}"')
    return (f"if {ok(i)}; then _e=$_b{i}; else _e=$({member_list(SLOW_MEMBER_LIST_S)} 2>/dev/null); fi; "
            f"[[ $_e == *{tight}* || $_e == *{spaced}* ]] || m=\"$m,etcd\"")


def _verdict(checks: list[str], extra: tuple = ()) -> str:
    """Shell: fresh when nothing of kubeadm is there, else run ``checks`` (each appends to ``m``)."""
    return (f"{_traces(extra)}; ca=$(sha256sum {CA} 2>/dev/null); ca=${{ca%% *}}; "
            "if [ -z \"$t\" ]; then echo \"fresh - - ${ca:--}\"; else m=''; "
            + "".join(f"{check}; " for check in checks) +
            "if [ -z \"$m\" ]; then echo \"done ${t#,} - ${ca:--}\"; else echo \"half ${t#,} ${m#,} ${ca:--}\"; fi; fi")


def init_probe(name: str, address: str, port: int = 6443) -> str:
    """Read-only: ``fresh|done|half TRACES MISSING CA_SHA`` for the first control plane."""
    api = f"https://{address}:{port}"
    return _verdict([
        curl_reads([Read(f"{api}/healthz"), Read(f"{api}{KUBEADM_CONFIG}", kubeconfig=ADMIN_CONF, timeout=5),
                    ETCD_MEMBERS]),
        f"{ok(0)} || m=\"$m,api\"",
        # admin.conf's credentials against this node's API server; kubectl decides when that read failed.
        f"{ok(1)} || kubectl --kubeconfig={ADMIN_CONF} --server={api} --request-timeout=5s get --raw "
        f"{KUBEADM_CONFIG} >/dev/null 2>&1 || m=\"$m,admin\"",
        _etcd_member(2, name),
    ])


def join_probe(name: str, control_plane: bool) -> str:
    """Read-only: ``fresh|done|half TRACES MISSING CA_SHA`` for a joining node, as far as the node itself can
    tell (kubeadm's files, on a control plane its etcd member); its Node object is in the node list
    (:meth:`NodeState.with_nodes`)."""
    # A join writes pki/ca.crt early (download-certs, or kubelet-start on a worker), and a worker's next
    # join refuses to start while it is there (preflight FileAvailable--etc-kubernetes-pki-ca.crt).
    checks = [curl_reads([ETCD_MEMBERS]), _etcd_member(0, name)] if control_plane else []
    return _verdict(checks, extra=(f"{PKI}/ca.crt",))


# What `kubeadm reset` leaves that the next init/join trips on: the CNI config, our kubeadm files, the rules
# kube-proxy and the CNI wrote, the admin user's kubeconfig. Shared by the redo below and `provisioner reset`.
def reset_script(user: str) -> str:
    home = "/root" if user == "root" else f"$(getent passwd {q(user)} | cut -d: -f6)"
    return " ; ".join([
        f"if command -v kubeadm >/dev/null; then kubeadm reset -f --cri-socket {q(CRI_SOCKET)}; fi",
        f"rm -rf /etc/cni/net.d {q(KUBEADM_DIR)} \"{home}/.kube/config\"",
        "if command -v iptables >/dev/null; then iptables -F && iptables -t nat -F && iptables -t mangle -F "
        "&& iptables -X; fi",
        "if command -v ipvsadm >/dev/null; then ipvsadm --clear; fi",
        "true",
    ])


def redo(ctx, sctx, host, state: NodeState, done_word: str, again: str) -> None:
    """Say what was found, then ``kubeadm reset -f`` and the cleanup of ``provisioner reset`` on this host only."""
    line = state.line(host.hostname, done_word, again)
    ctx.say(line)
    if sctx.remote.log:
        sctx.remote.log.note(host.hostname, line)
    sctx.remote.run(reset_script(sctx.remote.target.user), timeout=600,
                    why=f"kubeadm reset of the half-{done_word} node failed - run `provisioner reset --limit "
                        f"{host.hostname}` and re-run")
