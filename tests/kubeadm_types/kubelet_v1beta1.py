"""kubelet.config.k8s.io/v1beta1: KubeletConfiguration -- every top-level field.

Upstream, two reads:
  * kubernetes/kubelet config/v1beta1/types.go @ c277b99b58e8d6467ceef9ff4311940a58f9c81e
    (a v1.33/v1.34-era tree: imagePullCredentialsVerificationPolicy,
    preloadedImagesVerificationAllowlist, mergeDefaultEvictionSettings, crashLoopBackOff,
    singleProcessOOMKill, userNamespaces, failCgroupV1);
  * kubernetes/kubernetes staging/src/k8s.io/kubelet/config/v1beta1/types.go
    @ 001332b0422071acf4860769f18e34b5e9b7c1bc (a v1.37-era tree: its TypeMeta tag is json:"",
    the change CHANGELOG-1.37 lists under v1.37.0-alpha.1, PR #138260). It adds
    tlsCurvePreferences ([]int32), draManagerReconcilePeriod (Duration) and
    memoryReservationPolicy ("None" | "TieredReservation"); every other field is unchanged.
Which minor first read each of those three is in minors.py (FIELD_SINCE).
The kubelet itself only warns on unknown fields, kubeadm warns too; check_stream(minor=N)
turns "not in this minor" into an error so we never render a field the target ignores.
Embedded types: corev1.py (Taint), componentbase.py (LoggingConfiguration, TracingConfiguration).

Enums are limited to values upstream validation fixes; free-form policy names
(cpuManagerPolicy, memoryManagerPolicy) stay plain strings.
"""

from .componentbase import LoggingConfiguration, TracingConfiguration
from .corev1 import Taint
from .shapes import (
    BOOL,
    DURATION,
    FLOAT,
    INT32,
    INT64,
    QUANTITY,
    STRING,
    Enum,
    ListOf,
    MapOf,
    Struct,
    required,
)

API_VERSION = "kubelet.config.k8s.io/v1beta1"
SOURCE = ("kubernetes/kubelet config/v1beta1/types.go @ c277b99b58e8d6467ceef9ff4311940a58f9c81e; "
          "kubernetes/kubernetes staging/src/k8s.io/kubelet/config/v1beta1/types.go @ 001332b0422071acf4860769f18e34b5e9b7c1bc")

KubeletX509Authentication = Struct("KubeletX509Authentication", {"clientCAFile": STRING})
KubeletWebhookAuthentication = Struct("KubeletWebhookAuthentication", {"enabled": BOOL, "cacheTTL": DURATION})
KubeletAnonymousAuthentication = Struct("KubeletAnonymousAuthentication", {"enabled": BOOL})

KubeletAuthentication = Struct(
    "KubeletAuthentication",
    {
        "x509": KubeletX509Authentication,
        "webhook": KubeletWebhookAuthentication,
        "anonymous": KubeletAnonymousAuthentication,
    },
)

KubeletWebhookAuthorization = Struct(
    "KubeletWebhookAuthorization",
    {"cacheAuthorizedTTL": DURATION, "cacheUnauthorizedTTL": DURATION},
)

KubeletAuthorization = Struct(
    "KubeletAuthorization",
    {
        "mode": Enum("AlwaysAllow", "Webhook"),
        "webhook": KubeletWebhookAuthorization,
    },
)

MemorySwapConfiguration = Struct(
    "MemorySwapConfiguration",
    # "", "NoSwap" (default), "LimitedSwap".  (UnlimitedSwap was removed in v1.30.)
    {"swapBehavior": Enum("", "NoSwap", "LimitedSwap")},
)

CrashLoopBackOffConfig = Struct("CrashLoopBackOffConfig", {"maxContainerRestartPeriod": DURATION})

ShutdownGracePeriodByPodPriority = Struct(
    "ShutdownGracePeriodByPodPriority",
    {"priority": required(INT32), "shutdownGracePeriodSeconds": required(INT64)},
)

MemoryReservation = Struct(
    "MemoryReservation",
    {"numaNode": required(INT32), "limits": required(MapOf(QUANTITY))},  # v1.ResourceList
)

UserNamespaces = Struct("UserNamespaces", {"idsPerPod": INT64})

KubeletConfiguration = Struct(
    "KubeletConfiguration",
    {
        "enableServer": BOOL,
        "staticPodPath": STRING,
        "podLogsDir": STRING,
        "syncFrequency": DURATION,
        "fileCheckFrequency": DURATION,
        "httpCheckFrequency": DURATION,
        "staticPodURL": STRING,
        "staticPodURLHeader": MapOf(ListOf(STRING)),
        "address": STRING,
        "port": INT32,
        "readOnlyPort": INT32,
        "tlsCertFile": STRING,
        "tlsPrivateKeyFile": STRING,
        "tlsCipherSuites": ListOf(STRING),
        "tlsCurvePreferences": ListOf(INT32),  # Go crypto/tls CurveID values
        "tlsMinVersion": STRING,
        "rotateCertificates": BOOL,
        "serverTLSBootstrap": BOOL,
        "authentication": KubeletAuthentication,
        "authorization": KubeletAuthorization,
        "registryPullQPS": INT32,
        "registryBurst": INT32,
        "imagePullCredentialsVerificationPolicy": Enum(
            "NeverVerify", "NeverVerifyPreloadedImages", "NeverVerifyAllowlistedImages", "AlwaysVerify"
        ),
        "preloadedImagesVerificationAllowlist": ListOf(STRING),
        "eventRecordQPS": INT32,
        "eventBurst": INT32,
        "enableDebuggingHandlers": BOOL,
        "enableContentionProfiling": BOOL,
        "healthzPort": INT32,
        "healthzBindAddress": STRING,
        "oomScoreAdj": INT32,
        "clusterDomain": STRING,
        "clusterDNS": ListOf(STRING),
        "streamingConnectionIdleTimeout": DURATION,
        "nodeStatusUpdateFrequency": DURATION,
        "nodeStatusReportFrequency": DURATION,
        "nodeLeaseDurationSeconds": INT32,
        "imageMinimumGCAge": DURATION,
        "imageMaximumGCAge": DURATION,
        "imageGCHighThresholdPercent": INT32,
        "imageGCLowThresholdPercent": INT32,
        "volumeStatsAggPeriod": DURATION,
        "kubeletCgroups": STRING,
        "systemCgroups": STRING,
        "cgroupRoot": STRING,
        "cgroupsPerQOS": BOOL,
        "cgroupDriver": Enum("cgroupfs", "systemd"),
        "cpuManagerPolicy": STRING,
        "singleProcessOOMKill": BOOL,
        "cpuManagerPolicyOptions": MapOf(STRING),
        "cpuManagerReconcilePeriod": DURATION,
        "draManagerReconcilePeriod": DURATION,
        "memoryManagerPolicy": STRING,
        "topologyManagerPolicy": Enum("none", "best-effort", "restricted", "single-numa-node"),
        "topologyManagerScope": Enum("container", "pod"),
        "topologyManagerPolicyOptions": MapOf(STRING),
        "qosReserved": MapOf(STRING),
        "runtimeRequestTimeout": DURATION,
        "hairpinMode": Enum("promiscuous-bridge", "hairpin-veth", "none"),
        "maxPods": INT32,
        "podCIDR": STRING,
        "podPidsLimit": INT64,
        "resolvConf": STRING,  # Go field ResolverConfig *string
        "runOnce": BOOL,
        "cpuCFSQuota": BOOL,
        "cpuCFSQuotaPeriod": DURATION,
        "nodeStatusMaxImages": INT32,
        "maxOpenFiles": INT64,
        "contentType": STRING,
        "kubeAPIQPS": INT32,
        "kubeAPIBurst": INT32,
        "serializeImagePulls": BOOL,
        "maxParallelImagePulls": INT32,
        "evictionHard": MapOf(STRING),
        "evictionSoft": MapOf(STRING),
        "evictionSoftGracePeriod": MapOf(STRING),
        "evictionPressureTransitionPeriod": DURATION,
        "evictionMaxPodGracePeriod": INT32,
        "evictionMinimumReclaim": MapOf(STRING),
        "mergeDefaultEvictionSettings": BOOL,
        "podsPerCore": INT32,
        "enableControllerAttachDetach": BOOL,
        "protectKernelDefaults": BOOL,
        "makeIPTablesUtilChains": BOOL,
        "iptablesMasqueradeBit": INT32,
        "iptablesDropBit": INT32,
        "featureGates": MapOf(BOOL),
        "failSwapOn": BOOL,
        "memorySwap": MemorySwapConfiguration,
        "containerLogMaxSize": STRING,
        "containerLogMaxFiles": INT32,
        "containerLogMaxWorkers": INT32,
        "containerLogMonitorInterval": DURATION,
        "configMapAndSecretChangeDetectionStrategy": Enum("Get", "Cache", "Watch"),
        "systemReserved": MapOf(STRING),
        "kubeReserved": MapOf(STRING),
        "reservedSystemCPUs": STRING,
        "showHiddenMetricsForVersion": STRING,
        "systemReservedCgroup": STRING,
        "kubeReservedCgroup": STRING,
        "enforceNodeAllocatable": ListOf(STRING),
        "allowedUnsafeSysctls": ListOf(STRING),
        "volumePluginDir": STRING,
        "providerID": STRING,
        "kernelMemcgNotification": BOOL,
        "logging": LoggingConfiguration,
        "enableSystemLogHandler": BOOL,
        "enableSystemLogQuery": BOOL,
        "shutdownGracePeriod": DURATION,
        "shutdownGracePeriodCriticalPods": DURATION,
        "shutdownGracePeriodByPodPriority": ListOf(ShutdownGracePeriodByPodPriority),
        "crashLoopBackOff": CrashLoopBackOffConfig,
        "reservedMemory": ListOf(MemoryReservation),
        "enableProfilingHandler": BOOL,
        "enableDebugFlagsHandler": BOOL,
        "seccompDefault": BOOL,
        "memoryThrottlingFactor": FLOAT,
        "memoryReservationPolicy": Enum("None", "TieredReservation"),  # MemoryReservationPolicy
        "registerWithTaints": ListOf(Taint),
        "registerNode": BOOL,
        "tracing": TracingConfiguration,
        "localStorageCapacityIsolation": BOOL,
        # json:"containerRuntimeEndpoint" has no omitempty, but the kubelet defaults it
        # (unix:///run/containerd/containerd.sock), so it is not required.
        "containerRuntimeEndpoint": STRING,
        "imageServiceEndpoint": STRING,
        "failCgroupV1": BOOL,
        "userNamespaces": UserNamespaces,
    },
    unknown_hints={
        "resolverConfig": "the JSON name is 'resolvConf'",
        "swapBehavior": "nest it: memorySwap.swapBehavior",
        "cgroupsDriver": "the field is 'cgroupDriver'",
    },
)

KINDS = {"KubeletConfiguration": KubeletConfiguration}
