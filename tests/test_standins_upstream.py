"""Stand-ins at least as strict as upstream: each row cites the upstream file it follows.

Runs the programs extracted from the built .debs (tests/test_standins.py's fixtures) with
STANDIN_ROOT per pretend node; no lab.
"""

from __future__ import annotations

import pytest

from tests.test_standins import KV, Host, built, free_port, host, install  # noqa: F401 - pytest fixtures


@pytest.fixture
def khost(install, tmp_path):  # noqa: F811
    """A pretend control plane on a free loopback port; an init that gets through starts the stand-in
    API server, stopped afterwards."""
    h = Host(install, tmp_path / "cp1", "cp1", port=free_port())
    yield h
    h.stop_apiserver()



def test_these_rows_are_for_the_version_the_standins_build():
    # The rows below hold for kubeadm/kubelet 1.35+, and the init rows were written for 1.37: a new default
    # minor must be looked at here, not skipped.
    assert KV.split(".")[:2] == ["1", "37"], KV


KUBELET_CONFIG = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n{extra}"
V1_MOUNTS = ("tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,mode=755 0 0\n"
             "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,name=systemd 0 0\n")
V2_MOUNTS = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime 0 0\n"
CGROUP_V1_ERROR = ("failed to validate kubelet configuration, error: kubelet is configured to not run on a host "
                   "using cgroup v1")


def _kubelet(host, mounts: str | None, extra: str = "", *flags: str):
    if mounts is not None:
        host.write("/proc/self/mounts", mounts)
    cfg = host.write("/var/lib/kubelet/config.yaml", KUBELET_CONFIG.format(extra=extra))
    return host.run("kubelet", f"--config={cfg}", "--container-runtime-endpoint=unix:///run/nothing.sock", *flags,
                    timeout=30)


# KV is 1.35 or newer (test_these_rows_are_for_the_version_the_standins_build): failCgroupV1 defaults to true from 1.35
def test_kubelet_refuses_cgroup_v1(host):
    # kubernetes/kubernetes pkg/kubelet/apis/config/validation/validation_linux.go@0428b0fd
    # validateKubeletOSConfiguration, line 32: `if kc.FailCgroupV1 && isCgroup1`; default true from 1.35 (#134298).
    r = _kubelet(host, V1_MOUNTS)
    assert r.returncode == 1 and CGROUP_V1_ERROR in r.stderr, r.stderr


@pytest.mark.parametrize("mounts,extra,flags", [
    (V2_MOUNTS, "", ()),                                   # unified hierarchy: no objection
    (V1_MOUNTS, "failCgroupV1: false\n", ()),              # the opt-out upstream documents
    (V1_MOUNTS, "", ("--fail-cgroupv1=false",)),           # and its (deprecated) flag
])
def test_kubelet_accepts_cgroup_v2_or_the_opt_out(host, mounts, extra, flags):
    r = _kubelet(host, mounts, extra, *flags)
    assert "cgroup v1" not in r.stderr, r.stderr
    assert "validate CRI v1 runtime API" in r.stderr      # it went on to the next check


# KV is 1.35 or newer (test_these_rows_are_for_the_version_the_standins_build): removed in 1.35
def test_kubelet_refuses_pod_infra_container_image(host):
    # kubernetes/kubernetes #133779 removed --pod-infra-container-image in 1.35 (cmd/kubelet/app/options/options.go);
    # pflag refuses it: "unknown flag".
    r = _kubelet(host, V2_MOUNTS, "", "--pod-infra-container-image=registry.k8s.io/pause:3.10.2")
    assert r.returncode == 1
    assert "failed to parse kubelet flag: unknown flag: --pod-infra-container-image" in r.stderr, r.stderr


# ------------------------------------------------------------------ dockerd

DAEMON_JSON = "/etc/docker/daemon.json"


@pytest.mark.parametrize("flags,config,message", [
    # moby/moby daemon/config/config.go findConfigurationConflicts (printConflict "%s: (from flag: %v, from
    # file: %v)"): the packaged unit's -H fd:// and "hosts" in daemon.json is the classic failure
    (["-H", "fd://"], {"hosts": ["unix:///var/run/docker.sock"]},
     "the following directives are specified both as a flag and in the configuration file: "
     "hosts: (from flag: [fd://], from file: [unix:///var/run/docker.sock])"),
    (["--data-root", "/srv/docker"], {"data-root": "/var/lib/docker"},
     "data-root: (from flag: /srv/docker, from file: /var/lib/docker)"),
    # moby/moby registry/config.go ValidateMirror (applied by config.Validate to daemon.json)
    ([], {"registry-mirrors": ["ftp://mirror.example.org"]},
     'invalid mirror: unsupported scheme "ftp" in "ftp://mirror.example.org"'),
    ([], {"registry-mirrors": ["https://mirror.example.org/v2/?x=1"]},
     'invalid mirror: path, query, or fragment at end of the URI "https://mirror.example.org/v2/?x=1"'),
    ([], {"registry-mirrors": ["https://u:secret@mirror.example.org"]},
     'invalid mirror: username/password not allowed in URI "https://u:xxxxx@mirror.example.org"'),
    # registry/config.go ValidateIndexName and newServiceConfig's insecure-registry check
    ([], {"insecure-registries": ["-registry.example.org"]},
     "invalid index name (-registry.example.org). Cannot begin or end with a hyphen"),
    ([], {"insecure-registries": ["http://registry.example.org:5000"]},
     "insecure registry http://registry.example.org:5000 should not contain '://'"),
])
def test_dockerd_refuses_what_upstream_refuses(host, flags, config, message):
    import json

    host.write(DAEMON_JSON, json.dumps(config))
    r = host.run("dockerd", *flags)
    assert r.returncode == 1, r.stderr
    assert f"unable to configure the Docker daemon with file {DAEMON_JSON}" in r.stderr and message in r.stderr, \
        r.stderr


def test_dockerd_accepts_min_api_version(host):
    # Docker 29 daemon.json "min-api-version" (moby daemon/config/config.go CommonConfig MinAPIVersion,
    # json:"min-api-version"): a valid key, and /version reports the lowered minimum.
    import json
    import subprocess
    import sys

    from tests.lab.util import wait_for

    host.write(DAEMON_JSON, json.dumps({"min-api-version": "1.24", "registry-mirrors": ["https://m.example.org/"]}))
    daemon = subprocess.Popen([sys.executable, host.bin("dockerd"), "-H", "unix:///var/run/docker.sock"],
                              env=host.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: host.path("/var/run/docker.sock").exists() or daemon.poll() is not None, timeout=10,
                 what="docker.sock")
        assert daemon.poll() is None, daemon.stderr.read()
        r = host.run("docker", "version", "--format", "{{.Server.MinAPIVersion}}")
        assert (r.returncode, r.stdout) == (0, "1.24\n"), r.stderr
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


# ------------------------------------------------------------------ kubeadm config validation

INIT = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: "127.0.0.1"
nodeRegistration:
  name: {name}
  criSocket: "unix:///run/cri-dockerd.sock"
{tokens}---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: "v{kv}"
{cluster}networking:
  podSubnet: "{pod}"
  serviceSubnet: "10.96.0.0/12"
{net}"""
OK = dict(name="cp1", tokens="", cluster="", pod="10.244.0.0/16", net="")
# Stored copy read: kubernetes/kubernetes @ 00d24de6 (read_file); rows name the function, the stable anchor
# (the 1.9 GB repository cannot be fetched here to number lines).
VALIDATION = "cmd/kubeadm/app/apis/kubeadm/validation/validation.go@00d24de6"

# (upstream file:line, changes, message); each row's config is refused by upstream's validation
# (validation_test.go holds the same cases: TestValidateNodeRegistrationOptions, TestValidateCertSANs,
# TestValidateBootstrapTokens, TestValidateImageRepository, TestValidateNetworking).
REFUSED = [
    (f"{VALIDATION} ValidateNodeRegistrationOptions IsDNS1123Subdomain", {"name": "cp_1"},
     'nodeRegistration.name: Invalid value: "cp_1": a lowercase RFC 1123 subdomain'),
    (f"{VALIDATION} ValidateCertSANs", {"cluster": "apiServer:\n  certSANs: [\"api_server.example\"]\n"},
     'apiServer.certSANs: Invalid value: "api_server.example": altname is not a valid IP address, DNS label or a '
     'DNS label with subdomain wildcards'),
    (f"{VALIDATION} ValidateCertSANs (etcd.local)",
     {"cluster": "etcd:\n  local:\n    serverCertSANs: [\"*.*.example\"]\n"},
     'etcd.local.serverCertSANs: Invalid value: "*.*.example": altname is not a valid IP address'),
    (f"{VALIDATION} ValidateHostPort (util/endpoint.go ParseHostPort)",
     {"cluster": "controlPlaneEndpoint: \"api_lb:6443\"\n"},
     'controlPlaneEndpoint: Invalid value: "api_lb:6443": endpoint is not valid'),
    (f"{VALIDATION} ValidateHostPort: port out of range",
     {"cluster": "controlPlaneEndpoint: \"lb.example.org:70000\"\n"},
     'controlPlaneEndpoint: Invalid value: "lb.example.org:70000": endpoint is not valid'),
    (f"{VALIDATION} ValidateImageRepository (distribution/reference ReferenceRegexp)",
     {"cluster": "imageRepository: \"Registry.example.org/K8s\"\n"},
     'imageRepository: Invalid value: "Registry.example.org/K8s": invalid image repository format'),
    (f"{VALIDATION} ValidateImageRepository via ValidateDNS",
     {"cluster": "dns:\n  imageRepository: \"reg/-bad\"\n"},
     'dns.imageRepository: Invalid value: "reg/-bad": invalid image repository format'),
    (f"{VALIDATION} ValidateNetworking dnsDomain", {"net": "  dnsDomain: \"Cluster_Local\"\n"},
     'networking.dnsDomain: Invalid value: "Cluster_Local": a lowercase RFC 1123 subdomain'),
    ("cmd/kubeadm/app/constants/constants.go MinimumAddressesInPodSubnet = 14 (validation.go ValidateIPNetFromString)",
     {"pod": "10.244.0.0/29"}, "subnet with 8 address(es) is too small, the minimum is 14"),
    (f"{VALIDATION} ValidateTokenUsages (cluster-bootstrap token/util ValidateUsages)",
     {"tokens": "bootstrapTokens:\n  - token: \"abcdef.0123456789abcdef\"\n    usages: [\"signing\", \"bogus\"]\n"},
     "invalid bootstrap token usage string: bogus, valid usage options: signing,authentication"),
    (f"{VALIDATION} ValidateTokenGroups: groups need the authentication usage",
     {"tokens": "bootstrapTokens:\n  - token: \"abcdef.0123456789abcdef\"\n    usages: [\"signing\"]\n"},
     'token groups cannot be specified unless --usages includes "authentication"'),
    (f"{VALIDATION} ValidateTokenGroups: ValidateBootstrapGroupName",
     {"tokens": "bootstrapTokens:\n  - token: \"abcdef.0123456789abcdef\"\n    groups: [\"system:nodes\"]\n"},
     'bootstrap group "system:nodes" is invalid (must match ^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$)'),
    (f"{VALIDATION} ValidateBootstrapTokens: TTL and Expires",
     {"tokens": "bootstrapTokens:\n  - token: \"abcdef.0123456789abcdef\"\n    ttl: \"1h\"\n"
                "    expires: \"2030-01-01T00:00:00Z\"\n"},
     "bootstrapTokens.0: Invalid value: \"\": the BootstrapToken .TTL and .Expires fields are mutually exclusive"),
    (f"{VALIDATION} ValidateEtcd: local and external",
     {"cluster": "etcd:\n  local: {}\n  external:\n    endpoints: [\"https://10.0.0.9:2379\"]\n"},
     '.Etcd.Local and .Etcd.External are mutually exclusive'),
    (f"{VALIDATION} ValidateEtcd: cert without key",
     {"cluster": "etcd:\n  external:\n    endpoints: [\"https://10.0.0.9:2379\"]\n    caFile: /etc/etcd/ca.crt\n"
                 "    certFile: /etc/etcd/c.crt\n"},
     "either both or none of .Etcd.External.CertFile and .Etcd.External.KeyFile must be set"),
    (f"{VALIDATION} ValidateEtcd: cert and key need the CA",
     {"cluster": "etcd:\n  external:\n    endpoints: [\"https://10.0.0.9:2379\"]\n    certFile: /etc/etcd/c.crt\n"
                 "    keyFile: /etc/etcd/c.key\n"},
     "setting .Etcd.External.CertFile and .Etcd.External.KeyFile requires .Etcd.External.CAFile"),
    (f"{VALIDATION} ValidateURLs: TLS files need https",
     {"cluster": "etcd:\n  external:\n    endpoints: [\"http://10.0.0.9:2379\"]\n    caFile: /etc/etcd/ca.crt\n"},
     'etcd.external.endpoints: Invalid value: "http://10.0.0.9:2379": the URL must be using the HTTPS scheme'),
    (f"{VALIDATION} ValidateAbsolutePath (etcd.external.caFile)",
     {"cluster": "etcd:\n  external:\n    endpoints: [\"https://10.0.0.9:2379\"]\n    caFile: etcd/ca.crt\n"},
     'etcd.external.caFile: Invalid value: "etcd/ca.crt": path is not absolute'),
    (f"{VALIDATION} ValidateAbsolutePath (certificatesDir)", {"cluster": "certificatesDir: pki\n"},
     'certificatesDir: Invalid value: "pki": path is not absolute'),
    (f"{VALIDATION} ValidateIgnorePreflightErrors: 'all' alone",
     {"name": "cp1\n  ignorePreflightErrors: [\"all\", \"Swap\"]"},
     'ignore-preflight-errors: Invalid value: "all,swap": don\'t specify individual checks if \'all\' is used'),
]


def _kubeadm_init(host, **changes):
    cfg = host.write("/root/init.yaml", INIT.format(kv=KV, **{**OK, **changes}))
    return host.run("kubeadm", "init", "--config", str(host.path(cfg)))


# rows written for kubeadm 1.37 (test_these_rows_are_for_the_version_the_standins_build)
@pytest.mark.parametrize("source,changes,message", REFUSED, ids=[r[0] for r in REFUSED])
def test_kubeadm_refuses_what_upstream_refuses(khost, source, changes, message):
    r = _kubeadm_init(khost, **changes)
    assert r.returncode == 1 and message in r.stderr, (source, r.stderr)


# What upstream accepts after its defaulting (SetDefaults_*, GetHostname lowercasing): never refused here.
ACCEPTED = [
    ("GetHostname lowercases the node name (component-helpers node/util)", {"name": "CP1"}),
    ("IP, DNS name and wildcard certSANs", {"cluster": "apiServer:\n  certSANs: [\"10.0.0.1\", \"api.example.org\", "
                                                       "\"*.example.org\", \"::1\"]\n"}),
    ("host without port; IPv6 with port", {"cluster": "controlPlaneEndpoint: \"[fd00::1]:6443\"\n"}),
    ("registry with port and path", {"cluster": "imageRepository: \"registry.example.org:5000/k8s/mirror\"\n"}),
    ("usages and groups defaulted (SetDefaults_BootstrapToken), ttl alone",
     {"tokens": "bootstrapTokens:\n  - token: \"abcdef.0123456789abcdef\"\n    ttl: \"2h\"\n"}),
    ("external etcd over http without TLS files (only https is required with them)",
     {"cluster": "etcd:\n  external:\n    endpoints: [\"http://10.0.0.9:2379\"]\n"}),
    ("local etcd defaulted (SetDefaults_Etcd) and certificatesDir absolute", {"cluster": "certificatesDir: /etc/pki2\n"}),
    ("a /28 pod subnet has 16 addresses >= 14; node mask set to match",
     {"pod": "10.244.0.0/28", "cluster": "controllerManager:\n  extraArgs:\n    - name: node-cidr-mask-size-ipv4\n"
                                         "      value: \"28\"\n"}),
]


# rows written for kubeadm 1.37 (test_these_rows_are_for_the_version_the_standins_build)
@pytest.mark.parametrize("why,changes", ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_kubeadm_accepts_what_upstream_accepts(khost, why, changes):
    r = _kubeadm_init(khost, **changes)
    assert "Invalid value" not in r.stderr and "strict decoding" not in r.stderr, (why, r.stderr)


# KV is 1.35 or newer (test_these_rows_are_for_the_version_the_standins_build): ContainerRuntimeVersion is a 1.35+ preflight check
@pytest.mark.parametrize("cri_version,warned", [("0.3.16", True), ("0.3.17", False), ("0.4.4", False)])
def test_kubeadm_warns_when_cri_dockerd_lacks_runtime_config(khost, cri_version, warned):
    # kubernetes/kubernetes #134906 (kubeadm 1.35): preflight ContainerRuntimeVersion warns when the runtime has no
    # CRI RuntimeConfig; cri-dockerd has it from 0.3.17 / 0.4.0 (Mirantis/cri-dockerd core/docker_service.go).
    import json

    khost.write("/run/standins/cri-dockerd.json", json.dumps({"version": cri_version}))
    r = _kubeadm_init(khost)
    assert ("[WARNING ContainerRuntimeVersion]" in r.stdout + r.stderr) == warned, r.stdout + r.stderr
    if warned:
        assert "supports the CRI method RuntimeConfig" in r.stdout + r.stderr


# KV is 1.35 or newer (test_these_rows_are_for_the_version_the_standins_build): an error from 1.35 (a warning before)
def test_kubeadm_preflight_refuses_cgroup_v1(khost):
    # kubernetes/kubernetes #134744: k8s.io/system-validators v1.12.1 CgroupsValidator fails SystemVerification
    # for a kubelet of 1.35+ on a cgroup v1 host (the check can be skipped with --ignore-preflight-errors).
    khost.write("/proc/self/mounts", V1_MOUNTS)
    r = _kubeadm_init(khost)
    assert r.returncode == 1 and "[ERROR SystemVerification]: cgroups v1 support is deprecated" in r.stderr, r.stderr
    khost.write("/proc/self/mounts", V2_MOUNTS)
    assert "SystemVerification" not in _kubeadm_init(khost).stderr
