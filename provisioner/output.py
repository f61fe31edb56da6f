"""Write rendered files to a local tree: one directory per host, plus a manifest.

>>> write_tree(files, Path("out"))        # doctest: +SKIP
out/ha1/etc/haproxy/haproxy.cfg, ..., out/manifest.json

The tree is built beside the target and swapped in whole, so an interrupted
render never leaves a mix of old and new files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from provisioner.errors import UsageError
from provisioner.render import RenderedFile

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


def manifest(files: list[RenderedFile], cluster: str) -> dict:
    """What goes where: target path, owner, group, mode and checksum per file written in the tree; under
    ``runtime``, the files whose content ``up`` fetches or copies on the host (location, mode, origin)."""
    def entry(f: RenderedFile) -> dict:
        return {"host": f.host, "path": f.path, "owner": f.owner, "group": f.group, "mode": f"{f.mode:04o}",
                "component": f.component, "secret": f.secret}

    return {
        "version": MANIFEST_VERSION,
        "cluster": cluster,
        "files": [{**entry(f), "source": f"{f.host}{f.path}", "merge": f.merge, "transient": f.transient,
                   "sha256": f.sha256} for f in files if not f.origin],
        "runtime": [{**entry(f), "origin": f.origin} for f in files if f.origin],
    }


def write_tree(files: list[RenderedFile], out: Path, cluster: str) -> Path:
    """Write ``files`` under ``out`` (replacing an earlier render there) and return the manifest path."""
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).exists():
        raise UsageError(f"{out}: exists and is not a provisioner render (no {MANIFEST}) - choose an empty or new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for f in files:
            if f.origin:      # content known on the host only (a fetched key, a copied kubeconfig): in the manifest
                continue
            target = staging / f.host / f.path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f.content, encoding="utf-8")
            # Secret files stay private here too; others keep their target mode.
            os.chmod(target, f.mode)
        (staging / MANIFEST).write_text(json.dumps(manifest(files, cluster), indent=2) + "\n", encoding="utf-8")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
        os.chmod(out, 0o700)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out / MANIFEST
