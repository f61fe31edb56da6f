"""Field names and shapes of the upstream Go config types our rendered documents must match.

kubeadm cannot run in the test environment, so each document we render is checked
against a transcription of the upstream types for its apiVersion/kind:

    kubeadm_v1beta4.py     kubeadm.k8s.io/v1beta4        Init/Cluster/JoinConfiguration
    kubelet_v1beta1.py     kubelet.config.k8s.io/v1beta1 KubeletConfiguration
    kubeproxy_v1alpha1.py  kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration
    bootstraptoken_v1.py, corev1.py, componentbase.py    types those embed
    policy.py              our own rules on top (CA pinning is mandatory)
    minors.py              per-minor differences as data (1.33-1.37: API versions, newer fields)
    shapes.py              the vocabulary (STRING, DURATION, ListOf, Struct, ...)
    checker.py             check_document / check_stream

Each type module names, at its top, the upstream file and commit it was read from.

Usage:
    from kubeadm_types import check_document, check_stream
    assert check_stream(rendered_yaml) == []
    assert check_stream(rendered_yaml, minor=37) == []      # and Kubernetes 1.37 reads all of it
"""

from .checker import REGISTRY, SOURCES, check_document, check_stream, known_kinds
from .shapes import parse_go_duration

__all__ = ["check_document", "check_stream", "known_kinds", "parse_go_duration", "REGISTRY", "SOURCES"]
