"""Tests for tests/kubeadm_types: the upstream-type checker for rendered kubeadm config.

Good documents (hand-written, plus upstream's own v1beta4 example) must pass; known-bad
ones must fail with a message naming the path and what was expected.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kubeadm_types import REGISTRY, SOURCES, check_document, check_stream, parse_go_duration  # noqa: E402
from kubeadm_types import kubeadm_v1beta4  # noqa: E402
from kubeadm_types.shapes import ListOf  # noqa: E402

CA_HASH = "sha256:" + "ab" * 32
TOKEN = "abcdef.0123456789abcdef"
CERT_KEY = "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"


def y(text: str) -> str:
    return textwrap.dedent(text).lstrip()


def one(text: str) -> dict:
    return yaml.safe_load(y(text))


# --------------------------------------------------------------------------- good documents

V1BETA4_CONTROL_PLANE = y(
    f"""
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: InitConfiguration
    bootstrapTokens:
      - token: "{TOKEN}"
        description: "provisioner join token"
        ttl: 2h0m0s
        usages: [signing, authentication]
        groups: ["system:bootstrappers:kubeadm:default-node-token"]
    nodeRegistration:
      name: cp-1
      criSocket: unix:///run/containerd/containerd.sock
      taints:
        - key: node-role.kubernetes.io/control-plane
          effect: NoSchedule
      kubeletExtraArgs:
        - name: node-ip
          value: 10.0.0.11
        - name: v
          value: "2"
      ignorePreflightErrors: [Swap]
      imagePullPolicy: IfNotPresent
      imagePullSerial: false
    localAPIEndpoint:
      advertiseAddress: 10.0.0.11
      bindPort: 6443
    certificateKey: "{CERT_KEY}"
    skipPhases: [addon/kube-proxy]
    patches:
      directory: /etc/provisioner/patches
    timeouts:
      controlPlaneComponentHealthCheck: 4m0s
      kubeletHealthCheck: 4m
      kubernetesAPICall: 1m0s
      etcdAPICall: 2m
      tlsBootstrap: 5m
      discovery: 5m0s
    ---
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: ClusterConfiguration
    clusterName: lab
    kubernetesVersion: v1.31.2
    controlPlaneEndpoint: api.lab.example:6443
    certificatesDir: /etc/kubernetes/pki
    imageRepository: registry.k8s.io
    encryptionAlgorithm: ECDSA-P256
    certificateValidityPeriod: 8760h0m0s
    caCertificateValidityPeriod: 87600h
    featureGates:
      ControlPlaneKubeletLocalMode: true
    networking:
      podSubnet: 10.244.0.0/16
      serviceSubnet: 10.96.0.0/12
      dnsDomain: cluster.local
    etcd:
      local:
        dataDir: /var/lib/etcd
        extraArgs:
          - name: listen-metrics-urls
            value: http://0.0.0.0:2381
        extraEnvs:
          - name: GOMAXPROCS
            value: "2"
        serverCertSANs: [cp-1, 10.0.0.11]
        peerCertSANs: [10.0.0.11]
    apiServer:
      certSANs: [api.lab.example, 10.0.0.10]
      extraArgs:
        - name: audit-log-path
          value: /var/log/kubernetes/audit.log
        - name: admission-control-config-file
          value: /etc/kubernetes/admission.yaml
      extraVolumes:
        - name: audit
          hostPath: /var/log/kubernetes
          mountPath: /var/log/kubernetes
          pathType: DirectoryOrCreate
        - name: admission
          hostPath: /etc/kubernetes/admission.yaml
          mountPath: /etc/kubernetes/admission.yaml
          readOnly: true
          pathType: File
      extraEnvs:
        - name: HTTPS_PROXY
          value: ""
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
    controllerManager:
      extraArgs:
        - name: bind-address
          value: 0.0.0.0
    scheduler:
      extraArgs:
        - name: bind-address
          value: 0.0.0.0
    dns:
      imageRepository: registry.k8s.io/coredns
      imageTag: v1.11.3
      disabled: false
    proxy:
      disabled: false
    ---
    apiVersion: kubelet.config.k8s.io/v1beta1
    kind: KubeletConfiguration
    cgroupDriver: systemd
    clusterDNS: [10.96.0.10]
    clusterDomain: cluster.local
    failSwapOn: false
    memorySwap:
      swapBehavior: LimitedSwap
    authentication:
      anonymous:
        enabled: false
      webhook:
        enabled: true
        cacheTTL: 2m0s
      x509:
        clientCAFile: /etc/kubernetes/pki/ca.crt
    authorization:
      mode: Webhook
      webhook:
        cacheAuthorizedTTL: 5m0s
        cacheUnauthorizedTTL: 30s
    rotateCertificates: true
    serverTLSBootstrap: true
    resolvConf: /run/systemd/resolve/resolv.conf
    staticPodPath: /etc/kubernetes/manifests
    containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
    maxPods: 110
    podPidsLimit: 4096
    evictionHard:
      memory.available: 100Mi
      nodefs.available: "10%"
    systemReserved:
      cpu: 500m
      memory: 512Mi
    kubeReserved:
      cpu: 250m
    shutdownGracePeriod: 30s
    shutdownGracePeriodCriticalPods: 10s
    tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
    tlsMinVersion: VersionTLS12
    featureGates:
      NodeSwap: true
    logging:
      format: json
      flushFrequency: 5s
      verbosity: 2
      options:
        json:
          infoBufferSize: "0"
    memoryThrottlingFactor: 0.9
    registerWithTaints:
      - key: example.com/dedicated
        value: infra
        effect: NoExecute
    reservedMemory:
      - numaNode: 0
        limits:
          memory: 1Gi
    ---
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: ipvs
    clusterCIDR: 10.244.0.0/16
    bindAddress: 0.0.0.0
    metricsBindAddress: 0.0.0.0:10249
    nodePortAddresses: [primary]
    clientConnection:
      kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
      qps: 5
      burst: 10
    ipvs:
      scheduler: rr
      strictARP: true
      syncPeriod: 30s
      minSyncPeriod: 0s
      excludeCIDRs: []
    iptables:
      masqueradeAll: false
      masqueradeBit: 14
      syncPeriod: 30s
      minSyncPeriod: 1s
    conntrack:
      maxPerCore: 32768
      min: 131072
      tcpEstablishedTimeout: 24h0m0s
      tcpCloseWaitTimeout: 1h0m0s
    detectLocalMode: ClusterCIDR
    featureGates: {{}}
    """
)

V1BETA4_JOIN_CONTROL_PLANE = y(
    f"""
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: JoinConfiguration
    nodeRegistration:
      name: cp-2
      criSocket: unix:///run/containerd/containerd.sock
      kubeletExtraArgs:
        - name: node-ip
          value: 10.0.0.12
    discovery:
      bootstrapToken:
        apiServerEndpoint: api.lab.example:6443
        token: "{TOKEN}"
        caCertHashes: ["{CA_HASH}"]
      tlsBootstrapToken: "{TOKEN}"
    controlPlane:
      localAPIEndpoint:
        advertiseAddress: 10.0.0.12
        bindPort: 6443
      certificateKey: "{CERT_KEY}"
    timeouts:
      discovery: 5m0s
      tlsBootstrap: 5m0s
      controlPlaneComponentHealthCheck: 4m0s
    """
)

V1BETA4_JOIN_WORKER_FILE_DISCOVERY = y(
    """
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: JoinConfiguration
    nodeRegistration:
      name: worker-1
      taints: []
    caCertPath: /etc/kubernetes/pki/ca.crt
    discovery:
      file:
        kubeConfigPath: /etc/kubernetes/discovery.conf
    """
)

# Upstream's own "fully populated example" from cmd/kubeadm/app/apis/kubeadm/v1beta4/doc.go
# @ bbf0c2eeeaee8a82c7d2a29e070138c4453d0a17, transcribed (comments dropped).
UPSTREAM_V1BETA4_DOC_EXAMPLE = y(
    """
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: InitConfiguration
    bootstrapTokens:
    - token: "9a08jv.c0izixklcxtmnze7"
      description: "kubeadm bootstrap token"
      ttl: "24h"
    - token: "783bde.3f89s0fje9f38fhf"
      description: "another bootstrap token"
      usages:
      - authentication
      - signing
      groups:
      - system:bootstrappers:kubeadm:default-node-token
    nodeRegistration:
      name: "ec2-10-100-0-1"
      criSocket: "unix:///var/run/containerd/containerd.sock"
      taints:
      - key: "kubeadmNode"
        value: "someValue"
        effect: "NoSchedule"
      kubeletExtraArgs:
      - name: "v"
        value: "5"
      ignorePreflightErrors:
      - IsPrivilegedUser
      imagePullPolicy: "IfNotPresent"
      imagePullSerial: true
    localAPIEndpoint:
      advertiseAddress: "10.100.0.1"
      bindPort: 6443
    certificateKey: "e6a2eb8581237ab72a4f494f30285ec12a9694d750b9785706a83bfcbbbd2204"
    skipPhases:
    - preflight
    timeouts:
      controlPlaneComponentHealthCheck: "60s"
      kubernetesAPICall: "40s"
    ---
    apiVersion: kubeadm.k8s.io/v1beta4
    kind: ClusterConfiguration
    etcd:
      local:
        imageRepository: "registry.k8s.io"
        imageTag: "3.2.24"
        dataDir: "/var/lib/etcd"
        extraArgs:
        - name: "listen-client-urls"
          value: "http://10.100.0.1:2379"
        extraEnvs:
        - name: "SOME_VAR"
          value: "SOME_VALUE"
        serverCertSANs:
        - "ec2-10-100-0-1.compute-1.amazonaws.com"
        peerCertSANs:
        - "10.100.0.1"
    networking:
      serviceSubnet: "10.96.0.0/16"
      podSubnet: "10.244.0.0/24"
      dnsDomain: "cluster.local"
    kubernetesVersion: "v1.21.0"
    controlPlaneEndpoint: "10.100.0.1:6443"
    apiServer:
      extraArgs:
      - name: "authorization-mode"
        value: "Node,RBAC"
      extraEnvs:
      - name: "SOME_VAR"
        value: "SOME_VALUE"
      extraVolumes:
      - name: "some-volume"
        hostPath: "/etc/some-path"
        mountPath: "/etc/some-pod-path"
        readOnly: false
        pathType: File
      certSANs:
      - "10.100.1.1"
      - "ec2-10-100-0-1.compute-1.amazonaws.com"
    controllerManager:
      extraArgs:
      - name: "node-cidr-mask-size"
        value: "20"
      extraVolumes:
      - name: "some-volume"
        hostPath: "/etc/some-path"
        mountPath: "/etc/some-pod-path"
        readOnly: false
        pathType: File
    scheduler:
      extraArgs:
      - name: "address"
        value: "10.100.0.1"
      extraVolumes:
      - name: "some-volume"
        hostPath: "/etc/some-path"
        mountPath: "/etc/some-pod-path"
        readOnly: false
        pathType: File
    certificatesDir: "/etc/kubernetes/pki"
    imageRepository: "registry.k8s.io"
    clusterName: "example-cluster"
    encryptionAlgorithm: "ECDSA-P256"
    dns:
      disabled: true
    proxy:
      disabled: true
    ---
    apiVersion: kubelet.config.k8s.io/v1beta1
    kind: KubeletConfiguration
    ---
    apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    """
)


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(V1BETA4_CONTROL_PLANE, id="v1beta4-init+cluster+kubelet+kubeproxy"),
        pytest.param(V1BETA4_JOIN_CONTROL_PLANE, id="v1beta4-join-control-plane"),
        pytest.param(V1BETA4_JOIN_WORKER_FILE_DISCOVERY, id="v1beta4-join-worker-file-discovery"),
        pytest.param(UPSTREAM_V1BETA4_DOC_EXAMPLE, id="upstream-v1beta4-doc.go-example"),
    ],
)
def test_good_streams_pass(stream):
    assert check_stream(stream) == []


def test_good_documents_pass_one_by_one():
    for doc in yaml.safe_load_all(V1BETA4_CONTROL_PLANE):
        assert check_document(doc) == [], doc["kind"]


def test_registry_covers_every_kind_with_a_named_source():
    assert set(REGISTRY) == {
        ("kubeadm.k8s.io/v1beta4", "InitConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "ClusterConfiguration"),
        ("kubeadm.k8s.io/v1beta4", "JoinConfiguration"),
        ("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
        ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration"),
    }
    for api_version, source in SOURCES.items():
        assert "types.go @ " in source, api_version


# --------------------------------------------------------------------------- the data itself


def test_extra_args_are_lists_of_name_value_in_v1beta4():
    b4 = kubeadm_v1beta4
    for struct in (b4.ControlPlaneComponent, b4.APIServer, b4.LocalEtcd):
        shape = struct.fields["extraArgs"].shape
        assert isinstance(shape, ListOf) and shape.item is b4.Arg
    assert b4.NodeRegistrationOptions.fields["kubeletExtraArgs"].shape.item is b4.Arg
    assert b4.Arg.field_names() == ["name", "value"]


def test_timeouts_moved_in_v1beta4():
    b4 = kubeadm_v1beta4
    assert "timeoutForControlPlane" not in b4.APIServer.fields
    assert "timeout" not in b4.Discovery.fields
    assert b4.InitConfiguration.fields["timeouts"].shape is b4.Timeouts
    assert b4.JoinConfiguration.fields["timeouts"].shape is b4.Timeouts
    assert set(b4.Timeouts.fields) == {
        "controlPlaneComponentHealthCheck",
        "kubeletHealthCheck",
        "kubernetesAPICall",
        "etcdAPICall",
        "tlsBootstrap",
        "discovery",
        "upgradeManifests",
    }


def test_v1beta4_only_cluster_fields():
    for name in ("encryptionAlgorithm", "proxy", "certificateValidityPeriod", "caCertificateValidityPeriod"):
        assert name in kubeadm_v1beta4.ClusterConfiguration.fields


def test_required_fields_recorded():
    for m in (kubeadm_v1beta4,):
        assert m.JoinConfiguration.fields["discovery"].required
        assert m.BootstrapTokenDiscovery.fields["token"].required
        assert m.FileDiscovery.fields["kubeConfigPath"].required
    assert kubeadm_v1beta4.Arg.fields["name"].required


# --------------------------------------------------------------------------- bad documents


def errors_of(text: str) -> list[str]:
    errs = check_document(one(text))
    assert errs, "expected the document to be rejected"
    return errs


def test_v1beta3_style_extra_args_map_in_v1beta4_is_rejected():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        apiServer:
          extraArgs:
            authorization-mode: Node,RBAC
        """
    )
    assert len(errs) == 1
    assert errs[0].startswith(
        "ClusterConfiguration.apiServer.extraArgs: expected list of {name,value} in kubeadm.k8s.io/v1beta4, got mapping"
    )


def test_kubelet_extra_args_map_in_v1beta4_is_rejected():
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        nodeRegistration:
          kubeletExtraArgs:
            node-ip: 10.0.0.12
        discovery:
          bootstrapToken: {{token: "{TOKEN}", caCertHashes: ["{CA_HASH}"]}}
        """
    )
    assert errs == [
        "JoinConfiguration.nodeRegistration.kubeletExtraArgs: expected list of {name,value} in "
        "kubeadm.k8s.io/v1beta4, got mapping -- v1beta4 takes a list of {name: <flag>, value: <string>}; "
        "the map form is v1beta3"
    ]


def test_arg_value_must_be_a_string():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        controllerManager:
          extraArgs:
            - name: node-cidr-mask-size
              value: 24
            - value: "x"
        """
    )
    assert errs == [
        "ClusterConfiguration.controllerManager.extraArgs[0].value: expected string in kubeadm.k8s.io/v1beta4, got int 24",
        'ClusterConfiguration.controllerManager.extraArgs[1].name: missing required field "name" of Arg in kubeadm.k8s.io/v1beta4',
    ]


def test_unknown_field_is_rejected_with_its_path():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        networking:
          podSubnet: 10.244.0.0/16
          podCIDR: 10.244.0.0/16
        """
    )
    assert errs == [
        'ClusterConfiguration.networking.podCIDR: unknown field "podCIDR" in kubeadm.k8s.io/v1beta4 Networking'
    ]


def test_unknown_top_level_field_and_wrong_case():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        metadata: {name: x}
        apiserver: {}
        """
    )
    assert 'ClusterConfiguration.metadata: unknown field "metadata" in kubeadm.k8s.io/v1beta4 ClusterConfiguration' in errs
    assert any(e.startswith("ClusterConfiguration.apiserver: unknown field") and 'did you mean "apiServer"' in e for e in errs)


def test_field_that_moved_between_versions_explains_where():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        apiServer:
          timeoutForControlPlane: 4m0s
        """
    )
    assert errs[0].startswith('ClusterConfiguration.apiServer.timeoutForControlPlane: unknown field "timeoutForControlPlane"')
    assert "timeouts.controlPlaneComponentHealthCheck" in errs[0]


@pytest.mark.parametrize(
    "snippet, path, expected",
    [
        ("localAPIEndpoint: {bindPort: '6443'}", "InitConfiguration.localAPIEndpoint.bindPort", 'expected int (int32) in kubeadm.k8s.io/v1beta4, got string "6443"'),
        ("localAPIEndpoint: {bindPort: 6443.0}", "InitConfiguration.localAPIEndpoint.bindPort", "expected int (int32) in kubeadm.k8s.io/v1beta4, got float 6443.0"),
        ("localAPIEndpoint: {bindPort: 99999999999}", "InitConfiguration.localAPIEndpoint.bindPort", "out of range for int32"),
        ("dryRun: 'true'", "InitConfiguration.dryRun", 'expected bool in kubeadm.k8s.io/v1beta4, got string "true"'),
        ("skipPhases: preflight", "InitConfiguration.skipPhases", 'expected list of string in kubeadm.k8s.io/v1beta4, got string "preflight"'),
        ("nodeRegistration: [cp-1]", "InitConfiguration.nodeRegistration", "expected NodeRegistrationOptions (mapping) in kubeadm.k8s.io/v1beta4, got list"),
        ("nodeRegistration: {taints: [{key: a, effect: NoScheduled}]}", "InitConfiguration.nodeRegistration.taints[0].effect", 'expected one of ["NoSchedule", "PreferNoSchedule", "NoExecute"]'),
        ("nodeRegistration: {imagePullPolicy: always}", "InitConfiguration.nodeRegistration.imagePullPolicy", 'got string "always"'),
        ("certificateKey: 12345", "InitConfiguration.certificateKey", "expected string in kubeadm.k8s.io/v1beta4, got int 12345"),
    ],
)
def test_wrong_types_are_rejected(snippet, path, expected):
    errs = check_document(one("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n" + snippet))
    assert len(errs) == 1, errs
    assert errs[0].startswith(path + ": "), errs
    assert expected in errs[0]


def test_missing_discovery_is_rejected():
    for version in ("v1beta4",):
        errs = errors_of(
            f"""
            apiVersion: kubeadm.k8s.io/{version}
            kind: JoinConfiguration
            nodeRegistration: {{name: worker-1}}
            """
        )
        assert errs == [
            f'JoinConfiguration.discovery: missing required field "discovery" of JoinConfiguration in kubeadm.k8s.io/{version}'
        ]


def test_discovery_needs_exactly_one_method():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery: {tlsBootstrapToken: abcdef.0123456789abcdef}
        """
    )
    assert errs == [
        'JoinConfiguration.discovery: exactly one of "bootstrapToken" or "file" must be set in kubeadm.k8s.io/v1beta4 Discovery (got none)'
    ]
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery:
          bootstrapToken: {{token: "{TOKEN}", caCertHashes: ["{CA_HASH}"]}}
          file: {{kubeConfigPath: /etc/kubernetes/discovery.conf}}
        """
    )
    assert "exactly one of" in errs[0] and "got bootstrapToken, file" in errs[0]


def test_token_discovery_requires_ca_pinning_and_never_skips_it():
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery:
          bootstrapToken:
            token: "{TOKEN}"
            apiServerEndpoint: api.lab.example:6443
            unsafeSkipCAVerification: true
        """
    )
    assert errs == [
        "JoinConfiguration.discovery.bootstrapToken.unsafeSkipCAVerification: must not be true "
        "(policy: token discovery must pin the cluster CA via caCertHashes)",
        "JoinConfiguration.discovery.bootstrapToken.caCertHashes: must be a non-empty list (upstream requires it "
        "unless unsafeSkipCAVerification, which our policy never allows)",
    ]
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery:
          bootstrapToken: {{token: "{TOKEN}", caCertHashes: []}}
        """
    )
    assert errs[0].startswith("JoinConfiguration.discovery.bootstrapToken.caCertHashes: must be a non-empty list")
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery:
          bootstrapToken: {{token: "{TOKEN}", caCertHashes: ["md5:abc"]}}
        """
    )
    assert errs[0].startswith("JoinConfiguration.discovery.bootstrapToken.caCertHashes[0]: expected \"sha256:<64 hex digits>\"")


def test_missing_and_malformed_tokens():
    errs = errors_of(
        f"""
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: JoinConfiguration
        discovery:
          bootstrapToken: {{apiServerEndpoint: "api:6443", caCertHashes: ["{CA_HASH}"]}}
        """
    )
    assert errs == [
        'JoinConfiguration.discovery.bootstrapToken.token: missing required field "token" of BootstrapTokenDiscovery in kubeadm.k8s.io/v1beta4'
    ]
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: InitConfiguration
        bootstrapTokens:
          - token: ABCDEF.0123456789abcdef
            ttl: 24h
            expires: 2030-01-01T00:00:00Z
        """
    )
    assert errs[0].startswith("InitConfiguration.bootstrapTokens[0].token: expected bootstrap token string")
    assert errs[1] == 'InitConfiguration.bootstrapTokens[0]: "ttl" and "expires" are mutually exclusive in kubeadm.k8s.io/v1beta4 BootstrapToken'


@pytest.mark.parametrize(
    "value, detail",
    [
        ("4 minutes", 'time: unknown unit " minutes" in duration "4 minutes"'),
        ("240", 'time: missing unit in duration "240"'),
        ("4mins", 'time: unknown unit "mins" in duration "4mins"'),
        ("", 'time: invalid duration ""'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
    ],
)
def test_bad_duration_is_rejected(value, detail):
    doc = one(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: InitConfiguration
        timeouts: {}
        """
    )
    doc["timeouts"]["controlPlaneComponentHealthCheck"] = value
    assert check_document(doc) == [
        "InitConfiguration.timeouts.controlPlaneComponentHealthCheck: expected duration "
        '(Go duration string like "4m0s", "30s", "1h") in kubeadm.k8s.io/v1beta4, '
        f'got string "{value}" ({detail})'
    ]


def test_duration_written_as_a_bare_number_is_rejected():
    errs = errors_of(
        """
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        shutdownGracePeriod: 30
        authentication:
          webhook:
            cacheTTL: 120
        """
    )
    assert errs == [
        'KubeletConfiguration.shutdownGracePeriod: expected duration (Go duration string like "4m0s", "30s", "1h") '
        "in kubelet.config.k8s.io/v1beta1, got int 30",
        'KubeletConfiguration.authentication.webhook.cacheTTL: expected duration (Go duration string like "4m0s", '
        '"30s", "1h") in kubelet.config.k8s.io/v1beta1, got int 120',
    ]


@pytest.mark.parametrize(
    "text, nanos",
    [("4m0s", 240 * 10**9), ("30s", 30 * 10**9), ("1h", 3600 * 10**9), ("1h30m", 5400 * 10**9),
     ("1.5h", 5400 * 10**9), ("500ms", 5 * 10**8), ("0", 0), ("0s", 0), ("-1m", -60 * 10**9),
     ("2h45m0.5s", (2 * 3600 + 45 * 60) * 10**9 + 5 * 10**8), ("10us", 10**4), ("10\u00b5s", 10**4)],
)
def test_go_duration_parser_accepts_go_syntax(text, nanos):
    assert parse_go_duration(text) == nanos


@pytest.mark.parametrize("text", ["", "s", "1", "1.5", "1 h", "1H", ".s", "h1", "1h-1m", "1e3s"])
def test_go_duration_parser_rejects_non_go_syntax(text):
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_unknown_kind_and_apiversion_are_rejected():
    assert check_document(one("apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\n")) == [
        'ResetConfiguration: unknown kind "ResetConfiguration" in kubeadm.k8s.io/v1beta4; '
        "known: ClusterConfiguration, InitConfiguration, JoinConfiguration"
    ]

    errs = check_document(one("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n"))
    assert errs == ["ClusterConfiguration.apiVersion: kubeadm.k8s.io/v1beta2 is not supported (removed in kubeadm v1.27)"]

    errs = check_document(one("apiVersion: kubeadm.k8s.io/v1beta5\nkind: ClusterConfiguration\n"))
    assert len(errs) == 1 and "unknown apiVersion" in errs[0] and "kubeadm.k8s.io/v1beta4" in errs[0]

    errs = check_document(one("apiVersion: v1\nkind: ConfigMap\n"))
    assert len(errs) == 1 and "unknown apiVersion/kind v1/ConfigMap" in errs[0]

    assert check_document(one("kind: ClusterConfiguration\n")) == [
        "ClusterConfiguration.apiVersion: missing or not a string"
    ]
    assert check_document(["not", "a", "mapping"])[0].startswith("document: expected a mapping")


def test_null_values_are_reported_unless_allowed():
    doc = one(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        controlPlaneEndpoint:
        """
    )
    errs = check_document(doc)
    assert len(errs) == 1 and errs[0].startswith("ClusterConfiguration.controlPlaneEndpoint: null value")
    assert check_document(doc, allow_null=True) == []


def test_etcd_local_and_external_are_exclusive_and_external_needs_endpoints():
    errs = errors_of(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        etcd:
          local: {dataDir: /var/lib/etcd}
          external: {caFile: /ca.crt}
        """
    )
    assert errs == [
        'ClusterConfiguration.etcd.external.endpoints: missing required field "endpoints" of ExternalEtcd in kubeadm.k8s.io/v1beta4',
        'ClusterConfiguration.etcd: "local" and "external" are mutually exclusive in kubeadm.k8s.io/v1beta4 Etcd',
    ]


def test_kubelet_and_kubeproxy_bad_values():
    errs = errors_of(
        """
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        cgroupDriver: SystemD
        clusterDNS: 10.96.0.10
        failSwapOn: "false"
        swapBehavior: LimitedSwap
        systemReserved: {cpu: 1}
        """
    )
    assert errs == [
        'KubeletConfiguration.cgroupDriver: expected one of ["cgroupfs", "systemd"] in kubelet.config.k8s.io/v1beta1, got string "SystemD"',
        'KubeletConfiguration.clusterDNS: expected list of string in kubelet.config.k8s.io/v1beta1, got string "10.96.0.10"',
        'KubeletConfiguration.failSwapOn: expected bool in kubelet.config.k8s.io/v1beta1, got string "false"',
        'KubeletConfiguration.swapBehavior: unknown field "swapBehavior" in kubelet.config.k8s.io/v1beta1 KubeletConfiguration -- nest it: memorySwap.swapBehavior',
        "KubeletConfiguration.systemReserved[cpu]: expected string in kubelet.config.k8s.io/v1beta1, got int 1",
    ]
    errs = errors_of(
        """
        apiVersion: kubeproxy.config.k8s.io/v1alpha1
        kind: KubeProxyConfiguration
        mode: IPVS
        ipvs: {strictArp: true}
        conntrack: {maxPerCore: "0"}
        """
    )
    assert errs[0].startswith("KubeProxyConfiguration.mode: expected one of [")
    assert errs[1].startswith('KubeProxyConfiguration.ipvs.strictArp: unknown field "strictArp"') and 'did you mean "strictARP"' in errs[1]
    assert errs[2] == 'KubeProxyConfiguration.conntrack.maxPerCore: expected int (int32) in kubeproxy.config.k8s.io/v1alpha1, got string "0"'


# --------------------------------------------------------------------------- streams


def test_stream_reports_document_numbers():
    stream = V1BETA4_JOIN_CONTROL_PLANE + "---\n" + y(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        apiServer:
          extraArgs: {audit-log-path: /var/log/audit.log}
        """
    )
    errs = check_stream(stream)
    assert len(errs) == 1
    assert errs[0].startswith("document 2: ClusterConfiguration.apiServer.extraArgs: expected list of {name,value}")


def test_stream_rejects_duplicate_keys_and_duplicate_kinds():
    errs = check_stream(
        y(
            """
            apiVersion: kubeadm.k8s.io/v1beta4
            kind: ClusterConfiguration
            clusterName: a
            clusterName: b
            """
        )
    )
    assert len(errs) == 1 and errs[0].startswith("YAML:") and "duplicate key 'clusterName'" in errs[0]

    doc = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
    errs = check_stream(doc + "---\n" + doc)
    assert errs == ["document 2: ClusterConfiguration (kubeadm.k8s.io/v1beta4) is specified twice in the stream (first in document 1)"]


def test_stream_edge_cases():
    assert check_stream("---\n---\n") == ["stream: no documents"]
    assert check_stream("a: [unclosed\n")[0].startswith("YAML:")
    # Empty documents between real ones are skipped, like kubeadm does.
    assert check_stream("---\n" + V1BETA4_JOIN_WORKER_FILE_DISCOVERY + "---\n") == []


# --------------------------------------------------------------------------- per-minor data (minors.py)

def test_v1beta3_is_refused_the_product_renders_v1beta4_only():
    """kubeadm 1.37 removed kubeadm.k8s.io/v1beta3 (CHANGELOG-1.37, PR #136016) and the product renders v1beta4 for
    every minor (provisioner/versions.py kubeadm_api_version): a v1beta3 document is refused, whatever the minor."""
    for minor in (None, 33, 37):
        errs = check_document(one("apiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"), minor=minor)
        assert errs == ["InitConfiguration.apiVersion: kubeadm.k8s.io/v1beta3 is not supported (removed in kubeadm "
                        "1.37, PR #136016; provisioner renders kubeadm.k8s.io/v1beta4)"], errs


def test_v1beta4_is_read_by_every_accepted_minor():
    for minor in (33, 34, 35, 36, 37):
        assert check_stream(V1BETA4_CONTROL_PLANE, minor=minor) == [], minor


def test_kubelet_fields_of_the_1_37_tree_are_refused_for_older_minors():
    """tlsCurvePreferences, draManagerReconcilePeriod and memoryReservationPolicy appear in the
    v1.37-era staging types.go (@ 001332b0) and not in the v1.33/1.34-era one (@ c277b99)."""
    doc = one(
        """
        apiVersion: kubelet.config.k8s.io/v1beta1
        kind: KubeletConfiguration
        tlsCurvePreferences: [23, 29]
        draManagerReconcilePeriod: 60s
        memoryReservationPolicy: TieredReservation
        """
    )
    assert check_document(doc) == []
    assert check_document(doc, minor=37) == []
    errs = check_document(doc, minor=35)
    assert len(errs) == 3 and all("in Kubernetes 1.35 (read from 1.37 on)" in e for e in errs), errs
    bad = dict(doc, memoryReservationPolicy="Tiered")
    assert any("memoryReservationPolicy" in e and "TieredReservation" in e for e in check_document(bad))


def test_ecdsa_p384_needs_kubeadm_1_34():
    doc = one(
        """
        apiVersion: kubeadm.k8s.io/v1beta4
        kind: ClusterConfiguration
        encryptionAlgorithm: ECDSA-P384
        """
    )
    assert check_document(doc, minor=34) == []
    (err,) = check_document(doc, minor=33)
    assert err == "ClusterConfiguration.encryptionAlgorithm: 'ECDSA-P384' is accepted from Kubernetes 1.34 on, not by 1.33"


def test_a_minor_outside_the_table_is_an_error():
    (err,) = check_document(one(V1BETA4_CONTROL_PLANE.split("---")[0]), minor=32)
    assert "Kubernetes 1.32 is not a minor we check" in err
