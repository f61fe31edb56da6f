"""The version table as the user sees it (``provisioner versions [--json]``).

One row per accepted Kubernetes minor: status, default patch, end of life, the pause
image kubeadm expects, the Calico and the oldest cri-dockerd that minor goes with; then
the Docker/cri-dockerd pairs and the flannel pins. Everything comes from versions.py and
compat.py - this module only lays it out.

>>> print(versions_report(False).splitlines()[1])
Kubernetes  status       default  end of life  pause   calico  cri-dockerd
"""

from __future__ import annotations

import json

from provisioner import compat
from provisioner.versions import DEFAULT_VERSION, MINORS, PRERELEASE, PRERELEASE_ENV


def versions_data() -> dict:
    """The table as plain data (the --json output)."""
    minors = []
    for minor, row in {**MINORS, **PRERELEASE}.items():
        minors.append({"minor": f"1.{minor}", "status": row.status, "default": f"1.{minor}.{row.latest_patch}",
                       "end_of_life": row.eol, "pause": row.pause, "calico": compat.calico_for_minor(minor),
                       "min_cri_dockerd": compat.min_cri_dockerd(minor), "source": row.source,
                       **({"opt_in": f"{PRERELEASE_ENV}=1.{minor}"} if row.status == "pre-release" else {})})
    docker = [{"docker": f"{line}.x", "api": f"{d.min_api}-{d.api}", "cri_dockerd": compat.cri_dockerd_for(d)}
              for line, d in compat.DOCKER.items()]
    return {"default_kubernetes": DEFAULT_VERSION, "default_docker": compat.DEFAULT_DOCKER,
            "default_cri_dockerd": compat.DEFAULT_CRI_DOCKERD, "minors": minors, "docker": docker,
            "calico": {line: {"version": c.version, "kubernetes": [f"1.{m}" for m in c.kube_minors]}
                       for line, c in compat.CALICO.items()},
            "flannel": {"version": compat.FLANNEL_VERSION,
                        "cni_plugin": compat.FLANNEL[compat.FLANNEL_VERSION].cni_plugin}}


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def versions_report(as_json: bool) -> str:
    """The version table: JSON (stable keys, see versions_data) or aligned text."""
    data = versions_data()
    if as_json:
        return json.dumps(data, indent=2)
    out = [f"Default: Kubernetes {data['default_kubernetes']}, Docker {data['default_docker']}, "
           f"cri-dockerd {data['default_cri_dockerd']}"]
    out += _table(["Kubernetes", "status", "default", "end of life", "pause", "calico", "cri-dockerd"],
                  [[m["minor"], m["status"], m["default"], m["end_of_life"], m["pause"], m["calico"] or "-",
                    f">= {m['min_cri_dockerd']}" if m["min_cri_dockerd"] else "any"] for m in data["minors"]])
    out += [""] + _table(["Docker", "API", "cri-dockerd that works"],
                         [[d["docker"], d["api"], ", ".join(d["cri_dockerd"])] for d in data["docker"]])
    out += [""] + _table(["Calico", "tested on Kubernetes"],
                         [[c["version"], ", ".join(c["kubernetes"])] for c in data["calico"].values()])
    out += ["", f"flannel {data['flannel']['version']} with flannel-cni-plugin {data['flannel']['cni_plugin']}"]
    return "\n".join(out)
