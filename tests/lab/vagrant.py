"""The generated Vagrantfile booted with vagrant-libvirt (issue #25 point 3), all local.

    box = ensure_box()                      # cached, no download
    with VagrantLab(directory) as vl:       # libvirtd/virtlogd, isolated networks, pool, repo, NTP
        vl.up(project_dir)                  # vagrant up --provider libvirt
        ...
        vl.destroy(project_dir)             # vagrant destroy -f
    # leaving the block: domains, volumes, networks, pool, daemons removed

The box (``provisioner-lab/debian12``, version 1) is the VM lab's root image (tests/lab/vmimage.py)
plus what a real Vagrant box has and the lab image lacks: udev, systemd-networkd with DHCP on eth0
(Vagrant's Debian guest then configures the hostname and the private network through networkd), a
``vagrant`` user with Vagrant's insecure key and NOPASSWD sudo, an empty machine-id (each domain makes
its own: DHCP client ids differ) and SSH host keys made at first boot. It boots the cloud kernel
directly (the image has no boot loader): the box's Vagrantfile sets lv.kernel/lv.initrd/cmd_line. It is
cached, ready for ``$VAGRANT_HOME/boxes``, in /var/cache/provisioner-lab/vagrant-<key>/ keyed by the
VM files' key, udev's version and this file.

Lab-only settings go into ``$VAGRANT_HOME/Vagrantfile`` (Vagrant merges it under the project's), so
the generated Vagrantfile is used as users get it: TCG (``lv.driver = "qemu"``, qemu64 CPU), no
graphics, our storage pool, the management network, and the lab repository's signing key.

Networks: both libvirt networks are defined here, ISOLATED (no <forward>), before every
``vagrant up`` (vagrant-libvirt would otherwise create the private one in NAT mode, which turns on
the host's ip_forward and adds MASQUERADE rules; ``vagrant destroy`` removes the networks it
uses). Addresses: 172.31.250.128/29 private (host .129 serves the repo and NTP, boxes .130...),
172.31.250.136/29 management (host .137, DHCP .138-.142).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from . import config, keys, rootfs, services, vmimage
from .lab import Lab, destroy as destroy_lab
from .util import LabError, building, run, wait_for

BOX_NAME = "provisioner-lab/debian12"
BOX_VERSION = "1"
BOX_DIR_NAME = BOX_NAME.replace("/", "-VAGRANTSLASH-")
VOLUME_NAME = f"{BOX_DIR_NAME}_vagrant_box_image_{BOX_VERSION}_box.img"   # vagrant-libvirt's name for it
VAGRANT_PUB = Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")

NAME = "vagrant"                              # lab name (state dir, lock)
PREFIX = "provisioner-vagrant"                # every libvirt object of this lab starts with it
PRIVATE_NET = f"{PREFIX}-priv"
PRIVATE_BRIDGE = "pvgbr0"
PRIVATE_CIDR = "172.31.250.129/29"            # host address on the private network
MGMT_NET = f"{PREFIX}-mgmt"
MGMT_BRIDGE = "pvgbr1"
MGMT_CIDR = "172.31.250.137/29"
MGMT_DHCP = ("172.31.250.138", "172.31.250.142")
POOL = PREFIX
POOL_DIR = Path("/var/lib/libvirt/images") / PREFIX
RUN_DIR = Path("/var/lib/provisioner-lab") / PREFIX  # VAGRANT_HOME (readable by libvirt-qemu: kernel, initrd)
URI = "qemu:///system"

NETWORKD_ETH0 = "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n"
HOSTKEYS_UNIT = """[Unit]
Description=provisioner-lab box: SSH host keys at first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
CUSTOMIZE_BOX = """set -eu
dpkg -i /tmp/udev.deb >/dev/null
rm /tmp/udev.deb
for u in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
         systemd-udev-trigger.service systemd-udev-settle.service; do systemctl unmask "$u"; done
systemctl enable systemd-networkd.service box-hostkeys.service
systemctl disable lab-net.service
useradd --create-home --shell /bin/bash vagrant
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
install -m 0600 -o vagrant -g vagrant /tmp/vagrant.pub /home/vagrant/.ssh/authorized_keys
rm /tmp/vagrant.pub
echo 'vagrant ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
rm -f /etc/ssh/ssh_host_* /etc/hostname
: > /etc/machine-id
"""
BOX_VAGRANTFILE = """# provisioner-lab box: the cloud kernel booted directly (the image has no boot loader)
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.expand_path("vmlinuz", __dir__)
    lv.initrd = File.expand_path("initrd.img", __dir__)
    lv.cmd_line = "console=ttyS0 net.ifnames=0 panic=-1"
  end
end
"""


def log(msg: str) -> None:
    print(f"vagrant-lab: {msg}", flush=True)


# ---- the box ---------------------------------------------------------------------------------
def _udev_version() -> str:
    return vmimage._apt_version("udev")


def box_key(vm_files: Path) -> str:
    blob = "\n".join([vm_files.name, _udev_version(), Path(__file__).read_text()])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def ensure_box() -> Path:
    """The box directory ($VAGRANT_HOME/boxes/<name>/<version>/libvirt layout), built once."""
    files = vmimage.ensure_files()
    out = config.CACHE_DIR / f"vagrant-{box_key(files)}"
    box = out / "boxes" / BOX_DIR_NAME / BOX_VERSION / "libvirt"
    if (out / ".complete").exists():
        return box
    t0 = time.monotonic()
    with building(out, "vagrant-build-", ".complete") as tmp:
        tmp.chmod(0o755)
        d = tmp / "boxes" / BOX_DIR_NAME / BOX_VERSION / "libvirt"
        d.mkdir(parents=True)
        raw = tmp / "root.img"
        run(["cp", "--sparse=always", str(files / "root.img"), str(raw)], timeout=600)
        mnt = Path(tempfile.mkdtemp(prefix="vagrant-box-mnt-"))
        run(["mount", "-o", "loop", str(raw), str(mnt)])
        try:
            run(["apt-get", "download", "-q", "udev"], cwd=str(tmp), timeout=600)
            shutil.move(str(next(tmp.glob("udev_*.deb"))), mnt / "tmp/udev.deb")
            shutil.copy(VAGRANT_PUB, mnt / "tmp/vagrant.pub")
            (mnt / "etc/systemd/network/10-eth0.network").write_text(NETWORKD_ETH0)
            (mnt / "etc/systemd/system/box-hostkeys.service").write_text(HOSTKEYS_UNIT)
            run(["chroot", str(mnt), "/bin/sh", "-c", CUSTOMIZE_BOX], timeout=300)
        finally:
            run(["umount", str(mnt)])
            mnt.rmdir()
        run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(d / "box.img")], timeout=900)
        raw.unlink()
        shutil.copy(files / "vmlinuz", d / "vmlinuz")
        shutil.copy(files / "initrd.img", d / "initrd.img")
        (d / "metadata.json").write_text(json.dumps({"provider": "libvirt", "format": "qcow2",
                                                      "virtual_size": int(vmimage.IMAGE_SIZE.rstrip("G"))}))
        (d / "Vagrantfile").write_text(BOX_VAGRANTFILE)
        for p in [tmp, *tmp.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
    for old in config.CACHE_DIR.glob("vagrant-*"):
        if old != out and not old.name.startswith("vagrant-build-"):
            shutil.rmtree(old, ignore_errors=True)
    log(f"box built in {time.monotonic() - t0:.1f}s ({box})")
    return box


# ---- libvirt ---------------------------------------------------------------------------------
def virsh(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    return run(["virsh", "-q", "-c", URI, *args], check=check, timeout=timeout)


def ip_forward() -> str:
    return Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()


def network_xml(name: str, bridge: str, cidr: str, dhcp: tuple[str, str] | None = None) -> str:
    iface = ipaddress.ip_interface(cidr)
    dhcp_xml = f"<dhcp><range start='{dhcp[0]}' end='{dhcp[1]}'/></dhcp>" if dhcp else ""
    # No <forward>: isolated (libvirt adds no NAT, never touches ip_forward).
    return (f"<network><name>{name}</name><bridge name='{bridge}' stp='off' delay='0'/>"
            f"<ip address='{iface.ip}' netmask='{iface.netmask}'>{dhcp_xml}</ip></network>")


def _pid_alive(pidfile: Path, name: str) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
        if name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
    except (OSError, ValueError, IndexError):
        pass
    return None


# A child subreaper for the daemons: libvirt's QEMU processes double-fork away from libvirtd, and
# this machine's PID 1 does not reap them; libvirtd then waits on QEMU zombies (the capabilities
# probe's, a domain's) that never go away and `vagrant up` hangs at "Creating domain". Under this
# subreaper they are reaped at once. It exits when its last descendant has.
SUBREAPER = r"""
import ctypes, os, sys
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)      # PR_SET_CHILD_SUBREAPER
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execvp(sys.argv[2], sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(f"{pid}\n")
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
    except InterruptedError:
        pass
"""


class Libvirt:
    """virtlogd + libvirtd started here in the foreground under a subreaper (nothing starts them
    on this machine), stopped by pid."""

    DAEMONS = ("virtlogd", "libvirtd")

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.started: list[tuple[str, int, subprocess.Popen]] = []

    def start(self) -> None:
        import sys
        for name in self.DAEMONS:
            if _pid_alive(Path(f"/run/{name}.pid"), name):
                raise LabError(f"{name} already runs (/run/{name}.pid): this test starts and stops its own")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in self.DAEMONS:
            pidfile = self.run_dir / f"{name}.child-pid"
            pidfile.unlink(missing_ok=True)
            with open(self.run_dir / f"{name}.log", "ab") as logf:
                reaper = subprocess.Popen([sys.executable, "-c", SUBREAPER, str(pidfile), name],
                                          stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                          start_new_session=True)
            wait_for(lambda: pidfile.exists() and pidfile.read_text().endswith("\n"), timeout=30,
                     interval=0.1, what=f"{name} to start")
            self.started.append((name, int(pidfile.read_text()), reaper))
        wait_for(lambda: virsh("version", check=False, timeout=30).returncode == 0, timeout=60, interval=0.5,
                 what="libvirtd to answer")

    def stop(self) -> None:
        for name, pid, reaper in reversed(self.started):
            services.kill_and_wait(pid, timeout=30)
            try:
                reaper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                reaper.kill()
                reaper.wait()
            Path(f"/run/{name}.pid").unlink(missing_ok=True)
        self.started = []


def remove_libvirt_objects() -> None:
    """Every domain, volume, network and pool of this lab (leftovers of a killed run too)."""
    for dom in virsh("list", "--all", "--name", check=False).stdout.split():
        if dom.startswith(PREFIX):
            virsh("destroy", dom, check=False)
            virsh("undefine", dom, "--nvram", "--remove-all-storage", check=False)
            virsh("undefine", dom, check=False)
    pools = virsh("pool-list", "--all", "--name", check=False).stdout.split()
    if POOL in pools:
        virsh("pool-start", POOL, check=False)
        for line in virsh("vol-list", POOL, check=False).stdout.splitlines():
            if line.split():
                virsh("vol-delete", line.split()[0], "--pool", POOL, check=False)
        virsh("pool-destroy", POOL, check=False)
        virsh("pool-undefine", POOL, check=False)
    for net in virsh("net-list", "--all", "--name", check=False).stdout.split():
        if net.startswith(PREFIX):
            virsh("net-destroy", net, check=False)
            virsh("net-undefine", net, check=False)
    shutil.rmtree(POOL_DIR, ignore_errors=True)


# ---- the lab ---------------------------------------------------------------------------------
class VagrantLab:
    """Daemons, networks, pool, the lab repo and NTP on the private network's host address,
    and a VAGRANT_HOME with the box and the lab-only settings. A context manager: leaving it
    removes all of it (also on failure)."""

    def __init__(self, box: Path) -> None:
        self.box = box
        # A node-less Lab: its repo (standins published), NTP and client key, served on PRIVATE_CIDR.
        self.lab = Lab(nodes=[], name=NAME, bridge=PRIVATE_BRIDGE, bridge_cidr=PRIVATE_CIDR)
        self.libvirt = Libvirt(RUN_DIR / "daemons")
        self.home = RUN_DIR / "home"
        self.timings: dict[str, float] = {}

    @property
    def host_address(self) -> str:
        return self.lab.bridge_address

    @property
    def network(self) -> ipaddress.IPv4Network:
        return self.lab.network

    def env(self) -> dict:
        return {**os.environ, "VAGRANT_HOME": str(self.home), "VAGRANT_DEFAULT_PROVIDER": "libvirt",
                "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_NO_COLOR": "1", "LIBVIRT_DEFAULT_URI": URI}

    def __enter__(self) -> "VagrantLab":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        t = time.monotonic()
        destroy_lab(NAME, PRIVATE_BRIDGE)
        self._home()
        self.libvirt.start()
        remove_libvirt_objects()
        self.define_networks()
        self._pool()
        lab = self.lab
        lab.state_dir.mkdir(parents=True, exist_ok=True)
        lab.save()
        keys.ensure_client_key(lab.state_dir)
        lab.lower = str(rootfs.ensure_lower())
        from ..standins.publish import publish
        lab.repo.init()
        lab.standins = publish(lab.repo, Path(lab.lower), el=False)
        lab.repo.serve(lab.state_dir / "repo-http.log")
        services.start_chronyd(lab.state_dir, lab.bridge_address, str(lab.network))
        wait_for(lab._repo_answers, timeout=10, what="lab repo HTTP server")
        self._write_home_vagrantfile()
        self.timings["setup"] = time.monotonic() - t

    def define_networks(self) -> None:
        """Both networks, isolated, started (again before every `vagrant up`)."""
        for name, bridge, cidr, dhcp in ((PRIVATE_NET, PRIVATE_BRIDGE, PRIVATE_CIDR, None),
                                         (MGMT_NET, MGMT_BRIDGE, MGMT_CIDR, MGMT_DHCP)):
            existing = virsh("net-dumpxml", name, check=False)
            if existing.returncode == 0:
                if "<forward" in existing.stdout:
                    virsh("net-destroy", name, check=False)
                    virsh("net-undefine", name)
                else:
                    if virsh("net-info", name).stdout.find("Active:         yes") < 0:
                        virsh("net-start", name)
                    continue
            with tempfile.NamedTemporaryFile("w", suffix=".xml") as f:
                f.write(network_xml(name, bridge, cidr, dhcp))
                f.flush()
                virsh("net-define", f.name)
            virsh("net-start", name)
            if "<forward" in virsh("net-dumpxml", name).stdout:
                raise LabError(f"libvirt network {name} is not isolated")
        self.assert_no_forwarding()

    def assert_no_forwarding(self) -> None:
        value = ip_forward()
        if value != "0":
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")
            raise LabError(f"net.ipv4.ip_forward was {value} (set back to 0): a NAT network was started")

    def _pool(self) -> None:
        POOL_DIR.mkdir(parents=True, exist_ok=True)
        virsh("pool-define-as", POOL, "dir", "--target", str(POOL_DIR))
        virsh("pool-start", POOL)
        # The box image in the pool under vagrant-libvirt's volume name: no upload at `vagrant up`.
        t = time.monotonic()
        run(["cp", "--sparse=always", str(self.box / "box.img"), str(POOL_DIR / VOLUME_NAME)], timeout=600)
        virsh("pool-refresh", POOL)
        self.timings["box-volume"] = time.monotonic() - t

    def _home(self) -> None:
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        RUN_DIR.mkdir(parents=True)
        RUN_DIR.chmod(0o755)
        self.home.mkdir()
        (self.home / "boxes").mkdir()
        box_root = self.box.parents[1]           # .../boxes/<name>
        (self.home / "boxes" / BOX_DIR_NAME).symlink_to(box_root)

    def _write_home_vagrantfile(self) -> None:
        key = base64.b64encode(self.lab.repo.key_path.read_bytes()).decode()
        mgmt = ipaddress.ip_interface(MGMT_CIDR)
        (self.home / "Vagrantfile").write_text(f"""# provisioner-lab: lab-only settings, merged under the project's Vagrantfile
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.uri = "{URI}"
    lv.driver = "qemu"                  # TCG: KVM cannot run a guest here
    lv.cpu_mode = "custom"
    lv.cpu_model = "qemu64"
    lv.graphics_type = "none"
    lv.video_type = "none"
    lv.default_prefix = "{PREFIX}-"
    lv.storage_pool_name = "{POOL}"
    lv.management_network_name = "{MGMT_NET}"
    lv.management_network_address = "{mgmt.network}"
    lv.management_network_mode = "none"
  end
  # The lab repository's signing key (real boxes use their distribution's mirrors).
  config.vm.provision "lab-repo-key", type: "shell",
    inline: "echo {key} | base64 -d > /etc/apt/trusted.gpg.d/provisioner-lab.gpg"
end
""")

    def vagrant(self, project: Path, *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
        log("$ vagrant " + " ".join(args))
        with open(project / "vagrant.log", "ab") as logf:
            proc = subprocess.run(["vagrant", *args], cwd=project, env=self.env(), stdout=logf,
                                  stderr=subprocess.STDOUT, timeout=timeout)
        return proc

    def up(self, project: Path) -> subprocess.CompletedProcess:
        self.define_networks()
        t = time.monotonic()
        # Both machines at once (vagrant-libvirt's default): 163 s against 248-288 s with --no-parallel.
        # (Before SUBREAPER, both ways hung after "Creating domain": libvirtd waited on QEMU zombies.)
        r = self.vagrant(project, "up", "--provider", "libvirt", "--no-tty")
        self.timings["vagrant-up"] = time.monotonic() - t
        self.assert_no_forwarding()
        return r

    def destroy(self, project: Path) -> subprocess.CompletedProcess:
        t = time.monotonic()
        r = self.vagrant(project, "destroy", "-f", timeout=600)
        self.timings["vagrant-destroy"] = time.monotonic() - t
        return r

    def domains(self) -> list[str]:
        return [d for d in virsh("list", "--all", "--name", check=False).stdout.split() if d.startswith(PREFIX)]

    def close(self) -> None:
        errors = []
        try:
            if self.libvirt.started:
                remove_libvirt_objects()
        except Exception as exc:       # noqa: BLE001 - the rest of the cleanup must run
            errors.append(f"libvirt objects: {exc}")
        try:
            self.libvirt.stop()
        except Exception as exc:       # noqa: BLE001
            errors.append(f"daemons: {exc}")
        destroy_lab(NAME, PRIVATE_BRIDGE)
        for bridge in (PRIVATE_BRIDGE, MGMT_BRIDGE):
            run(["ip", "link", "del", bridge], check=False)
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        if ip_forward() != "0":
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0\n")
            errors.append("ip_forward was 1 at cleanup (set back to 0)")
        if errors:
            raise LabError("; ".join(errors))
