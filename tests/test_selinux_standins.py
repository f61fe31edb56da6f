"""The SELinux stand-ins (tests/standins/src/selinux.py) behave as upstream's tools, read first:

- SELinuxProject/selinux libselinux/utils/getenforce.c: "Enforcing", "Permissive" or "Disabled", exit 0.
- libselinux/utils/setenforce.c: argc != 2 or an unknown word -> "usage:  %s [ Enforcing | Permissive | 1 | 0 ]",
  exit 1; SELinux disabled -> "%s: SELinux is disabled", exit 1; "0"/"1" or Enforcing/Permissive in any case.
- libselinux/utils/getsebool.c: "%s --> on|off"; an unknown name -> "Error getting active value for %s",
  rc -1 (exit 255); disabled -> "%s:  SELinux is disabled", exit 1; no argument -> usage, exit 1.
- policycoreutils/setsebool/setsebool.c: "name value" or "name=value"; values 1/true/on, 0/false/off,
  else "setsebool: illegal value %s for boolean %s"; an unknown boolean -> "Could not change active booleans:
  Invalid boolean" (or with -P "Boolean %s is not defined"); failures return -1 (exit 255).
- policycoreutils/semanage/seobject.py fcontextRecords: add of a defined spec -> "File context for %s already
  defined", modify of an undefined one -> "is not defined"; the list's "%-50s %-18s %s" rows.
- libselinux/src/selinux_restorecon.c: -v prints "Relabeled|Would relabel PATH from OLD to NEW"; -n changes
  nothing.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.standins.build import selinux_tools


@pytest.fixture
def tools(tmp_path):
    bins = selinux_tools(tmp_path / "bin")
    root = tmp_path / "root"
    (root / "etc/selinux").mkdir(parents=True)
    (root / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n")

    def run(*argv):
        env = {**os.environ, "STANDIN_ROOT": str(root)}
        return subprocess.run([str(bins[argv[0]]), *argv[1:]], capture_output=True, text=True, env=env)
    run.root = root
    return run


def test_mode_comes_from_the_config_at_first_then_setenforce_changes_only_the_live_state(tools):
    assert tools("getenforce").stdout == "Enforcing\n"
    assert tools("setenforce", "0").returncode == 0
    assert tools("getenforce").stdout == "Permissive\n"
    assert (tools.root / "etc/selinux/config").read_text().startswith("SELINUX=enforcing\n")
    assert tools("setenforce", "ENFORCING").returncode == 0 and tools("getenforce").stdout == "Enforcing\n"
    bad = tools("setenforce", "2")
    assert bad.returncode == 1 and "usage:  " in bad.stderr and "[ Enforcing | Permissive | 1 | 0 ]" in bad.stderr
    assert tools("setenforce").returncode == 1


def test_a_disabled_system_refuses_setenforce_and_getsebool(tools):
    (tools.root / "etc/selinux/config").write_text("SELINUX=disabled\n")
    assert tools("getenforce").stdout == "Disabled\n"
    r = tools("setenforce", "0")
    assert r.returncode == 1 and r.stderr.endswith("setenforce: SELinux is disabled\n")
    r = tools("getsebool", "haproxy_connect_any")
    assert r.returncode == 1 and "SELinux is disabled" in r.stderr


def test_booleans(tools):
    assert tools("getsebool", "haproxy_connect_any").stdout == "haproxy_connect_any --> off\n"
    assert tools("setsebool", "-P", "haproxy_connect_any", "1").returncode == 0
    assert tools("getsebool", "haproxy_connect_any").stdout == "haproxy_connect_any --> on\n"
    r = tools("setsebool", "haproxy_connect_any=maybe")
    assert r.returncode == 255 and r.stderr == "setsebool: illegal value maybe for boolean haproxy_connect_any\n"
    r = tools("setsebool", "no_such_bool", "on")
    assert r.returncode == 255 and "Invalid boolean" in r.stderr
    assert tools("setsebool", "-P", "no_such_bool=on").stderr == "Boolean no_such_bool is not defined\n"
    r = tools("getsebool", "no_such_bool")
    assert r.returncode == 255 and r.stderr == "Error getting active value for no_such_bool\n"


def test_fcontext_rule_then_restorecon_labels_until_the_file_is_replaced(tools):
    script = tools.root / "etc/keepalived/check_haproxy.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    spec, kind = r"/etc/keepalived/check_haproxy\.sh", "keepalived_unconfined_script_exec_t"
    assert tools("semanage", "fcontext", "-a", "-t", kind, spec).returncode == 0
    again = tools("semanage", "fcontext", "-a", "-t", kind, spec)
    assert again.returncode == 1 and "already defined" in again.stderr
    listed = tools("semanage", "fcontext", "-l", "-C").stdout
    assert f"{spec:<50} {'all files':<18} system_u:object_r:{kind}:s0" in listed.splitlines()
    dry = tools("restorecon", "-n", "-v", "/etc/keepalived/check_haproxy.sh").stdout
    assert dry.startswith("Would relabel /etc/keepalived/check_haproxy.sh from system_u:object_r:etc_t:s0 to")
    assert tools("restorecon", "-v", "/etc/keepalived/check_haproxy.sh").stdout.startswith("Relabeled ")
    assert tools("restorecon", "-n", "-v", "/etc/keepalived/check_haproxy.sh").stdout == ""
    replaced = script.with_suffix(".new")
    replaced.write_text("#!/bin/sh\n")
    replaced.rename(script)           # a new inode: its label is the directory default again
    assert tools("restorecon", "-n", "-v", "/etc/keepalived/check_haproxy.sh").stdout != ""


def test_every_call_is_logged(tools):
    tools("getenforce")
    tools("setenforce", "0")
    logs = [tools.root / "var/log/standins/calls.log"]
    assert logs, "the stand-ins log their calls like the others (standin_common.write_call)"
    argvs = [json.loads(line)["argv"] for p in logs if p.is_file() for line in p.read_text().splitlines()]
    assert ["getenforce"] in argvs and ["setenforce", "0"] in argvs
