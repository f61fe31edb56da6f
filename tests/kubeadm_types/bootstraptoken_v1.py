"""BootstrapToken, shared by kubeadm.k8s.io/v1beta3 and v1beta4 InitConfiguration.bootstrapTokens.

Upstream: kubernetes/kubernetes cmd/kubeadm/app/apis/bootstraptoken/v1/types.go
read at commit 95f08499d652a6211121d8af35f470609217c730 (unchanged since v1.22).
"""

from .shapes import DURATION, STRING, TIME, ListOf, Pattern, Struct, required

# BootstrapTokenString marshals as "abcdef.0123456789abcdef"; its UnmarshalJSON rejects
# anything not matching [a-z0-9]{6}\.[a-z0-9]{16} (bootstraputil.BootstrapTokenRegexp).
# kubeadm's validation applies the same check to discovery tokens.
BOOTSTRAP_TOKEN = Pattern(
    'bootstrap token string "[a-z0-9]{6}.[a-z0-9]{16}"', r"^[a-z0-9]{6}\.[a-z0-9]{16}$"
)

BootstrapToken = Struct(
    "BootstrapToken",
    {
        "token": required(BOOTSTRAP_TOKEN),
        "description": STRING,
        "ttl": DURATION,  # *metav1.Duration, default 24h
        "expires": TIME,  # *metav1.Time
        "usages": ListOf(STRING),
        "groups": ListOf(STRING),
    },
    # "Expires and TTL are mutually exclusive."
    at_most_one_of=[("ttl", "expires")],
)
