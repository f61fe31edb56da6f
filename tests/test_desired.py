"""`render -o DIR` writes exactly the files `up` writes: the paths, per host, that the phases' steps write.

The steps' side comes from the phases themselves (every step built for the host, the paths it
declares it writes: a FileStep its path), never from a hand-made list; the render side is what the
real `render` command puts in its manifest.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from provisioner.engine import build_context
from provisioner.phases import PHASES
from provisioner.phases.base import OsInfo
from provisioner.steps import FileStep
from provisioner.validation import load_inventory
from tests.support.cli import REPO, run_cli

# What `render` assumes for a host no run has read (provisioner.desired.ASSUMED_OS), as the host reports it.
BOOKWORM = OsInfo("debian", "12", "bookworm", "", "amd64")


def step_writes(step) -> tuple[str, ...]:
    return getattr(step, "writes", ()) or ((step.path,) if isinstance(step, FileStep) else ())


def written_by_phases(inv, state: Path) -> dict[str, set[str]]:
    """host -> every path the steps of every phase it takes part in write (for a Debian 12 host)."""
    ctx = dataclasses.replace(build_context(inv, state), os={h.hostname: BOOKWORM for h in inv.hosts})
    out: dict[str, set[str]] = {h.hostname: set() for h in inv.hosts}
    for phase in PHASES:
        for host in phase.hosts(inv):
            for step in phase.steps(ctx, host):
                out[host.hostname].update(step_writes(step))
    return out


def rendered(inventory: Path, tmp_path: Path) -> dict[str, set[str]]:
    """host -> every path the `render` command lists in its manifest (and writes, unless fetched on the host)."""
    out = tmp_path / "out"
    r = run_cli("render", "-i", str(inventory), "-o", str(out), "--state-dir", str(tmp_path / "state"))
    assert r.returncode == 0, r.stdout + r.stderr
    paths: dict[str, set[str]] = {}
    manifest = json.loads((out / "manifest.json").read_text())
    for f in manifest["files"]:
        paths.setdefault(f["host"], set()).add(f["path"])
        assert (out / f["source"]).is_file(), f
    for f in manifest.get("runtime", []):     # fetched or copied on the host: location and origin only
        paths.setdefault(f["host"], set()).add(f["path"])
    return paths


def _variant(tmp_path: Path, example: str, **changes) -> Path:
    data = yaml.safe_load((REPO / f"inventories/{example}.yaml").read_text())
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("example,changes", [("lab", {}), ("seed-ha", {}), ("colocated", {}), ("single", {}),
                                             ("lab", {"cni": "calico", "timezone": "Europe/Berlin", "package_mirrors": {
                                                 "calico": "http://172.31.250.1:8080/calico/v{version}/manifests"}})])
def test_render_writes_exactly_the_files_the_phases_write(tmp_path, example, changes):
    path = _variant(tmp_path, example, **changes)
    inv = load_inventory(path)
    by_render = rendered(path, tmp_path)
    by_steps = written_by_phases(inv, tmp_path / "state")
    for host in inv.hosts:
        name = host.hostname
        assert by_render.get(name, set()) == by_steps[name], (
            f"{name}: only rendered {sorted(by_render.get(name, set()) - by_steps[name])}, "
            f"only written by the phases {sorted(by_steps[name] - by_render.get(name, set()))}")


def test_a_join_config_takes_renewed_material_and_masks_the_same():
    """The run-time values of a join config (token, certificate key renewed before a late join) replace the
    rendered ones; nothing else changes, and the masked form - what is shown and compared - is the same."""
    import dataclasses

    from provisioner.render import JOIN_CONFIG, render_host
    from tests.support.fixed_secrets import fixed_secrets

    inv = load_inventory(REPO / "inventories/lab.yaml")
    old = fixed_secrets()
    (join,) = [f for f in render_host(inv, old, inv.host("master2"), BOOKWORM) if f.path == JOIN_CONFIG]
    assert join.transient and join.secret and {n for n, _ in join.renewable} == {"bootstrap_token", "certificate_key"}
    new = dataclasses.replace(old, bootstrap_token="zzzzzz.zzzzzzzzzzzzzzzz", certificate_key="0e" * 32)
    text = join.current(new)
    assert old.bootstrap_token not in text and old.certificate_key not in text
    assert new.bootstrap_token in text and new.certificate_key in text
    assert text.replace(new.bootstrap_token, old.bootstrap_token).replace(new.certificate_key,
                                                                            old.certificate_key) == join.content
    assert dataclasses.replace(join, content=text).masked(new) == join.masked(old)
    (worker,) = [f for f in render_host(inv, old, inv.host("node1"), BOOKWORM) if f.path == JOIN_CONFIG]
    assert [n for n, _ in worker.renewable] == ["bootstrap_token"]    # a worker's config has no certificate key
