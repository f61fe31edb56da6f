"""The etcd static pod on lab control planes is Debian's etcd 3.4 run with the command kubeadm wrote.

Upstream: kubernetes/kubernetes cmd/kubeadm/app/phases/etcd/local.go getEtcdCommand - the flags kubeadm
gives etcd (sorted by kubeadmutil.ArgumentsToCommand), with "feature-gates=InitialCorruptCheck=true" and
"watch-progress-notify-interval=5s" when the etcd image is 3.6.0 or newer and their "experimental-" names
before; etcd-io/etcd CHANGELOG-3.6 for the renames. tests/test_daytwo_lab.py runs the result on the lab.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "standins" / "src"))
import etcd_pod  # noqa: E402  (stand-in programs, stdlib only)
import kubeadm  # noqa: E402

PKI = "/etc/kubernetes/pki"


def command(monkeypatch, etcd_version: str) -> list[str]:
    monkeypatch.setitem(kubeadm.STANDIN_BUILD, "etcd_version", etcd_version)
    return kubeadm.etcd_command("master2", "172.31.250.12", "master1=https://172.31.250.11:2380,"
                                "master2=https://172.31.250.12:2380", "existing")


def test_kubeadm_writes_getEtcdCommands_flags_sorted(monkeypatch):
    cmd = command(monkeypatch, "3.7.1-0")
    assert cmd[0] == "etcd" and cmd[1:] == sorted(cmd[1:], key=lambda f: f.split("=", 1)[0])
    flags = dict(a[2:].split("=", 1) for a in cmd[1:])
    assert flags == {
        "name": "master2", "listen-client-urls": "https://127.0.0.1:2379,https://172.31.250.12:2379",
        "advertise-client-urls": "https://172.31.250.12:2379", "listen-peer-urls": "https://172.31.250.12:2380",
        "initial-advertise-peer-urls": "https://172.31.250.12:2380", "data-dir": "/var/lib/etcd",
        "cert-file": f"{PKI}/etcd/server.crt", "key-file": f"{PKI}/etcd/server.key",
        "trusted-ca-file": f"{PKI}/etcd/ca.crt", "client-cert-auth": "true",
        "peer-cert-file": f"{PKI}/etcd/peer.crt", "peer-key-file": f"{PKI}/etcd/peer.key",
        "peer-trusted-ca-file": f"{PKI}/etcd/ca.crt", "peer-client-cert-auth": "true", "snapshot-count": "10000",
        "listen-metrics-urls": "http://127.0.0.1:2381", "feature-gates": "InitialCorruptCheck=true",
        "watch-progress-notify-interval": "5s",
        "initial-cluster": "master1=https://172.31.250.11:2380,master2=https://172.31.250.12:2380",
        "initial-cluster-state": "existing"}
    old = dict(a[2:].split("=", 1) for a in command(monkeypatch, "3.5.15-0")[1:])
    assert old["experimental-initial-corrupt-check"] == "true"
    assert old["experimental-watch-progress-notify-interval"] == "5s" and "feature-gates" not in old


def test_etcd_34_gets_the_36_flags_under_their_34_names(monkeypatch):
    cmd = command(monkeypatch, "3.7.1-0")
    args = etcd_pod.etcd34_args(cmd)
    assert "--experimental-initial-corrupt-check=true" in args
    assert "--experimental-watch-progress-notify-interval=5s" in args
    assert not any(a.startswith(("--feature-gates", "--watch-progress")) for a in args)
    # everything else reaches etcd as written
    rest = [a for a in cmd[1:] if not a.startswith(("--feature-gates", "--watch-progress"))]
    assert [a for a in args if not a.startswith("--experimental-")] == rest
    # a 3.5-style command is etcd 3.4's already
    old = command(monkeypatch, "3.5.15-0")
    assert etcd_pod.etcd34_args(old) == old[1:]


def test_what_etcd_34_cannot_take_is_refused():
    with pytest.raises(ValueError, match="unknown feature gate 'SomethingNew'"):
        etcd_pod.etcd34_args(["etcd", "--feature-gates=InitialCorruptCheck=true,SomethingNew=true"])
    with pytest.raises(ValueError, match="not etcd"):
        etcd_pod.etcd34_args(["kube-apiserver", "--name=x"])
