"""Kubernetes versions we support and the facts that follow from a version.

>>> v = KubeVersion.parse("1.30.2")
>>> v.minor_str, kubeadm_api_version(v), pause_version(v)
('1.30', 'kubeadm.k8s.io/v1beta3', '3.9')
"""

from __future__ import annotations

from dataclasses import dataclass

# The range we render and test configs for. Below 1.28 the pkgs.k8s.io
# repositories do not exist (the legacy apt repos were frozen in 2023);
# above 1.34 the kubeadm/kubelet types have not been checked by tests.
MIN_MINOR = 28
MAX_MINOR = 34

# kubeadm's constants.PauseVersion per minor release (cmd/kubeadm/app/constants):
# cri-dockerd must use the same sandbox image as kubeadm expects, or kubeadm
# preflight warns and the kubelet pulls a second pause image.
PAUSE_VERSIONS = {
    28: "3.9",
    29: "3.9",
    30: "3.9",
    31: "3.10",
    32: "3.10",
    33: "3.10",
    34: "3.10.1",
}


@dataclass(frozen=True, order=True)
class KubeVersion:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> "KubeVersion":
        """Parse ``1.30.2`` (a leading ``v`` is accepted); ValueError otherwise."""
        raw = str(text).strip()
        raw = raw[1:] if raw.startswith("v") else raw
        parts = raw.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{text!r} is not a full version like 1.30.2")
        return cls(*(int(p) for p in parts))

    @property
    def minor_str(self) -> str:
        return f"{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def supported_range() -> str:
    return f"1.{MIN_MINOR}.0 to 1.{MAX_MINOR}.x"


def is_supported(v: KubeVersion) -> bool:
    return v.major == 1 and MIN_MINOR <= v.minor <= MAX_MINOR


def kubeadm_api_version(v: KubeVersion) -> str:
    """v1beta4 is the default from 1.31; v1beta3 is what 1.28-1.30 read."""
    return "kubeadm.k8s.io/v1beta4" if v.minor >= 31 else "kubeadm.k8s.io/v1beta3"


def pause_version(v: KubeVersion) -> str:
    return PAUSE_VERSIONS[v.minor]
