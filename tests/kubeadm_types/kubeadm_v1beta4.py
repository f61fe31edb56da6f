"""kubeadm.k8s.io/v1beta4: InitConfiguration, ClusterConfiguration, JoinConfiguration.

Upstream: kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go
read at commit 1329935739c3aa007d23cb9a4dadfee9d59ff79b -- the API as released in v1.31
(has Timeouts incl. upgradeManifests, encryptionAlgorithm, certificateValidityPeriod,
caCertificateValidityPeriod, imagePullSerial, extraEnvs, ResetConfiguration/Upgrade*
types; does not yet have "ECDSA-P384", which kubernetes/kubernetes#131677 added in v1.34).
The list of changes from v1beta3 was cross-checked against v1beta4/doc.go
@ bbf0c2eeeaee8a82c7d2a29e070138c4453d0a17.
Shared types: bootstraptoken_v1.py (BootstrapToken), corev1.py (Taint, EnvVar, ...).

Changes from v1beta3 (doc.go):
  * extraArgs (apiServer, controllerManager, scheduler, etcd.local) and
    nodeRegistration.kubeletExtraArgs are lists of Arg {name, value} (duplicates allowed);
  * extraEnvs on control-plane components and etcd.local;
  * dryRun on Init/JoinConfiguration;
  * `timeouts` on Init/JoinConfiguration replaces apiServer.timeoutForControlPlane
    (-> timeouts.controlPlaneComponentHealthCheck) and discovery.timeout (-> timeouts.discovery);
  * ClusterConfiguration.encryptionAlgorithm, .proxy.disabled, .dns.disabled,
    .certificateValidityPeriod, .caCertificateValidityPeriod;
  * nodeRegistration.imagePullSerial.
Not modelled: ResetConfiguration, UpgradeConfiguration (the provisioner does not render them).
"""

from .bootstraptoken_v1 import BOOTSTRAP_TOKEN, BootstrapToken
from .corev1 import HOST_PATH_TYPE, PULL_POLICY, EnvVar, Taint
from .policy import require_ca_pinning
from .shapes import BOOL, DURATION, INT32, STRING, Enum, ListOf, MapOf, Struct, inline, optional, required

API_VERSION = "kubeadm.k8s.io/v1beta4"
SOURCE = (
    "kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/v1beta4/types.go "
    "@ 1329935739c3aa007d23cb9a4dadfee9d59ff79b (v1beta4 as released in v1.31)"
)

# Arg represents an argument with a name and a value.  (Both tags lack omitempty.)
Arg = Struct("Arg", {"name": required(STRING), "value": required(STRING)})

EXTRA_ARGS = optional(
    ListOf(Arg),
    hint="v1beta4 takes a list of {name: <flag>, value: <string>}; the map form is v1beta3",
)

# EncryptionAlgorithmType. "ECDSA-P384" is accepted from kubeadm v1.34 (PR #131677).
ENCRYPTION_ALGORITHM = Enum("RSA-2048", "RSA-3072", "RSA-4096", "ECDSA-P256", "ECDSA-P384")

APIEndpoint = Struct("APIEndpoint", {"advertiseAddress": STRING, "bindPort": INT32})

Patches = Struct("Patches", {"directory": STRING})

Timeouts = Struct(
    "Timeouts",
    {
        "controlPlaneComponentHealthCheck": DURATION,  # default 4m
        "kubeletHealthCheck": DURATION,  # default 4m
        "kubernetesAPICall": DURATION,  # default 1m
        "etcdAPICall": DURATION,  # default 2m
        "tlsBootstrap": DURATION,  # default 5m
        "discovery": DURATION,  # default 5m
        "upgradeManifests": DURATION,  # default 5m
    },
)

NodeRegistrationOptions = Struct(
    "NodeRegistrationOptions",
    {
        "name": STRING,
        "criSocket": STRING,
        "taints": ListOf(Taint),  # nil -> default control-plane taint; [] -> none
        "kubeletExtraArgs": EXTRA_ARGS,
        "ignorePreflightErrors": ListOf(STRING),
        "imagePullPolicy": PULL_POLICY,
        "imagePullSerial": BOOL,  # *bool, default true
    },
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
        "extraEnvs": ListOf(EnvVar),
    },
)

APIServer = Struct(
    "APIServer",
    inline(ControlPlaneComponent, {"certSANs": ListOf(STRING)}),
    unknown_hints={
        "timeoutForControlPlane": "removed in v1beta4: use timeouts.controlPlaneComponentHealthCheck "
        "in InitConfiguration/JoinConfiguration",
    },
)

ImageMeta = {"imageRepository": STRING, "imageTag": STRING}

DNS = Struct("DNS", inline(ImageMeta, {"disabled": BOOL}))

Proxy = Struct("Proxy", {"disabled": BOOL})

Networking = Struct("Networking", {"serviceSubnet": STRING, "podSubnet": STRING, "dnsDomain": STRING})

LocalEtcd = Struct(
    "LocalEtcd",
    inline(
        ImageMeta,
        {
            "dataDir": STRING,  # no omitempty, defaulted to /var/lib/etcd
            "extraArgs": EXTRA_ARGS,
            "extraEnvs": ListOf(EnvVar),
            "serverCertSANs": ListOf(STRING),
            "peerCertSANs": ListOf(STRING),
        },
    ),
)

ExternalEtcd = Struct(
    "ExternalEtcd",
    {
        "endpoints": required(ListOf(STRING)),
        "caFile": STRING,
        "certFile": STRING,
        "keyFile": STRING,
    },
)

Etcd = Struct(
    "Etcd",
    {"local": LocalEtcd, "external": ExternalEtcd},
    at_most_one_of=[("local", "external")],
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
    },
    exactly_one_of=[("bootstrapToken", "file")],
    unknown_hints={"timeout": "removed in v1beta4: use JoinConfiguration.timeouts.discovery"},
)

JoinControlPlane = Struct("JoinControlPlane", {"localAPIEndpoint": APIEndpoint, "certificateKey": STRING})

InitConfiguration = Struct(
    "InitConfiguration",
    {
        "bootstrapTokens": ListOf(BootstrapToken),
        "dryRun": BOOL,
        "nodeRegistration": NodeRegistrationOptions,
        "localAPIEndpoint": APIEndpoint,
        "certificateKey": STRING,
        "skipPhases": ListOf(STRING),
        "patches": Patches,
        "timeouts": Timeouts,
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
        "proxy": Proxy,
        "certificatesDir": STRING,
        "imageRepository": STRING,
        "featureGates": MapOf(BOOL),
        "clusterName": STRING,
        "encryptionAlgorithm": ENCRYPTION_ALGORITHM,
        "certificateValidityPeriod": DURATION,  # default 8760h
        "caCertificateValidityPeriod": DURATION,  # default 87600h
    },
)

JoinConfiguration = Struct(
    "JoinConfiguration",
    {
        "dryRun": BOOL,
        "nodeRegistration": NodeRegistrationOptions,
        "caCertPath": STRING,
        "discovery": required(Discovery),
        "controlPlane": JoinControlPlane,
        "skipPhases": ListOf(STRING),
        "patches": Patches,
        "timeouts": Timeouts,
    },
)

KINDS = {
    "InitConfiguration": InitConfiguration,
    "ClusterConfiguration": ClusterConfiguration,
    "JoinConfiguration": JoinConfiguration,
}
