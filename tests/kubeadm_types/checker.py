"""Check rendered config documents against the upstream types in the sibling modules.

    check_document(doc)  -> list of error strings for one parsed document (a dict)
    check_stream(text)   -> list of error strings for a multi-document YAML string
    ... minor=37         -> also what Kubernetes 1.37 does not read (minors.py: fields and values newer
                            than that minor)

Error strings look like
    ClusterConfiguration.apiServer.extraArgs: expected list of {name,value} in kubeadm.k8s.io/v1beta4, got mapping -- ...
i.e. "<Kind>.<json path>: <what is wrong>".  check_stream prefixes "document N: ".
An empty list means the document(s) passed.
"""

from __future__ import annotations

from typing import Any, Mapping

import yaml

from . import kubeadm_v1beta4, kubelet_v1beta1, kubeproxy_v1alpha1
from .minors import minor_errors
from .shapes import Context, Struct, describe_value

TYPE_MODULES = (kubeadm_v1beta4, kubelet_v1beta1, kubeproxy_v1alpha1)

# (apiVersion, kind) -> Struct
REGISTRY: dict[tuple[str, str], Struct] = {
    (m.API_VERSION, kind): struct for m in TYPE_MODULES for kind, struct in m.KINDS.items()
}
SOURCES: dict[str, str] = {m.API_VERSION: m.SOURCE for m in TYPE_MODULES}

# Versions that exist upstream but that we deliberately do not accept, with the reason.
_RETIRED = {
    "kubeadm.k8s.io/v1beta1": "removed in kubeadm v1.22",
    "kubeadm.k8s.io/v1beta2": "removed in kubeadm v1.27",
    "kubeadm.k8s.io/v1beta3": "removed in kubeadm 1.37, PR #136016; provisioner renders kubeadm.k8s.io/v1beta4",
}


def known_kinds() -> list[str]:
    return [f"{v}/{k}" for v, k in sorted(REGISTRY)]


def check_document(doc: Any, *, allow_null: bool = False, minor: int | None = None) -> list[str]:
    """Check one parsed document.  allow_null=True accepts `key: null` like encoding/json does;
    minor=N also refuses what Kubernetes 1.N does not read (see minors.py)."""
    if not isinstance(doc, Mapping):
        return [f"document: expected a mapping with apiVersion and kind, got {describe_value(doc)}"]
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    errors: list[str] = []
    if not isinstance(api_version, str) or not api_version:
        errors.append(f"{kind if isinstance(kind, str) else 'document'}.apiVersion: missing or not a string")
    if not isinstance(kind, str) or not kind:
        errors.append("document.kind: missing or not a string")
    if errors:
        return errors

    struct = REGISTRY.get((api_version, kind))
    if struct is None:
        if api_version in _RETIRED:
            why = _RETIRED[api_version]
            return [f"{kind}.apiVersion: {api_version} is not supported ({why})"]
        versions = sorted(v for v, k in REGISTRY if k == kind)
        if versions:
            return [f"{kind}.apiVersion: unknown apiVersion {api_version!r} for kind {kind}; known: {', '.join(versions)}"]
        if any(v == api_version for v, _ in REGISTRY):
            kinds = sorted(k for v, k in REGISTRY if v == api_version)
            return [f"{kind}: unknown kind \"{kind}\" in {api_version}; known: {', '.join(kinds)}"]
        return [f"{kind}: unknown apiVersion/kind {api_version}/{kind}; known: {', '.join(known_kinds())}"]

    if minor is not None:
        gone = minor_errors(doc, minor)
        if gone and gone[0].startswith(f"{kind}.apiVersion:"):
            return gone
    ctx = Context(api_version=api_version, allow_null=allow_null)
    # TypeMeta (apiVersion, kind) is inlined into every top-level kind.
    struct._check(doc, kind, ctx, "", extra_allowed=("apiVersion", "kind"))
    return ctx.errors + (gone if minor is not None else [])


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, as sigs.k8s.io/yaml's strict mode does
    (PyYAML would silently keep the last one, hiding a template bug)."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False):
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            continue  # let the normal constructor report it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen[key] = True
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def check_stream(text: str, *, allow_null: bool = False, minor: int | None = None) -> list[str]:
    """Check every document of a multi-document YAML stream (as passed to `kubeadm --config`).

    Empty documents are skipped (kubeadm skips them too).  Like kubeadm's
    SplitYAMLDocuments, the same apiVersion+kind twice in one file is an error.
    """
    try:
        docs = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as exc:
        return [f"YAML: {exc}"]
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for n, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        errors.extend(f"document {n}: {e}" for e in check_document(doc, allow_null=allow_null, minor=minor))
        if isinstance(doc, Mapping):
            gvk = (doc.get("apiVersion"), doc.get("kind"))
            if all(isinstance(x, str) for x in gvk):
                if gvk in seen:
                    errors.append(
                        f"document {n}: {gvk[1]} ({gvk[0]}) is specified twice in the stream "
                        f"(first in document {seen[gvk]})"
                    )
                else:
                    seen[gvk] = n
    if not seen and not errors:
        errors.append("stream: no documents")
    return errors
