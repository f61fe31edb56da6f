"""What each Kubernetes minor reads: the per-minor differences, as data.

The type modules describe the newest shape of each API; this table says which minor first
read a field or value, and which config API versions each minor's kubeadm reads at all.
``check_stream(text, minor=35)`` applies it: a field a 1.35 kubelet would ignore is an error for
that minor. (kubeadm.k8s.io/v1beta3, which kubeadm 1.37 no longer reads, is refused for every minor
by checker.py: the product renders v1beta4 only.)

Sources:
  * encryptionAlgorithm "ECDSA-P384": kubeadm 1.34 (kubernetes/kubernetes#131677).
  * KubeletConfiguration tlsCurvePreferences, draManagerReconcilePeriod, memoryReservationPolicy:
    present in the v1.37-era staging tree @ 001332b0 and absent from the v1.33/1.34-era tree
    @ c277b99. The minor in between that added each is not in the search corpus (its 1.35/1.36
    changelogs hold only alpha.1); we record 37, the first minor we can show reads them - the
    strict choice (we render none of them).
  * kube-proxy v1alpha1: no field change in 1.35-1.37 that the corpus shows (1.37 only adds a
    deprecation warning for mode ipvs, CHANGELOG-1.37 PR #139067).
"""

from __future__ import annotations

# Minors whose documents we check (the accepted range of provisioner/versions.py). 38 is PRE-RELEASE
# (provisioner/versions.py PRERELEASE): no v1.38.0 types to derive from yet, so it reads what 1.37 reads;
# re-derive when v1.38.0 is tagged (docs/versions.md).
MINORS = (33, 34, 35, 36, 37, 38)

# apiVersion -> the minors whose kubeadm/kubelet/kube-proxy read it.
API_VERSION_MINORS: dict[str, tuple[int, ...]] = {
    "kubeadm.k8s.io/v1beta4": MINORS,
    "kubelet.config.k8s.io/v1beta1": MINORS,
    "kubeproxy.config.k8s.io/v1alpha1": MINORS,
}
API_VERSION_GONE: dict[str, str] = {}     # apiVersion -> why a minor no longer reads it (none among ours today)

# (apiVersion, kind, top-level field) -> first minor that reads it.
FIELD_SINCE: dict[tuple[str, str, str], int] = {
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", "tlsCurvePreferences"): 37,
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", "draManagerReconcilePeriod"): 37,
    ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration", "memoryReservationPolicy"): 37,
}

# (apiVersion, kind, top-level field, value) -> first minor that accepts that value.
VALUE_SINCE: dict[tuple[str, str, str, str], int] = {
    ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration", "encryptionAlgorithm", "ECDSA-P384"): 34,
}


def minor_errors(doc: dict, minor: int) -> list[str]:
    """Errors for fields/values/apiVersions that Kubernetes 1.<minor> does not read."""
    api, kind = doc.get("apiVersion"), doc.get("kind")
    if minor not in MINORS:
        return [f"{kind}: Kubernetes 1.{minor} is not a minor we check (known: {', '.join(f'1.{m}' for m in MINORS)})"]
    if api in API_VERSION_MINORS and minor not in API_VERSION_MINORS[api]:
        return [f"{kind}.apiVersion: {api} is not read by Kubernetes 1.{minor}: {API_VERSION_GONE.get(api, '')}"]
    errors = []
    for key, value in doc.items():
        since = FIELD_SINCE.get((api, kind, key))
        if since and minor < since:
            errors.append(f"{kind}.{key}: not a field of {api} {kind} in Kubernetes 1.{minor} (read from 1.{since} on)")
        if isinstance(value, str):
            since = VALUE_SINCE.get((api, kind, key, value))
            if since and minor < since:
                errors.append(f"{kind}.{key}: {value!r} is accepted from Kubernetes 1.{since} on, not by 1.{minor}")
    return errors
