"""Stand-ins at least as strict as upstream: each row cites the upstream file it follows.

Runs the programs extracted from the built .debs (tests/test_standins.py's fixtures) with
STANDIN_ROOT per pretend node; no lab.
"""

from __future__ import annotations

import pytest

from tests.test_standins import KV, built, host, install  # noqa: F401 - pytest fixtures

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


@pytest.mark.skipif(int(KV.split(".")[1]) < 35, reason="failCgroupV1 defaults to true from 1.35")
def test_kubelet_refuses_cgroup_v1(host):
    # kubernetes/kubernetes pkg/kubelet/apis/config/validation/validation_linux.go validateKubeletOSConfiguration
    # (line 31: FailCgroupV1 && !IsCgroup2UnifiedMode); default true from 1.35 (#134298).
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


@pytest.mark.skipif(int(KV.split(".")[1]) < 35, reason="removed in 1.35")
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
