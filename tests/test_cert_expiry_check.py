"""kube.cert_expiry on check-expiration's own tables (upstream's format: kubernetes/kubernetes
cmd/kubeadm/app/cmd/certs.go newCmdCertsExpiration, as provisioner/daytwo/expiration.py reads it)."""

from __future__ import annotations

import datetime as dt

from provisioner.checks.base import FAIL, PASS, SKIP, WARN, Node
from provisioner.checks.certexpiry import NOT_BUILT, CertExpiry
from provisioner.daytwo.expiration import DATE_FORMAT
from provisioner.factdata import Fact, Facts
from provisioner.validation import load_inventory
from tests.support.cli import REPO


def tables(apiserver_days: float) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    def when(days):
        return (now + dt.timedelta(days=days)).strftime(DATE_FORMAT)
    return ("[check-expiration] Reading configuration from the \"kubeadm-config\" ConfigMap in namespace "
            "\"kube-system\"...\n\n"
            "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n"
            f"admin.conf                 {when(364.5)}   364d            ca                      no      \n"
            f"apiserver                  {when(apiserver_days)}   20d             ca                      no      \n\n"
            "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\n"
            f"ca                      {when(3650.5)}   9y              no      \n")


def judge(text: str, rc: int = 0):
    inv = load_inventory(REPO / "inventories/lab.yaml")
    facts = Facts({"kube.cert_expiry": Fact(text, rc)})
    return CertExpiry().evaluate(facts, Node(inv.host("master1"), inv, facts))


def test_a_year_left_passes():
    r = judge(tables(300.5))
    assert r.status == PASS and r.observed == "3 certificates, the first to expire in 300 days", r


def test_under_30_days_warns_naming_the_certificate_and_the_fix():
    r = judge(tables(19.5))
    assert r.status == WARN and r.observed.startswith("apiserver expires in 19 days ("), r
    assert r.fix == "provisioner certs --renew"


def test_expired_fails():
    r = judge(tables(-2))
    assert r.status == FAIL and "apiserver EXPIRED on" in r.observed, r


def test_no_cluster_yet_is_skipped_and_a_failing_kubeadm_is_said():
    assert judge(NOT_BUILT).status == SKIP
    r = judge("error: open /etc/kubernetes/pki/ca.crt: no such file", rc=1)
    assert r.status == WARN and "exit 1" in r.observed and "no such file" in r.observed, r
