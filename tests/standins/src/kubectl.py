"""Stand-in kubectl: version, get (nodes, pods, applied objects, --raw), apply -f, delete, wait.

Talks to the stand-in API server with the kubeconfig's CA and client
certificate, and prints what the real kubectl prints for these commands.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

GLOBAL = {"kubeconfig": "str", "namespace": "str", "all-namespaces": "bool", "output": "str",
          "request-timeout": "str", "v": "int", "server": "str", "context": "str", "client": "bool",
          "filename": "list", "raw": "str", "selector": "str", "for": "str", "timeout": "str", "all": "bool",
          "show-labels": "bool", "no-headers": "bool", "server-side": "bool", "force-conflicts": "bool",
          "field-manager": "str", "dry-run": "str", "validate": "str", "recursive": "bool", "wait": "bool",
          "ignore-not-found": "bool", "help": "bool", "insecure-skip-tls-verify": "bool"}
SHORT = {"n": "namespace", "A": "all-namespaces", "o": "output", "f": "filename", "l": "selector",
         "v": "v", "s": "server", "h": "help", "R": "recursive"}
KUSTOMIZE = "v5.0.4-0.20230601165947-6ce0bf390ce3"
RESOURCES = {
    "nodes": "Node", "node": "Node", "no": "Node",
    "pods": "Pod", "pod": "Pod", "po": "Pod",
    "daemonsets": "DaemonSet", "daemonset": "DaemonSet", "ds": "DaemonSet",
    "deployments": "Deployment", "deployment": "Deployment", "deploy": "Deployment",
    "configmaps": "ConfigMap", "configmap": "ConfigMap", "cm": "ConfigMap",
    "namespaces": "Namespace", "namespace": "Namespace", "ns": "Namespace",
    "serviceaccounts": "ServiceAccount", "serviceaccount": "ServiceAccount", "sa": "ServiceAccount",
    "services": "Service", "service": "Service", "svc": "Service",
    "installations": "Installation", "installation": "Installation",
    "customresourcedefinitions": "CustomResourceDefinition", "crd": "CustomResourceDefinition",
    "crds": "CustomResourceDefinition", "clusterroles": "ClusterRole", "clusterrolebindings": "ClusterRoleBinding",
}


class KubectlError(Exception):
    pass


def kubeconfig_path(f: dict) -> str | None:
    if f.get("kubeconfig"):
        return user_path(f["kubeconfig"])
    env = os.environ.get("KUBECONFIG")
    if env:
        return user_path(env.split(":")[0])
    home = os.environ.get("HOME") or "/root"
    p = user_path(os.path.join(home, ".kube", "config"))
    return p if os.path.exists(p) else None


def connect(f: dict) -> dict:
    path = kubeconfig_path(f)
    if path is None or not os.path.exists(path):
        if f.get("kubeconfig"):
            raise KubectlError(f'error: stat {f["kubeconfig"]}: no such file or directory')
        raise KubectlError("E0611 00:00:00.000000   00000 memcache.go:265] couldn't get current server API group "
                           "list: Get \"http://localhost:8080/api?timeout=32s\": dial tcp 127.0.0.1:8080: connect: "
                           "connection refused\nThe connection to the server localhost:8080 was refused - did you "
                           "specify the right host or port?")
    try:
        kc = load_kubeconfig(path)
    except (YAMLError, ValueError, KeyError) as exc:
        raise KubectlError(f"error: error loading config file \"{path}\": {exc}") from None
    if f.get("server"):
        kc["server"] = f["server"]
    if f.get("insecure-skip-tls-verify"):
        kc["insecure"] = True
    return kc


def request(kc: dict, method: str, path: str, body=None, timeout: float = 30.0):
    try:
        code, data = kc_request(kc, method, path, body, timeout=timeout)
    except ConnError as exc:
        host = kc["server"].split("://", 1)[-1].rstrip("/")
        if exc.kind == "refused":
            raise KubectlError(f"The connection to the server {host} was refused - did you specify the right host "
                               f"or port?") from None
        raise KubectlError(f"Unable to connect to the server: {str(exc).split(': ', 1)[-1]}") from None
    if code == 401:
        raise KubectlError("error: You must be logged in to the server (Unauthorized)")
    return code, data


def server_error(code: int, data: bytes) -> str:
    try:
        st = json.loads(data)
        return f"Error from server ({st.get('reason') or code}): {st.get('message')}"
    except ValueError:
        return f"Error from server: {data.decode(errors='replace')}"


# ------------------------------------------------------------------ version

def cmd_version(f: dict, pos: list) -> int:
    minor = KUBE_VERSION.split(".")[1]
    client = {"major": "1", "minor": minor, "gitVersion": f"v{KUBE_VERSION}",
              "gitCommit": hashlib.sha1(f"standin-{KUBE_VERSION}".encode()).hexdigest(), "gitTreeState": "clean",
              "buildDate": "2024-06-11T20:20:00Z", "goVersion": "go1.22.4", "compiler": "gc",
              "platform": "linux/amd64"}
    doc = {"clientVersion": client, "kustomizeVersion": KUSTOMIZE}
    server_err = None
    if not f.get("client"):
        try:
            code, data = request(connect(f), "GET", "/version")
            doc["serverVersion"] = json.loads(data)
        except KubectlError as exc:
            server_err = str(exc)
    o = f.get("output")
    if o == "json":
        out(json.dumps(doc, indent=2))
    elif o == "yaml":
        out(yaml_dump(doc).rstrip())
    elif o:
        raise KubectlError("error: --output must be 'yaml' or 'json'")
    else:
        out(f"Client Version: v{KUBE_VERSION}")
        out(f"Kustomize Version: {KUSTOMIZE}")
        if "serverVersion" in doc:
            out(f"Server Version: {doc['serverVersion']['gitVersion']}")
    if server_err:
        err(server_err)
        return 1
    return 0


# ---------------------------------------------------------------------- get

def node_row(n: dict, wide: bool) -> list:
    md, st = n["metadata"], n["status"]
    ready = next((c for c in st.get("conditions", []) if c["type"] == "Ready"), {})
    status_ = "Ready" if ready.get("status") == "True" else "NotReady"
    if any(t.get("effect") == "NoSchedule" and t.get("key") == "node.kubernetes.io/unschedulable"
           for t in (n.get("spec") or {}).get("taints") or []):
        status_ += ",SchedulingDisabled"
    roles = sorted(k.split("/", 1)[1] for k in md.get("labels", {}) if k.startswith("node-role.kubernetes.io/"))
    age = human_age(time.time() - from_rfc3339(md["creationTimestamp"]))
    row = [md["name"], status_, ",".join(roles) or "<none>", age, st["nodeInfo"].get("kubeletVersion", "")]
    if wide:
        ip = next((a["address"] for a in st.get("addresses", []) if a["type"] == "InternalIP"), "<none>")
        ni = st["nodeInfo"]
        row += [ip or "<none>", "<none>", ni.get("osImage") or "<unknown>", ni.get("kernelVersion") or "<unknown>",
                ni.get("containerRuntimeVersion") or "<unknown>"]
    return row


def pod_row(p: dict, wide: bool, all_ns: bool) -> list:
    md, st = p["metadata"], p["status"]
    cs = st.get("containerStatuses") or []
    ready = f"{sum(1 for c in cs if c.get('ready'))}/{max(len(cs), 1)}"
    row = ([md["namespace"]] if all_ns else []) + [md["name"], ready, st["phase"],
                                                    str(sum(c.get("restartCount", 0) for c in cs)),
                                                    human_age(time.time() - from_rfc3339(md["creationTimestamp"]))]
    if wide:
        row += [st.get("podIP") or "<none>", (p.get("spec") or {}).get("nodeName") or "<none>", "<none>", "<none>"]
    return row


JSONPATH_STEP = re.compile(r'\.([A-Za-z0-9_-]+)|\[\*\]|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)=="([^"]*)"\)\]')


def jsonpath_values(path: str, data) -> list:
    """The values of a JSONPath like .items[*].status.conditions[?(@.type=="Ready")].message (the subset of
    kubernetes client-go util/jsonpath this stand-in reads; anything else is an error, not a guess)."""
    if path in ("", "."):
        return [data]
    vals, pos = [data], 0
    while pos < len(path):
        m = JSONPATH_STEP.match(path, pos)
        if not m:
            raise KubectlError(f"error: error parsing jsonpath {path}, the stand-in kubectl reads only .field, [*], "
                               f"[N] and [?(@.field==\"value\")]")
        nxt = []
        for v in vals:
            if m.group(1) is not None:
                if isinstance(v, dict) and m.group(1) in v:
                    nxt.append(v[m.group(1)])
            elif m.group(2) is not None:
                if isinstance(v, list) and int(m.group(2)) < len(v):
                    nxt.append(v[int(m.group(2))])
            elif m.group(3) is not None:
                for e in v if isinstance(v, list) else []:
                    sub = jsonpath_values("." + m.group(3), e)
                    if sub and str(sub[0]) == m.group(4):
                        nxt.append(e)
            else:
                nxt.extend(v if isinstance(v, list) else [])
        vals, pos = nxt, m.end()
    return vals


def jsonpath_render(template: str, data) -> str:
    """kubectl -o jsonpath=TEMPLATE: literal text, {.path}, {"\\t"} literals, {range .path}...{end}."""
    tokens = re.findall(r'\{((?:[^{}"]|"(?:\\.|[^"\\])*")*)\}|([^{}]+)', template)

    def run(i: int, cur) -> tuple[str, int]:
        text = ""
        while i < len(tokens):
            expr, lit = tokens[i]
            expr = expr.strip()
            if lit:
                text += lit
            elif expr == "end":
                return text, i
            elif expr.startswith("range "):
                body_end = i
                for item in jsonpath_values(expr[6:].strip(), cur):
                    part, body_end = run(i + 1, item)
                    text += part
                if body_end == i:          # empty range: skip to the matching end
                    _, body_end = run(i + 1, {})
                i = body_end
            elif expr.startswith('"'):
                text += json.loads(expr)
            else:
                text += " ".join(v if isinstance(v, str) else json.dumps(v) for v in jsonpath_values(expr, cur))
            i += 1
        return text, i

    return run(0, data)[0]


def emit(items: list, kind: str, o: str, single: bool, headers, rows, no_headers: bool) -> None:
    if o.startswith("jsonpath="):
        doc = items[0] if single else {"apiVersion": "v1", "items": items, "kind": "List",
                                       "metadata": {"resourceVersion": ""}}
        sys.stdout.write(jsonpath_render(o[len("jsonpath="):].strip("'"), doc))
        sys.stdout.flush()
    elif o in ("json", "yaml"):
        doc = items[0] if single else {"apiVersion": "v1", "items": items, "kind": "List",
                                       "metadata": {"resourceVersion": ""}}
        out(json.dumps(doc, indent=4) if o == "json" else yaml_dump(doc).rstrip())
    elif o == "name":
        for i in items:
            out(f"{kind.lower()}/{i['metadata']['name']}")
    elif o and o != "wide":
        raise KubectlError(f"error: unable to match a printer suitable for the output format \"{o}\", allowed "
                           f"formats are: json,name,wide,yaml (stand-in kubectl)")
    elif not rows:
        err("No resources found")
    else:
        text = table(headers, rows)
        out("\n".join(text.split("\n")[1:]) if no_headers else text)


def cmd_get(f: dict, pos: list) -> int:
    kc = connect(f)
    if f.get("raw"):
        code, data = request(kc, "GET", f["raw"])
        if code >= 300:
            err(server_error(code, data))
            return 1
        sys.stdout.write(data.decode(errors="replace"))
        sys.stdout.flush()
        return 0
    if not pos:
        raise KubectlError("You must specify the type of resource to get. Use \"kubectl api-resources\" for a "
                           "complete list of supported resources.\n\nerror: Required resource not specified.")
    res, names = pos[0], pos[1:]
    if "/" in res:
        res, name = res.split("/", 1)
        names = [name]
    kind = RESOURCES.get(res.lower())
    if kind is None:
        raise KubectlError(f'error: the server doesn\'t have a resource type "{res}"')
    o = f.get("output", "")
    wide = o == "wide"
    ns = f.get("namespace") or "default"
    all_ns = bool(f.get("all-namespaces"))
    if kind == "Node":
        if names:
            items = []
            for n in names:
                code, data = request(kc, "GET", f"/api/v1/nodes/{n}")
                if code >= 300:
                    err(server_error(code, data))
                    return 1
                items.append(json.loads(data))
        else:
            code, data = request(kc, "GET", "/api/v1/nodes")
            if code >= 300:
                err(server_error(code, data))
                return 1
            items = json.loads(data)["items"]
        headers = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"] + (
            ["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"] if wide else [])
        emit(items, "node", o, bool(names) and len(names) == 1, headers, [node_row(n, wide) for n in items],
             f.get("no-headers"))
        return 0
    if kind == "Pod":
        path = "/api/v1/pods" if all_ns else f"/api/v1/namespaces/{ns}/pods"
        code, data = request(kc, "GET", path)
        if code >= 300:
            err(server_error(code, data))
            return 1
        items = json.loads(data)["items"]
        if names:
            items = [p for p in items if p["metadata"]["name"] in names]
            if not items:
                err(f'Error from server (NotFound): pods "{names[0]}" not found')
                return 1
        if not items and o in ("", "wide"):
            err(f"No resources found in {ns} namespace." if not all_ns else "No resources found")
            return 0
        headers = (["NAMESPACE"] if all_ns else []) + ["NAME", "READY", "STATUS", "RESTARTS", "AGE"] + (
            ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"] if wide else [])
        emit(items, "pod", o, len(names) == 1, headers, [pod_row(p, wide, all_ns) for p in items],
             f.get("no-headers"))
        return 0
    code, data = request(kc, "GET", "/standin/v1/objects")
    if code >= 300:
        err(server_error(code, data))
        return 1
    objs = [x for x in json.loads(data)["items"] if x["kind"] == kind
            and (all_ns or x["namespace"] in ("", ns)) and (not names or x["name"] in names)]
    if not objs:
        if names:
            err(f'Error from server (NotFound): {res} "{names[0]}" not found')
            return 1
        err(f"No resources found in {ns} namespace." if not all_ns else "No resources found")
        return 0
    items = [{"apiVersion": x["apiVersion"], "kind": x["kind"],
              "metadata": {"name": x["name"], "namespace": x["namespace"] or None,
                           "creationTimestamp": rfc3339(x["created"])}} for x in objs]
    rows = [([x["namespace"]] if all_ns else []) + [x["name"], human_age(time.time() - x["created"])] for x in objs]
    emit(items, kind, o, len(names) == 1, (["NAMESPACE"] if all_ns else []) + ["NAME", "AGE"], rows,
         f.get("no-headers"))
    return 0


# -------------------------------------------------------------------- apply

def manifest_docs(path: str) -> list:
    if path.startswith(("http://", "https://")):
        raise KubectlError(f"error: unable to read URL \"{path}\": the stand-in kubectl has no network access to "
                           f"fetch manifests; download the file and apply it with -f FILE")
    try:
        text = read_input(path)
    except FileNotFoundError:
        raise KubectlError(f'error: the path "{path}" does not exist') from None
    if path not in ("-", "/dev/stdin") and os.path.isdir(path):
        raise KubectlError(f'error: the stand-in kubectl does not read directories: "{path}"')
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise KubectlError(f'error: error parsing {path}: {exc}') from None
        docs = doc.get("items", []) if doc.get("kind", "").endswith("List") else [doc]
    else:
        try:
            docs = yaml_load_all(text)
        except YAMLError as exc:
            raise KubectlError(f"error: error parsing {path}: error converting YAML to JSON: yaml: {exc}") from None
        expanded = []
        for d in docs:
            if isinstance(d, dict) and str(d.get("kind", "")).endswith("List") and "items" in d:
                expanded.extend(d.get("items") or [])
            else:
                expanded.append(d)
        docs = expanded
    return [d for d in docs if d is not None]


def describe(doc: dict, source: str) -> dict:
    if not isinstance(doc, dict) or not doc.get("kind") or not doc.get("apiVersion"):
        raise KubectlError(f"error: error validating \"{source}\": error validating data: [apiVersion not set, "
                           f"kind not set]; if you choose to ignore these errors, turn validation off with "
                           f"--validate=false")
    av = str(doc["apiVersion"])
    group = av.rpartition("/")[0]
    md = doc.get("metadata") or {}
    o = {"apiVersion": av, "kind": doc["kind"], "group": group, "name": md.get("name", ""),
         "namespace": md.get("namespace", ""), "source": source,
         "hash": hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()}
    if doc["kind"] == "CustomResourceDefinition":
        spec = doc.get("spec") or {}
        o["crd"] = {"group": spec.get("group"), "kind": (spec.get("names") or {}).get("kind"),
                    "plural": (spec.get("names") or {}).get("plural"), "scope": spec.get("scope", "Namespaced"),
                    "shortNames": (spec.get("names") or {}).get("shortNames") or [],
                    "versions": [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]}
    if doc["kind"] in ("DaemonSet", "Deployment"):
        # What the (stand-in) kubelet runs for a DaemonSet: each container's command and args.
        pod = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {})
        o["containers"] = [{"name": c.get("name", ""), "image": c.get("image", ""),
                            "command": [str(x) for x in c.get("command") or []],
                            "args": [str(x) for x in c.get("args") or []]}
                           for c in pod.get("containers") or [] if isinstance(c, dict)]
    return o


def cmd_apply(f: dict, pos: list) -> int:
    files = f.get("filename") or []
    if not files:
        raise KubectlError("error: must specify one of -f and -k")
    objs = []
    for path in files:
        for d in manifest_docs(path):
            o = describe(d, path)
            if f.get("namespace") and not o["namespace"]:
                o["namespace"] = f["namespace"]
            objs.append(o)
    kc = connect(f)
    code, data = request(kc, "POST", "/standin/v1/apply", {"objects": objs}, timeout=60)
    if code >= 300:
        err(server_error(code, data))
        return 1
    rc = 0
    for r in json.loads(data)["results"]:
        if "line" in r:
            out(r["line"])
        else:
            err(r["error"] if r["error"].startswith(("error", "Error")) else "error: " + r["error"])
            rc = 1
    return rc


def cmd_delete(f: dict, pos: list) -> int:
    kc = connect(f)
    if f.get("filename"):
        rc = 0
        for path in f["filename"]:
            for d in manifest_docs(path):
                o = describe(d, path)
                code, data = request(kc, "DELETE", "/standin/v1/objects", o)
                res = o["kind"].lower() + (f".{o['group']}" if o["group"] else "")
                if code >= 300:
                    if not f.get("ignore-not-found"):
                        err(server_error(code, data))
                        rc = 1
                else:
                    out(f'{res} "{o["name"]}" deleted')
        return rc
    if len(pos) < 2 or RESOURCES.get(pos[0].lower()) != "Node":
        raise KubectlError("error: the stand-in kubectl deletes nodes (kubectl delete node NAME) or -f FILE")
    rc = 0
    for name in pos[1:]:
        code, data = request(kc, "DELETE", f"/api/v1/nodes/{name}")
        if code >= 300:
            if not (code == 404 and f.get("ignore-not-found")):
                err(server_error(code, data))
                rc = 1
        else:
            out(f'node "{name}" deleted')
    return rc


# --------------------------------------------------------------------- wait

def cmd_wait(f: dict, pos: list) -> int:
    # Condition type and status compare case-insensitively (strings.EqualFold in kubernetes/kubernetes
    # staging/src/k8s.io/kubectl/pkg/cmd/wait/condition.go): --for condition=established works.
    cond = f.get("for", "")
    m = re.match(r"^condition=([\w.-]+)(?:=(\w+))?$", cond)
    if not m:
        raise KubectlError("error: the stand-in kubectl waits only --for=condition=NAME[=VALUE] on nodes and crds")
    want_type, want = m.group(1).lower(), (m.group(2) or "True").lower()
    timeout = parse_duration(f.get("timeout", "30s"))
    targets, kinds = [], set()
    for p in pos:
        res, _, name = p.partition("/")
        kind = RESOURCES.get(res.lower())
        if kind not in ("Node", "CustomResourceDefinition"):
            raise KubectlError("error: the stand-in kubectl waits only on nodes and crds")
        if kind == "CustomResourceDefinition" and not name:
            raise KubectlError("error: resource(s) were provided, but no name was specified")
        kinds.add(kind)
        if name:
            targets.append(name)
    if len(kinds) > 1:
        raise KubectlError("error: the stand-in kubectl waits on one resource type at a time")
    kind = kinds.pop() if kinds else "Node"
    res = "nodes" if kind == "Node" else "customresourcedefinition.apiextensions.k8s.io"
    kc = connect(f)
    deadline = time.time() + timeout
    while True:
        if kind == "Node":
            code, data = request(kc, "GET", "/api/v1/nodes")
            objs = {n["metadata"]["name"]: n for n in json.loads(data).get("items", [])} if code < 300 else {}
        else:
            objs = {}
            for name in targets:
                code, data = request(kc, "GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                if code < 300:
                    objs[name] = json.loads(data)
        names = targets or sorted(objs)
        pending = []
        for name in names:
            o = objs.get(name)
            c = next((c for c in (o or {}).get("status", {}).get("conditions", [])
                      if str(c.get("type", "")).lower() == want_type), None)
            if not c or str(c.get("status", "")).lower() != want:
                pending.append(name)
        if names and not pending:
            for name in names:
                out(f"{res}/{name} condition met")
            return 0
        missing = [t for t in targets if t not in objs]
        if missing and kind != "Node":
            err(f'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "{missing[0]}" not found')
            return 1
        if time.time() >= deadline:
            if missing:
                err(f'Error from server (NotFound): nodes "{missing[0]}" not found')
            else:
                err(f"error: timed out waiting for the condition on {res}/{pending[0] if pending else ''}")
            return 1
        time.sleep(min(1.0, max(0.1, deadline - time.time())))


def cmd_cluster_info(f: dict, pos: list) -> int:
    kc = connect(f)
    request(kc, "GET", "/version")
    out(f"Kubernetes control plane is running at {kc['server']}")
    out(f"CoreDNS is running at {kc['server']}/api/v1/namespaces/kube-system/services/kube-dns:dns/proxy")
    out("\nTo further debug and diagnose cluster problems, use 'kubectl cluster-info dump'.")
    return 0


def main(argv) -> int:
    sub = next((a for a in argv if not a.startswith("-")), "")
    f, pos, given = flags_or_exit(argv, GLOBAL, SHORT, f"error: {{exc}}\nSee 'kubectl {sub} --help' for usage.")
    if not pos or f.get("help"):
        out("kubectl controls the Kubernetes cluster manager (STAND-IN for tests: version, get, apply, delete, "
            "wait, cluster-info).")
        return 0
    cmd, rest = pos[0], pos[1:]
    handlers = {"version": cmd_version, "get": cmd_get, "apply": cmd_apply, "create": cmd_apply,
                "delete": cmd_delete, "wait": cmd_wait, "cluster-info": cmd_cluster_info}
    if cmd not in handlers:
        err(f'error: unknown command "{cmd}" for "kubectl"\n\nDid you mean this?\n\tget\n'
            f"(the stand-in kubectl implements {', '.join(sorted(handlers))})")
        return 1
    try:
        return handlers[cmd](f, rest)
    except KubectlError as exc:
        if str(exc):
            err(str(exc))
        return 1


if __name__ == "__main__":
    run_main("kubectl", main)
