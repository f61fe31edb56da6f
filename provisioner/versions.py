"""Kubernetes versions we support and the facts that follow from a version.

>>> v = KubeVersion.parse("1.37.1")
>>> v.minor_str, kubeadm_api_version(v), pause_version(v), support_of(v)
('1.37', 'kubeadm.k8s.io/v1beta4', '3.10.2', 'maintained')
>>> support_of(KubeVersion.parse("1.34.11"))
'end-of-life'
>>> support_of(KubeVersion.parse("1.32.1"))
'refused'

Where each fact comes from (checked 2026-11-30 with the project's search
corpus; "recalled" marks what that corpus does not hold and was written from
memory of kubernetes.io/releases - re-check it before a release):

* Maintained minors 1.35, 1.36, 1.37; 1.34 end of life 2026-10-27:
  kubernetes.io/releases as summarised in the project's upstream notes
  (shared docs, "Kubernetes releases and kubeadm"). kubernetes/kubernetes
  CHANGELOG/CHANGELOG-1.37.md, -1.36.md, -1.35.md exist upstream; the stored
  copies hold only the x.0-alpha.1 sections, so the patch numbers below are
  not from them.
* Latest patch per minor: third-party release manifests in the corpus
  (rancher rke2 build tags v1.37.0 2026-09-09, v1.36.3 2026-07-23, v1.35.8
  2026-08-21, v1.34.11 2026-08-21, v1.33.13 2026-07-23) and a minikube note
  of 2026-10-05 naming Kubernetes v1.37.1. So 1.37.1 is the newest 1.37 patch
  we can show exists; later patches may have shipped since (recalled cadence:
  one patch a month). Moving DEFAULT_VERSION is a one-line change here.
* EOL dates (recalled, kubernetes.io/releases "End of Life" column): 1.33
  2026-06-28, 1.34 2026-10-27 (also in the upstream notes), 1.35 2027-02-28,
  1.36 2027-06-28, 1.37 2027-10-28.
* Pause image (kubeadm ``PauseVersion`` in cmd/kubeadm/app/constants/constants.go
  on each release branch): the stored constants.go is a 1.32-era tree (3.10).
  1.35 -> 3.10.1 is shown by a test fixture in the corpus that serves
  v1.35.8's constants.go (PauseVersion "3.10.1", etcd 3.6.6-0, CoreDNS
  v1.13.1); 1.33 -> 3.10 by a third-party version table (1.33.8 / pause 3.10);
  1.34 -> 3.10.1, 1.36 and 1.37 -> 3.10.2 are recalled.
* kubeadm config API: v1beta4 is read by every minor from 1.31 on; v1beta3 was
  removed in 1.37 (CHANGELOG-1.37, PR #136016, per the upstream notes). We
  render v1beta4 for every accepted minor (1.33-1.37 all read it), so one
  template set serves them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What a minor is to us: maintained (supported), end-of-life (accepted with a
# warning: upstream ships no more fixes) or refused (not listed).
MAINTAINED_MINORS = (35, 36, 37)
EOL_MINORS = (33, 34)

# Newest known patch of each accepted minor (see the module docstring).
LATEST_PATCH = {33: 13, 34: 11, 35: 8, 36: 3, 37: 1}

# End-of-life date of each accepted minor (recalled, see the module docstring).
EOL_DATES = {
    33: "2026-06-28",
    34: "2026-10-27",
    35: "2027-02-28",
    36: "2027-06-28",
    37: "2027-10-28",
}

# kubeadm's constants.PauseVersion per minor release: cri-dockerd must use the
# same sandbox image kubeadm expects, or kubeadm preflight warns and the
# kubelet pulls a second pause image.
PAUSE_VERSIONS = {
    33: "3.10",
    34: "3.10.1",
    35: "3.10.1",
    36: "3.10.2",
    37: "3.10.2",
}

Support = Literal["maintained", "end-of-life", "refused"]


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> "KubeVersion":
        """Parse ``1.37.1`` (a leading ``v`` is accepted); ValueError otherwise."""
        raw = str(text).strip()
        raw = raw[1:] if raw.startswith("v") else raw
        parts = raw.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not a full version like {DEFAULT_VERSION}")
        return cls(*(int(p) for p in parts))

    @property
    def minor_str(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


DEFAULT_VERSION = f"1.{MAINTAINED_MINORS[-1]}.{LATEST_PATCH[MAINTAINED_MINORS[-1]]}"


def _minors(minors) -> str:
    names = [f"1.{m}" for m in minors]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def supported_minors_text() -> str:
    """``1.35, 1.36 or 1.37`` - for messages."""
    return _minors(MAINTAINED_MINORS)


def support_of(v: KubeVersion) -> Support:
    if v.major == 1 and v.minor in MAINTAINED_MINORS:
        return "maintained"
    if v.major == 1 and v.minor in EOL_MINORS:
        return "end-of-life"
    return "refused"


def is_supported(v: KubeVersion) -> bool:
    """Accepted at all (maintained, or end of life with a warning)."""
    return support_of(v) != "refused"


def refusal(v: KubeVersion) -> str:
    """The one-line reason (with the fix) a refused version gets."""
    why = "is older than any version we accept" if (v.major, v.minor) < (1, EOL_MINORS[0]) \
        else "is newer than any version this release was tested with"
    return (f"{v} {why} - use a maintained minor: {supported_minors_text()} "
            f"(default {DEFAULT_VERSION}); {' and '.join(f'1.{m}' for m in EOL_MINORS)} are accepted with an end-of-life warning")


def eol_warning(v: KubeVersion) -> str:
    """The warning an end-of-life minor gets at validation."""
    return (f"Kubernetes {v.minor_str} reached end of life on {EOL_DATES[v.minor]} and gets no more fixes "
            f"- move to {supported_minors_text()} (default {DEFAULT_VERSION})")


def supported_range() -> str:
    """For the inventory schema description."""
    return (f"maintained {supported_minors_text()} (default {DEFAULT_VERSION}); "
            f"{_minors(EOL_MINORS)} accepted with an end-of-life warning")


def kubeadm_api_version(v: KubeVersion) -> str:
    """v1beta4 for every accepted minor: all of 1.33-1.37 read it, and 1.37 reads nothing else."""
    return "kubeadm.k8s.io/v1beta4"


def pause_version(v: KubeVersion) -> str:
    return PAUSE_VERSIONS[v.minor]
