"""Packages installed at a version: Debian's with apt, held (:class:`PackagesStep`), the RHEL family's with
dnf, pinned by their repository's ``exclude=`` line (:class:`DnfPackagesStep`); and systemd units enabled and
running (:class:`ServiceStep`)."""

from __future__ import annotations

import shlex

from provisioner.facts import PackagesProbe, RpmPackagesProbe, UnitProbe
from provisioner.remote import apt_lock_timeout
from provisioner.stepbase import Change, Step

q = shlex.quote


def version_matches(installed: str, wanted: str) -> bool:
    """An installed Debian version is the wanted upstream version exactly (epoch and revision aside).

    >>> [version_matches(v, "1.31.1") for v in ("1.31.1-1.1", "1.31.10-1.1", "1:1.31.1-1.1", "1.31.1")]
    [True, False, True, True]
    >>> version_matches("0.3.14.3-0.debian-bookworm", "0.3.14"), version_matches("0.3.14-0", "0.3.1")
    (True, False)
    """
    upstream = installed.split(":", 1)[1] if ":" in installed.split("-", 1)[0] else installed
    return upstream == wanted or (upstream.startswith(wanted) and upstream[len(wanted)] in "-.~+")


# The same rule in awk, for resolving the repository's exact version (``apt-cache madison``, field 3).
AWK_VERSION_MATCH = ("{v = $3; sub(/^[0-9]+:/, \"\", v); "
                     "if (v == want || (index(v, want) == 1 && index(\"-.~+\", substr(v, length(want) + 1, 1)) > 0))"
                     " {print $3; exit}}")


class ServiceStep(Step):
    """A systemd unit enabled and running; restarted (or reloaded) when a tag it follows was raised."""

    def __init__(self, unit: str, *, restart_on: tuple[str, ...] = (), reload: bool = False, enabled: bool = True,
                 started: bool = True):
        self.unit, self.restart_on, self.reload, self.enabled = unit, tuple(restart_on), reload, enabled
        self.started = started
        self.name = f"service {unit}"

    def identity(self) -> str:
        return f"service {self.unit} {self.restart_on} {self.reload} {self.enabled} {self.started}"

    def probe(self) -> str:
        # One process for both (systemctl show), not is-enabled + is-active: the probe runs on every host
        # in every run.
        return UnitProbe(self.unit)

    def _commands(self, fact, notified) -> list[str]:
        state = UnitProbe.parse(fact)
        enabled, active = state.file_state, state.active
        u = q(self.unit)
        cmds = []
        if self.enabled and enabled not in ("enabled", "static", "alias", "indirect", "generated"):
            cmds.append(f"systemctl enable {u}")
        if not self.started:
            pass
        elif active != "active":
            cmds.append(f"systemctl restart {u}")
        elif any(tag in notified for tag in self.restart_on):
            cmds.append(f"systemctl {'reload-or-restart' if self.reload else 'restart'} {u}")
        return cmds

    def change(self, fact, notified):
        cmds = self._commands(fact, notified)
        return Change(f"{self.name}: " + ", ".join(c.split()[1] for c in cmds), cmds) if cmds else None

    def apply(self, ctx, change):
        for cmd in change.commands:     # what change() chose, from the same fact and notifications
            ctx.remote.run(cmd, why=f"{self.unit} did not start - see `journalctl -u {self.unit}` on the host")
        if not self.started:
            return
        ctx.remote.run(f"systemctl is-active --quiet {q(self.unit)} || "
                       f"{{ sleep 1; systemctl is-active --quiet {q(self.unit)}; }}",
                       why=f"{self.unit} is not running - see `journalctl -u {self.unit}` on the host")


class PackagesStep(Step):
    """Debian packages installed (at a version prefix when given) and optionally held."""

    def __init__(self, packages: dict[str, str | None], *, hold: bool = False, notify: str | None = None,
                 debs: dict[str, tuple[str, str]] | None = None):
        self.packages, self.hold, self.notify = dict(packages), hold, notify
        self.debs = debs or {}     # package -> (version prefix, URL of a .deb outside any repository)
        self.name = "packages " + " ".join(f"{p}={v}" if v else p for p, v in self.packages.items())

    def identity(self) -> str:
        return f"{self.name} hold={self.hold} debs={sorted(self.debs.items())}"

    def probe(self) -> str:
        return PackagesProbe(self.packages)

    def _missing(self, fact) -> tuple[list[str], list[str]]:
        # db:Status-Abbrev: the desired action (i install, h hold - what `apt-mark hold` sets, so no separate
        # `apt-mark showhold` is needed) + the current state (i = installed) + error flag.
        found = {name: s for name, s in PackagesProbe.parse(fact).items() if s.installed}
        missing = [p for p, v in self.packages.items()
                   if p not in found or (v and not version_matches(found[p].version, v))]
        unheld = [p for p in self.packages if self.hold and not (p in found and found[p].held)]
        return missing, unheld

    def change(self, fact, notified):
        missing, unheld = self._missing(fact)
        if not missing and not unheld:
            return None
        cmds = []
        if missing:
            cmds.append("apt-get install " + " ".join(f"{p}={self.packages[p]}*" if self.packages[p] else p
                                                      for p in missing))
        if self.hold:
            cmds.append("apt-mark hold " + " ".join(self.packages))
        return Change(f"install {' '.join(missing)}" if missing else f"hold {' '.join(unheld)}", cmds,
                      plan=tuple(missing))

    def apply(self, ctx, change):
        missing = change.plan
        # Lock timeout: an apt left running by an interrupted earlier run finishes first instead of failing us.
        apt = (f"DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout={apt_lock_timeout()} "
               "-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef")
        if missing:
            specs, fetch = [], []
            for p in missing:
                version = self.packages[p]
                if p in self.debs:
                    url = self.debs[p][1]
                    local = f"/var/cache/provisioner/{url.rsplit('/', 1)[1]}"
                    fetch.append(f"mkdir -p /var/cache/provisioner && curl -fsSL --retry 3 -o {q(local)}.part {q(url)}"
                                 f" && mv -f {q(local)}.part {q(local)}")
                    specs.append(q(local))
                elif version:
                    # Resolve the exact version (e.g. 1.30.2-1.1) the repository has for this prefix.
                    var = "v_" + "".join(c if c.isalnum() else "_" for c in p)
                    fetch.append(f"{var}=$(apt-cache madison {q(p)} | awk -v want={q(version)} "
                                 f"{q(AWK_VERSION_MATCH)})"
                                 f" && [ -n \"${var}\" ] || {{ echo '{p} {version} is not in the configured "
                                 f"repositories' >&2; exit 100; }}")
                    specs.append(f"{q(p)}=\"${var}\"")
                else:
                    specs.append(q(p))
            script = " && ".join([f"{apt} update"] + fetch +
                                 [f"{apt} install --allow-change-held-packages {' '.join(specs)}"])
            ctx.remote.run(script, why="package installation failed", timeout=900)
        if self.hold:
            ctx.remote.run("apt-mark hold " + " ".join(q(p) for p in self.packages))


class DnfPackagesStep(Step):
    """RHEL-family packages installed (at a version when given) with dnf. A pinned repository lists its packages
    on an ``exclude=`` line (the kubeadm install guide's kubernetes.repo does): only ``--disableexcludes=REPO``
    installs them, so an unattended ``dnf upgrade`` never moves them. ``repo`` names that repository."""

    def __init__(self, packages: dict[str, str | None], *, repo: str | None = None, notify: str | None = None):
        self.packages, self.repo, self.notify = dict(packages), repo, notify
        self.name = "packages " + " ".join(f"{p}-{v}" if v else p for p, v in self.packages.items())

    def identity(self) -> str:
        return f"dnf {self.name} repo={self.repo}"

    def probe(self) -> str:
        return RpmPackagesProbe(self.packages)

    def change(self, fact, notified):
        found = RpmPackagesProbe.parse(fact)
        missing = tuple(p for p, v in self.packages.items()
                        if p not in found or (v and not version_matches(found[p], v)))
        if not missing:
            return None
        return Change(f"install {' '.join(missing)}", [self._command(missing)], plan=missing)

    def _command(self, missing: tuple[str, ...]) -> str:
        # NAME-VERSION: dnf matches the version field exactly, any release (dnf's NEVRA forms)
        specs = " ".join(q(f"{p}-{self.packages[p]}" if self.packages[p] else p) for p in missing)
        excludes = f" --disableexcludes={q(self.repo)}" if self.repo else ""
        return f"dnf -y -q install{excludes} {specs}"

    def apply(self, ctx, change):
        for command in change.commands:     # what change() chose from the same fact
            ctx.remote.run(command, why="package installation failed", timeout=900)
