"""Rules that are ours, layered on top of the upstream types (kept apart so it is obvious
which errors come from upstream and which from this project's policy).

Upstream (kubeadm validation, ValidateDiscoveryBootstrapToken): token discovery needs
caCertHashes unless unsafeSkipCAVerification is true.
Ours: unsafeSkipCAVerification is never allowed, so caCertHashes must always be a
non-empty list of "sha256:<64 hex>" pins (the only form kubeadm's pubkeypin accepts).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from .shapes import Context

CA_CERT_HASH = re.compile(r"^sha256:[0-9a-fA-F]{64}$")


def require_ca_pinning(value: Mapping[str, Any], path: str, ctx: Context) -> None:
    if value.get("unsafeSkipCAVerification") is True:
        ctx.error(
            f"{path}.unsafeSkipCAVerification",
            "must not be true (policy: token discovery must pin the cluster CA via caCertHashes)",
        )
    hashes = value.get("caCertHashes")
    if hashes is None or hashes == []:
        ctx.error(
            f"{path}.caCertHashes",
            "must be a non-empty list (upstream requires it unless unsafeSkipCAVerification, "
            "which our policy never allows)",
        )
    elif isinstance(hashes, list):
        for i, h in enumerate(hashes):
            if isinstance(h, str) and not CA_CERT_HASH.match(h):
                ctx.error(f"{path}.caCertHashes[{i}]", f'expected "sha256:<64 hex digits>", got {h!r}')
