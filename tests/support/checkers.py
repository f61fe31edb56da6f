"""Run the real config checkers (haproxy, keepalived, chronyd, systemd-analyze) on rendered files.

Each function returns (ok, output) so a test can show the checker's own words.

>>> ok, output = haproxy_check(Path("out/ha1/etc/haproxy/haproxy.cfg"))   # doctest: +SKIP
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path


def _run(argv: list[str]) -> tuple[bool, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def haproxy_check(cfg: Path) -> tuple[bool, str]:
    """``haproxy -c -f``: exit 0 only for a valid file."""
    return _run(["haproxy", "-c", "-f", str(cfg)])


def keepalived_check(conf: Path, script: Path, script_target: str, nic: str) -> tuple[bool, str]:
    """``keepalived -t -e`` in private mount + network namespaces.

    keepalived refuses a config whose interface does not exist or whose
    vrrp_script is missing (exit 5 with -e), so the check first creates the
    NIC (a veth end) and stages the script at its absolute path on a tmpfs,
    both invisible outside the namespaces.
    """
    target_dir = str(Path(script_target).parent)
    inner = " && ".join([
        f"ip link add {shlex.quote(nic)} type veth peer name provchk0",
        f"ip link set {shlex.quote(nic)} up",
        f"mount -t tmpfs tmpfs {shlex.quote(target_dir)}",
        f"install -m 0755 {shlex.quote(str(script))} {shlex.quote(script_target)}",
        f"keepalived -t -e -f {shlex.quote(str(conf))}",
    ])
    return _run(["unshare", "--mount", "--net", "sh", "-c", inner])


def chrony_check(conf: Path) -> tuple[bool, str]:
    """``chronyd -p -f``: parses and prints the config, no network."""
    return _run(["chronyd", "-p", "-f", str(conf)])


def systemd_verify(units: list[Path]) -> tuple[bool, str]:
    """``systemd-analyze verify`` on unit files.

    Binaries named in ExecStart (cri-dockerd) are not installed on this
    machine, so "is not executable" lines are expected and dropped; anything
    else (parse errors, unknown keys, bad references) is a finding.
    """
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", *map(str, units)],
                          capture_output=True, text=True, timeout=60)
    findings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if line.strip() and "is not executable" not in line]
    return not findings, "\n".join(findings)
