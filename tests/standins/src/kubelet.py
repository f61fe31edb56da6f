"""Stand-in kubelet: `kubelet --version`, and a daemon that checks its inputs like the
real one (config file, swap, CRI socket, cgroup driver) then serves /healthz and idles.

It runs no pods. Without /var/lib/kubelet/config.yaml it exits 1 and systemd
restarts it every 10 s - the crash loop a freshly installed real kubelet shows.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import threading
from http.server import BaseHTTPRequestHandler


def fail(msg: str) -> int:
    klog("E", f'"command failed" err="{msg}"')
    return 1


class Health(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"ok"
        self.send_response(200 if self.path.split("?")[0] in ("/healthz", "/healthz/") else 404)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeletAPI(BaseHTTPRequestHandler):
    """The kubelet's own HTTPS port (10250): anonymous requests are refused, as with
    kubeadm's KubeletConfiguration (authentication.anonymous.enabled: false)."""

    def log_message(self, *a):
        pass

    def do_GET(self):
        body = b"Unauthorized"
        self.send_response(401)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serving_cert(node: str) -> tuple:
    """/var/lib/kubelet/pki/kubelet.{crt,key}: self-signed at first start, like the real kubelet."""
    crt, key = "/var/lib/kubelet/pki/kubelet.crt", "/var/lib/kubelet/pki/kubelet.key"
    if not (exists(crt) and exists(key)):
        k = new_ec_key()
        write_file(key, key_pem(k), 0o600)
        write_file(crt, make_cert(f"{node}-ca@{int(time.time())}", k, is_ca=True, dns=[node]), 0o644)
    return P(crt), P(key)


STATIC = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
PODS_FILE = "/run/standins/static-pods.json"
APISERVER_UNIT = "/etc/systemd/system/standin-apiserver.service"

class StaticPods:
    """The static pods of /etc/kubernetes/manifests, as the kubelet's file source sees them: a pod whose
    manifest goes away is stopped, one whose manifest comes back is started again (the restart
    kubernetes.io's "Certificate Management with kubeadm" describes: move the manifest out, wait, move it
    back), and one whose manifest changes is restarted. Two have a process: kube-apiserver
    (standin-apiserver.service, which kubeadm started) and, on a node with Debian's etcd, etcd
    (standin-etcd.service: the real etcd with the manifest's command); the others are bookkeeping. What
    runs is in PODS_FILE (`crictl ps` reads it). The real kubelet looks every fileCheckFrequency (20 s);
    this one every second."""

    def __init__(self):
        self.real_etcd = real_etcd_node()
        self.running, self.digest = {}, {}
        for name in STATIC:
            text = self.manifest(name)
            if text is not None:
                self.running[name], self.digest[name] = self.new_id(), hashlib.sha256(text.encode()).hexdigest()
                if name == "etcd" and self.real_etcd:
                    systemctl("start", "standin-etcd.service")    # a kubelet (re)start runs its pods again
        self.stopped: set = set()
        self.save()

    @staticmethod
    def manifest(name: str):
        try:
            return read_file(f"/etc/kubernetes/manifests/{name}.yaml")
        except OSError:
            return None

    @staticmethod
    def new_id() -> str:
        return secrets.token_hex(32)

    def save(self) -> None:
        write_file(PODS_FILE, json.dumps({n: {"id": i} for n, i in sorted(self.running.items())}), 0o644)

    def process(self, name: str, action: str) -> None:
        if name == "kube-apiserver" and exists(APISERVER_UNIT) and (action != "start" or name in self.stopped):
            systemctl(action, "standin-apiserver.service")
        if name == "etcd" and self.real_etcd:
            systemctl(action, "standin-etcd.service")

    def sync(self) -> None:
        changed = False
        for name in STATIC:
            text = self.manifest(name)
            digest = hashlib.sha256(text.encode()).hexdigest() if text is not None else None
            if text is not None and name not in self.running:
                self.process(name, "start")
                self.stopped.discard(name)
                self.running[name], self.digest[name] = self.new_id(), digest
                klog("I", f'"static pod started" pod="kube-system/{name}"')
                changed = True
            elif text is None and name in self.running:
                self.process(name, "stop")
                self.stopped.add(name)
                del self.running[name]
                klog("I", f'"static pod stopped" pod="kube-system/{name}" reason="manifest removed"')
                changed = True
            elif text is not None and digest != self.digest.get(name):
                if name == "etcd":      # kube-apiserver's own unit is restarted by whoever rewrote it
                    self.process(name, "restart")
                self.running[name], self.digest[name] = self.new_id(), digest
                klog("I", f'"static pod restarted" pod="kube-system/{name}" reason="manifest changed"')
                changed = True
        if changed:
            self.save()


def kubelet_api(cfg: dict, node: str):
    """The TLS server on cfg port (10250), or None when the port cannot be bound (tests)."""
    addr, port = cfg.get("address") or "0.0.0.0", int(cfg.get("port", 10250))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*serving_cert(node))
    try:
        return GoHTTPServer((addr, port), KubeletAPI, ctx)
    except OSError as exc:
        klog("E", f'"Failed to listen and serve" err="listen tcp {addr}:{port}: bind: {exc.strerror}"')
        return None


def docker_cgroup_driver() -> str | None:
    """Ask the (stand-in) Docker daemon which cgroup driver it runs with, as cri-dockerd would."""
    try:
        return json.loads(unix_http_get(P("/var/run/docker.sock"), "/info", timeout=3)[1]).get("CgroupDriver")
    except (OSError, ValueError):
        return None


# The kubelet's command line: KubeletFlags.AddFlags and the deprecated KubeletConfiguration flags in
# kubernetes/kubernetes cmd/kubelet/app/options/options.go, plus the logging and global flags (the part a
# kubeadm node uses and the common ones; not every hidden flag). pflag refuses anything else with
# "unknown flag", and the kubelet exits 1: "failed to parse kubelet flag: unknown flag: --X".
KUBELET_FLAGS = {
    "config", "kubeconfig", "bootstrap-kubeconfig", "cert-dir", "container-runtime-endpoint", "image-service-endpoint",
    "hostname-override", "node-ip", "provider-id", "root-dir", "lock-file", "exit-on-lock-contention",
    "seccomp-default", "node-labels", "register-node", "register-with-taints", "runonce", "enable-server", "address",
    "port", "read-only-port", "healthz-port", "healthz-bind-address", "tls-cert-file", "tls-private-key-file",
    "tls-cipher-suites", "tls-min-version", "rotate-certificates", "rotate-server-certificates", "cluster-dns",
    "cluster-domain", "cgroup-driver", "cgroup-root", "cgroups-per-qos", "kubelet-cgroups", "system-cgroups",
    "runtime-cgroups", "runtime-request-timeout", "fail-swap-on", "max-pods", "pod-cidr", "pod-manifest-path",
    "resolv-conf", "authentication-token-webhook", "authorization-mode", "client-ca-file", "anonymous-auth",
    "eviction-hard", "eviction-soft", "kube-reserved", "system-reserved", "feature-gates", "image-gc-high-threshold",
    "image-gc-low-threshold", "volume-plugin-dir", "cloud-provider", "node-status-update-frequency",
    "serialize-image-pulls", "pod-infra-container-image", "fail-cgroupv1", "v", "vmodule", "log-flush-frequency",
    "logging-format", "version", "help",
}
# Removed flags, by the minor that removed them: the dockershim flags with dockershim in 1.24
# (network-plugin, cni-*, docker-endpoint, image-pull-progress-deadline, experimental-dockershim-root-directory),
# --container-runtime in 1.27 (CHANGELOG-1.24.md, CHANGELOG-1.27.md), --pod-infra-container-image in 1.35
# (kubernetes/kubernetes #133779: the sandbox image comes from the CRI runtime).
REMOVED_FLAGS = {"network-plugin": 24, "cni-bin-dir": 24, "cni-conf-dir": 24, "cni-cache-dir": 24,
                 "docker-endpoint": 24, "image-pull-progress-deadline": 24,
                 "experimental-dockershim-root-directory": 24, "container-runtime": 27,
                 "pod-infra-container-image": 35}


def flag_set() -> set:
    """This version's flags: the list above minus what its minor removed."""
    return {f for f in KUBELET_FLAGS if REMOVED_FLAGS.get(f, 999) > KUBE_MINOR}


def report_version(node: str, stop) -> None:
    """The node status update a starting kubelet makes (pkg/kubelet/kubelet_node_status.go): its own version in
    nodeInfo - after a package upgrade and a restart the Node shows the new kubelet. Retried every 5 s until
    the API answers (a Node not registered yet gets the version from its registration)."""
    conf = "/etc/kubernetes/kubelet.conf"
    while not stop.is_set():
        if exists(conf):
            try:
                code, _ = kc_request(load_kubeconfig(P(conf)), "PATCH", f"/api/v1/nodes/{node}/status",
                                     {"status": {"nodeInfo": {"kubeletVersion": f"v{KUBE_VERSION}"}}}, timeout=5)
                if code < 300 or code == 404:
                    return
            except (ConnError, OSError, ValueError, KeyError):
                pass
        stop.wait(5)


def main(argv) -> int:
    spec = {"version": "bool", "config": "str", "kubeconfig": "str", "bootstrap-kubeconfig": "str",
            "container-runtime-endpoint": "str", "node-ip": "str", "pod-infra-container-image": "str",
            "hostname-override": "str", "fail-swap-on": "bool", "fail-cgroupv1": "bool", "cgroup-driver": "str",
            "v": "int", "help": "bool"}
    spec = {k: v for k, v in spec.items() if REMOVED_FLAGS.get(k, 999) > KUBE_MINOR}
    args = []
    for a in argv:
        name = a[2:].split("=", 1)[0] if a.startswith("--") else None
        if name and name not in spec and name in flag_set():
            continue        # a real flag the stand-in has no use for
        args.append(a)      # unknown (or removed) flags reach the parser and fail as upstream's
    f, _, _ = flags_or_exit(args, spec, {"v": "v", "h": "help"}, "Error: failed to parse kubelet flag: {exc}")
    if f.get("version"):
        out(f"Kubernetes v{KUBE_VERSION}")
        return 0
    if f.get("help"):
        out("The kubelet is the primary node agent (STAND-IN for tests; runs no pods).")
        return 0
    path = f.get("config") or "/var/lib/kubelet/config.yaml"
    try:
        cfg = yaml_load(read_file(path)) or {}
    except FileNotFoundError:
        return fail(f"failed to load kubelet config file, path: {path}, error: failed to load Kubelet config file "
                    f"{path}, error failed to read kubelet config file \\\"{path}\\\", error: open {path}: no such "
                    f"file or directory")
    except YAMLError as exc:
        return fail(f"failed to load kubelet config file, path: {path}, error: {exc}")
    klog("I", f'"Starting stand-in kubelet" version="v{KUBE_VERSION}" config="{path}"')
    # kubernetes/kubernetes pkg/kubelet/apis/config/validation/validation_linux.go validateKubeletOSConfiguration:
    # FailCgroupV1 (default true from 1.35, #134298) on a host not in cgroup v2 unified mode; cmd/kubelet/app/
    # server.go wraps it as "failed to validate kubelet configuration, error: ..." (then the config it read).
    fail_v1 = f.get("fail-cgroupv1", cfg.get("failCgroupV1", KUBE_MINOR >= 35))
    if fail_v1 and cgroup_v1():
        return fail("failed to validate kubelet configuration, error: kubelet is configured to not run on a host "
                    "using cgroup v1. cgroup v1 support is unsupported and will be removed in a future release")
    fail_swap = f.get("fail-swap-on", cfg.get("failSwapOn", True))
    swaps = swaps_in_use()
    if fail_swap and swaps:
        return fail("failed to run Kubelet: running with swap on is not supported, please disable swap or set "
                    f"--fail-swap-on flag to false. /proc/swaps contained: [Filename Type Size Used Priority "
                    f"{' '.join(swaps)}]")
    endpoint = f.get("container-runtime-endpoint") or cfg.get("containerRuntimeEndpoint") or \
        "unix:///run/containerd/containerd.sock"
    sock = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
    problem = unix_connectable(sock)
    if problem:
        return fail(f"failed to run Kubelet: validate service connection: validate CRI v1 runtime API for endpoint "
                    f"\\\"{endpoint}\\\": rpc error: code = Unavailable desc = connection error: desc = \\\"transport: "
                    f"Error while dialing: {problem}\\\"")
    driver = f.get("cgroup-driver") or cfg.get("cgroupDriver") or "cgroupfs"
    if "cri-dockerd" in endpoint:
        docker = docker_cgroup_driver()
        if docker and docker != driver:
            return fail(f"failed to run Kubelet: misconfiguration: kubelet cgroup driver: \\\"{driver}\\\" is "
                        f"different from docker cgroup driver: \\\"{docker}\\\"")
    addr = cfg.get("healthzBindAddress") or "127.0.0.1"
    port = int(cfg.get("healthzPort", 10248))
    try:
        server = GoHTTPServer((addr, port), Health)
    except OSError as exc:
        return fail(f"failed to run Kubelet: listen tcp {addr}:{port}: bind: {exc.strerror}")
    stop = stop_on_signals()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    node = f.get("hostname-override") or hostname()
    api = kubelet_api(cfg, node) if not local_mode() else None
    if api is not None:
        threading.Thread(target=api.serve_forever, daemon=True).start()
    klog("I", f'"Stand-in kubelet running" node="{node}" runtime="{endpoint}" cgroupDriver="{driver}" '
              f'healthz="http://{addr}:{port}/healthz" (no pods are run)')
    sd_notify("READY=1")
    if not local_mode():
        threading.Thread(target=report_version, args=(node, stop), daemon=True).start()
    pods = StaticPods() if not local_mode() else None
    ticks = 0
    while not stop.wait(1):
        ticks += 1
        if pods is not None:
            pods.sync()
        if ticks % 300 == 0:
            klog("I", '"stand-in kubelet still running"')
    server.shutdown()
    if api is not None:
        api.shutdown()
    return 0


if __name__ == "__main__":
    run_main("kubelet", main, daemon="--version" not in sys.argv and "--help" not in sys.argv)
