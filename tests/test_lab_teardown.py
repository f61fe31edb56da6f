"""Teardown leaves nothing behind: no netns, veth, bridge, mount, process,
cgroup or state dir. Each test boots its own small lab on a slice of
172.31.250.0/24 that the inventory does not use (.224/28, .240/28), beside
the session lab."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.lab import Lab, leftovers
from tests.lab.config import REPO_ROOT
from tests.lab.fixtures import require_lab
from tests.lab.lab import state_dir_for
from tests.lab.util import wait_for
from tests.support.cli import default_sigint

NAME, CIDR = "labt", "172.31.250.241/28"
NODES = [("t1", "172.31.250.242"), ("t2", "172.31.250.243")]


def traces(name: str) -> dict[str, list[str]]:
    """What the host shows of lab ``name``, read with the usual tools."""
    sd = str(state_dir_for(name)) + "/"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout
    cg = [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/provisioner-lab/{name}")]
    return {
        "netns": [ln for ln in netns.splitlines() if ln.startswith(f"{name}-")],
        "links": [ln for ln in links.splitlines()
                  if f" {name}-" in ln or f" {name}br0" in ln],
        "mounts": [ln for ln in Path("/proc/mounts").read_text().splitlines() if sd in ln],
        "processes": [ln for ln in ps.splitlines()
                      if (sd in ln or f"--machine={name}-" in ln) and "ps -eo" not in ln],
        "cgroups": cg,
        "state": [sd] if os.path.exists(sd) else [],
    }


def assert_nothing_left(name: str) -> None:
    wait_for(lambda: not any(traces(name).values()), timeout=20, interval=0.2,
             what=f"no trace of lab {name}: {traces(name)}")
    assert not any(leftovers(name).values()), leftovers(name)


def boot(name: str = NAME) -> Lab:
    lab = Lab(nodes=NODES, name=name, bridge_cidr=CIDR)
    lab.up()
    t = traces(name)
    assert len(t["netns"]) == 2 and t["mounts"] and t["processes"] and t["cgroups"]
    with lab.ssh("t1") as s:
        assert s.run("ping -c1 -W2 172.31.250.243").ok
    return lab


@pytest.fixture
def small_lab_guard():
    require_lab()
    yield
    Lab(nodes=NODES, name=NAME, bridge_cidr=CIDR).down()


def test_down_leaves_nothing(small_lab_guard):
    lab = boot()
    lab.down()
    assert_nothing_left(NAME)


def test_cli_down_by_name_without_state(small_lab_guard):
    """A crashed run leaves no usable state: ``python -m tests.lab down``
    still finds everything by name."""
    boot()
    (state_dir_for(NAME) / "state.json").unlink()
    r = subprocess.run([sys.executable, "-m", "tests.lab", "down", "--name", NAME],
                       cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert_nothing_left(NAME)


INNER = textwrap.dedent('''
    import os, signal
    def test_hold(lab_factory):
        lab_factory(nodes=[("c1", "172.31.250.226")], name="labc",
                    bridge_cidr="172.31.250.225/28")
        open(os.environ["LAB_READY_FILE"], "w").write("up")
        signal.pause()
''')


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_session_tears_down(tmp_path, sig):
    """A pytest run interrupted while its lab is up still removes it."""
    require_lab()
    (tmp_path / "test_inner.py").write_text(INNER)
    ready = tmp_path / "ready"
    env = {**os.environ, "LAB_READY_FILE": str(ready), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "tests.lab.fixtures",
                             "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                             str(tmp_path / "test_inner.py")],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint)
    try:
        wait_for(lambda: ready.exists() or proc.poll() is not None, timeout=120,
                 what="inner lab to boot")
        assert ready.exists(), proc.communicate()[0]
        assert traces("labc")["netns"]
        proc.send_signal(sig)
        out = proc.communicate(timeout=60)[0]
        print(out)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        leftover = {k: v for k, v in traces("labc").items() if v}
        Lab(nodes=[("c1", "172.31.250.226")], name="labc",
            bridge_cidr="172.31.250.225/28").down()
    assert not leftover, leftover
    assert_nothing_left("labc")
