"""Kubernetes versions we support and the facts that follow from a version.

>>> v = KubeVersion.parse("1.37.1")
>>> v.minor_str, kubeadm_api_version(v), pause_version(v), support_of(v)
('1.37', 'kubeadm.k8s.io/v1beta4', '3.10.2', 'maintained')
>>> support_of(KubeVersion.parse("1.34.11"))
'end-of-life'
>>> support_of(KubeVersion.parse("1.32.1"))
'refused'

Each minor's facts live in one row of MINORS with the source it was read from
(checked 2026-12-04 with the project's search corpus: kubernetes.io/releases/1.NN
pages for patches and EOL dates; "recalled" marks what the corpus does not hold).
How to move a patch or add a minor: docs/versions.md.

* kubeadm config API: v1beta4 is read by every minor from 1.31 on; v1beta3 was
  removed in 1.37 (CHANGELOG-1.37, PR #136016, per the upstream notes). We
  render v1beta4 for every accepted minor, so one template set serves them all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Minor:
    """One Kubernetes minor as this release knows it: every fact with where it was read."""

    latest_patch: int
    eol: str            # kubernetes.io/releases "End Of Life Date"
    pause: str          # kubeadm constants.PauseVersion on the release branch
    status: Literal["maintained", "end-of-life", "pre-release"]
    source: str


# The version table. Adding a minor is one row here (plus its kubeadm types in
# tests/kubeadm_types and, when Calico or cri-dockerd need it, a row in compat.py);
# docs/versions.md says how to update it. Patches: the newest each source shows on 2026-12-04.
MINORS = {
    33: Minor(13, "2026-06-28", "3.10", "end-of-life",
              "patch: rke2 build tag v1.33.13 (2026-07-23) and kubernetes/cri-client v0.33.13; pause: third-party "
              "table 1.33.8 / pause 3.10; EOL: kubernetes.io/releases (recalled)"),
    34: Minor(11, "2026-10-27", "3.10.1", "end-of-life",
              "patch: rke2 build tag v1.34.11 (2026-08-21); EOL: shared docs/upstream.md (kubernetes.io/releases)"),
    35: Minor(9, "2027-02-28", "3.10.1", "maintained",
              "kubernetes.io/releases/1.35: latest patch 1.35.9 (2026-09-15), End Of Life 2027-02-28; pause: "
              "v1.35.8 cmd/kubeadm/app/constants/constants.go PauseVersion 3.10.1 (corpus fixture)"),
    36: Minor(4, "2027-06-28", "3.10.2", "maintained",
              "kubernetes.io/it/releases/1.36: latest patch 1.36.4 (2026-08-11), End Of Life 2027-06-28; "
              "pause recalled"),
    37: Minor(1, "2027-10-28", "3.10.2", "maintained",
              "kubernetes.io/releases/1.37: latest patch 1.37.1 (2026-09-15), End Of Life 2027-10-28; "
              "pause recalled"),
}

# PRE-RELEASE minors: accepted only when the environment sets PROVISIONER_PRERELEASE=1.NN (a deliberate,
# per-run opt-in), always with a warning. 1.38: rc.0 2026-12-02, release scheduled 2026-12-16
# (kubernetes/sig-release releases/release-1.38/README.md); its kubeadm/kubelet types are not in a
# release we can cite, so tests/kubeadm_types reads 1.38 documents as 1.37's (pre-release assumption)
# and the pause image is 1.37's. Move the row into MINORS (status "maintained") once v1.38.0 is tagged
# and its types are re-derived - docs/versions.md.
PRERELEASE = {
    38: Minor(0, "2028-02-28", "3.10.2", "pre-release",
              "PRE-RELEASE: sig-release release-1.38 schedule (rc.0 2026-12-02, v1.38.0 due 2026-12-16); EOL "
              "estimated as release + 14 months; pause assumed as 1.37's"),
}
PRERELEASE_ENV = "PROVISIONER_PRERELEASE"
PRERELEASE_OPTED = tuple(m for m in PRERELEASE
                         if f"1.{m}" in os.environ.get(PRERELEASE_ENV, "").replace(" ", "").split(","))

# What a minor is to us: maintained (supported), end-of-life (accepted with a
# warning: upstream ships no more fixes), pre-release (opted in, warned) or refused. Derived from MINORS.
MAINTAINED_MINORS = tuple(m for m, r in MINORS.items() if r.status == "maintained")
EOL_MINORS = tuple(m for m, r in MINORS.items() if r.status == "end-of-life")
LATEST_PATCH = {m: r.latest_patch for m, r in MINORS.items()}
EOL_DATES = {m: r.eol for m, r in MINORS.items()}
# kubeadm's constants.PauseVersion per minor release: cri-dockerd must use the
# same sandbox image kubeadm expects, or kubeadm preflight warns and the
# kubelet pulls a second pause image.
PAUSE_VERSIONS = {m: r.pause for m, r in {**MINORS, **PRERELEASE}.items()}

# From this minor on the kubelet refuses a host without the cgroup v2 unified hierarchy: failCgroupV1
# defaults to true (kubernetes/kubernetes #134298; the check: pkg/kubelet/apis/config/validation/
# validation_linux.go validateKubeletOSConfiguration).
CGROUP_V2_FROM = 35

Support = Literal["maintained", "end-of-life", "pre-release", "refused"]


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
    if v.major == 1 and v.minor in PRERELEASE_OPTED:
        return "pre-release"
    return "refused"


def is_supported(v: KubeVersion) -> bool:
    """Accepted at all (maintained, or end of life with a warning)."""
    return support_of(v) != "refused"


def refusal(v: KubeVersion) -> str:
    """The one-line reason (with the fix) a refused version gets."""
    why = "is older than any version we accept" if (v.major, v.minor) < (1, EOL_MINORS[0]) \
        else "is newer than any version this release was tested with"
    return (f"{v} {why} - use a maintained minor: {supported_minors_text()} "
            f"(default {DEFAULT_VERSION}); {' and '.join(f'1.{m}' for m in EOL_MINORS)} are accepted with an end-of-life warning"
            + (f"; 1.{v.minor} is available as a pre-release with {PRERELEASE_ENV}=1.{v.minor}"
               if v.major == 1 and v.minor in PRERELEASE else ""))


def prerelease_warning(v: KubeVersion) -> str:
    """The warning an opted-in pre-release minor gets at validation."""
    return (f"Kubernetes {v.minor_str} is a PRE-RELEASE minor ({PRERELEASE_ENV}={v.minor_str}): "
            f"{PRERELEASE[v.minor].source} - not for production; use {DEFAULT_VERSION} for that")


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
