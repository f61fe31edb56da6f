"""The lab's dnf repositories for its EL-like nodes (tests only): the same stand-in packages as .rpm, and the
lab's real Debian keepalived, haproxy and chrony binaries repackaged as .rpm with EL's unit names and paths.

Each .rpm is built by the real rpmbuild (Debian's `rpm` package) from the files of the matching .deb (or, for
keepalived/haproxy/chrony, from the files dpkg lists for them in the lab's root filesystem), signed with
rpmsign, indexed by the real createrepo_c, and the index signed (repomd.xml.asc) - so dnf on the node checks
signatures as on a real Rocky host (``gpgcheck=1``, ``repo_gpgcheck=1``). Layouts and names as upstream:

  k8s/core:/stable:/vMINOR/rpm/               kubeadm-1.37.1-150500.1.1.x86_64.rpm ..., repodata/repomd.xml.key
  docker/linux/rhel/MAJOR/x86_64/stable/      docker-ce-29.0.4-1.elMAJOR.x86_64.rpm ...; the key at docker/linux/rhel/gpg
  el/MAJOR/{BaseOS,AppStream}/x86_64/os/      keepalived, haproxy, chrony; container-selinux (empty)

What differs from upstream's rpms, on purpose: no automatic requirements (the binaries link against the node's
Debian libraries, which rpm does not know); the Kubernetes/Docker packages require each other as upstream's do.
Upstream's kubelet and docker-ce rpms enable nothing (``%systemd_post``: presets, disabled on EL), nor do these.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

K8S_RPM_RELEASE = "150500.1.1"       # pkgs.k8s.io's rpm release for every package (OBS project 15.5)
EL_MAJORS = ("9", "10")
RPM_KEY_NAME = "provisioner-lab rpm signing <rpm@lab.test>"


@dataclass(frozen=True)
class RpmSpec:
    name: str
    version: str
    release: str
    summary: str
    epoch: str | None = None
    requires: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    pre: str = ""
    post: str = ""
    units: dict = field(default_factory=dict)      # extra files: path -> text (EL unit files, sysconfig)
    drop: tuple[str, ...] = ()                     # the .deb's files and directories EL does not have


def _run(args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)


def build_rpm(spec: RpmSpec, stage: Path, out_dir: Path, work: Path) -> Path:
    """rpmbuild a binary .rpm holding ``stage``'s tree (files, links, empty directories) as ``spec`` says."""
    for path in spec.drop:
        p = stage / path.strip("/")
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
    for rel, text in spec.units.items():
        target = stage / rel.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    entries = []
    for p in sorted(stage.rglob("*")):
        rel = "/" + str(p.relative_to(stage))
        if p.is_dir() and not p.is_symlink():
            if not any(p.iterdir()):
                entries.append(f"%dir {rel}")
        elif rel.startswith("/etc/") and not p.is_symlink():
            entries.append(f"%config(noreplace) {rel}")
        else:
            entries.append(rel)
    text = "\n".join([
        f"Name: {spec.name}", f"Version: {spec.version}", f"Release: {spec.release}",
        *([f"Epoch: {spec.epoch}"] if spec.epoch else []),
        f"Summary: {spec.summary} (provisioner lab STAND-IN)", "License: see upstream", "BuildArch: x86_64",
        "AutoReqProv: no", *[f"Requires: {r}" for r in spec.requires], *[f"Provides: {p}" for p in spec.provides],
        "",
        "%description", f"{spec.summary}. STAND-IN built for the provisioner lab: not the real package.", "",
        "%install", f"cp -a {stage}/. %{{buildroot}}/", "",
        *(["%pre", spec.pre, ""] if spec.pre else []),
        *(["%post", spec.post, ""] if spec.post else []),
        "%files", *entries, ""])
    top = work / f"top-{spec.name}"
    (top / "SPECS").mkdir(parents=True, exist_ok=True)
    spec_path = top / "SPECS" / f"{spec.name}.spec"
    spec_path.write_text(text)
    out_dir.mkdir(parents=True, exist_ok=True)
    _run(["rpmbuild", "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_rpmdir {out_dir}",
          "--define", "_build_name_fmt %{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
          "--define", "__os_install_post %{nil}", "--define", "_build_id_links none",
          "--define", "debug_package %{nil}", str(spec_path)], timeout=600)
    return out_dir / f"{spec.name}-{spec.version}-{spec.release}.x86_64.rpm"


def deb_stage(deb: Path, work: Path) -> Path:
    stage = work / f"stage-{deb.stem}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    _run(["dpkg-deb", "-x", str(deb), str(stage)])
    return stage


def installed_stage(lower: Path, package: str, work: Path) -> Path:
    """The files dpkg lists for ``package`` in the root filesystem ``lower``, copied into a stage."""
    stage = work / f"stage-{package}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    listed = (lower / f"var/lib/dpkg/info/{package}.list").read_text().splitlines()
    merged = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}   # usrmerge links
    for rel in listed:
        parts = rel.strip("/").split("/")
        if rel in ("/.", "") or (len(parts) == 1 and parts[0] in merged):
            continue
        real = "/".join([merged.get(parts[0], parts[0]), *parts[1:]])
        src = lower / real
        if not (src.exists() or src.is_symlink()):
            continue
        dest = stage / real
        if src.is_dir() and not src.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest, follow_symlinks=False)
    # directories dpkg lists that other packages also own (/usr, /etc ...): only the package's own stay
    for d in sorted((p for p in stage.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()) and str(d.relative_to(stage)).count("/") < 2:
            d.rmdir()
    return stage


# --------------------------------------------------------------------------- what each package is on EL

def k8s_specs(debs: list[Path]) -> list[tuple[Path, RpmSpec]]:
    """Kubernetes' packages as pkgs.k8s.io's rpms: same names, VERSION-150500.1.1; kubeadm requires cri-tools,
    kubelet kubernetes-cni (the upstream specs' Requires among these packages)."""
    requires = {"kubeadm": ("cri-tools >= 1.30.0",), "kubelet": ("kubernetes-cni >= 1.2.0",)}
    out = []
    for deb in debs:
        name, version = _deb_fields(deb)
        upstream = version.split(":", 1)[-1].rsplit("-", 1)[0]
        post = "systemctl daemon-reload >/dev/null 2>&1 || :"
        if name == "kubelet":    # the stand-in kubelet's own helper unit (not upstream's): on, as on Debian
            post += "\nsystemctl enable --now standin-pods.service >/dev/null 2>&1 || :"
        units = {}
        if name == "kubelet":
            units = {"/etc/sysconfig/kubelet": "KUBELET_EXTRA_ARGS=\n"}
        if name == "kubeadm":     # the rpm's drop-in reads /etc/sysconfig/kubelet (kubernetes/release rpm specs)
            dropin = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
            units = {dropin: _deb_file(deb, dropin).replace("/etc/default/kubelet", "/etc/sysconfig/kubelet")}
        out.append((deb, RpmSpec(name, upstream, K8S_RPM_RELEASE, _summary(deb), requires=requires.get(name, ()),
                                 post=post, drop=("/etc/default",) if name == "kubelet" else (), units=units)))
    return out


def docker_specs(debs: list[Path], major: str) -> list[tuple[Path, RpmSpec]]:
    """download.docker.com's rpms: docker-ce/-cli epoch 3, VERSION-1.elMAJOR; containerd.io VERSION-3.1.elMAJOR.
    docker-ce's %pre makes the docker group, as upstream's does."""
    out = []
    for deb in debs:
        name, version = _deb_fields(deb)
        upstream = version.split(":", 1)[-1].split("-", 1)[0]
        if name == "containerd.io":
            out.append((deb, RpmSpec(name, upstream, f"3.1.el{major}", _summary(deb),
                                     post="systemctl daemon-reload >/dev/null 2>&1 || :")))
        else:
            out.append((deb, RpmSpec(
                name, upstream, f"1.el{major}", _summary(deb), epoch="3",
                requires=("containerd.io >= 1.6.24", "docker-ce-cli") if name == "docker-ce" else (),
                pre="getent group docker >/dev/null || groupadd -r docker" if name == "docker-ce" else "",
                post="systemctl daemon-reload >/dev/null 2>&1 || :", drop=("/etc/default",))))
    return out


CHRONYD_UNIT = """[Unit]
Description=NTP client/server
Documentation=man:chronyd(8) man:chrony.conf(5)
After=network.target
Conflicts=systemd-timesyncd.service

[Service]
Type=forking
PIDFile=/run/chrony/chronyd.pid
EnvironmentFile=-/etc/sysconfig/chronyd
ExecStart=/usr/sbin/chronyd -f /etc/chrony.conf $OPTIONS

[Install]
WantedBy=multi-user.target
"""
KEEPALIVED_UNIT = """[Unit]
Description=LVS and VRRP High Availability Monitor
After=network-online.target syslog.target
Wants=network-online.target

[Service]
Type=forking
PIDFile=/run/keepalived.pid
KillMode=process
EnvironmentFile=-/etc/sysconfig/keepalived
ExecStart=/usr/sbin/keepalived $KEEPALIVED_OPTIONS
ExecReload=/bin/kill -HUP $MAINPID

[Install]
WantedBy=multi-user.target
"""
HAPROXY_UNIT = """[Unit]
Description=HAProxy Load Balancer
After=network-online.target
Wants=network-online.target

[Service]
EnvironmentFile=-/etc/sysconfig/haproxy
Environment="CONFIG=/etc/haproxy/haproxy.cfg" "PIDFILE=/run/haproxy.pid"
ExecStartPre=/usr/sbin/haproxy -f $CONFIG -c -q $OPTIONS
ExecStart=/usr/sbin/haproxy -Ws -f $CONFIG -p $PIDFILE $OPTIONS
ExecReload=/usr/sbin/haproxy -f $CONFIG -c -q $OPTIONS
ExecReload=/bin/kill -USR2 $MAINPID
KillMode=mixed
SuccessExitStatus=143
Type=notify

[Install]
WantedBy=multi-user.target
"""


def el_base_specs(lower: Path) -> list[tuple[str, RpmSpec]]:
    """keepalived, haproxy, chrony from the Debian root filesystem's own files, at Debian's versions, with EL's
    units (chronyd.service reading /etc/chrony.conf, sysconfig files) and EL's %pre users."""
    def version(pkg: str) -> str:
        status = (lower / "var/lib/dpkg/status").read_text().split("\n\n")
        block = next(b for b in status if f"Package: {pkg}\n" in b + "\n")
        v = next(line.split(": ", 1)[1] for line in block.splitlines() if line.startswith("Version: "))
        return v.split(":", 1)[-1].split("-", 1)[0].replace("~", ".")
    # Debian's own service files and docs; tmpfiles.d too (EL's haproxy has no /run/haproxy)
    debian_units = ("/lib/systemd", "/usr/lib/systemd", "/etc/init.d", "/etc/default", "/etc/systemd",
                    "/usr/lib/tmpfiles.d", "/usr/share/doc", "/usr/share/man", "/etc/apparmor.d", "/etc/dhcp",
                    "/etc/network", "/etc/ppp", "/usr/lib/networkd-dispatcher", "/usr/lib/NetworkManager")
    return [
        ("keepalived", RpmSpec("keepalived", version("keepalived"), "1.el9", "High Availability monitor built on LVS",
                               units={"/usr/lib/systemd/system/keepalived.service": KEEPALIVED_UNIT,
                                      "/etc/sysconfig/keepalived": 'KEEPALIVED_OPTIONS="-D"\n'},
                               drop=debian_units)),
        ("haproxy", RpmSpec("haproxy", version("haproxy"), "1.el9", "HAProxy reverse proxy",
                            pre="getent group haproxy >/dev/null || groupadd -r haproxy; getent passwd haproxy "
                                ">/dev/null || useradd -r -g haproxy -d /var/lib/haproxy -s /sbin/nologin haproxy",
                            post="install -d -m 0755 /var/lib/haproxy",
                            units={"/usr/lib/systemd/system/haproxy.service": HAPROXY_UNIT,
                                   "/etc/sysconfig/haproxy": "OPTIONS=\"\"\n"}, drop=debian_units)),
        # Debian's chronyd runs as _chrony (its build's --with-user); EL's as chrony: the Debian binary keeps its own
        ("chrony", RpmSpec("chrony", version("chrony"), "1.el9", "An NTP client/server",
                           pre="getent group _chrony >/dev/null || groupadd -r _chrony; getent passwd _chrony "
                               ">/dev/null || useradd -r -g _chrony -d /var/lib/chrony -s /sbin/nologin _chrony",
                           post="install -d -o _chrony -g _chrony /var/lib/chrony /var/log/chrony",
                           units={"/usr/lib/systemd/system/chronyd.service": CHRONYD_UNIT,
                                  "/etc/chrony.conf": "pool 2.rocky.pool.ntp.org iburst\ndriftfile /var/lib/chrony/drift"
                                                      "\nmakestep 1.0 3\nrtcsync\nlogdir /var/log/chrony\n",
                                  "/etc/sysconfig/chronyd": 'OPTIONS="-F 2"\n'}, drop=debian_units)),
    ]


def _deb_fields(deb: Path) -> tuple[str, str]:
    out = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"]).stdout.splitlines()
    return out[0].split(": ", 1)[1], out[1].split(": ", 1)[1]


def _deb_file(deb: Path, path: str) -> str:
    """One file's text out of a .deb."""
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True, capture_output=True, timeout=60)
    return subprocess.run(["tar", "-xOf", "-", f".{path}"], input=tar.stdout, check=True, capture_output=True,
                          timeout=60).stdout.decode()


def _summary(deb: Path) -> str:
    return _run(["dpkg-deb", "-f", str(deb), "Description"]).stdout.splitlines()[0].split(": ", 1)[-1]


# --------------------------------------------------------------------------- signing and publishing

class RpmSigner:
    """An RSA key (rpm and dnf check RSA everywhere) in its own gnupg home; signs packages and repomd.xml."""

    def __init__(self, home: Path):
        self.home = home
        if not (home / "pubring.kbx").exists():
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._gpg("--quick-gen-key", RPM_KEY_NAME, "rsa3072", "sign", "never")

    def _gpg(self, *args: str) -> subprocess.CompletedProcess:
        return _run(["gpg", "--batch", "--quiet", "--homedir", str(self.home), "--pinentry-mode", "loopback",
                     "--passphrase", "", *args])

    def armored_key(self) -> str:
        return self._gpg("--armor", "--export", RPM_KEY_NAME).stdout

    def sign_packages(self, rpms: list[Path]) -> None:
        if rpms:
            _run(["rpmsign", "--addsign", "--define", "__gpg /usr/bin/gpg", "--define", f"_gpg_path {self.home}",
                  "--define",
                  f"_gpg_name {RPM_KEY_NAME}", *map(str, rpms)], timeout=600)

    def index(self, repo_dir: Path, key_at: Path) -> None:
        """createrepo_c the directory, sign its repomd.xml (detached, armored), put the key at ``key_at``."""
        _run(["createrepo_c", "-q", "--no-database", str(repo_dir)], timeout=600)
        repomd = repo_dir / "repodata" / "repomd.xml"
        self._gpg("--yes", "--armor", "--detach-sign", "--output", str(repomd) + ".asc", str(repomd))
        key_at.parent.mkdir(parents=True, exist_ok=True)
        key_at.write_text(self.armored_key())


def cache_key(*parts) -> str:
    h = hashlib.sha256(json.dumps([str(p) for p in parts]).encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()[:16]


def build_el_rpms(lower: Path, k8s: dict[str, list[Path]], docker: list[Path], out: Path) -> dict[str, list[Path]]:
    """Every .rpm the lab serves, by repository (relative directory under the web root), built into ``out``."""
    work = Path(tempfile.mkdtemp(prefix="rpm-work-"))
    try:
        repos: dict[str, list[Path]] = {}
        for minor, debs in k8s.items():
            rel = f"k8s/core:/stable:/v{minor}/rpm"
            repos[rel] = [build_rpm(spec, deb_stage(deb, work), out / rel, work) for deb, spec in k8s_specs(debs)]
        for major in EL_MAJORS:
            rel = f"docker/linux/rhel/{major}/x86_64/stable"
            repos[rel] = [build_rpm(spec, deb_stage(deb, work), out / rel, work)
                          for deb, spec in docker_specs(docker, major)]
            base = f"el/{major}/BaseOS/x86_64/os"
            repos[base] = []
            for pkg, spec in el_base_specs(lower):
                spec = RpmSpec(**{**spec.__dict__, "release": f"1.el{major}"})
                repos[base].append(build_rpm(spec, installed_stage(lower, pkg, work), out / base, work))
            empty = work / "empty"
            empty.mkdir(exist_ok=True)
            app = f"el/{major}/AppStream/x86_64/os"
            repos[app] = [build_rpm(RpmSpec("container-selinux", "2.229.0", f"1.el{major}",
                                            "SELinux policies for container runtimes (empty stand-in)"),
                                    empty, out / app, work)]
        return repos
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ensure_el_repos(lower: Path, k8s: dict[str, list[Path]], docker: list[Path], cache_dir: Path) -> Path:
    """The signed, indexed dnf repositories (a tree to serve as is), built once per inputs into ``cache_dir``."""
    debs = sorted(d for ds in k8s.values() for d in ds) + sorted(docker)
    key = cache_key(*(hashlib.sha256(d.read_bytes()).hexdigest() for d in debs), sorted(k8s),
                    hashlib.sha256((lower / "var/lib/dpkg/status").read_bytes()).hexdigest())
    tree = cache_dir / f"el-repos-{key}"
    if (tree / ".complete").exists():
        return tree
    signer = RpmSigner(cache_dir / "rpm-gnupg")
    tmp = Path(tempfile.mkdtemp(prefix=".el-repos-", dir=cache_dir))
    try:
        repos = build_el_rpms(lower, k8s, docker, tmp)
        signer.sign_packages([r for rs in repos.values() for r in rs])
        for rel in repos:
            key_at = tmp / (f"{rel}/repodata/repomd.xml.key" if rel.startswith("k8s/") else
                            "docker/linux/rhel/gpg" if rel.startswith("docker/") else "el/RPM-GPG-KEY-lab")
            signer.index(tmp / rel, key_at)
        (tmp / ".complete").touch()
        tmp.chmod(0o755)
        os.rename(tmp, tree)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in cache_dir.glob("el-repos-*"):
        if old != tree:
            shutil.rmtree(old, ignore_errors=True)
    return tree
