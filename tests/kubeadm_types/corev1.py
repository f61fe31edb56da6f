"""Types from k8s.io/api/core/v1 that the kubeadm and kubelet configs embed.

Upstream: kubernetes/kubernetes staging/src/k8s.io/api/core/v1/types.go
(Taint, TaintEffect, EnvVar, EnvVarSource and its selectors, HostPathType, PullPolicy).
Transcribed from the well-known stable definitions (these have not changed shape in
years); fileKeyRef is the newest EnvVarSource member (alpha, EnvFiles feature, v1.34).
"""

from .shapes import BOOL, QUANTITY, STRING, TIME, Enum, Struct, required

# TaintEffect: the API server and kubeadm's node registration accept exactly these.
TAINT_EFFECT = Enum("NoSchedule", "PreferNoSchedule", "NoExecute")

Taint = Struct(
    "Taint",
    {
        "key": required(STRING),
        "value": STRING,
        "effect": required(TAINT_EFFECT),
        "timeAdded": TIME,  # *metav1.Time; only meaningful for NoExecute
    },
    short="Taint {key,value,effect} (mapping)",
)

# PullPolicy
PULL_POLICY = Enum("Always", "IfNotPresent", "Never", "")

# HostPathType ("" means no check)
HOST_PATH_TYPE = Enum(
    "", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"
)

ObjectFieldSelector = Struct("ObjectFieldSelector", {"apiVersion": STRING, "fieldPath": required(STRING)})
ResourceFieldSelector = Struct(
    "ResourceFieldSelector", {"containerName": STRING, "resource": required(STRING), "divisor": QUANTITY}
)
ConfigMapKeySelector = Struct(
    "ConfigMapKeySelector", {"name": STRING, "key": required(STRING), "optional": BOOL}
)
SecretKeySelector = Struct("SecretKeySelector", {"name": STRING, "key": required(STRING), "optional": BOOL})
FileKeySelector = Struct(
    "FileKeySelector",
    {"volumeName": required(STRING), "path": required(STRING), "key": required(STRING), "optional": BOOL},
)

EnvVarSource = Struct(
    "EnvVarSource",
    {
        "fieldRef": ObjectFieldSelector,
        "resourceFieldRef": ResourceFieldSelector,
        "configMapKeyRef": ConfigMapKeySelector,
        "secretKeyRef": SecretKeySelector,
        "fileKeyRef": FileKeySelector,
    },
)

EnvVar = Struct(
    "EnvVar",
    {"name": required(STRING), "value": STRING, "valueFrom": EnvVarSource},
    short="{name,value} (EnvVar)",
)
