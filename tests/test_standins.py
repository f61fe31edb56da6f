"""The stand-in Kubernetes/Docker packages (tests/standins): built .debs, CLIs, lab repos.

Local tests run the programs extracted from the built .debs with
STANDIN_ROOT pointing at a temp dir per "node" (no lab, loopback only). The
lab tests install the packages on lab nodes from the lab's mirrors exactly as
the runbook does, run kubeadm init/join/reset, and undo all of it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.lab.util import wait_for
from tests.standins import build
from tests.support.cli import REPO, run_cli
from tests.support.skips import skip_or_fail

GOLDEN = REPO / "tests" / "golden"
KV = build.KUBE_VERSIONS[0]
K8S_VERSION = f"{KV}-{build.K8S_REVISION}"
KMINOR = ".".join(KV.split(".")[:2])
MINOR_INFO = build.MINOR_DEFAULTS[int(KV.split(".")[1])]


# ================================================================ the build

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not build.shutil.which("dpkg-deb"):
        skip_or_fail("dpkg-deb not installed (apt-get install dpkg)")
    return build.build_all(tmp_path_factory.mktemp("debs"))


def deb_field(deb: Path, name: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True,
                          check=True).stdout.strip()


def deb_listing(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout


def test_packages_are_named_and_versioned_like_upstream(built):
    names = {d.name for d in built.all()}
    assert names == {
        f"kubeadm_{K8S_VERSION}_amd64.deb", f"kubelet_{K8S_VERSION}_amd64.deb", f"kubectl_{K8S_VERSION}_amd64.deb",
        f"cri-tools_{MINOR_INFO['cri_tools']}-1.1_amd64.deb", f"kubernetes-cni_{MINOR_INFO['cni']}-1.1_amd64.deb",
        "docker-ce_29.0.4-1~debian.12~bookworm_amd64.deb", "docker-ce-cli_29.0.4-1~debian.12~bookworm_amd64.deb",
        "containerd.io_1.7.22-1_amd64.deb", "cri-dockerd_0.4.4.3-0.debian-bookworm_amd64.deb"}
    versions = {deb_field(d, "Package"): deb_field(d, "Version") for d in built.all()}
    assert versions["docker-ce"] == "5:29.0.4-1~debian.12~bookworm"
    assert versions["cri-dockerd"] == "0.4.4~3-0~debian-bookworm"
    assert versions["kubeadm"] == K8S_VERSION
    kubelet = next(d for d in built.all() if d.name.startswith("kubelet_"))
    depends = deb_field(kubelet, "Depends")
    for real in ("iptables (>= 1.4.21)", "kubernetes-cni", "conntrack", "ebtables", "ethtool", "socat"):
        assert real in depends
    docker = next(d for d in built.all() if d.name.startswith("docker-ce_"))
    assert "containerd.io (>= 1.6.24)" in deb_field(docker, "Depends")


def test_payload_is_root_owned_with_upstream_units(built):
    by_name = {deb_field(d, "Package"): d for d in built.all()}
    for deb in built.all():
        for line in deb_listing(deb).splitlines():
            assert line.split()[1] == "root/root", line
    assert "./usr/lib/systemd/system/kubelet.service" in deb_listing(by_name["kubelet"])
    assert "./usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf" in deb_listing(by_name["kubeadm"])
    assert "./lib/systemd/system/docker.socket" in deb_listing(by_name["docker-ce"])
    cri = deb_listing(by_name["cri-dockerd"])
    assert "./lib/systemd/system/cri-docker.service" in cri and "./lib/systemd/system/cri-docker.socket" in cri
    assert "./opt/cni/bin/bridge" in deb_listing(by_name["kubernetes-cni"])


def test_maintainer_scripts_enable_and_start_units(built, tmp_path):
    docker = next(d for d in built.all() if d.name.startswith("docker-ce_"))
    subprocess.run(["dpkg-deb", "-e", str(docker), str(tmp_path / "ctl")], check=True)
    postinst = (tmp_path / "ctl" / "postinst").read_text()
    assert "groupadd --system docker" in postinst
    assert "deb-systemd-helper enable 'docker.service'" in postinst
    assert "deb-systemd-invoke $_dh_action 'docker.service' 'docker.socket'" in postinst
    assert (tmp_path / "ctl" / "postinst").stat().st_mode & 0o111
    assert "deb-systemd-invoke stop" in (tmp_path / "ctl" / "prerm").read_text()


def test_build_is_cached_by_sources(tmp_path):
    first = build.ensure_built(cache_dir=tmp_path)
    again = build.ensure_built(cache_dir=tmp_path)
    assert first.root == again.root and first.root.name == f"standins-{build.sources_hash(build.KUBE_VERSIONS)}"
    assert all(d.exists() for d in again.all())


def test_bundles_are_self_contained(built, tmp_path):
    kubectl = next(d for d in built.all() if d.name.startswith("kubectl_"))
    subprocess.run(["dpkg-deb", "-x", str(kubectl), str(tmp_path)], check=True)
    script = (tmp_path / "usr/bin/kubectl").read_text()
    assert script.startswith("#!/usr/bin/python3\n") and "NOT the real program" in script
    assert "import standin_common" not in script and "from standin_common" not in script
    r = subprocess.run([sys.executable, "-I", str(tmp_path / "usr/bin/kubectl"), "version", "--client"],
                       capture_output=True, text=True, env={"STANDIN_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Client Version: v{KV}\n")


def test_programs_start_from_code_compiled_at_build_time(built, tmp_path):
    """A stand-in program starts from the code compiled when the package was built, not by compiling its
    2,000-line bundle at every start (20-50 ms of CPU each time, on 98 nodes restarting their kubelets every 10 s
    until they join). Without its compiled code (another Python) it runs from its source."""
    kubeadm = next(d for d in built.all() if d.name.startswith("kubeadm_"))
    subprocess.run(["dpkg-deb", "-x", str(kubeadm), str(tmp_path)], check=True)
    program = tmp_path / "usr/lib/provisioner-standins/kubeadm/kubeadm"
    code = program.parent / f"kubeadm.{sys.implementation.cache_tag}.code"
    env = {"STANDIN_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def version() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-I", str(tmp_path / "usr/bin/kubeadm"), "version", "-o", "short"],
                              capture_output=True, text=True, env=env)
    source = program.with_suffix(".py").read_text()
    program.with_suffix(".py").write_text("raise SystemExit('compiled at start')\n")
    assert code.exists() and version().stdout == f"v{KV}\n"
    code.unlink()
    assert "compiled at start" in version().stderr
    program.with_suffix(".py").write_text(source)
    assert version().stdout == f"v{KV}\n"


# ============================================================ the programs

@pytest.fixture(scope="module")
def install(built, tmp_path_factory):
    """Every built .deb extracted into one tree: the programs under test."""
    root = tmp_path_factory.mktemp("install")
    for deb in built.all():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Host:
    """A pretend node: its own STANDIN_ROOT, hostname and loopback address."""

    def __init__(self, install: Path, root: Path, name: str, address: str = "127.0.0.1", port: int = 6443):
        self.install, self.root, self.name, self.address = install, root, name, address
        root.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "STANDIN_ROOT": str(root),
                    "STANDIN_HOSTNAME": name, "STANDIN_BIND_ADDRESS": address, "STANDIN_API_PORT": str(port),
                    "STANDIN_DISCOVERY_TIMEOUT": "5", "HOME": str(root / "root")}

    def bin(self, prog: str) -> str:
        for d in ("usr/bin", "opt/cni/bin", "usr/libexec/kubeadm-standin", "usr/libexec/kubelet-standin"):
            if (self.install / d / prog).exists():
                return str(self.install / d / prog)
        raise FileNotFoundError(prog)

    def run(self, prog: str, *args: str, input: str | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, self.bin(prog), *args], capture_output=True, text=True,
                              env=self.env, input=input, timeout=timeout)

    def path(self, logical: str) -> Path:
        return self.root / logical.lstrip("/")

    def write(self, logical: str, text: str, mode: int = 0o644) -> str:
        p = self.path(logical)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        p.chmod(mode)
        return logical

    def calls(self) -> list[dict]:
        log = self.path("/var/log/standins/calls.log")
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def stop_apiserver(self) -> None:
        pidfile = self.path("/run/standin-apiserver.pid")
        try:
            os.kill(int(pidfile.read_text()), signal.SIGKILL)
        except (OSError, ValueError):
            pass


@pytest.fixture
def host(install, tmp_path):
    return Host(install, tmp_path / "h1", "h1")


@pytest.mark.parametrize("prog,args,out", [
    ("kubeadm", ["version", "-o", "short"], f"v{KV}\n"),
    ("kubelet", ["--version"], f"Kubernetes v{KV}\n"),
    ("crictl", ["--version"], f"crictl version v{MINOR_INFO['cri_tools']}\n"),
    ("docker", ["--version"], "Docker version 29.0.4, build 3247a5a\n"),
    ("dockerd", ["--version"], "Docker version 29.0.4, build 4612690\n"),
    ("cri-dockerd", ["--version"], "cri-dockerd 0.4.4 (683f70f)\n"),
])
def test_versions(host, prog, args, out):
    r = host.run(prog, *args)
    assert (r.returncode, r.stdout) == (0, out), r.stderr


def test_kubeadm_config_images_list(host):
    r = host.run("kubeadm", "config", "images", "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"registry.k8s.io/kube-apiserver:v{KV}", f"registry.k8s.io/kube-controller-manager:v{KV}",
        f"registry.k8s.io/kube-scheduler:v{KV}", f"registry.k8s.io/kube-proxy:v{KV}",
        f"registry.k8s.io/coredns/coredns:{MINOR_INFO['coredns']}", f"registry.k8s.io/pause:{MINOR_INFO['pause']}",
        f"registry.k8s.io/etcd:{MINOR_INFO['etcd']}"]
    mirror = host.run("kubeadm", "config", "images", "list", "--image-repository", "registry.example/k8s")
    assert f"registry.example/k8s/pause:{MINOR_INFO['pause']}" in mirror.stdout.splitlines()
    assert f"registry.example/k8s/coredns:{MINOR_INFO['coredns']}" in mirror.stdout.splitlines()


@pytest.mark.parametrize("prog,args,code,err", [
    ("kubeadm", ["frobnicate"], 1, 'unknown command "frobnicate" for "kubeadm"'),
    ("kubeadm", ["init", "--bogus"], 1, "unknown flag: --bogus"),
    ("kubeadm", ["version", "-o", "xml"], 1, "invalid output format: xml"),
    ("kubeadm", ["join", "--config", "/nonexistent.yaml"], 1,
     'unable to read config from "/nonexistent.yaml"'),
    ("docker", ["info"], 1,
     "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"),
    ("kubelet", [], 1, "failed to load kubelet config file, path: /var/lib/kubelet/config.yaml"),
    ("kubectl", ["get", "nodes"], 1, "The connection to the server localhost:8080 was refused"),
    ("crictl", ["--runtime-endpoint", "unix:///run/cri-dockerd.sock", "version"], 1,
     "validate service connection"),
    # a flag the program does not know: each answers in its own words, with its own exit code
    ("docker", ["--bogus", "info"], 125, "unknown flag: --bogus\nSee 'docker --help'.\n"),
    ("dockerd", ["--bogus"], 125, "unknown flag: --bogus\nSee 'dockerd --help'.\n"),
    ("containerd", ["--bogus"], 1, "containerd: unknown flag: --bogus\n"),
    ("cri-dockerd", ["--bogus"], 1, "Error: unknown flag: --bogus\n"),
    ("crictl", ["-Z"], 1, 'level=fatal msg="unknown shorthand flag: \'Z\' in -Z"\n'),
    ("kubectl", ["get", "--bogus"], 1, "error: unknown flag: --bogus\nSee 'kubectl get --help' for usage.\n"),
    ("kubelet", ["--v=loud"], 1, 'Error: failed to parse kubelet flag: invalid argument "loud" for "--v" flag'),
    ("kube-apiserver", ["--bogus"], 1, "Error: unknown flag: --bogus\n"),
])
def test_failures_exit_codes_and_messages(host, prog, args, code, err):
    r = host.run(prog, *args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert err in r.stderr


def test_dockerd_reports_cgroup_driver_from_daemon_json(host):
    host.write("/etc/docker/daemon.json", json.dumps({"exec-opts": ["native.cgroupdriver=systemd"]}))
    daemon = subprocess.Popen([sys.executable, host.bin("dockerd"), "-H", "unix:///var/run/docker.sock"],
                              env=host.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: host.path("/var/run/docker.sock").exists(), timeout=10, what="docker.sock")
        r = host.run("docker", "info", "--format", "{{.CgroupDriver}}")
        assert (r.returncode, r.stdout) == (0, "systemd\n"), r.stderr
        r = host.run("docker", "version", "--format", "{{.Server.Version}}")
        assert r.stdout == "29.0.4\n"
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_dockerd_rejects_unknown_daemon_json_keys(host):
    host.write("/etc/docker/daemon.json", json.dumps({"cgroup-driver": "systemd"}))
    r = host.run("dockerd")
    assert r.returncode == 1
    assert "the following directives don't match any configuration option: cgroup-driver" in r.stderr


# ---------------------------------------------------------- a local cluster

INIT_CONFIG = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - token: "abcdef.0123456789abcdef"
    ttl: "24h0m0s"
certificateKey: "{key}"
localAPIEndpoint:
  advertiseAddress: "127.0.0.1"
  bindPort: 6443
nodeRegistration:
  name: "cp1"
  criSocket: "unix:///run/cri-dockerd.sock"
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: "local"
kubernetesVersion: "v{kv}"
controlPlaneEndpoint: "127.0.0.1:{port}"
networking:
  podSubnet: "10.244.0.0/16"
  serviceSubnet: "10.96.0.0/12"
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
"""

JOIN_CONFIG = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: JoinConfiguration
discovery:
  bootstrapToken:
    apiServerEndpoint: "127.0.0.1:{port}"
    token: "abcdef.0123456789abcdef"
    caCertHashes: ["{hash}"]
nodeRegistration:
  name: "{name}"
  criSocket: "unix:///run/cri-dockerd.sock"
"""

CP_JOIN = """\
controlPlane:
  localAPIEndpoint:
    advertiseAddress: "{address}"
  certificateKey: "{key}"
"""


def ca_hash() -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate((GOLDEN / "test-ca.crt").read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


@pytest.fixture
def cluster(install, tmp_path):
    """cp1 initialised with the golden CA (as the product pushes its own); every
    host made here is reset afterwards."""
    if os.geteuid() != 0:
        skip_or_fail("kubeadm's preflight requires root (IsPrivilegedUser)")
    port = free_port()
    made: list[Host] = []

    def make(name: str, address: str = "127.0.0.1") -> Host:
        h = Host(install, tmp_path / name, name, address, port)
        made.append(h)
        return h
    cp1 = make("cp1")
    cp1.write("/etc/kubernetes/pki/ca.crt", (GOLDEN / "test-ca.crt").read_text())
    cp1.write("/etc/kubernetes/pki/ca.key", (GOLDEN / "test-ca.key").read_text(), 0o600)
    key = "a" * 64
    config = cp1.write("/root/init.yaml", INIT_CONFIG.format(key=key, kv=KV, port=port), 0o600)
    init = cp1.run("kubeadm", "init", "--config", config, "--upload-certs")
    assert init.returncode == 0, init.stdout + init.stderr
    yield {"cp1": cp1, "init": init, "port": port, "key": key, "make": make}
    for h in reversed(made):
        h.run("kubeadm", "reset", "-f")
        h.stop_apiserver()


def join_config(h: Host, port: int, hash_: str = "", cp_key: str | None = None) -> str:
    text = JOIN_CONFIG.format(port=port, hash=hash_ or ca_hash(), name=h.name)
    if cp_key:
        text += CP_JOIN.format(address=h.address, key=cp_key)
    return h.write("/root/join.yaml", text, 0o600)


def https_get(address: str, port: int, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(GOLDEN / "test-ca.crt"))
    with urllib.request.urlopen(f"https://{address}:{port}{path}", context=ctx, timeout=5) as r:
        return r.status, r.read()


def test_init_uses_the_existing_ca_and_prints_the_join_commands(cluster):
    cp1, out, port = cluster["cp1"], cluster["init"].stdout, cluster["port"]
    assert "[certs] Using existing ca certificate authority" in out
    assert "Your Kubernetes control-plane has initialized successfully!" in out
    join = (f"kubeadm join 127.0.0.1:{port} --token abcdef.0123456789abcdef \\\n"
            f"\t--discovery-token-ca-cert-hash {ca_hash()}")
    assert f"  {join} \\\n\t--control-plane --certificate-key {cluster['key']}\n" in out
    assert out.rstrip().endswith(join)
    assert (cp1.path("/etc/kubernetes/pki/ca.crt").read_text() == (GOLDEN / "test-ca.crt").read_text())
    admin = cp1.path("/etc/kubernetes/admin.conf")
    assert admin.stat().st_mode & 0o777 == 0o600
    assert f"server: https://127.0.0.1:{port}" in admin.read_text()
    for f in ("apiserver.crt", "apiserver.key", "sa.key", "front-proxy-ca.crt", "etcd/ca.crt"):
        assert cp1.path(f"/etc/kubernetes/pki/{f}").exists(), f
    assert cp1.path("/var/lib/kubelet/config.yaml").exists()


def test_api_server_answers_tls_verified_by_the_ca(cluster):
    port = cluster["port"]
    for path in ("/healthz", "/readyz", "/livez"):
        assert https_get("127.0.0.1", port, path) == (200, b"ok")
    code, body = https_get("127.0.0.1", port, "/version")
    assert code == 200 and json.loads(body)["gitVersion"] == f"v{KV}"



def test_api_server_listens_with_gos_backlog(cluster):
    """kube-apiserver is a Go program: its listener's accept queue is net.core.somaxconn, at most 65535 (golang/go
    src/net/sock_linux.go maxListenerBacklog). With a smaller one (128 before) the stand-in dropped SYNs while
    98 lab nodes probed it on 2 busy CPUs, and preflight's 1.5 s connect probe called 6443 filtered."""
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    out = subprocess.run(["ss", "-Hltn", f"sport = :{cluster['port']}"], capture_output=True, text=True).stdout
    backlogs = {int(line.split()[2]) for line in out.splitlines() if line.strip()}
    assert backlogs == {min(somaxconn, 65535)}, out

FLANNEL_DS = """\
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: kube-flannel-ds
  namespace: kube-flannel
spec:
  template:
    spec:
      containers:
      - name: kube-flannel
        image: ghcr.io/flannel-io/flannel:v0.28.9
        command: ["/opt/bin/flanneld"]
        args: [{args}]
"""


def kept_connections(pid: int, port: int) -> list[tuple[str, int]]:
    """(local address, data segments sent) of each established TCP connection of ``pid`` to ``port``."""
    out = subprocess.run(["ss", "-Htnpi", "state", "established", f"dport = :{port}"], capture_output=True,
                         text=True).stdout
    conns, local = [], None
    for line in out.splitlines():
        if not line.startswith((" ", "\t")):
            local = line.split()[2] if f"pid={pid}," in line else None
        elif local is not None:
            m = re.search(r"\bdata_segs_out:(\d+)", line)
            conns.append((local, int(m.group(1)) if m else 0))
            local = None
    return conns


def test_flannel_pod_runner_polls_on_one_kept_connection_and_reports_once_per_template(cluster):
    """The stand-in kubelet's flannel pod runner (standin-pods.service) on 98 lab nodes made a new TLS connection
    for each of three requests every 2 s, ran flanneld's interface selection each time and posted the same report:
    the stand-in API server (and its replicas, forwarding each request to the first control plane on a new
    connection too) then fell behind, and a no-op `up` found a Node read unanswered. flanneld picks its interface
    once, when its pod starts (flannel-io/flannel main.go), and client-go keeps its connections; so the runner
    polls on one kept connection and reports again only when the DaemonSet's pod template changes."""
    cp1, port = cluster["cp1"], cluster["port"]
    w1 = cluster["make"]("w1")
    assert w1.run("kubeadm", "join", "--config", join_config(w1, port)).returncode == 0
    kc = ("--kubeconfig", "/etc/kubernetes/admin.conf")
    for ns in ("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-flannel\n",
               FLANNEL_DS.format(args='"--ip-masq", "--kube-subnet-mgr", "--iface=lo"')):
        r = cp1.run("kubectl", *kc, "apply", "-f", cp1.write("/root/m.yaml", ns))
        assert r.returncode == 0, r.stderr
    log = cp1.path("/var/log/standins/kube-apiserver.log")

    def reports() -> int:
        return log.read_text().count("POST /standin/v1/nodes/w1/network -> 200")
    runner = subprocess.Popen([sys.executable, w1.bin("flanneld"), "--standin-pod-runner"], env=w1.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: reports() == 1, timeout=30, what="the first report")
        seen: list[list[tuple[str, int]]] = []

        def polled_three_more_times() -> bool:
            seen.append(kept_connections(runner.pid, port))
            first = next((c for c in seen if c), None)
            return bool(first and seen[-1] and seen[-1][0][1] >= first[0][1] + 3)
        wait_for(polled_three_more_times, timeout=30, interval=0.2, what="three polls on a kept connection")
        sampled = {local for sample in seen for local, _ in sample}
        assert len(sampled) == 1 and all(len(sample) <= 1 for sample in seen), seen
        assert reports() == 1, "the same pod template was reported again"
        r = cp1.run("kubectl", *kc, "apply", "-f", cp1.write(
            "/root/m.yaml", FLANNEL_DS.format(args='"--ip-masq", "--kube-subnet-mgr", "--iface=eth9"')))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: reports() == 2, timeout=30, what="a report for the new pod template")
    finally:
        runner.kill()
        runner.wait()


def test_kubectl_get_nodes_apply_and_raw(cluster):
    cp1 = cluster["cp1"]
    kc = ("--kubeconfig", "/etc/kubernetes/admin.conf")
    r = cp1.run("kubectl", *kc, "get", "nodes")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert lines[1].split()[:3] == ["cp1", "Ready", "control-plane"] and lines[1].split()[4] == f"v{KV}"
    assert cp1.run("kubectl", *kc, "get", "--raw", "/readyz").stdout == "ok"
    manifest = cp1.write("/root/ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kube-flannel\n")
    assert cp1.run("kubectl", *kc, "apply", "-f", manifest).stdout == "namespace/kube-flannel created\n"
    assert cp1.run("kubectl", *kc, "apply", "-f", manifest).stdout == "namespace/kube-flannel unchanged\n"
    r = cp1.run("kubectl", *kc, "get", "nodes", "-o", "json")
    assert [n["metadata"]["name"] for n in json.loads(r.stdout)["items"]] == ["cp1"]


def test_worker_join_verifies_the_ca_hash_and_registers(cluster):
    port = cluster["port"]
    w1 = cluster["make"]("w1")
    bad = w1.run("kubeadm", "join", "--config", join_config(w1, port, hash_="sha256:" + "0" * 64))
    assert bad.returncode == 1
    assert "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys" in bad.stderr
    r = w1.run("kubeadm", "join", "--config", join_config(w1, port))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "This node has joined the cluster:" in r.stdout
    assert w1.path("/etc/kubernetes/kubelet.conf").exists()
    assert not w1.path("/etc/kubernetes/admin.conf").exists()
    assert w1.path("/etc/kubernetes/pki/ca.crt").read_text() == (GOLDEN / "test-ca.crt").read_text()
    assert sorted(p.name for p in w1.path("/etc/kubernetes/pki").iterdir()) == ["ca.crt"]
    nodes = cluster["cp1"].run("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "get", "nodes")
    assert [ln.split()[:3] for ln in nodes.stdout.splitlines()[1:]] == [
        ["cp1", "Ready", "control-plane"], ["w1", "Ready", "<none>"]]


def test_fail_next_join_hook(cluster):
    w1 = cluster["make"]("w1")
    w1.write("/etc/standins/fail-next-join", "")
    r = w1.run("kubeadm", "join", "--config", join_config(w1, cluster["port"]))
    assert r.returncode == 1
    assert r.stderr.startswith("error execution phase preflight: couldn't validate the identity of the API Server")
    assert not w1.path("/etc/standins/fail-next-join").exists()
    assert w1.calls()[-1]["note"] == "failure injected by /etc/standins/fail-next-join (preflight)"
    w1.write("/etc/standins/fail-next-join", "kubelet-start\n")
    r = w1.run("kubeadm", "join", "--config", join_config(w1, cluster["port"]))
    assert r.returncode == 1 and "error execution phase kubelet-start:" in r.stderr
    w1.run("kubeadm", "reset", "-f")
    assert w1.run("kubeadm", "join", "--config", join_config(w1, cluster["port"])).returncode == 0


def test_token_create_prints_a_join_command(cluster):
    r = cluster["cp1"].run("kubeadm", "token", "create", "--print-join-command")
    assert r.returncode == 0, r.stderr
    m = re.fullmatch(rf"kubeadm join 127\.0\.0\.1:{cluster['port']} --token ([a-z0-9]{{6}}\.[a-z0-9]{{16}}) "
                     rf"--discovery-token-ca-cert-hash {ca_hash()} \n", r.stdout)
    assert m, r.stdout
    w1 = cluster["make"]("w1")
    text = JOIN_CONFIG.format(port=cluster["port"], hash=ca_hash(), name="w1").replace(
        "abcdef.0123456789abcdef", m.group(1))
    assert w1.run("kubeadm", "join", "--config", w1.write("/root/join.yaml", text)).returncode == 0


def test_init_phase_bootstrap_token_registers_the_configs_token(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    fresh = "zyxwvu.9876543210zyxwvu"
    config = cp1.write("/root/init2.yaml", INIT_CONFIG.format(key=cluster["key"], kv=KV, port=port)
                       .replace("abcdef.0123456789abcdef", fresh), 0o600)
    for _ in range(2):      # again: the token exists and is updated, as kubeadm does
        r = cp1.run("kubeadm", "init", "phase", "bootstrap-token", "--config", config)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith(f"[bootstrap-token] Using token: {fresh}\n")
    listed = cp1.run("kubeadm", "token", "list").stdout
    assert fresh in listed and "abcdef.0123456789abcdef" in listed
    w1 = cluster["make"]("w1")
    text = JOIN_CONFIG.format(port=port, hash=ca_hash(), name="w1").replace("abcdef.0123456789abcdef", fresh)
    assert w1.run("kubeadm", "join", "--config", w1.write("/root/join.yaml", text)).returncode == 0


def test_control_plane_join_with_reuploaded_certs_serves_the_api(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    r = cp1.run("kubeadm", "init", "phase", "upload-certs", "--upload-certs")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[-2] == "[upload-certs] Using certificate key:" and re.fullmatch(r"[0-9a-f]{64}", lines[-1])
    new_key = lines[-1]
    cp2 = cluster["make"]("cp2", "127.0.0.2")
    old = cp2.run("kubeadm", "join", "--config", join_config(cp2, port, cp_key=cluster["key"]))
    assert old.returncode == 1 and "error decoding secret data with provided key" in old.stderr
    r = cp2.run("kubeadm", "join", "--config", join_config(cp2, port, cp_key=new_key))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "a new control plane instance was created" in r.stdout
    assert https_get("127.0.0.2", port, "/healthz") == (200, b"ok")
    nodes = cp2.run("kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf", "--server",
                    f"https://127.0.0.2:{port}", "get", "nodes")
    assert [ln.split()[:3] for ln in nodes.stdout.splitlines()[1:]] == [
        ["cp1", "Ready", "control-plane"], ["cp2", "Ready", "control-plane"]]


def test_reset_cleans_up_and_stops_the_api_server(cluster):
    cp1, port = cluster["cp1"], cluster["port"]
    r = cp1.run("kubeadm", "reset", "-f")
    assert r.returncode == 0, r.stderr
    assert "[reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet " \
           "/etc/kubernetes/pki]" in r.stdout
    assert not cp1.path("/etc/kubernetes/admin.conf").exists()
    assert not any(cp1.path("/etc/kubernetes/pki").iterdir())

    def refused():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return False
        except OSError:
            return True
    wait_for(refused, timeout=10, what="the API server to stop")


def test_reset_without_force_asks(host):
    r = host.run("kubeadm", "reset", input="n\n")
    assert r.returncode == 1
    assert "[reset] Are you sure you want to proceed? [y/N]: " in r.stdout
    assert "won't proceed; the user didn't answer (Y|y) in order to continue" in r.stderr


def test_every_call_is_logged_as_json_lines(cluster):
    cp1 = cluster["cp1"]
    cp1.run("kubeadm", "version", "-o", "short")
    calls = cp1.calls()
    init = next(c for c in calls if c["prog"] == "kubeadm" and c["argv"][1] == "init")
    assert init["argv"] == ["kubeadm", "init", "--config", "/root/init.yaml", "--upload-certs"]
    assert init["exit"] == 0 and isinstance(init["pid"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", init["time"])
    assert any(c["prog"] == "kube-apiserver" and c["daemon"] for c in calls)
    assert calls[-1]["argv"] == ["kubeadm", "version", "-o", "short"] and calls[-1]["exit"] == 0


# ================================================================ in the lab

MASTER, WORKER = "master1", "node1"
BASE = "http://172.31.250.1:8080"
CRI_DEB = build.CRI_DOCKERD_ASSET
SOURCES = f"""set -e
echo "deb {BASE}/debian bookworm main" > /etc/apt/sources.list.d/provisioner-debian.list
install -d -m 0755 /etc/apt/keyrings
curl -fsSL "{BASE}/k8s/core:/stable:/v{KMINOR}/deb/Release.key" | gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] {BASE}/k8s/core:/stable:/v{KMINOR}/deb/ /" > /etc/apt/sources.list.d/kubernetes.list
curl -fsSL "{BASE}/docker/linux/debian/gpg" | gpg --batch --yes --dearmor -o /etc/apt/keyrings/docker.gpg
echo "deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.gpg] {BASE}/docker/linux/debian bookworm stable" > /etc/apt/sources.list.d/docker.list
apt-get update -q
"""
# What the test leaves behind is undone here: purge what it installed, remove its files.
UNDO = """set -u
export DEBIAN_FRONTEND=noninteractive
command -v kubeadm >/dev/null && kubeadm reset -f >/dev/null 2>&1
new=$(dpkg-query -W -f '${Package}\\n' | sort | comm -13 /var/tmp/standins-test.before -)
[ -z "$new" ] || apt-get purge -y -q $new >/dev/null
apt-get clean
rm -f /etc/apt/sources.list.d/provisioner-debian.list /etc/apt/sources.list.d/kubernetes.list \
  /etc/apt/sources.list.d/docker.list /etc/apt/keyrings/kubernetes-apt-keyring.gpg /etc/apt/keyrings/docker.gpg \
  /etc/systemd/system/cri-docker.service /etc/systemd/system/cri-docker.socket /var/tmp/{cri}
rm -rf /var/lib/apt/lists/* /etc/kubernetes /var/lib/kubelet /var/lib/etcd /etc/docker /var/lib/docker \
  /etc/cni /opt/cni /etc/containerd /var/lib/containerd /etc/standins /var/log/standins /run/standins \
  /root/.kube /etc/default/kubelet
getent group docker >/dev/null && groupdel docker
cp /var/tmp/standins-test.hosts /etc/hosts
sysctl -qw net.ipv4.ip_forward="$(cat /var/tmp/standins-test.ip_forward)"
rm -f /var/tmp/standins-test.before /var/tmp/standins-test.hosts /var/tmp/standins-test.ip_forward
systemctl daemon-reload
systemctl reset-failed
""".replace("{cri}", CRI_DEB)
SAVE = """set -e
dpkg-query -W -f '${Package}\\n' | sort > /var/tmp/standins-test.before
cp /etc/hosts /var/tmp/standins-test.hosts
sysctl -n net.ipv4.ip_forward > /var/tmp/standins-test.ip_forward
"""


def sudo(s, cmd: str, timeout: float = 300) -> str:
    r = s.sudo(cmd, timeout=timeout)
    assert r.rc == 0, f"{s.node.hostname}: {cmd!r} exited {r.rc}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def undo(s) -> None:
    """Undo, then check the node is as other tests expect it: no runtime or
    Kubernetes program, nothing on the ports preflight checks, systemd clean."""
    r = s.sudo(UNDO, timeout=300)
    assert r.rc == 0, f"{s.node.hostname}: undo failed: {r.stderr}"
    left = s.sudo("command -v kubeadm kubelet kubectl crictl docker dockerd containerd cri-dockerd iptables")
    assert left.stdout == "", f"{s.node.hostname}: left installed: {left.stdout}"
    assert sudo(s, "ss -Htln '( sport = :6443 or sport = :10250 or sport = :10248 or sport = :2379 )'") == ""
    assert sudo(s, "systemctl is-system-running || true").strip() == "running"
    assert "kubeapi" not in sudo(s, "cat /etc/hosts")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("rendered")
    r = run_cli("render", "-i", str(REPO / "inventories/lab.yaml"), "-o", str(out / "files"),
                "--state-dir", str(out / "state"))
    assert r.returncode == 0, r.stderr
    return out / "files"


def one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.glob(pattern))
    assert len(found) == 1, f"{pattern} under {directory}: {found}"
    return found[0]


@pytest.fixture(scope="module")
def k8s_nodes(lab, rendered):
    """master1 and node1 with the three repos configured as the runbook does and
    Docker, cri-dockerd, kubelet/kubeadm/kubectl installed from them; rendered
    runtime configs applied. Undone afterwards (packages purged, files removed)."""
    if lab.standins is not None and lab.standins.problem:
        pytest.fail(lab.standins.problem)
    sessions = {name: lab.ssh(name) for name in (MASTER, WORKER)}
    for s in sessions.values():
        sudo(s, SAVE)
    timings = {}

    def prepare(name: str) -> None:
        s = sessions[name]
        t0 = time.monotonic()
        sudo(s, SOURCES)
        sudo(s, "DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker-ce docker-ce-cli containerd.io")
        sudo(s, f"cd /var/tmp && curl -fsSLO {BASE}/cri-dockerd/v{build.CRI_DOCKERD_VERSION}/{CRI_DEB} && "
                f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./{CRI_DEB}")
        sudo(s, f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q kubelet={K8S_VERSION} "
                f"kubeadm={K8S_VERSION} kubectl={K8S_VERSION}")
        timings[name] = time.monotonic() - t0
        files = rendered / name
        s.put(one(files, "etc/docker/daemon.json").read_bytes(), "/etc/docker/daemon.json")
        for unit in ("cri-docker.service", "cri-docker.socket"):
            s.put(one(files, f"etc/systemd/system/{unit}").read_bytes(), f"/etc/systemd/system/{unit}")
        # This test has no load balancer: the endpoint name points at master1 itself.
        sudo(s, "echo '172.31.250.101 kubeapi.lab.test kubeapi' >> /etc/hosts && sysctl -qw net.ipv4.ip_forward=1"
                " && systemctl daemon-reload && systemctl restart docker cri-docker.socket cri-docker.service")
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(prepare, sessions))
        print(f"\napt install (sources, update, 3 installs) per node: "
              f"{ {k: round(v, 1) for k, v in timings.items()} } s")
        yield sessions
    finally:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(undo, sessions.values()))
        for s in sessions.values():
            s.close()


def test_lab_packages_install_and_services_run(lab, k8s_nodes):
    for name, s in k8s_nodes.items():
        versions = sudo(s, "dpkg-query -W -f '${Package} ${Version}\\n' kubeadm kubelet kubectl cri-tools "
                           "kubernetes-cni docker-ce docker-ce-cli containerd.io cri-dockerd iptables conntrack")
        assert f"kubelet {K8S_VERSION}" in versions and f"docker-ce {build.DOCKER_DEB_VERSION}" in versions
        assert f"cri-dockerd {build.CRI_DOCKERD_DEB_VERSION}" in versions and "conntrack 1:1.4.7" in versions
        assert sudo(s, "systemctl is-active containerd docker docker.socket cri-docker.socket cri-docker").split() \
            == ["active"] * 5
        assert sudo(s, "docker info --format '{{.CgroupDriver}}'") == "systemd\n"
        # Installed, not configured yet: the kubelet restarts every 10 s until kubeadm writes its config.
        wait_for(lambda: s.sudo("systemctl is-active kubelet").stdout.strip() == "activating", timeout=30,
                 interval=0.5, what=f"{name}: the kubelet waiting to restart")
        assert "failed to load kubelet config file" in sudo(s, "journalctl -u kubelet --no-pager -n 20")
        assert sudo(s, "crictl --runtime-endpoint unix:///run/cri-dockerd.sock version").startswith("Version:")


def test_lab_kubeadm_init_join_get_nodes_reset(lab, k8s_nodes, rendered):
    m, w = k8s_nodes[MASTER], k8s_nodes[WORKER]
    pki = rendered / MASTER / "etc/kubernetes/pki"
    m.put((pki / "ca.crt").read_bytes(), "/etc/kubernetes/pki/ca.crt")
    m.put((pki / "ca.key").read_bytes(), "/etc/kubernetes/pki/ca.key", mode=0o600)
    m.put(one(rendered / MASTER, "etc/kubernetes/**/kubeadm-init.yaml").read_bytes(),
          "/etc/kubernetes/provisioner/kubeadm-init.yaml", mode=0o600)
    w.put(one(rendered / WORKER, "etc/kubernetes/**/kubeadm-join.yaml").read_bytes(),
          "/etc/kubernetes/provisioner/kubeadm-join.yaml", mode=0o600)

    out = sudo(m, "kubeadm init --config /etc/kubernetes/provisioner/kubeadm-init.yaml --upload-certs")
    assert "Your Kubernetes control-plane has initialized successfully!" in out
    assert "kubeadm join kubeapi.lab.test:6443 --token " in out
    assert sudo(m, "stat -c %a /etc/kubernetes/admin.conf") == "600\n"
    assert sudo(m, "systemctl is-active kubelet") == "active\n"

    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    with urllib.request.urlopen("https://172.31.250.101:6443/healthz", context=ctx, timeout=10) as r:
        assert (r.status, r.read()) == (200, b"ok")

    # The fault hook: the next join fails like a real one, then the file is gone.
    sudo(w, "mkdir -p /etc/standins && : > /etc/standins/fail-next-join")
    failed = w.sudo("kubeadm join --config /etc/kubernetes/provisioner/kubeadm-join.yaml")
    assert failed.rc == 1 and "couldn't validate the identity of the API Server" in failed.stderr
    out = sudo(w, "kubeadm join --config /etc/kubernetes/provisioner/kubeadm-join.yaml")
    assert "This node has joined the cluster:" in out
    # The worker got the cluster CA (caCertPath) and can verify the API server with it.
    assert sudo(w, "curl -fsS --cacert /etc/kubernetes/pki/ca.crt https://kubeapi.lab.test:6443/healthz") == "ok"

    nodes = sudo(m, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes")
    assert [ln.split()[:3] for ln in nodes.splitlines()[1:]] == [
        ["master1", "Ready", "control-plane"], ["node1", "Ready", "<none>"]]
    assert sudo(m, "kubectl --kubeconfig /etc/kubernetes/admin.conf get --raw /readyz") == "ok"

    calls = [json.loads(line) for line in sudo(m, "cat /var/log/standins/calls.log").splitlines()]
    assert ["kubeadm", "init", "--config", "/etc/kubernetes/provisioner/kubeadm-init.yaml", "--upload-certs"] in \
        [c["argv"] for c in calls]
    assert {"prog", "argv", "time", "pid"} <= set(calls[0])

    for s in (w, m):
        sudo(s, "kubeadm reset -f")
        assert s.sudo("test -e /etc/kubernetes/admin.conf -o -e /etc/kubernetes/kubelet.conf").rc == 1
    assert sudo(m, "ss -Htln '( sport = :6443 or sport = :10250 or sport = :10248 )'") == ""


def test_lab_cri_dockerd_fails_without_the_docker_group(lab):
    """The runbook's known failure: cri-docker.socket cannot resolve SocketGroup=docker."""
    if lab.standins is not None and lab.standins.problem:
        pytest.fail(lab.standins.problem)
    with lab.ssh("node2") as s:
        sudo(s, SAVE)
        try:
            sudo(s, SOURCES)
            sudo(s, f"cd /var/tmp && curl -fsSLO {BASE}/cri-dockerd/v{build.CRI_DOCKERD_VERSION}/{CRI_DEB} && "
                    f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./{CRI_DEB}")
            assert s.sudo("systemctl is-active cri-docker.socket").stdout.strip() == "failed"
            log = sudo(s, "journalctl --no-pager -u cri-docker.socket -u cri-docker.service")
            assert "Failed to resolve group docker" in log
            assert "cri-docker.service: Job cri-docker.service/start failed with result 'dependency'." in log
        finally:
            undo(s)


# ================================================ strict like upstream (issue 11)
#
# Each row: what the stand-in refuses, as the upstream program refuses it, and the upstream file.

def _cri_dockerd(built, tmp_path, version: str) -> str:
    """The cri-dockerd program of one release, unpacked from its static archive (as the product does)."""
    import tarfile
    archive = next(p for p in built.cri_dockerd_releases[version] if p.name.endswith(".amd64.tgz"))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / version)
    return str(tmp_path / version / "cri-dockerd" / "cri-dockerd")


@pytest.fixture
def dockerd(host):
    daemon = subprocess.Popen([sys.executable, host.bin("dockerd"), "-H", "unix:///var/run/docker.sock"],
                              env=host.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: host.path("/var/run/docker.sock").exists(), timeout=10, what="docker.sock")
        yield host
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_dockerd_reports_the_api_range_of_docker_29(dockerd):
    # docker/docs content/reference/api/engine/_index.md (PR #23773): Docker 29.0.4 says
    # "API version: 1.52 (minimum version 1.44)"; docker version's template fields are Go names.
    r = dockerd.run("docker", "version", "--format", "{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}")
    assert (r.returncode, r.stdout) == (0, "1.52 1.44 1.52\n"), r.stderr
    text = dockerd.run("docker", "version").stdout
    assert "API version:      1.52 (minimum version 1.44)" in text
    # the product's table says the same as the stand-in it is tested against
    from provisioner import compat
    rel = compat.docker_release(build.DOCKER_VERSION)
    assert (rel.api, rel.min_api) == (build.DOCKER_API_VERSION, build.DOCKER_MIN_API_VERSION)


def test_cri_dockerd_0_3_14_refuses_to_start_against_docker_29(dockerd, built, tmp_path):
    # moby/moby daemon/server/middleware/version.go (versionUnsupportedError) answers a client below
    # the minimum; cri-dockerd asks the version at start (Mirantis/cri-dockerd core/docker_service.go
    # getDockerVersion) with its library's fixed API (libdocker/client.go, no negotiation), and dies
    # as in docker/for-win#14997.
    env = {**dockerd.env, "STANDIN_DOCKER_WAIT": "3"}
    old = subprocess.run([sys.executable, _cri_dockerd(built, tmp_path, "0.3.14"), "--container-runtime-endpoint",
                          "unix:///run/cri-dockerd.sock"], capture_output=True, text=True, env=env, timeout=60)
    assert old.returncode == 1
    assert ('level=fatal msg="failed to get docker version from dockerd: Error response from daemon: client version '
            '1.43 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version"'
            in old.stderr), old.stderr
    new = subprocess.Popen([sys.executable, _cri_dockerd(built, tmp_path, build.CRI_DOCKERD_VERSION),
                            "--container-runtime-endpoint", "unix:///run/cri-dockerd.sock"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: dockerd.path("/run/cri-dockerd.sock").exists() or new.poll() is not None, timeout=20,
                 what="cri-dockerd socket")
        assert new.poll() is None, new.stderr.read()
    finally:
        new.terminate()
        new.wait(timeout=10)
    # and the product's table refuses exactly this pair
    from provisioner import compat
    assert compat.pair_problem(build.DOCKER_VERSION, "0.3.14")
    assert compat.pair_problem(build.DOCKER_VERSION, build.CRI_DOCKERD_VERSION) is None


def test_dockerd_refuses_a_client_newer_than_its_api(dockerd):
    # moby/moby daemon/server/middleware/version.go: "client version %s is too new. Maximum supported API version is %s"
    env = {**dockerd.env}
    r = subprocess.run([sys.executable, "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); "
                        "s.connect(sys.argv[1]); s.sendall(b'GET /v1.99/version HTTP/1.0\\r\\n\\r\\n'); "
                        "print(b''.join(iter(lambda: s.recv(4096), b'')).decode())", str(dockerd.path("/var/run/docker.sock"))],
                       capture_output=True, text=True, env=env, timeout=10)
    assert "400" in r.stdout.splitlines()[0]
    assert '"message": "client version 1.99 is too new. Maximum supported API version is 1.52"' in r.stdout


KA_INIT = """\
apiVersion: kubeadm.k8s.io/{ver}
kind: InitConfiguration
certificateKey: "{key}"
localAPIEndpoint:
  advertiseAddress: "{adv}"
nodeRegistration:
  name: cp1
  criSocket: "{cri}"
{init_extra}---
apiVersion: kubeadm.k8s.io/{ver}
kind: ClusterConfiguration
kubernetesVersion: "v{kv}"
networking:
  podSubnet: "{pod}"
  serviceSubnet: "{svc}"
"""
GOOD = dict(ver="v1beta4", key="a" * 64, adv="127.0.0.1", cri="unix:///run/cri-dockerd.sock", init_extra="",
            pod="10.244.0.0/16", svc="10.96.0.0/12")


@pytest.mark.parametrize("args,changes,message", [
    # cmd/kubeadm/app/apis/kubeadm/validation/validation.go isAllowedFlag: patches is not mixable with --config
    (["--patches", "/tmp/p"], {}, "can not mix '--config' with arguments [patches]"),
    (["--cri-socket", "unix:///x", "--token", "abcdef.0123456789abcdef"], {},
     "can not mix '--config' with arguments [cri-socket token]"),
    # cmd/kubeadm/app/util/config/strict/strict.go VerifyUnmarshalStrict (stand-in fails where init only warns)
    ([], {"init_extra": "  timeouts: {}\n"},
     'strict decoding error: unknown field "nodeRegistration.timeouts"'),
    ([], {"init_extra": "discovery:\n  timeout: 5m\n"},
     'Kind:"InitConfiguration"}: strict decoding error: unknown field "discovery"'),
    # cmd/kubeadm/app/util/config/common.go validateSupportedVersion: v1beta3 removed in 1.37 (CHANGELOG-1.37)
    ([], {"ver": "v1beta3"}, 'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3" (kind:'),
    # validation.go ValidateSocketPath
    ([], {"cri": "tcp://127.0.0.1:1234"},
     'nodeRegistration.criSocket: Invalid value: "tcp://127.0.0.1:1234": only URL scheme "unix" is supported, got "tcp"'),
    # validation.go ValidateCertificateKey (constants.CertificateKeySize = 32)
    ([], {"key": "ab" * 16}, "invalid certificate key size 16, the key must be an AES key of size 32"),
    ([], {"key": "zz" * 32}, "certificate key decoding error: encoding/hex: invalid byte"),
    # validation.go ValidateAPIEndpoint / ValidateIPFromString
    ([], {"adv": "kubeapi"}, 'localAPIEndpoint.advertiseAddress: Invalid value: "kubeapi": ip address is not valid'),
    # validation.go ValidateNetworking: pod subnet vs the default node mask /24, service subnet <= /12
    ([], {"pod": "10.244.0.0/25"}, "the size of pod subnet with mask 25 is smaller than the size of node subnet "
                                   "with mask 24"),
    ([], {"pod": "10.0.0.0/7"}, "pod subnet mask (7) and node-mask (24) difference is greater than 16"),
    ([], {"svc": "10.96.0.0/11"}, "specified service subnet is too large; for 32-bit addresses, the mask must be >= 12"),
])
def test_kubeadm_init_refuses_what_upstream_refuses(host, args, changes, message):
    if build.KUBE_VERSIONS[0].split(".")[1] != "37":
        skip_or_fail("rows written for kubeadm 1.37")
    cfg = host.write("/root/init.yaml", KA_INIT.format(kv=KV, **{**GOOD, **changes}))
    r = host.run("kubeadm", "init", "--config", str(host.path(cfg)), *args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert message in r.stderr, r.stderr


@pytest.mark.parametrize("args,message", [
    # cmd/kubeadm/app/cmd/phases/init/uploadcerts.go InheritFlags: config, upload-certs, certificate-key,
    # skip-certificate-key-print - not kubeconfig, not dry-run
    (["init", "phase", "upload-certs", "--upload-certs", "--kubeconfig", "/etc/kubernetes/admin.conf"],
     "unknown flag: --kubeconfig"),
    (["init", "phase", "upload-certs", "--dry-run"], "unknown flag: --dry-run"),
    # cmd/kubeadm/app/cmd/phases/init/bootstraptoken.go InheritFlags: config, kubeconfig, skip-token-print
    (["init", "phase", "bootstrap-token", "--dry-run"], "unknown flag: --dry-run"),
])
def test_kubeadm_phases_take_only_their_upstream_flags(host, args, message):
    r = host.run("kubeadm", *args)
    assert r.returncode == 1 and message in r.stderr, (r.stdout, r.stderr)


def test_kubeadm_join_refuses_a_non_unix_cri_socket(host):
    # validation.go ValidateJoinConfiguration -> ValidateSocketPath; discovery needs a host:port
    cfg = host.write("/root/join.yaml", JOIN_CONFIG.format(port=6443, hash="sha256:" + "0" * 64, name="w1")
                     .replace("unix:///run/cri-dockerd.sock", "npipe:////./pipe/x"))
    r = host.run("kubeadm", "join", "--config", str(host.path(cfg)))
    assert r.returncode == 1
    assert 'only URL scheme "unix" is supported, got "npipe"' in r.stderr, r.stderr


@pytest.mark.parametrize("flag", ["--network-plugin=cni", "--container-runtime=remote", "--bogus-flag=1"])
def test_kubelet_refuses_flags_it_does_not_have(host, flag):
    # cmd/kubelet/app/options/options.go has no such flag (dockershim's flags went in 1.24,
    # --container-runtime in 1.27); pflag: "unknown flag"
    r = host.run("kubelet", flag, "--config=/var/lib/kubelet/config.yaml")
    assert r.returncode == 1
    assert f"failed to parse kubelet flag: unknown flag: {flag.split('=')[0]}" in r.stderr, r.stderr
