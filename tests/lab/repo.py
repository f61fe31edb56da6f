"""The lab's Debian package repository, served over HTTP from the bridge.

Layout under ``<state>/repo`` (served as the web root)::

    debian/pool/main/*.deb
    debian/dists/bookworm/{Release,InRelease,Release.gpg}
    debian/dists/bookworm/main/binary-amd64/Packages{,.gz}
    debian/lab-archive-keyring.gpg   (binary public key, also .asc)

``Release`` is signed with a lab-only GPG key (ed25519, no passphrase). Point a
node at it with ``deb [signed-by=/etc/apt/keyrings/lab.gpg]
http://172.31.250.1:8080/debian bookworm main`` after copying ``key_path``
there, or without signed-by: nodes have the key in /etc/apt/trusted.gpg.d.
The same web root serves the stand-in Kubernetes/Docker mirrors that
tests/standins/publish.py lays out with ``write_index``.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import subprocess
import sys
from email.utils import formatdate
from pathlib import Path

from . import config
from .util import LabError, run

ARCH = "amd64"


# http.server's own main listens with a backlog of 5 (socketserver request_queue_size): 98 nodes running apt at
# once overflowed it (TcpExtListenOverflows) and their SYNs waited for retransmission. The mirrors it stands in
# for (nginx, Apache, Go servers) listen with the kernel's somaxconn. The cmdline keeps "http.server" for down.
SERVE = """import functools, http.server, sys
class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = int(open("/proc/sys/net/core/somaxconn").read())
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[3])
Server((sys.argv[2], int(sys.argv[1])), handler).serve_forever()
"""

class Repo:
    """A signed flat-pool apt repository in ``root`` (``<state>/repo``)."""

    def __init__(self, root: Path, address: str, port: int = config.REPO_PORT):
        self.root = Path(root)
        self.address = address
        self.port = port
        self.debian = self.root / "debian"
        self.gnupg_home = self.root.parent / "gnupg"

    @property
    def url(self) -> str:
        """What goes into a node's sources.list."""
        return f"http://{self.address}:{self.port}/debian"

    @property
    def key_path(self) -> Path:
        """Binary (dearmored) public key for ``signed-by=``."""
        return self.debian / "lab-archive-keyring.gpg"

    @property
    def key_asc_path(self) -> Path:
        return self.debian / "lab-archive-keyring.asc"

    @property
    def pool(self) -> Path:
        return self.debian / "pool" / "main"

    @property
    def pidfile(self) -> Path:
        return self.root.parent / "repo-http.pid"

    def _gpg(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return run(["gpg", "--batch", "--quiet", "--homedir", str(self.gnupg_home),
                    "--pinentry-mode", "loopback", "--passphrase", "", *args], **kw)

    def init(self) -> None:
        """Create layout + signing key (once) and an (empty) signed index."""
        self.pool.mkdir(parents=True, exist_ok=True)
        if not self.key_path.exists():
            self.gnupg_home.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                self._gpg("--quick-gen-key", "provisioner-lab repository <repo@lab.test>",
                          "ed25519", "sign", "never")
                self._gpg("--output", str(self.key_path), "--export")
                self._gpg("--armor", "--output", str(self.key_asc_path), "--export")
            finally:
                self.stop_gpg_agent()
        self.update_index()

    def stop_gpg_agent(self) -> None:
        """gpg starts an agent per homedir; never leave it running."""
        if self.gnupg_home.exists():
            run(["gpgconf", "--homedir", str(self.gnupg_home), "--kill", "all"], check=False)

    def add_debs(self, debs) -> list[Path]:
        """Copy .deb files into the pool and regenerate the signed index."""
        added = []
        for deb in debs:
            deb = Path(deb)
            if deb.suffix != ".deb":
                raise LabError(f"not a .deb: {deb}")
            dest = self.pool / deb.name
            shutil.copyfile(deb, dest)
            added.append(dest)
        self.update_index()
        return added

    def remove_debs(self, names) -> None:
        """Remove pool files by file name and regenerate the index."""
        for n in names:
            (self.pool / Path(n).name).unlink(missing_ok=True)
        self.update_index()

    def update_index(self) -> None:
        """Packages(.gz) via dpkg-scanpackages, Release with hashes, signatures."""
        dist = self.debian / "dists" / config.SUITE
        self.write_index(self.debian, "pool/main", dist / "main" / f"binary-{ARCH}", dist, [
            "Origin: provisioner-lab", "Label: provisioner-lab",
            f"Suite: {config.SUITE}", f"Codename: {config.SUITE}",
            f"Architectures: {ARCH} all", "Components: main",
            "Description: provisioner lab repository",
        ])

    def write_index(self, base: Path, pool: str, packages_dir: Path, release_dir: Path,
                    fields: list[str]) -> None:
        """Index the .debs under ``base/pool`` (``Filename:`` relative to ``base``,
        the URL apt is given) into ``packages_dir/Packages(.gz)``; write
        ``release_dir/Release`` (``fields`` + Date + hashes of every Packages
        file below ``release_dir``) and sign it (InRelease, Release.gpg).
        Serves any layout: Debian's dists/, Docker's, or a flat one where all
        three directories are the same (pkgs.k8s.io)."""
        packages_dir.mkdir(parents=True, exist_ok=True)
        (base / pool).mkdir(parents=True, exist_ok=True)
        packages = run(["dpkg-scanpackages", "--multiversion", pool, "/dev/null"],
                       input=b"", cwd=str(base), timeout=300)
        (packages_dir / "Packages").write_bytes(packages.stdout)
        (packages_dir / "Packages.gz").write_bytes(gzip.compress(packages.stdout, mtime=0))
        files = sorted(p for p in release_dir.rglob("Packages*") if p.is_file())
        lines = [*fields, f"Date: {formatdate(usegmt=True)}"]
        for title, algo in (("MD5Sum", "md5"), ("SHA256", "sha256")):
            lines.append(f"{title}:")
            for f in files:
                data = f.read_bytes()
                lines.append(f" {hashlib.new(algo, data).hexdigest()} {len(data):>8} "
                             f"{f.relative_to(release_dir)}")
        release = release_dir / "Release"
        release.write_text("\n".join(lines) + "\n")
        for f in (release_dir / "InRelease", release_dir / "Release.gpg"):
            f.unlink(missing_ok=True)
        try:
            self._gpg("--clearsign", "--output", str(release_dir / "InRelease"), str(release))
            self._gpg("--armor", "--detach-sign", "--output", str(release_dir / "Release.gpg"),
                      str(release))
        finally:
            self.stop_gpg_agent()

    def serve(self, log_path: Path) -> int:
        """Start the HTTP server (detached process); return its pid."""
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, str(self.port), self.address, str(self.root)],
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                start_new_session=True, cwd="/")
        self.pidfile.write_text(f"{proc.pid}\n")
        return proc.pid
