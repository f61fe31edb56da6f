"""`up`'s probes that run on every host in every run read with bash itself where a program is not needed,
and ask the API with one curl before kubectl - and still say exactly what the old commands said.

No lab: each probe runs here under bash, with PATH emptied where it must need no program at all (the old
``$(hostname)``, ``$(sysctl -n ...)``, ``$(cat ...)`` forms fail that way), against this machine's own
/proc and files or against files in tmp_path. The lab tests (tests/test_up_lab.py drift cases,
tests/test_up_halfdone_lab.py) run the same probes on real nodes.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from tests.support.skips import need_tool

from provisioner.phases.base import ADMIN_CONF, CA, api_read, file_is, sysctl_check
from provisioner.phases.halfdone import _traces
from provisioner.phases.prep import NO_ACTIVE_SWAP, SWAP_MASKED, SWAP_TARGET, hostname_step
from provisioner.phases.verify import nodes_ready


def bash(command: str, *, path: str = "/nonexistent", **env) -> subprocess.CompletedProcess:
    """``command`` under bash with PATH set to ``path`` (default: nothing to exec) - its exit code and output."""
    return subprocess.run(["/bin/bash", "-c", command], capture_output=True, text=True, timeout=30,
                          env={"PATH": path, **env})


def test_hostname_probe_reads_the_kernel_name_and_etc_hostname_without_a_program():
    kernel = Path("/proc/sys/kernel/hostname").read_text().strip()
    try:
        lasting = Path("/etc/hostname").read_text()
    except OSError:
        lasting = None
    # what the old `[ "$(hostname)" = N ] && [ "$(cat /etc/hostname)" = N ]` said for a file written "N\n"
    expected = 0 if lasting == kernel + "\n" else 1
    assert bash(hostname_step(kernel).check).returncode == expected
    assert bash(hostname_step(kernel + "x").check).returncode == 1


def test_sysctl_probe_reads_proc_sys_without_a_program():
    forward = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
    good = f"kernel.ostype = Linux\nnet.ipv4.ip_forward = {forward}\n"
    assert bash(sysctl_check(good)).returncode == 0
    bad = f"kernel.ostype = Linux\nnet.ipv4.ip_forward = {1 - int(forward)}\n"
    assert bash(sysctl_check(bad)).returncode == 1
    assert bash(sysctl_check("net.no.such.key = 1\n")).returncode == 1     # sysctl -n prints nothing: differs


def test_file_is_wants_exactly_what_echo_wrote(tmp_path):
    path = tmp_path / "key.source"
    path.write_text("http://mirror/gpg\n")                  # `echo URL > FILE` (keyring_step's command)
    assert bash(file_is(str(path), "http://mirror/gpg")).returncode == 0
    for other in ("http://mirror/gpg2\n", "http://mirror/gpg\nmore\n", ""):
        path.write_text(other)
        assert bash(file_is(str(path), "http://mirror/gpg")).returncode == 1, other
    path.unlink()
    assert bash(file_is(str(path), "http://mirror/gpg")).returncode == 1


def test_swap_probes_read_proc_swaps_and_the_mask_link(tmp_path):
    active = len(Path("/proc/swaps").read_text().splitlines()) > 1     # what `swapon --show` lists
    assert bash(NO_ACTIVE_SWAP).returncode == (1 if active else 0)
    swaps = tmp_path / "swaps"
    swaps.write_text("Filename\tType\tSize\tUsed\tPriority\n")
    assert bash(NO_ACTIVE_SWAP.replace("/proc/swaps", str(swaps))).returncode == 0
    swaps.write_text("Filename\tType\tSize\tUsed\tPriority\n/swapfile\tfile\t1024\t0\t-2\n")
    assert bash(NO_ACTIVE_SWAP.replace("/proc/swaps", str(swaps))).returncode == 1
    # `systemctl is-enabled` says "masked" for a unit file that is /dev/null or empty (systemd
    # src/shared/install.c null_or_empty_path); anything else is not masked.
    unit = tmp_path / "swap.target"
    masked = SWAP_MASKED.replace(SWAP_TARGET, str(unit))
    assert bash(masked).returncode == 1                                   # absent
    unit.symlink_to("/dev/null")
    assert bash(masked).returncode == 0
    unit.unlink()
    unit.write_text("")
    assert bash(masked).returncode == 0
    unit.write_text("[Unit]\nDescription=Swaps\n")
    assert bash(masked).returncode == 1


def test_kubeadm_trace_dirs_count_like_ls_A(tmp_path):
    etcd = tmp_path / "etcd"
    probe = _traces().replace("/var/lib/etcd", str(etcd)) + '; echo "[$t]"'
    assert str(etcd) not in bash(probe).stdout                            # absent
    etcd.mkdir()
    assert str(etcd) not in bash(probe).stdout                            # empty
    (etcd / ".hidden").write_text("")                                     # `ls -A` lists dot files
    assert f",{etcd}]" in bash(probe).stdout


def test_nodes_ready_counts_ready_lines_in_bash(tmp_path):
    kubectl = tmp_path / "kubectl"
    kubectl.write_text("#!/bin/sh\nprintf 'a\\tTrue\\tok\\nb\\tFalse\\tcni not ready\\nc\\tTrue\\t\\n'\n")
    kubectl.chmod(0o755)
    path = f"{tmp_path}:/usr/bin:/bin"
    assert bash(nodes_ready(2), path=path).returncode == 0
    three = bash(nodes_ready(3), path=path)
    assert three.returncode == 1 and three.stderr.strip() == "node b not Ready: cni not ready"


# --------------------------------------------------------------------------- api_read against a TLS server

def _pki(tmp_path: Path) -> dict:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (what kubeadm makes, in small)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(cn, key, issuer=None, issuer_key=None, *, ca=False, server=False):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer.subject if issuer else name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if server:
            loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
            builder = builder.add_extension(x509.SubjectAlternativeName([loopback]), critical=False)
        if not ca:
            builder = builder.add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        return builder.sign(issuer_key or key, hashes.SHA256())

    pem = lambda c: c.public_bytes(serialization.Encoding.PEM)                        # noqa: E731
    kpem = lambda k: k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,  # noqa: E731
                                     serialization.NoEncryption())
    ca_key, srv_key, cli_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca = cert("kubernetes", ca_key, ca=True)
    out = {"ca": tmp_path / "ca.crt", "srv": tmp_path / "srv.pem", "cli": tmp_path / "cli.pem"}
    out["ca"].write_bytes(pem(ca))
    out["srv"].write_bytes(pem(cert("kube-apiserver", srv_key, ca, ca_key, server=True)) + kpem(srv_key))
    out["cli_cert"], out["cli_key"] = pem(cert("system:node:n1", cli_key, ca, ca_key)), kpem(cli_key)
    out["cli"].write_bytes(out["cli_cert"] + out["cli_key"])
    return out


# Three nodes as the API server lists them (only the fields the probe reads, plus some it must skip): a Ready
# one, one whose CNI is not ready, one without any Ready condition yet.
NODE_LIST = json.dumps({"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": [
    {"metadata": {"name": "a"}, "status": {"conditions": [
        {"type": "MemoryPressure", "status": "False", "message": "kubelet has sufficient memory available"},
        {"type": "Ready", "status": "True", "message": "kubelet is posting ready status"}]}},
    {"metadata": {"name": "b"}, "status": {"conditions": [
        {"type": "Ready", "status": "False", "message": "container runtime network not ready"}]}},
    {"metadata": {"name": "c"}, "status": {}}]}).encode()


@pytest.fixture
def api(tmp_path):
    """An HTTPS server that wants a client certificate of our CA: 200 for the Node n1, 404 for anything else."""
    pki = _pki(tmp_path)
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):                                      # noqa: N802 - http.server's name
            seen.append(self.path)
            ok = self.path in ("/api/v1/nodes/n1", "/api/v1/nodes")
            body = (NODE_LIST if self.path == "/api/v1/nodes" else b'{"kind":"Node","metadata":{"name":"n1"}}'
                    if ok else b'{"kind":"Status","code":404}')
            self.send_response(200 if ok else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with tls_server(pki, Handler, ssl.CERT_REQUIRED) as url:
        yield pki, url, seen


@contextlib.contextmanager
def tls_server(pki: dict, handler, verify_mode):
    """An HTTPS server on 127.0.0.1 with our CA's server certificate, asking clients for a certificate of that CA
    (``verify_mode``); yields its URL, shut down after."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)   # listening before the thread starts
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["srv"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = verify_mode
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _kubeconfig(path: Path, server: str, user: dict) -> Path:
    """The layout kubeadm writes (one cluster, one user)."""
    lines = ["apiVersion: v1", "clusters:", "- cluster:", "    certificate-authority-data: eA==",
             f"    server: {server}", "  name: kubernetes", "kind: Config", "users:", "- name: u", "  user:"]
    path.write_text("\n".join(lines + [f"    {k}: {v}" for k, v in user.items()]) + "\n")
    return path


def test_api_read_uses_inline_and_file_credentials_and_fails_on_what_it_does_not_understand(api, tmp_path):
    need_tool("curl", "every node has it: apt-get install curl")
    pki, server, seen = api
    run = lambda probe: bash(probe.replace(CA, str(pki["ca"])), path="/usr/bin:/bin")    # noqa: E731
    inline = _kubeconfig(tmp_path / "admin.conf", server, {
        "client-certificate-data": base64.b64encode(pki["cli_cert"]).decode(),
        "client-key-data": base64.b64encode(pki["cli_key"]).decode()})
    files = _kubeconfig(tmp_path / "kubelet.conf", server, {"client-certificate": pki["cli"], "client-key": pki["cli"]})
    for kubeconfig in (inline, files):
        got = run(api_read(str(kubeconfig), "/api/v1/nodes/n1"))
        assert got.returncode == 0 and '"name":"n1"' in got.stdout, (kubeconfig.name, got.stderr)
        assert run(api_read(str(kubeconfig), "/api/v1/nodes/n2")).returncode != 0          # 404: not there
    # --server given: the kubeconfig's own server is not used
    assert run(api_read(str(files), "/api/v1/nodes/n1", server="https://127.0.0.1:1")).returncode != 0
    # no client certificate, a token, a second user: not understood - the caller asks kubectl instead
    asked = len(seen)
    for name, user in (("none", {}), ("token", {"client-certificate": pki["cli"], "client-key": pki["cli"],
                                                 "token": "abc"})):
        assert run(api_read(str(_kubeconfig(tmp_path / name, server, user)), "/api/v1/nodes/n1")).returncode != 0
    two = tmp_path / "two"
    two.write_text(files.read_text() + "- name: v\n  user:\n    client-certificate: /x\n    client-key: /x\n")
    assert run(api_read(str(two), "/api/v1/nodes/n1")).returncode != 0
    assert len(seen) == asked                                    # none of those even asked the server
    assert run(api_read(str(tmp_path / "missing"), "/api/v1/nodes/n1")).returncode != 0


def test_nodes_ready_reads_the_node_list_with_one_curl_not_kubectl(api, tmp_path):
    """verify's Ready count (runs in every up) asks the API with curl and reads the JSON with python3: kubectl
    does not run. A node without python3, or an API read that fails, still gets kubectl's answer."""
    need_tool("curl", "every node has it: apt-get install curl")
    pki, server, seen = api
    admin = _kubeconfig(tmp_path / "admin.conf", server, {
        "client-certificate-data": base64.b64encode(pki["cli_cert"]).decode(),
        "client-key-data": base64.b64encode(pki["cli_key"]).decode()})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # kubectl's answer for the same list (READY_JSONPATH), logged when asked
    (bin_dir / "kubectl").write_text(f"#!/bin/sh\necho called >> {tmp_path}/kubectl.log\n"
                                     "printf 'a\\tTrue\\tok\\nb\\tFalse\\tnot ready\\nc\\t\\t\\n'\n")
    (bin_dir / "kubectl").chmod(0o755)
    for tool in ("curl", "base64", "awk"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    run = lambda probe, path: bash(probe.replace(CA, str(pki["ca"])).replace(ADMIN_CONF, str(admin)),  # noqa: E731
                                   path=path)
    py_dir = tmp_path / "py"                  # a python3 alone on PATH (the one running us, not a shim script)
    py_dir.mkdir()
    (py_dir / "python3").symlink_to(os.path.realpath(sys.executable))
    with_python = f"{bin_dir}:{py_dir}"
    assert run(nodes_ready(1), with_python).returncode == 0
    two = run(nodes_ready(2), with_python)
    assert two.returncode == 1
    assert two.stderr.splitlines() == ["node b not Ready: container runtime network not ready", "node c not Ready: "]
    assert seen.count("/api/v1/nodes") == 2 and not (tmp_path / "kubectl.log").exists()
    # no python3 on the node: kubectl, as before
    assert run(nodes_ready(1), str(bin_dir)).returncode == 0
    assert len((tmp_path / "kubectl.log").read_text().splitlines()) == 1
    # the API read fails (no such kubeconfig): kubectl
    assert bash(nodes_ready(1).replace(ADMIN_CONF, str(tmp_path / "missing")), path=with_python).returncode == 0
    assert len((tmp_path / "kubectl.log").read_text().splitlines()) == 2


_FSTAB_CASES = {
    "swap line": "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0\n",
    "tab separated": "/dev/sda2\tnone\tswap\tsw\t0\t0\n",
    "commented": "#/swapfile none swap sw 0 0\n",
    "indented (grep's ^ wants no blank first)": "  /swapfile none swap sw 0 0\n",
    "swap only in the options": "/dev/sdb1 /data ext4 swap,defaults 0 2\n",
    "last line without a newline": "UUID=1 / ext4 defaults 0 1\n/swapfile none swap sw 0 0",
    "type swap without a field after it": "/swapfile none swap\n",
    "none": "UUID=1 / ext4 defaults 0 1\n",
}


@pytest.mark.parametrize("case", [*_FSTAB_CASES, "missing"])
def test_fstab_swap_probe_says_what_grep_says_without_a_program(tmp_path, case):
    """prep's "no swap line in /etc/fstab" is read by bash's own =~ (POSIX ERE, like grep -E): the same answer
    as the grep it replaces for each kind of line, with PATH emptied (no process)."""
    from provisioner.phases.prep import FSTAB_SWAP, NO_FSTAB_SWAP

    fstab = tmp_path / "fstab"
    if case != "missing":
        fstab.write_bytes(_FSTAB_CASES[case].encode())
    grep = subprocess.run(["/bin/bash", "-c", f"! grep -Eq '{FSTAB_SWAP}' {fstab}"], timeout=30).returncode
    assert bash(NO_FSTAB_SWAP.replace("/etc/fstab", str(fstab))).returncode == grep


@pytest.mark.parametrize("text", ["nodev\tsysfs\nnodev\toverlay\n\text4\n", "nodev\tsysfs\n\text4\n",
                                  "nodev\toverlayfs\n", "nodev\toverlay", ""])
def test_overlay_probe_says_what_grep_w_says_without_a_program(tmp_path, text):
    """overlay built into the kernel (no /sys/module/overlay) is found in /proc/filesystems by bash itself:
    the answer of `grep -qw overlay` on the same text, with PATH emptied."""
    from provisioner.checks.kernel import module_present

    filesystems = tmp_path / "filesystems"
    filesystems.write_text(text)
    probe = module_present("overlay").replace("/proc/filesystems", str(filesystems)).replace(
        "/sys/module/overlay", str(tmp_path / "no-such-module"))
    grep = subprocess.run(["grep", "-qw", "overlay", str(filesystems)], timeout=30).returncode
    assert bash(probe).returncode == (0 if grep == 0 else 1)
    assert bash(probe.replace(str(filesystems), str(tmp_path / "missing"))).returncode == 1


def test_session_probe_reads_the_machine_id_without_a_program(tmp_path):
    """The session's first read prints the OS line, then /etc/machine-id's one line (nothing when there is
    none), as `cat /etc/machine-id 2>/dev/null` did - without starting cat."""
    from provisioner.session import SESSION_PROBE

    release = tmp_path / "os-release"
    release.write_text("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n")
    machine_id = tmp_path / "machine-id"
    machine_id.write_text("0123456789abcdef0123456789abcdef\n")
    probe = SESSION_PROBE.replace("/etc/os-release", str(release)).replace("dpkg --print-architecture", "echo amd64")
    out = bash(probe.replace("/etc/machine-id", str(machine_id)))
    assert out.stdout.splitlines() == ["debian|12|bookworm||amd64", "0123456789abcdef0123456789abcdef"]
    out = bash(probe.replace("/etc/machine-id", str(tmp_path / "none")))
    assert out.returncode == 0 and out.stdout.splitlines() == ["debian|12|bookworm||amd64"]
