"""kubeproxy.config.k8s.io/v1alpha1: KubeProxyConfiguration -- every top-level field and all nested ones.

Upstream: kubernetes/kubernetes staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go
(published as kubernetes/kube-proxy config/v1alpha1/types.go; the stored copy of that
mirror repository has no source files, so the staging path was read instead)
read at commit ce3490900116b936d61ee08888436fda1f7abe49 (a recent master tree).
Cross-checked against kubernetes/website content/en/docs/reference/config-api/
kube-proxy-config.v1alpha1.md @ 28d3e1316ac03edac98c3f2f14eb9b281a17f511 (a released
version's generated reference).  They differ in three fields, all accepted here:
  * windowsRunAsService      -- in the released reference, gone from the master tree;
  * serviceProxyName         -- in the master tree only;
  * nftables.tableName       -- in the master tree only.
Embedded types: componentbase.py (ClientConnectionConfiguration, LoggingConfiguration).

Almost no field has omitempty and none is +optional: kube-proxy defaults everything.
"""

from .componentbase import ClientConnectionConfiguration, LoggingConfiguration
from .shapes import BOOL, DURATION, INT32, STRING, Enum, ListOf, MapOf, Struct

API_VERSION = "kubeproxy.config.k8s.io/v1alpha1"
SOURCE = (
    "kubernetes/kubernetes staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go "
    "@ ce3490900116b936d61ee08888436fda1f7abe49"
)

# ProxyMode: "" picks the platform default (iptables on Linux, kernelspace on Windows).
PROXY_MODE = Enum("", "iptables", "ipvs", "nftables", "kernelspace")
# LocalMode
LOCAL_MODE = Enum("", "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix")

KubeProxyIPTablesConfiguration = Struct(
    "KubeProxyIPTablesConfiguration",
    {
        "masqueradeBit": INT32,
        "masqueradeAll": BOOL,
        "localhostNodePorts": BOOL,
        "syncPeriod": DURATION,
        "minSyncPeriod": DURATION,
    },
)

KubeProxyIPVSConfiguration = Struct(
    "KubeProxyIPVSConfiguration",
    {
        "syncPeriod": DURATION,
        "minSyncPeriod": DURATION,
        "scheduler": STRING,
        "excludeCIDRs": ListOf(STRING),
        "strictARP": BOOL,
        "tcpTimeout": DURATION,
        "tcpFinTimeout": DURATION,
        "udpTimeout": DURATION,
    },
)

KubeProxyNFTablesConfiguration = Struct(
    "KubeProxyNFTablesConfiguration",
    {
        "masqueradeBit": INT32,
        "masqueradeAll": BOOL,
        "syncPeriod": DURATION,
        "minSyncPeriod": DURATION,
        "tableName": STRING,  # master tree only (see module docstring)
    },
)

KubeProxyConntrackConfiguration = Struct(
    "KubeProxyConntrackConfiguration",
    {
        "maxPerCore": INT32,
        "min": INT32,
        "tcpEstablishedTimeout": DURATION,
        "tcpCloseWaitTimeout": DURATION,
        "tcpBeLiberal": BOOL,
        "udpTimeout": DURATION,
        "udpStreamTimeout": DURATION,
    },
)

KubeProxyWinkernelConfiguration = Struct(
    "KubeProxyWinkernelConfiguration",
    {
        "networkName": STRING,
        "sourceVip": STRING,
        "enableDSR": BOOL,
        "rootHnsEndpointName": STRING,
        "forwardHealthCheckVip": BOOL,
    },
)

DetectLocalConfiguration = Struct(
    "DetectLocalConfiguration",
    {"bridgeInterface": STRING, "interfaceNamePrefix": STRING},
)

KubeProxyConfiguration = Struct(
    "KubeProxyConfiguration",
    {
        "featureGates": MapOf(BOOL),
        "clientConnection": ClientConnectionConfiguration,
        "logging": LoggingConfiguration,
        "hostnameOverride": STRING,
        "bindAddress": STRING,
        "healthzBindAddress": STRING,
        "metricsBindAddress": STRING,
        "bindAddressHardFail": BOOL,
        "enableProfiling": BOOL,
        "showHiddenMetricsForVersion": STRING,
        "serviceProxyName": STRING,  # master tree only
        "mode": PROXY_MODE,
        "iptables": KubeProxyIPTablesConfiguration,
        "ipvs": KubeProxyIPVSConfiguration,
        "nftables": KubeProxyNFTablesConfiguration,
        "winkernel": KubeProxyWinkernelConfiguration,
        "detectLocalMode": LOCAL_MODE,
        "detectLocal": DetectLocalConfiguration,
        "clusterCIDR": STRING,
        "nodePortAddresses": ListOf(STRING),
        "oomScoreAdj": INT32,
        "conntrack": KubeProxyConntrackConfiguration,
        "configSyncPeriod": DURATION,
        "portRange": STRING,  # unused since the userspace proxy was removed
        "windowsRunAsService": BOOL,  # released reference only
    },
    unknown_hints={
        "clusterCidr": "the field is 'clusterCIDR'",
        "masqueradeAll": "nest it: iptables.masqueradeAll (or nftables.masqueradeAll)",
        "strictARP": "nest it: ipvs.strictARP",
        "scheduler": "nest it: ipvs.scheduler",
    },
)

KINDS = {"KubeProxyConfiguration": KubeProxyConfiguration}
