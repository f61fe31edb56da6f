"""net.package_repos and net.registry: the generated probe run by bash with the REAL curl, against a web server
on 127.0.0.1 laid out as the repositories and a registry's /v2/ (nothing leaves this machine).

The runner is Debian 12 (CI and here), so the probe takes the apt family, as on a Debian node. The lab test
(tests/test_preflight_parity_lab.py) asks the lab's own mirror from every node.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from pathlib import Path

import pytest
import yaml

from provisioner.checks.base import FAIL, PASS, WARN, Node
from provisioner.checks.sources import PackageSources, RegistryReachable, answers
from provisioner.factdata import Fact, Facts
from provisioner.validation import load_inventory


@pytest.fixture
def web(tmp_path):
    root = tmp_path / "www"
    for index in ("debian/dists/bookworm/InRelease", "k8s/v1.37/deb/InRelease",
                  "docker/linux/debian/dists/bookworm/InRelease", "v2/index.html"):
        (root / index).parent.mkdir(parents=True, exist_ok=True)
        (root / index).write_text("{}" if index.startswith("v2") else "Origin: test\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, server.server_address[1]
    server.shutdown()


def inventory(tmp_path: Path, port: int, **changes):
    base = f"http://127.0.0.1:{port}"
    data = {"cluster_name": "t", "kubernetes_version": "1.37.1",
            "load_balancer": {"mode": "none"},
            "networking": {"host_network": "127.0.0.0/8"}, "host_defaults": {"nic": "lo"},
            "package_mirrors": {"apt": f"{base}/debian", "kubernetes": f"{base}/k8s/v{{minor}}",
                                "docker": f"{base}/docker/linux"},
            "registry": {"hostname": "harbor", "address": "127.0.0.1", "port": port, "insecure": True},
            "image_repository": f"harbor:{port}/k8s",
            "hosts": [{"hostname": "cp", "address": "127.0.0.2", "roles": ["control-plane"]}]}
    data.update(changes)
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_inventory(path)


def judge(check, inv, env=None):
    host = inv.hosts[0]
    script = check.fact_commands(inv, host)[check.id]
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env=env)
    facts = Facts({check.id: Fact(r.stdout, r.returncode)})
    return check.evaluate(facts, Node(host, inv, facts))


def test_every_repository_up_uses_answers(web, tmp_path):
    _, port = web
    result = judge(PackageSources(), inventory(tmp_path, port))
    assert result.status == PASS, result
    assert result.observed == "apt mirror: HTTP 200; kubernetes repository: HTTP 200; docker repository: HTTP 200"


def test_a_missing_index_fails_naming_its_url(web, tmp_path):
    root, port = web
    (root / "k8s/v1.37/deb/InRelease").unlink()
    result = judge(PackageSources(), inventory(tmp_path, port))
    assert result.status == FAIL
    assert f"kubernetes repository http://127.0.0.1:{port}/k8s/v1.37/deb/InRelease: HTTP 404" == result.observed
    assert "package_mirrors" in result.fix


def test_nothing_listening_is_curls_own_message(web, tmp_path):
    _, port = web
    inv = inventory(tmp_path, port, package_mirrors={"apt": "http://127.0.0.1:9/debian"})
    result = judge(PackageSources(), inv)
    assert result.status == FAIL and "apt mirror http://127.0.0.1:9/debian/dists/bookworm/InRelease" in result.observed
    assert "Failed to connect" in result.observed or "Connection refused" in result.observed, result


def test_insecure_registry_is_asked_at_its_address_over_http(web, tmp_path):
    _, port = web
    result = judge(RegistryReachable(), inventory(tmp_path, port))
    assert result.status == PASS and result.observed == f"registry harbor:{port}: HTTP 200", result


def test_registry_over_tls_that_speaks_http_warns(web, tmp_path):
    _, port = web
    inv = inventory(tmp_path, port, registry={"hostname": "harbor", "address": "127.0.0.1", "port": port})
    result = judge(RegistryReachable(), inv)
    assert result.status == WARN and f"registry harbor:{port} https://harbor:{port}/v2/:" in result.observed, result


def test_answers_parse_curl_lines():
    lines = ["1:docker repository|6|curl: (6) Could not resolve host: x http=000|https://x/",
             "0:apt mirror|0| http=200|http://m/InRelease"]
    a, b = answers(lines)          # in the probes' order, not the order they finished in
    assert (a.label, b.label) == ("apt mirror", "docker repository")
    assert (a.code, a.error) == (200, "") and (b.code, b.error) == (0, "(6) Could not resolve host: x")


def test_a_name_without_dns_is_dns_resolv_confs_finding():
    """No nameserver on the node: the unresolved registry points at dns.resolv_conf instead of a second warning;
    with a nameserver, the same answer is this check's warning."""
    from provisioner.checks.sources import RegistryReachable
    inv = load_inventory(Path(__file__).resolve().parents[1] / "inventories/lab.yaml")
    line = "0:registry registry.k8s.io|6|curl: (6) Could not resolve host: registry.k8s.io http=000|https://registry.k8s.io/v2/"
    for servers, status in (("", "skip"), ("\n10.0.0.53", WARN)):
        facts = Facts({"net.registry": Fact(line, 0), "dns.resolv_conf": Fact("/etc/resolv.conf" + servers, 0)})
        result = RegistryReachable().evaluate(facts, Node(inv.host("node1"), inv, facts))
        assert result.status == status, result
    assert "registry.k8s.io needs DNS and the node has no nameserver (dns.resolv_conf)" in \
        RegistryReachable().evaluate(Facts({"net.registry": Fact(line, 0), "dns.resolv_conf": Fact("/etc/resolv.conf", 0)}),
                                     Node(inv.host("node1"), inv, Facts())).observed


def test_a_curl_older_than_7_75_is_asked_one_url_at_a_time(web, tmp_path):
    """curl before 7.75 knows neither %{urlnum} nor %{exitcode} (curl's docs/cmdline-opts/write-out.md: "Added in
    7.75.0"), and before 7.66 not -Z: the probe then runs one curl per URL. Here a curl that refuses -Z, as
    curl < 7.66 does ("option -Z: is unknown", exit 2), in front of the real one."""
    import os
    import shutil
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "curl").write_text("#!/bin/bash\nfor a; do [ \"$a\" = -Z ] && { echo 'curl: option -Z: is unknown' >&2; "
                                 f"exit 2; }}; done\nexec {shutil.which('curl')} \"$@\"\n")
    (bindir / "curl").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    root, port = web
    (root / "k8s/v1.37/deb/InRelease").unlink()
    result = judge(PackageSources(), inventory(tmp_path, port), env)
    assert result.status == FAIL
    assert f"kubernetes repository http://127.0.0.1:{port}/k8s/v1.37/deb/InRelease: HTTP 404" == result.observed
