"""kubeadm.k8s.io/v1beta3: InitConfiguration, ClusterConfiguration, JoinConfiguration.

Upstream: kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go
read at commit 428c3fe9540a2cbe8daf4645879a87b30bbf1d02 (v1beta3 has been frozen since it
was superseded by v1beta4 in v1.31; this is the shape of every release v1.22 .. today).
Shared types: bootstraptoken_v1.py (BootstrapToken), corev1.py (Taint, HostPathType, PullPolicy).

Differences from v1beta4 worth remembering (see kubeadm_v1beta4.py):
  * extraArgs / kubeletExtraArgs are map[string]string here, list of {name,value} in v1beta4;
  * apiServer.timeoutForControlPlane and discovery.timeout live here; v1beta4 moved them to `timeouts`;
  * no dryRun, timeouts, extraEnvs, encryptionAlgorithm, proxy, dns.disabled,
    imagePullSerial, certificateValidityPeriod, caCertificateValidityPeriod.
"""

from .bootstraptoken_v1 import BOOTSTRAP_TOKEN, BootstrapToken
from .corev1 import HOST_PATH_TYPE, PULL_POLICY, Taint
from .policy import require_ca_pinning
from .shapes import BOOL, DURATION, INT32, STRING, ListOf, MapOf, Struct, inline, optional, required

API_VERSION = "kubeadm.k8s.io/v1beta3"
SOURCE = (
    "kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta3/types.go "
    "@ 428c3fe9540a2cbe8daf4645879a87b30bbf1d02"
)

_V1BETA4_ONLY = "only exists in kubeadm.k8s.io/v1beta4"

EXTRA_ARGS = optional(
    MapOf(STRING),
    hint="v1beta3 takes a map of flag name -> string value; the list of {name,value} form is v1beta4",
)

APIEndpoint = Struct("APIEndpoint", {"advertiseAddress": STRING, "bindPort": INT32})

Patches = Struct("Patches", {"directory": STRING})

NodeRegistrationOptions = Struct(
    "NodeRegistrationOptions",
    {
        "name": STRING,
        "criSocket": STRING,
        # No omitempty upstream, but not required: nil means "default control-plane taint",
        # `taints: []` means "no taints".
        "taints": ListOf(Taint),
        "kubeletExtraArgs": EXTRA_ARGS,
        "ignorePreflightErrors": ListOf(STRING),
        "imagePullPolicy": PULL_POLICY,
    },
    unknown_hints={"imagePullSerial": _V1BETA4_ONLY},
)

HostPathMount = Struct(
    "HostPathMount",
    {
        "name": required(STRING),
        "hostPath": required(STRING),
        "mountPath": required(STRING),
        "readOnly": BOOL,
        "pathType": HOST_PATH_TYPE,
    },
)

ControlPlaneComponent = Struct(
    "ControlPlaneComponent",
    {
        "extraArgs": EXTRA_ARGS,
        "extraVolumes": ListOf(HostPathMount),
    },
    unknown_hints={"extraEnvs": _V1BETA4_ONLY},
)

APIServer = Struct(
    "APIServer",
    inline(
        ControlPlaneComponent,
        {
            "certSANs": ListOf(STRING),
            "timeoutForControlPlane": DURATION,
        },
    ),
    unknown_hints={"extraEnvs": _V1BETA4_ONLY},
)

ImageMeta = {"imageRepository": STRING, "imageTag": STRING}

DNS = Struct("DNS", inline(ImageMeta), unknown_hints={"disabled": _V1BETA4_ONLY})

Networking = Struct("Networking", {"serviceSubnet": STRING, "podSubnet": STRING, "dnsDomain": STRING})

LocalEtcd = Struct(
    "LocalEtcd",
    inline(
        ImageMeta,
        {
            "dataDir": STRING,  # no omitempty, defaulted to /var/lib/etcd
            "extraArgs": EXTRA_ARGS,
            "serverCertSANs": ListOf(STRING),
            "peerCertSANs": ListOf(STRING),
        },
    ),
    unknown_hints={"extraEnvs": _V1BETA4_ONLY},
)

ExternalEtcd = Struct(
    "ExternalEtcd",
    {
        "endpoints": required(ListOf(STRING)),  # "Required for ExternalEtcd."
        "caFile": STRING,  # "Required if using a TLS connection."
        "certFile": STRING,
        "keyFile": STRING,
    },
)

Etcd = Struct(
    "Etcd",
    {"local": LocalEtcd, "external": ExternalEtcd},
    at_most_one_of=[("local", "external")],  # "Local and External are mutually exclusive"
)

BootstrapTokenDiscovery = Struct(
    "BootstrapTokenDiscovery",
    {
        "token": required(BOOTSTRAP_TOKEN),
        "apiServerEndpoint": STRING,
        "caCertHashes": ListOf(STRING),
        "unsafeSkipCAVerification": BOOL,
    },
    rules=[require_ca_pinning],
)

FileDiscovery = Struct("FileDiscovery", {"kubeConfigPath": required(STRING)})

Discovery = Struct(
    "Discovery",
    {
        "bootstrapToken": BootstrapTokenDiscovery,
        "file": FileDiscovery,
        "tlsBootstrapToken": BOOTSTRAP_TOKEN,
        "timeout": DURATION,
    },
    # "BootstrapToken and File are mutually exclusive"; kubeadm validation requires one of them.
    exactly_one_of=[("bootstrapToken", "file")],
)

JoinControlPlane = Struct("JoinControlPlane", {"localAPIEndpoint": APIEndpoint, "certificateKey": STRING})

InitConfiguration = Struct(
    "InitConfiguration",
    {
        "bootstrapTokens": ListOf(BootstrapToken),
        "nodeRegistration": NodeRegistrationOptions,
        "localAPIEndpoint": APIEndpoint,
        "certificateKey": STRING,
        "skipPhases": ListOf(STRING),
        "patches": Patches,
    },
    unknown_hints={
        "dryRun": _V1BETA4_ONLY,
        "timeouts": _V1BETA4_ONLY + "; in v1beta3 use ClusterConfiguration.apiServer.timeoutForControlPlane",
    },
)

ClusterConfiguration = Struct(
    "ClusterConfiguration",
    {
        "etcd": Etcd,
        "networking": Networking,
        "kubernetesVersion": STRING,
        "controlPlaneEndpoint": STRING,
        "apiServer": APIServer,
        "controllerManager": ControlPlaneComponent,
        "scheduler": ControlPlaneComponent,
        "dns": DNS,
        "certificatesDir": STRING,
        "imageRepository": STRING,
        "featureGates": MapOf(BOOL),
        "clusterName": STRING,
    },
    unknown_hints={
        "encryptionAlgorithm": _V1BETA4_ONLY + " (v1beta3 uses the PublicKeysECDSA feature gate)",
        "proxy": _V1BETA4_ONLY,
        "certificateValidityPeriod": _V1BETA4_ONLY,
        "caCertificateValidityPeriod": _V1BETA4_ONLY,
    },
)

JoinConfiguration = Struct(
    "JoinConfiguration",
    {
        "nodeRegistration": NodeRegistrationOptions,
        "caCertPath": STRING,
        "discovery": required(Discovery),  # json:"discovery" -- no omitempty, no +optional
        "controlPlane": JoinControlPlane,
        "skipPhases": ListOf(STRING),
        "patches": Patches,
    },
    unknown_hints={
        "dryRun": _V1BETA4_ONLY,
        "timeouts": _V1BETA4_ONLY + "; in v1beta3 use discovery.timeout",
    },
)

KINDS = {
    "InitConfiguration": InitConfiguration,
    "ClusterConfiguration": ClusterConfiguration,
    "JoinConfiguration": JoinConfiguration,
}
