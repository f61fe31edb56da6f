"""Stand-in kubeadm: init, join, reset, token, upload-certs, version - for tests only.

Reads the same configuration files as the real kubeadm, prints the same
progress lines and errors, writes the same files (certificates are real
X.509, signed by the cluster CA; keys are ECDSA P-256), and starts a
stand-in API server instead of static pods.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

TRACE_HINT = "To see the stack trace of this error execute with --v=5 or higher"
PKI = "/etc/kubernetes/pki"
MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_DIR = "/var/lib/kubelet"
STATE_FILE = "/var/lib/etcd/standin/state.json"
APISERVER_UNIT = "/etc/systemd/system/standin-apiserver.service"
APISERVER_PIDFILE = "/run/standin-apiserver.pid"
FAIL_NEXT_JOIN = "/etc/standins/fail-next-join"
PAUSE_FILE = "/etc/standins/kubeadm-pause"
PAUSED_FILE = "/run/standins/kubeadm-paused"
ADMIN_ORG = "kubeadm:cluster-admins" if KUBE_MINOR >= 29 else "system:masters"
DEFAULT_TOKEN_GROUP = "system:bootstrappers:kubeadm:default-node-token"
CP_LABELS = {"node-role.kubernetes.io/control-plane": "",
             "node.kubernetes.io/exclude-from-external-load-balancers": ""}
CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
UPLOADED = {"ca.crt": "ca.crt", "ca.key": "ca.key", "sa.key": "sa.key", "sa.pub": "sa.pub",
            "front-proxy-ca.crt": "front-proxy-ca.crt", "front-proxy-ca.key": "front-proxy-ca.key",
            "etcd-ca.crt": "etcd/ca.crt", "etcd-ca.key": "etcd/ca.key"}
KNOWN_FIELDS = {
    "InitConfiguration": {"apiVersion", "kind", "bootstrapTokens", "nodeRegistration", "localAPIEndpoint",
                          "certificateKey", "skipPhases", "patches", "dryRun", "timeouts"},
    "ClusterConfiguration": {"apiVersion", "kind", "etcd", "networking", "kubernetesVersion",
                             "controlPlaneEndpoint", "apiServer", "controllerManager", "scheduler", "dns", "proxy",
                             "certificatesDir", "imageRepository", "featureGates", "clusterName",
                             "encryptionAlgorithm", "certificateValidityPeriod", "caCertificateValidityPeriod"},
    "JoinConfiguration": {"apiVersion", "kind", "nodeRegistration", "caCertPath", "discovery", "controlPlane",
                          "skipPhases", "patches", "dryRun", "timeouts"},
    "ResetConfiguration": {"apiVersion", "kind", "cleanupTmpDir", "certificatesDir", "criSocket", "dryRun",
                           "force", "ignorePreflightErrors", "skipPhases", "unmountFlags"},
}
GLOBAL = {"v": "int", "log-file": "str", "rootfs": "str", "skip-log-headers": "bool", "add-dir-header": "bool",
          "log-flush-frequency": "str", "skip-headers": "bool", "logtostderr": "bool", "alsologtostderr": "bool",
          "one-output": "bool", "help": "bool"}
SHORT = {"v": "v", "h": "help"}


class PhaseError(Fatal):
    def __init__(self, phase: str, message: str):
        super().__init__(f"error execution phase {phase}: {message}")


def note(text: str) -> None:
    CALL["note"] = text


# ------------------------------------------------------------------ helpers

def versions_for(kv: str) -> dict:
    return {"kube": kv, "pause": STANDIN_BUILD["pause_version"], "etcd": STANDIN_BUILD["etcd_version"],
            "coredns": STANDIN_BUILD["coredns_version"]}


KUBE_PROXY_KEY = "apps/DaemonSet/kube-system/kube-proxy"


def kube_proxy_daemonset(repo: str, version: str, now: float) -> dict:
    """The kube-proxy DaemonSet the addon/kube-proxy phase creates, as the API server stores it (the stand-in's
    object record): cmd/kubeadm/app/phases/addons/proxy/manifests.go KubeProxyDaemonSet19 - kubectl drain
    looks it up for the kube-proxy pod's controller (k8s.io/kubectl pkg/drain/filters.go daemonSetFilter)."""
    labels = {"k8s-app": "kube-proxy"}
    obj = {"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": labels},
           "spec": {"selector": {"matchLabels": labels}, "updateStrategy": {"type": "RollingUpdate"},
                    "template": {"metadata": {"labels": labels}, "spec": {
                        "priorityClassName": "system-node-critical", "hostNetwork": True,
                        "serviceAccountName": "kube-proxy", "nodeSelector": {"kubernetes.io/os": "linux"},
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "kube-proxy", "image": f"{repo}/kube-proxy:v{version.lstrip('v')}",
                                        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf",
                                                    "--hostname-override=$(NODE_NAME)"]}]}}}}
    return {"kind": "DaemonSet", "group": "apps", "apiVersion": "apps/v1", "namespace": "kube-system",
            "name": "kube-proxy", "hash": hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest(),
            "created": now, "updated": now, "object": obj,
            "containers": [{"name": "kube-proxy", "image": f"{repo}/kube-proxy:v{version.lstrip('v')}",
                            "command": obj["spec"]["template"]["spec"]["containers"][0]["command"], "args": []}]}


def image_list(repo: str, kv: str) -> list:
    v = versions_for(kv)
    coredns = f"{repo}/coredns/coredns:{v['coredns']}" if repo == "registry.k8s.io" else f"{repo}/coredns:{v['coredns']}"
    return [f"{repo}/kube-apiserver:v{kv}", f"{repo}/kube-controller-manager:v{kv}",
            f"{repo}/kube-scheduler:v{kv}", f"{repo}/kube-proxy:v{kv}", coredns,
            f"{repo}/pause:{v['pause']}", f"{repo}/etcd:{v['etcd']}"]


def default_ip(target: str = "8.8.8.8") -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((target, 53))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def extra_args(nr: dict, api_version: str, where: str) -> dict:
    """nodeRegistration.kubeletExtraArgs: a map in v1beta3, a list of {name, value} in v1beta4."""
    raw = nr.get("kubeletExtraArgs")
    if raw is None:
        return {}
    if api_version.endswith("v1beta3"):
        if not isinstance(raw, dict):
            raise Fatal("json: cannot unmarshal array into Go struct field NodeRegistrationOptions."
                        "nodeRegistration.kubeletExtraArgs of type map[string]string")
        return {str(k): str(v) for k, v in raw.items()}
    if not isinstance(raw, list):
        raise Fatal("json: cannot unmarshal object into Go struct field NodeRegistrationOptions."
                    "nodeRegistration.kubeletExtraArgs of type []v1beta4.Arg")
    return {str(a.get("name")): str(a.get("value")) for a in raw}


def load_config(path: str) -> dict:
    """{kind: document} from a kubeadm --config file; errors worded like kubeadm's."""
    try:
        text = read_input(path)
    except FileNotFoundError:
        raise Fatal(f'unable to read config from "{path}" : open {path}: no such file or directory') from None
    except PermissionError:
        raise Fatal(f'unable to read config from "{path}" : open {path}: permission denied') from None
    try:
        docs = yaml_load_all(text)
    except YAMLError as exc:
        raise Fatal(f"error converting YAML to JSON: yaml: {exc}") from None
    found: dict = {}
    for d in docs:
        if d is None:
            continue
        if not isinstance(d, dict) or not d.get("apiVersion") or not d.get("kind"):
            raise Fatal("invalid configuration for GroupVersionKind /, Kind=: kind and apiVersion is mandatory "
                        "information that must be specified")
        av, kind = str(d["apiVersion"]), str(d["kind"])
        group, _, ver = av.rpartition("/")
        if group == "kubeadm.k8s.io":
            # validateSupportedVersion (cmd/kubeadm/app/util/config/common.go): removed APIs name the last
            # kubeadm that read them; v1beta3 is deprecated from 1.31 and removed in 1.37 (CHANGELOG-1.37).
            old = {"v1alpha1": "v1.11", "v1alpha2": "v1.12", "v1alpha3": "v1.14", "v1beta1": "v1.15",
                   "v1beta2": "v1.22", **({"v1beta3": "v1.36"} if KUBE_MINOR >= 37 else {})}
            if ver in old:
                raise Fatal(f'your configuration file uses an old API spec: "{av}" (kind: "{kind}"). Please use '
                            f"kubeadm {old[ver]} instead and run 'kubeadm config migrate --old-config old.yaml "
                            f"--new-config new.yaml', which will write the new, similar spec using a newer API "
                            f"version.")
            allowed = {"v1beta3"} if KUBE_MINOR <= 30 else {"v1beta3", "v1beta4"}
            if ver not in allowed or kind not in KNOWN_FIELDS:
                raise Fatal(f'no kind "{kind}" is registered for version "{av}" in scheme '
                            f'"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31"')
            if ver == "v1beta3" and KUBE_MINOR >= 31:
                klog("W", f'your configuration file uses a deprecated API spec: "{av}" (kind: "{kind}"). Please use '
                          f"'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write "
                          f"the new, similar spec using a newer API version.")
            strict_decode(av, kind, d)
        elif (av, kind) in (("kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"),
                            ("kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration")):
            strict_decode(av, kind, d)      # componentconfigs.Scheme is in the same strict check
        else:
            out(f"[config] WARNING: Ignored configuration document with GroupVersionKind {av}, Kind={kind}")
            continue
        if kind in found:
            raise Fatal(f'duplicate {kind} found in the configuration file "{path}"')
        found[kind] = d
    return found


# Flags that may be mixed with --config, for every command and phase alike: isAllowedFlag in
# kubernetes/kubernetes cmd/kubeadm/app/apis/kubeadm/validation/validation.go ("skip-*" too).
# --patches, --certificate-key, --cri-socket, --token... are refused with --config.
MIXABLE_WITH_CONFIG = {"config", "ignore-preflight-errors", "dry-run", "kubeconfig", "node-name", "kubeconfig-dir",
                       "upload-certs", "print-join-command", "rootfs", "v", "log-file"}


def check_mix(given: list, allowed: set | None = None) -> None:
    """ValidateMixedArguments: pflag's Visit walks the set flags in lexicographical order.
    ``allowed`` is ignored: upstream has one list for every command (kept for the callers)."""
    bad = sorted({g for g in given if g not in MIXABLE_WITH_CONFIG and not g.startswith("skip-") and g != "help"})
    if bad:
        raise Fatal(f"can not mix '--config' with arguments {'[' + ' '.join(bad) + ']'}")


# ------------------------------------------------ strict decoding and validation
#
# Field trees of every config kind, generated by build.py from tests/kubeadm_types (transcribed from
# the upstream Go types): {"f": {field: tree}} struct, {"l": tree} list, {"m": tree} map, None scalar.
# Upstream's decoder (cmd/kubeadm/app/util/config/strict/strict.go, VerifyUnmarshalStrict) reports
# unknown and misplaced fields as 'strict decoding error: unknown field "a.b"'. kubeadm init/join
# only WARN about it and drop the field (documentMapToInitConfiguration, strictErrors=false), so
# the setting silently has no effect; the stand-in fails instead, so a product bug cannot pass.

def unknown_fields(value, tree, path: str = "") -> list:
    if not tree or value is None:
        return []
    if "f" in tree and isinstance(value, dict):
        out = []
        for k, v in value.items():
            where = f"{path}.{k}" if path else str(k)
            if k not in tree["f"]:
                out.append(where)
            else:
                out += unknown_fields(v, tree["f"][k], where)
        return out
    if "l" in tree and isinstance(value, list):
        return [u for i, v in enumerate(value) for u in unknown_fields(v, tree["l"], f"{path}[{i}]")]
    if "m" in tree and isinstance(value, dict):
        return [u for k, v in value.items() for u in unknown_fields(v, tree["m"], f"{path}[{k}]")]
    return []


def strict_decode(av: str, kind: str, doc: dict) -> None:
    tree = (STANDIN_BUILD.get("config_schema") or {}).get(f"{av}/{kind}")
    if tree is None:
        return
    doc = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind")}
    bad = unknown_fields(doc, tree)
    if bad:
        group, _, ver = av.rpartition("/")
        raise Fatal(f'error unmarshaling configuration schema.GroupVersionKind{{Group:"{group}", Version:"{ver}", '
                    f'Kind:"{kind}"}}: strict decoding error: ' + ", ".join(f'unknown field "{b}"' for b in bad))


def _invalid(path: str, value, detail: str) -> str:
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    return f"{path}: Invalid value: {shown}: {detail}"


def aggregate(errs: list) -> None:
    """field.ErrorList.ToAggregate().Error(): one message, or [a, b] for several."""
    if errs:
        raise Fatal(errs[0] if len(errs) == 1 else "[" + ", ".join(errs) + "]")


def cri_socket_errors(sock: str, path: str) -> list:
    """ValidateSocketPath (validation.go): a unix:// URL."""
    if not sock:
        return [_invalid(path, sock, "empty CRI socket")]
    scheme = sock.partition("://")[0] if "://" in sock else ""
    if scheme != "unix":
        return [_invalid(path, sock, f'only URL scheme "unix" is supported, got "{scheme}"')]
    return []


def default_cri_scheme(nr: dict) -> None:
    """Dynamic defaulting before validation: a bare path gets unix:// with a warning
    (cmd/kubeadm/app/util/config/common.go, as kubeadm 1.2x+ do)."""
    sock = str(nr.get("criSocket") or "")
    if sock.startswith("/"):
        klog("W", f'Usage of CRI endpoints without URL scheme is deprecated and can cause kubelet errors in the '
                  f'future. Automatically prepending scheme "unix" to the "criSocket" with value "{sock}". '
                  f'Please update your configuration!')
        nr["criSocket"] = "unix://" + sock


def certificate_key_errors(key: str, path: str) -> list:
    """ValidateCertificateKey: hex of an AES-256 key (constants.CertificateKeySize = 32)."""
    if not key:
        return []
    try:
        raw = bytes.fromhex(key) if len(key) % 2 == 0 else None
    except ValueError:
        raw = None
    if raw is None:
        bad = next((i for i, ch in enumerate(key) if ch not in "0123456789abcdefABCDEF"), None)
        detail = (f"encoding/hex: invalid byte: U+{ord(key[bad]):04X} {key[bad]!r}" if bad is not None
                  else "encoding/hex: odd length hex string")
        return [_invalid(path, key, f"certificate key decoding error: {detail}")]
    if len(raw) != 32:
        return [_invalid(path, key, f"invalid certificate key size {len(raw)}, the key must be an AES key of size 32")]
    return []


def api_endpoint_errors(ep: dict, path: str) -> list:
    """ValidateAPIEndpoint: advertiseAddress an IP, bindPort 1-65535."""
    errs = []
    adv = str(ep.get("advertiseAddress") or "")
    try:
        ipaddress.ip_address(adv)
    except ValueError:
        errs.append(_invalid(f"{path}.advertiseAddress", adv, "ip address is not valid"))
    port = ep.get("bindPort", 6443)
    if not isinstance(port, int) or not 0 < port < 65536:
        errs.append(_invalid(f"{path}.bindPort", port, "port number is not valid"))
    return errs


def _arg(args, name: str):
    if isinstance(args, dict):
        return args.get(name)
    for a in args or []:
        if isinstance(a, dict) and a.get("name") == name:
            return a.get("value")
    return None


def _subnets(text: str, path: str, min_addrs: int) -> tuple:
    errs, nets = [], []
    try:
        nets = [ipaddress.ip_network(x.strip(), strict=False) for x in str(text).split(",")]
    except ValueError:
        return [_invalid(path, text, "couldn't parse subnet")], []
    if len(nets) > 2 or (len(nets) == 2 and nets[0].version == nets[1].version):
        errs.append(_invalid(path, text, "expected one (IPv4 or IPv6) CIDR or two CIDRs from each family for "
                                         "dual-stack networking"))
    for n in nets:
        if n.num_addresses < min_addrs:
            errs.append(_invalid(path, str(n), f"subnet with {n.num_addresses} address(es) is too small, the minimum "
                                               f"is {min_addrs}"))
    return errs, nets


def networking_errors(cc: dict) -> list:
    """ValidateNetworking (validation.go): constants MinimumAddressesInServiceSubnet 10,
    MaximumBitsForServiceSubnet 20, MinimumAddressesInPodSubnet 14 (cmd/kubeadm/app/constants/constants.go),
    PodSubnetNodeMaskMaxDiff 16; networking.dnsDomain a DNS-1123 subdomain;
    node mask from controllerManager.extraArgs node-cidr-mask-size-ipv4/6 (default 24/64)."""
    net = cc.get("networking") or {}
    cm_args = (cc.get("controllerManager") or {}).get("extraArgs")
    errs = [_invalid("networking.dnsDomain", str(net.get("dnsDomain", "")), e)
            for e in dns1123_subdomain_errors(str(net.get("dnsDomain", "")))]
    if net.get("serviceSubnet"):
        e, nets = _subnets(net["serviceSubnet"], "networking.serviceSubnet", 10)
        errs += e
        for n in nets:
            if n.max_prefixlen - n.prefixlen > 20:
                errs.append(_invalid("networking.serviceSubnet", str(n),
                                     f"specified service subnet is too large; for {n.max_prefixlen}-bit addresses, "
                                     f"the mask must be >= {n.max_prefixlen - 20}"))
    if net.get("podSubnet"):
        e, nets = _subnets(net["podSubnet"], "networking.podSubnet", 14)
        errs += e
        if str(_arg(cm_args, "allocate-node-cidrs")) != "false":
            for n in nets:
                flag = "node-cidr-mask-size-ipv6" if n.version == 6 else "node-cidr-mask-size-ipv4"
                raw = _arg(cm_args, flag)
                try:
                    node_mask = int(raw) if raw is not None else (64 if n.version == 6 else 24)
                except ValueError:
                    errs.append(_invalid("networking.podSubnet", str(n), f'could not parse the value of the '
                                         f'kube-controller-manager flag {flag} as an integer: strconv.Atoi: parsing '
                                         f'"{raw}": invalid syntax'))
                    continue
                if n.prefixlen > node_mask:
                    errs.append(_invalid("networking.podSubnet", str(n), f"the size of pod subnet with mask "
                                         f"{n.prefixlen} is smaller than the size of node subnet with mask {node_mask}"))
                elif node_mask - n.prefixlen > 16:
                    errs.append(_invalid("networking.podSubnet", str(n), f"pod subnet mask ({n.prefixlen}) and "
                                         f"node-mask ({node_mask}) difference is greater than 16"))
    return errs


BOOTSTRAP_TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")

# k8s.io/apimachinery pkg/util/validation/validation.go: IsDNS1123Subdomain, IsWildcardDNS1123Subdomain.
_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + "(\\." + _DNS1123_LABEL + ")*"
_WILDCARD = "\\*\\." + _DNS1123_SUBDOMAIN


_DNS1123_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                "must start and end with an alphanumeric character", "example.com")
_WILDCARD_MSG = ("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must "
                 "consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character",
                 "*.example.com")


def _pattern_errors(value: str, pattern: str, msg: tuple) -> list:
    """MaxLenError(253) and RegexError(msg, fmt, example), as apimachinery words them."""
    errs = ["must be no more than 253 characters"] if len(value) > 253 else []
    if not re.fullmatch(pattern, value):
        errs.append(f"{msg[0]} (e.g. '{msg[1]}', regex used for validation is '{pattern}')")
    return errs


def dns1123_subdomain_errors(value: str) -> list:
    return _pattern_errors(value, _DNS1123_SUBDOMAIN, _DNS1123_MSG)


def wildcard_subdomain_errors(value: str) -> list:
    return _pattern_errors(value, _WILDCARD, _WILDCARD_MSG)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def go_list(items) -> str:
    """fmt's %#v of a []string, as field.Invalid shows a list value."""
    return "[]string{" + ", ".join(f'"{x}"' for x in items) + "}"


def cert_sans_errors(sans, path: str) -> list:
    """ValidateCertSANs: each an IP, a DNS-1123 subdomain or a wildcard one."""
    errs = []
    for name in sans or []:
        name = str(name)
        e1 = dns1123_subdomain_errors(name)
        e2 = wildcard_subdomain_errors(name) if e1 else []
        if e1 and e2 and not _is_ip(name):
            errs.append(_invalid(path, name, "altname is not a valid IP address, DNS label or a DNS label with "
                                             f"subdomain wildcards: {'; '.join(e1)}; {'; '.join(e2)}"))
    return errs


def host_port_errors(endpoint: str, path: str) -> list:
    """ValidateHostPort -> kubeadmutil.ParseHostPort: host an IP or DNS-1123 subdomain, port 1-65535."""
    if not endpoint:
        return []
    m = re.fullmatch(r"\[([^\]]*)\]:([^:]*)|([^:]*):([^:]*)", endpoint)
    host, port = ((m.group(1), m.group(2)) if m.group(1) is not None else (m.group(3), m.group(4))) if m \
        else (endpoint, "")
    ok = not port or (port.isdigit() and 0 < int(port) < 65536)
    ok = ok and (_is_ip(host) or not dns1123_subdomain_errors(host))
    return [] if ok else [_invalid(path, endpoint, "endpoint is not valid")]


# github.com/distribution/reference regexp.go ReferenceRegexp (domain[:port]/path[:tag][@digest]).
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN = r"(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*" \
          r"[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
REFERENCE_RE = re.compile(rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::[\w][\w.-]{{0,127}})?"
                          r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?")


def image_repository_errors(repo: str, path: str) -> list:
    """ValidateImageRepository: "<repo>/name:tag" must be an image reference."""
    return [] if REFERENCE_RE.fullmatch(f"{repo}/name:tag") else [_invalid(path, repo, "invalid image repository "
                                                                                    "format")]


# k8s.io/cluster-bootstrap token/util/helpers.go ValidateUsages, ValidateBootstrapGroupName.
TOKEN_USAGES = ("signing", "authentication")
BOOTSTRAP_GROUP_RE = re.compile(r"^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$")


def bootstrap_token_errors(i: int, bt: dict) -> list:
    """ValidateBootstrapTokens after SetDefaults_BootstrapToken (usages, groups and a 24h TTL when neither
    ttl nor expires is set), so a token kubeadm would default is never refused here."""
    path = f"bootstrapTokens.{i}"
    errs = []
    tok = str(bt.get("token") or "")
    if tok and not BOOTSTRAP_TOKEN_RE.match(tok):
        errs.append(_invalid(f"{path}.token", tok, "the bootstrap token is invalid"))
    usages = [str(u) for u in (bt.get("usages") or TOKEN_USAGES)]
    groups = [str(g) for g in (bt.get("groups") or [DEFAULT_TOKEN_GROUP])]
    bad = sorted(set(u for u in usages if u not in TOKEN_USAGES))
    if bad:
        errs.append(_invalid(f"{path}.usages", go_list(usages), f"invalid bootstrap token usage string: "
                             f"{','.join(bad)}, valid usage options: {','.join(TOKEN_USAGES)}"))
    if groups and "authentication" not in usages:
        errs.append(_invalid(f"{path}.groups", go_list(groups), 'token groups cannot be specified unless --usages '
                                                               'includes "authentication"'))
    for g in groups:
        if not BOOTSTRAP_GROUP_RE.match(g):
            errs.append(_invalid(f"{path}.groups", go_list(groups), f'bootstrap group "{g}" is invalid (must match '
                                                                   f'{BOOTSTRAP_GROUP_RE.pattern})'))
    if bt.get("ttl") is not None and bt.get("expires") is not None:
        errs.append(_invalid(path, "", "the BootstrapToken .TTL and .Expires fields are mutually exclusive"))
    return errs


def cluster_errors(cc: dict) -> list:
    """ValidateClusterConfiguration's parts beyond networking: apiServer.certSANs, controlPlaneEndpoint,
    imageRepository (and dns/etcd.local's), etcd.local serverCertSANs/peerCertSANs."""
    errs = cert_sans_errors((cc.get("apiServer") or {}).get("certSANs"), "apiServer.certSANs")
    errs += host_port_errors(str(cc.get("controlPlaneEndpoint") or ""), "controlPlaneEndpoint")
    errs += image_repository_errors(str(cc.get("imageRepository") or ""), "imageRepository")
    dns_repo = str((cc.get("dns") or {}).get("imageRepository") or "")
    if dns_repo:
        errs += image_repository_errors(dns_repo, "dns.imageRepository")
    errs += absolute_path_errors(str(cc.get("certificatesDir") or PKI), "certificatesDir")
    return errs + etcd_errors(cc.get("etcd") or {})


def absolute_path_errors(path: str, where: str) -> list:
    """ValidateAbsolutePath (filepath.IsAbs on Linux)."""
    return [] if path.startswith("/") else [_invalid(where, path, "path is not absolute")]


def etcd_errors(etcd: dict) -> list:
    """ValidateEtcd after SetDefaults_Etcd (local with dataDir /var/lib/etcd when neither is set)."""
    local, ext = etcd.get("local"), etcd.get("external")
    if local is not None and ext is not None:
        return [_invalid("etcd", "", ".Etcd.Local and .Etcd.External are mutually exclusive")]
    errs = []
    if ext is None:
        local = local or {}
        errs += absolute_path_errors(str(local.get("dataDir") or "/var/lib/etcd"), "etcd.local.dataDir")
        for key in ("serverCertSANs", "peerCertSANs"):
            errs += cert_sans_errors(local.get(key), f"etcd.local.{key}")
        if local.get("imageRepository"):
            errs += image_repository_errors(str(local["imageRepository"]), "etcd.local.imageRepository")
        return errs
    ca, cert, key = (str(ext.get(k) or "") for k in ("caFile", "certFile", "keyFile"))
    if bool(cert) != bool(key):
        errs.append(_invalid("etcd.external", "", "either both or none of .Etcd.External.CertFile and "
                                                  ".Etcd.External.KeyFile must be set"))
    if cert and key and not ca:
        errs.append(_invalid("etcd.external", "", "setting .Etcd.External.CertFile and .Etcd.External.KeyFile "
                                                  "requires .Etcd.External.CAFile"))
    for url in ext.get("endpoints") or []:
        scheme = urllib.parse.urlsplit(str(url)).scheme
        if (ca or cert or key) and scheme != "https":
            errs.append(_invalid("etcd.external.endpoints", str(url), "the URL must be using the HTTPS scheme"))
        if not scheme:
            errs.append(_invalid("etcd.external.endpoints", str(url), "the URL without scheme is not allowed"))
    for name, value in (("caFile", ca), ("certFile", cert), ("keyFile", key)):
        if value:
            errs += absolute_path_errors(value, f"etcd.external.{name}")
    return errs


def ignore_preflight_errors(ignore: list) -> list:
    """ValidateIgnorePreflightErrors: lowercased set of flag and config values; 'all' alone."""
    names = sorted({str(i).lower() for i in ignore})
    if "all" in names and len(names) > 1:
        aggregate([_invalid("ignore-preflight-errors", ",".join(names), "don't specify individual checks if 'all' "
                                                                         "is used")])
    return names


def node_name_errors(name: str) -> list:
    """ValidateNodeRegistrationOptions: the name (already lowercased by GetHostname's defaulting) a DNS-1123
    subdomain."""
    return [_invalid("nodeRegistration.name", name, e) for e in dns1123_subdomain_errors(name)]


def validate_init(ic: dict, cc: dict, nr: dict, lep: dict) -> None:
    """ValidateInitConfiguration: nodeRegistration, bootstrapTokens, networking, localAPIEndpoint,
    certificateKey (the parts the product sets)."""
    errs = node_name_errors(str(nr.get("name") or ""))
    errs += cri_socket_errors(str(nr.get("criSocket") or ""), "nodeRegistration.criSocket")
    for i, bt in enumerate(ic.get("bootstrapTokens") or []):
        errs += bootstrap_token_errors(i, bt or {})
    errs += networking_errors(cc)
    errs += cluster_errors(cc)
    errs += api_endpoint_errors(lep, "localAPIEndpoint")
    errs += certificate_key_errors(str(ic.get("certificateKey") or ""), "certificateKey")
    aggregate(errs)


def validate_join(jc: dict) -> None:
    """ValidateJoinConfiguration: discovery, nodeRegistration.criSocket, controlPlane, caCertPath."""
    errs = []
    disc = jc.get("discovery") or {}
    bt, fd = disc.get("bootstrapToken"), disc.get("file")
    if bt is None and fd is None:
        errs.append(_invalid("discovery", "", "bootstrapToken or file must be set"))
    if bt is not None and fd is not None:
        errs.append(_invalid("discovery", "", "bootstrapToken and file cannot both be set"))
    if bt is not None:
        if not bt.get("apiServerEndpoint"):
            errs.append("discovery.bootstrapToken: Required value: APIServerEndpoint is not set")
        if not bt.get("caCertHashes") and not bt.get("unsafeSkipCAVerification"):
            errs.append(_invalid("discovery.bootstrapToken.caCertHashes", "", "using token-based discovery without "
                                 "caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm "
                                 "config file or pass --discovery-token-unsafe-skip-ca-verification flag to continue"))
        tok = str(bt.get("token") or "")
        if not BOOTSTRAP_TOKEN_RE.match(tok):
            errs.append(_invalid("discovery.bootstrapToken.token", tok, "the bootstrap token is invalid"))
        ep = str(bt.get("apiServerEndpoint") or "")
        if ep and not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):[0-9A-Za-z-]*", ep):
            errs.append(_invalid("discovery.bootstrapToken.apiServerEndpoint", ep,
                                 f"address {ep}: missing port in address"))
        tls = str(disc.get("tlsBootstrapToken") or tok)
        if not BOOTSTRAP_TOKEN_RE.match(tls):
            errs.append(_invalid("discovery.tlsBootstrapToken", tls, "the bootstrap token is invalid"))
    nr = jc.get("nodeRegistration") or {}
    errs += node_name_errors(str(nr.get("name") or hostname()).lower())
    errs += cri_socket_errors(str(nr.get("criSocket") or ""), "nodeRegistration.criSocket")
    cp = jc.get("controlPlane")
    if cp is not None:
        errs += api_endpoint_errors(cp.get("localAPIEndpoint") or {}, "controlPlane.localAPIEndpoint")
        errs += certificate_key_errors(str(cp.get("certificateKey") or ""), "controlPlane.certificateKey")
    ca = str(jc.get("caCertPath") or "/etc/kubernetes/pki/ca.crt")
    if not ca.startswith("/") or not ca.endswith(".crt"):
        errs.append(_invalid("caCertPath", ca, "the ca certificate path must be an absolute path"))
    aggregate(errs)


class Checks:
    def __init__(self, ignore):
        self.ignore = {i.strip().lower() for i in ignore or []}
        self.errors, self.warnings = [], []

    def error(self, name: str, msg: str) -> None:
        if "all" in self.ignore or name.lower() in self.ignore:
            self.warnings.append((name, msg))
        else:
            self.errors.append((name, msg))

    def warn(self, name: str, msg: str) -> None:
        self.warnings.append((name, msg))

    def finish(self) -> None:
        for name, msg in self.warnings:
            out(f"\t[WARNING {name}]: {msg}")
        if self.errors:
            lines = "".join(f"\t[ERROR {n}]: {m}\n" for n, m in self.errors)
            raise PhaseError("preflight", "[preflight] Some fatal errors occurred:\n" + lines +
                             "[preflight] If you know what you are doing, you can make a check non-fatal with "
                             "`--ignore-preflight-errors=...`")


def path_check_name(kind: str, path: str) -> str:
    return kind + "-" + path.replace("/", "-")


def dir_not_empty(path: str) -> bool:
    real = P(path)
    if not os.path.isdir(real):
        return False
    return any(n != ".kubelet-keep" for n in os.listdir(real))


def port_in_use(port: int, address: str | None = None) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((address or bind_address(), port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def common_checks(c: Checks, cri_socket: str, node_name: str, control_plane: bool) -> None:
    if os.geteuid() != 0:
        c.error("IsPrivilegedUser", "user is not running as root")
    if control_plane:
        if (os.cpu_count() or 1) < 2:
            c.error("NumCPU", f"the number of available CPUs {os.cpu_count()} is less than the required 2")
        try:
            with open("/proc/meminfo") as fh:
                mem_mb = int(fh.readline().split()[1]) // 1024
            if mem_mb < 1700:
                c.error("Mem", f"the system RAM ({mem_mb} MB) is less than the minimum 1700 MB")
        except (OSError, ValueError, IndexError):
            pass
        if port_in_use(api_port()):
            c.error(f"Port-{api_port()}", f"Port {api_port()} is in use")
    if not local_mode():
        ports = [10259, 10257, 2379, 2380] if control_plane else []
        for port in ports + [10250]:
            if port_in_use(port, "0.0.0.0"):
                c.error(f"Port-{port}", f"Port {port} is in use")
        try:
            with open("/proc/sys/net/ipv4/ip_forward") as fh:
                if fh.read().strip() != "1":
                    c.error("FileContent--proc-sys-net-ipv4-ip_forward",
                            "/proc/sys/net/ipv4/ip_forward contents are not set to 1")
        except OSError:
            pass
        if shutil.which("crictl") is None:
            c.error("FileExisting-crictl", "crictl not found in system path")
        if systemd_available() and systemctl("is-enabled", "kubelet.service").stdout.strip() != "enabled":
            c.warn("Service-Kubelet", "kubelet service is not enabled, please run 'systemctl enable kubelet.service'")
        try:
            resolve_host(node_name)
        except LookupError:
            c.warn("Hostname", f'hostname "{node_name}" could not be reached')
    if not local_mode() or os.environ.get("STANDIN_CHECK_CRI"):
        sock = cri_socket[len("unix://"):] if cri_socket.startswith("unix://") else cri_socket
        problem = unix_connectable(sock)
        if problem:
            c.error("CRI", f'container runtime is not running: output: time="{rfc3339(time.time())}" '
                           f'level=fatal msg="validate service connection: validate CRI v1 runtime API for '
                           f'endpoint \\"{cri_socket}\\": rpc error: code = Unavailable desc = connection error: '
                           f'desc = \\"transport: Error while dialing: {problem}\\""\n, error: exit status 1')
    runtime_config_check(c, cri_socket)
    if KUBE_MINOR >= 35 and cgroup_v1():
        # k8s.io/system-validators v1.12.1 CgroupsValidator (kubernetes/kubernetes #134744): an error for a
        # kubelet of 1.35+ on cgroup v1.
        c.error("SystemVerification", "cgroups v1 support is deprecated and will be removed in a future release. "
                                      "Please migrate to cgroups v2. To explicitly enable cgroups v1 support for "
                                      "kubelet v1.35 or newer, you must set the kubelet configuration option "
                                      "'FailCgroupV1' to 'false'. You must also explicitly skip this validation. "
                                      "For more information, see https://git.k8s.io/enhancements/keps/sig-node/"
                                      "5573-remove-cgroup-v1")
    if swaps_in_use():
        c.warn("Swap", "swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. "
                       "Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, "
                       "or disable swap on the node")


def runtime_config_check(c: Checks, cri_socket: str) -> None:
    """ContainerRuntimeVersion (kubeadm 1.35+, kubernetes/kubernetes #134906): a warning when the runtime lacks
    the CRI RuntimeConfig call - cri-dockerd before 0.3.17 (core/docker_service.go RuntimeConfig is in 0.3.17
    and 0.4.0+). The running stand-in cri-dockerd says its version in /run/standins/cri-dockerd.json."""
    if KUBE_MINOR < 35 or "cri-dockerd" not in cri_socket:
        return
    try:
        with open(P("/run/standins/cri-dockerd.json")) as fh:
            version = str(json.load(fh).get("version") or "")
    except (OSError, ValueError):
        return
    parts = tuple(int(x) for x in version.split(".") if x.isdigit())
    if parts and parts < (0, 3, 17):
        c.warn("ContainerRuntimeVersion", "You must update your container runtime to a version that supports the "
                                          "CRI method RuntimeConfig. Falling back to using cgroupDriver from kubelet "
                                          "config will be removed in 1.36. For more information, see "
                                          "https://git.k8s.io/enhancements/keps/sig-node/4033-group-driver-detection-"
                                          "over-cri")


def sandbox_warning(repo: str) -> None:
    want = f"{repo}/pause:{STANDIN_BUILD['pause_version']}"
    try:
        with open(P("/run/standins/cri-dockerd.json")) as fh:
            have = json.load(fh).get("podInfraContainerImage")
    except (OSError, ValueError):
        return
    if have and have != want:
        klog("W", f'detected that the sandbox image "{have}" of the container runtime is inconsistent with that '
                  f'used by kubeadm. It is recommended that using "{want}" as the CRI sandbox image.')


def print_pull() -> None:
    out("[preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[preflight] You can also perform this action beforehand using 'kubeadm config images pull'")


def detect_cri_socket() -> str:
    found = [s for s in ("unix:///var/run/containerd/containerd.sock", "unix:///var/run/crio/crio.sock",
                         "unix:///var/run/cri-dockerd.sock")
             if os.path.exists(P(s[len("unix://"):]))]
    if len(found) > 1:
        raise Fatal("found multiple CRI endpoints on the host. Please define which one do you wish to use by setting "
                    "the 'criSocket' field in the kubeadm configuration file: " + ", ".join(found))
    return found[0] if found else "unix:///var/run/containerd/containerd.sock"


def node_ip(nr_args: dict, fallback: str) -> str:
    return nr_args.get("node-ip") or fallback


def kubelet_version() -> str:
    exe = shutil.which("kubelet")
    if exe and not local_mode():
        try:
            r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
            if r.returncode == 0 and r.stdout.startswith("Kubernetes "):
                return r.stdout.split()[1]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return f"v{KUBE_VERSION}"


def runtime_version(cri_socket: str) -> str:
    if "cri-dockerd" in cri_socket:
        return f"docker://{STANDIN_BUILD['docker_version']}"
    if "containerd" in cri_socket:
        return f"containerd://{STANDIN_BUILD['containerd_version']}"
    return "cri-o://unknown"


# ----------------------------------------------------------------- PKI

def write_pair(rel: str, cert_pem: str, key: dict) -> None:
    write_file(f"{PKI}/{rel}.crt", cert_pem, 0o644)
    write_file(f"{PKI}/{rel}.key", key_pem(key), 0o600)


def load_pair(rel: str):
    if exists(f"{PKI}/{rel}.crt") and exists(f"{PKI}/{rel}.key"):
        return load_cert_pem(read_file(f"{PKI}/{rel}.crt")), load_key_pem(read_file(f"{PKI}/{rel}.key"))
    return None


def ensure_ca(rel: str, cn: str, generate: bool, label: str):
    pair = load_pair(rel)
    if pair:
        out(f"[certs] Using existing {label} certificate authority")
        return pair
    if exists(f"{PKI}/{rel}.crt"):
        raise PhaseError("certs/" + label, f"failure loading {label} certificate authority: couldn't load the "
                                           f"private key file {PKI}/{rel}.key: open {PKI}/{rel}.key: no such file "
                                           f"or directory")
    if not generate:
        raise PhaseError("control-plane-prepare/certs", f"error creating PKI assets: failure loading {label} "
                                                        f"certificate authority: couldn't load the certificate "
                                                        f"file {PKI}/{rel}.crt: open {PKI}/{rel}.crt: no such "
                                                        f"file or directory")
    out(f'[certs] Generating "{label}" certificate and key')
    key = new_ec_key()
    cert = make_cert(cn, key, is_ca=True, days=3650)
    write_pair(rel, cert, key)
    return load_cert_pem(cert), key


def leaf(rel: str, label: str, cn: str, ca, orgs=(), server=False, client=False, dns=(), ips=()) -> None:
    existing = load_pair(rel)
    if existing and existing[0]["issuer_raw"] == ca[0]["subject_raw"] and \
            set(dns) <= set(existing[0]["dns"]) and set(ips) <= set(existing[0]["ips"]):
        out(f"[certs] Using existing {label} certificate and key on disk")
        return
    out(f'[certs] Generating "{label}" certificate and key')
    key = new_ec_key()
    write_pair(rel, make_cert(cn, key, orgs=orgs, issuer_cert=ca[0], issuer_key=ca[1], server=server,
                              client=client, dns=dns, ips=ips), key)
    if server:
        out(f"[certs] {label} serving cert is signed for DNS names [{' '.join(dns)}] and IPs [{' '.join(ips)}]")


def split_sans(sans) -> tuple:
    dns, ips = [], []
    for s in sans or []:
        s = str(s)
        try:
            ipaddress.ip_address(s)
            ips.append(s)
        except ValueError:
            dns.append(s)
    return dns, ips


def uniq(items) -> list:
    seen, res = set(), []
    for i in items:
        if i not in seen:
            seen.add(i)
            res.append(i)
    return res


def control_plane_certs(cc: dict, node: str, adv: str, ca, generate_cas: bool) -> None:
    svc_net = ipaddress.ip_network(cc["networking"]["serviceSubnet"].split(",")[0], strict=False)
    dom = cc["networking"]["dnsDomain"]
    ep_host, _ = split_host_port(cc["controlPlaneEndpoint"])
    extra_dns, extra_ips = split_sans((cc.get("apiServer") or {}).get("certSANs"))
    ep_dns, ep_ips = split_sans([ep_host])
    dns = uniq(["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{dom}",
                node] + ep_dns + extra_dns)
    ips = uniq([str(svc_net[1]), adv] + ep_ips + extra_ips)
    leaf("apiserver", "apiserver", "kube-apiserver", ca, server=True, dns=dns, ips=ips)
    leaf("apiserver-kubelet-client", "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ca,
         orgs=[ADMIN_ORG], client=True)
    fp = ensure_ca("front-proxy-ca", "front-proxy-ca", generate_cas, "front-proxy-ca")
    leaf("front-proxy-client", "front-proxy-client", "front-proxy-client", fp, client=True)
    etcd = ensure_ca("etcd/ca", "etcd-ca", generate_cas, "etcd/ca")
    etcd_dns, etcd_ips = ["localhost", node], uniq([adv, "127.0.0.1", "::1"])
    leaf("etcd/server", "etcd/server", node, etcd, server=True, client=True, dns=etcd_dns, ips=etcd_ips)
    leaf("etcd/peer", "etcd/peer", node, etcd, server=True, client=True, dns=etcd_dns, ips=etcd_ips)
    leaf("etcd/healthcheck-client", "etcd/healthcheck-client", "kube-etcd-healthcheck-client", etcd, client=True)
    leaf("apiserver-etcd-client", "apiserver-etcd-client", "kube-apiserver-etcd-client", etcd, client=True)
    if exists(f"{PKI}/sa.key") and exists(f"{PKI}/sa.pub"):
        out('[certs] Using the existing "sa" key')
    else:
        out('[certs] Generating "sa" key and public key')
        k = new_ec_key()
        write_file(f"{PKI}/sa.key", key_pem(k), 0o600)
        write_file(f"{PKI}/sa.pub", public_key_pem(k), 0o644)
    leaf("standin-proxy-client", "standin-proxy-client", f"standin:apiserver-proxy:{node}", ca,
         orgs=["system:standin-proxies"], client=True)


def write_kubeconfig(name: str, server: str, ca, cluster: str, user: str, orgs=()) -> None:
    rel = f"/etc/kubernetes/{name}"
    if exists(rel):
        try:
            have = load_kubeconfig(P(rel))
        except (OSError, ValueError, YAMLError):
            have = {}
        if have.get("ca_pem") and load_cert_pem(have["ca_pem"])["spki"] != ca[0]["spki"]:
            raise PhaseError("kubeconfig/" + name.split(".")[0],
                             f'a kubeconfig file "{rel}" exists already but has got the wrong CA cert')
        out(f'[kubeconfig] Using existing kubeconfig file: "{rel}"')
        return
    out(f'[kubeconfig] Writing "{name}" kubeconfig file')
    key = new_ec_key()
    cert = make_cert(user, key, orgs=orgs, issuer_cert=ca[0], issuer_key=ca[1], client=True)
    write_file(rel, make_kubeconfig(server, read_file(f"{PKI}/ca.crt"), user, cluster,
                                    cert_pem=cert, key_pem=key_pem(key)), 0o600)


def kubelet_client_cert(node: str, cert_pem: str, key: dict) -> str:
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
    rel = f"{KUBELET_DIR}/pki/kubelet-client-{stamp}.pem"
    write_file(rel, cert_pem + key_pem(key), 0o600)
    cur = P(f"{KUBELET_DIR}/pki/kubelet-client-current.pem")
    if os.path.lexists(cur):
        os.unlink(cur)
    os.symlink(rel if not local_mode() else P(rel), cur)
    return f"{KUBELET_DIR}/pki/kubelet-client-current.pem"


# ------------------------------------------------------------ manifests

def static_pod(name: str, image: str, command: list, volumes: list) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"annotations": {"standin.lab.test/note": "written by the stand-in kubeadm; the stand-in "
                                                                  "kubelet runs etcd's (Debian's etcd) and the "
                                                                  "API server's (standin-apiserver.service)"},
                         "labels": {"component": name, "tier": "control-plane"},
                         "name": name, "namespace": "kube-system"},
            "spec": {"containers": [{"command": command, "image": image, "imagePullPolicy": "IfNotPresent",
                                     "name": name,
                                     "volumeMounts": [{"mountPath": p, "name": n, "readOnly": True}
                                                      for n, p in volumes]}],
                     "hostNetwork": True, "priority": 2000001000, "priorityClassName": "system-node-critical",
                     "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                     "volumes": [{"hostPath": {"path": p, "type": "DirectoryOrCreate"}, "name": n}
                                 for n, p in volumes]},
            "status": {}}


def write_manifests(cc: dict, node: str, adv: str, port: int, initial_cluster: str, state: str) -> None:
    repo, kv = cc["imageRepository"], cc["kubernetesVersion"].lstrip("v")
    net = cc["networking"]
    out(f'[control-plane] Using manifest folder "{MANIFESTS}"')
    vols = [("ca-certs", "/etc/ssl/certs"), ("k8s-certs", PKI)]
    api = ["kube-apiserver", f"--advertise-address={adv}", "--allow-privileged=true",
           "--authorization-mode=Node,RBAC", f"--client-ca-file={PKI}/ca.crt",
           "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
           f"--etcd-cafile={PKI}/etcd/ca.crt", f"--etcd-certfile={PKI}/apiserver-etcd-client.crt",
           f"--etcd-keyfile={PKI}/apiserver-etcd-client.key", "--etcd-servers=https://127.0.0.1:2379",
           f"--secure-port={port}", f"--service-account-key-file={PKI}/sa.pub",
           f"--service-account-signing-key-file={PKI}/sa.key",
           f"--service-cluster-ip-range={net['serviceSubnet']}", f"--tls-cert-file={PKI}/apiserver.crt",
           f"--tls-private-key-file={PKI}/apiserver.key"]
    cm = ["kube-controller-manager", "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
          "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf", "--bind-address=127.0.0.1",
          f"--cluster-name={cc['clusterName']}", f"--cluster-signing-cert-file={PKI}/ca.crt",
          f"--cluster-signing-key-file={PKI}/ca.key", "--controllers=*,bootstrapsigner,tokencleaner",
          "--kubeconfig=/etc/kubernetes/controller-manager.conf", "--leader-elect=true",
          f"--service-cluster-ip-range={net['serviceSubnet']}", "--use-service-account-credentials=true"]
    if net.get("podSubnet"):
        cm[1:1] = ["--allocate-node-cidrs=true", f"--cluster-cidr={net['podSubnet']}"]
    sched = ["kube-scheduler", "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
             "--authorization-kubeconfig=/etc/kubernetes/scheduler.conf", "--bind-address=127.0.0.1",
             "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=true"]
    for name, cmd in (("kube-apiserver", api), ("kube-controller-manager", cm), ("kube-scheduler", sched)):
        out(f'[control-plane] Creating static Pod manifest for "{name}"')
        write_file(f"{MANIFESTS}/{name}.yaml", yaml_dump(static_pod(name, f"{repo}/{name}:v{kv}", cmd, vols)),
                   0o600)
    write_etcd_manifest(cc, node, adv, initial_cluster, state)


def etcd_command(node: str, adv: str, initial_cluster: str, state: str) -> list:
    """kubeadm's etcd command (cmd/kubeadm/app/phases/etcd/local.go getEtcdCommand; kubeadmutil.ArgumentsToCommand
    sorts the flags): etcd 3.6+ takes the InitialCorruptCheck gate and watch-progress-notify-interval, older
    etcd their "experimental-" flags."""
    major_minor = tuple(int(x) for x in STANDIN_BUILD["etcd_version"].split("-")[0].split(".")[:2])
    gates = (["--feature-gates=InitialCorruptCheck=true", "--watch-progress-notify-interval=5s"]
             if major_minor >= (3, 6) else
             ["--experimental-initial-corrupt-check=true", "--experimental-watch-progress-notify-interval=5s"])
    flags = [f"--advertise-client-urls=https://{adv}:2379", f"--cert-file={PKI}/etcd/server.crt",
             "--client-cert-auth=true", "--data-dir=/var/lib/etcd", f"--initial-advertise-peer-urls=https://{adv}:2380",
             f"--initial-cluster={initial_cluster}", f"--initial-cluster-state={state}",
             f"--key-file={PKI}/etcd/server.key", f"--listen-client-urls=https://127.0.0.1:2379,https://{adv}:2379",
             "--listen-metrics-urls=http://127.0.0.1:2381", f"--listen-peer-urls=https://{adv}:2380",
             f"--name={node}", f"--peer-cert-file={PKI}/etcd/peer.crt", "--peer-client-cert-auth=true",
             f"--peer-key-file={PKI}/etcd/peer.key", f"--peer-trusted-ca-file={PKI}/etcd/ca.crt",
             "--snapshot-count=10000", f"--trusted-ca-file={PKI}/etcd/ca.crt", *gates]
    return ["etcd", *sorted(flags, key=lambda f: f.split("=", 1)[0])]


def write_etcd_manifest(cc: dict, node: str, adv: str, initial_cluster: str, state: str) -> None:
    repo = cc["imageRepository"]
    cmd = etcd_command(node, adv, initial_cluster, state)
    write_file(f"{MANIFESTS}/etcd.yaml", yaml_dump(static_pod("etcd", f"{repo}/etcd:{STANDIN_BUILD['etcd_version']}",
                                                              cmd, [("etcd-data", "/var/lib/etcd"),
                                                                    ("etcd-certs", f"{PKI}/etcd")])), 0o600)
    os.makedirs(P("/var/lib/etcd"), exist_ok=True)
    os.chmod(P("/var/lib/etcd"), 0o700)
    if not real_etcd_node():
        os.makedirs(P("/var/lib/etcd/member"), exist_ok=True)    # the model's stand-in for etcd's own files


# ------------------------------------------------------------------ kubelet

def kubelet_config(kc_user: dict | None, cc: dict) -> dict:
    svc = ipaddress.ip_network(cc["networking"]["serviceSubnet"].split(",")[0], strict=False)
    kc = {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
          "authentication": {"anonymous": {"enabled": False}, "webhook": {"cacheTTL": "0s", "enabled": True},
                             "x509": {"clientCAFile": f"{PKI}/ca.crt"}},
          "authorization": {"mode": "Webhook", "webhook": {"cacheAuthorizedTTL": "0s",
                                                           "cacheUnauthorizedTTL": "0s"}},
          "cgroupDriver": "systemd", "clusterDNS": [str(svc[10])],
          "clusterDomain": cc["networking"]["dnsDomain"], "healthzBindAddress": "127.0.0.1",
          "healthzPort": 10248, "rotateCertificates": True, "staticPodPath": MANIFESTS}
    for k, v in (kc_user or {}).items():
        kc[k] = v
    return kc


def write_kubelet_files(kc: dict, cri: str, extra: dict, node: str, join: bool) -> None:
    if join:
        out(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    args = {"container-runtime-endpoint": cri}
    if KUBE_MINOR <= 30:
        args["pod-infra-container-image"] = f"{kc.get('_imageRepository', 'registry.k8s.io')}/pause:" \
                                            f"{STANDIN_BUILD['pause_version']}"
    if node != hostname():
        args["hostname-override"] = node
    args.update(extra)
    flags = " ".join(f"--{k}={v}" for k, v in args.items())
    out(f'[kubelet-start] Writing kubelet environment file with flags to file "{KUBELET_DIR}/kubeadm-flags.env"')
    write_file(f"{KUBELET_DIR}/kubeadm-flags.env", f'KUBELET_KUBEADM_ARGS="{flags}"\n', 0o644)
    if not join:
        out(f'[kubelet-start] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    clean = {k: v for k, v in kc.items() if not k.startswith("_")}
    write_file(f"{KUBELET_DIR}/config.yaml", yaml_dump(clean), 0o644)


def start_kubelet(kc: dict) -> None:
    out("[kubelet-start] Starting the kubelet")
    if not systemd_available():
        return
    r = systemctl("restart", "kubelet.service")
    if r.returncode != 0:
        out(f"[kubelet-start] WARNING: unable to start the kubelet service: [{r.stderr.strip()}]")
        out("[kubelet-start] Please ensure kubelet is reloaded and running manually.")


def wait_kubelet(kc: dict, phase: str) -> None:
    port = int(kc.get("healthzPort") or 10248)
    addr = kc.get("healthzBindAddress") or "127.0.0.1"
    if KUBE_MINOR >= 31:
        out(f"[kubelet-check] Waiting for a healthy kubelet at http://{addr}:{port}/healthz. This can take up to 4m0s")
    else:
        out("[kubelet-check] Waiting for a healthy kubelet. This can take up to 4m0s")
    if not systemd_available():
        out("[kubelet-check] The kubelet is healthy after 1.000845162s")
        return
    start = time.time()
    limit = env_seconds("STANDIN_KUBELET_TIMEOUT", 60)
    while time.time() - start < limit:
        try:
            conn = http.client.HTTPConnection(addr, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                out(f"[kubelet-check] The kubelet is healthy after {time.time() - start:.9f}s")
                return
        except OSError:
            pass
        time.sleep(0.5)
    out("[kubelet-check] The kubelet is not healthy after 4m0s\n\n"
        "Unfortunately, an error has occurred, likely caused by:\n"
        "\t- The kubelet is not running\n"
        "\t- The kubelet is unhealthy due to a misconfiguration of the node in some way (required cgroups disabled)\n\n"
        "If you are on a systemd-powered system, you can try to troubleshoot the error with the following commands:\n"
        "\t- 'systemctl status kubelet'\n\t- 'journalctl -xeu kubelet'\n")
    raise PhaseError(phase, f"failed while waiting for the kubelet: Get \"http://{addr}:{port}/healthz\": "
                            f"dial tcp {addr}:{port}: connect: connection refused")


# ---------------------------------------------------------------- apiserver

def apiserver_script() -> str:
    here = os.path.dirname(os.path.realpath(__file__))
    return os.path.normpath(os.path.join(here, "..", "libexec", "kubeadm-standin", "kube-apiserver"))


def start_apiserver(node: str, adv: str, port: int, extra: list) -> None:
    args = [f"--advertise-address={adv}", f"--bind-address={bind_address()}", f"--secure-port={port}",
            f"--tls-cert-file={PKI}/apiserver.crt", f"--tls-private-key-file={PKI}/apiserver.key",
            f"--client-ca-file={PKI}/ca.crt", f"--standin-node-name={node}"] + extra
    if systemd_available():
        unit = ("# Written by the STAND-IN kubeadm (provisioner tests): a tiny imitation of the kube-apiserver\n"
                "# static pod. Removed by `kubeadm reset`.\n"
                "[Unit]\nDescription=Stand-in kube-apiserver (tests only)\nAfter=network-online.target\n\n"
                "[Service]\nType=notify\n"
                f"ExecStart=/usr/libexec/kubeadm-standin/kube-apiserver {' '.join(args)}\n"
                "Restart=always\nRestartSec=1\n\n[Install]\nWantedBy=multi-user.target\n")
        write_file(APISERVER_UNIT, unit, 0o644)
        systemctl("daemon-reload")
        systemctl("enable", "standin-apiserver.service")
        r = systemctl("restart", "standin-apiserver.service")
        if r.returncode != 0:
            raise PhaseError("wait-control-plane", f"stand-in apiserver failed to start: {r.stderr.strip()}")
    else:
        stop_apiserver()
        os.makedirs(P("/var/log/standins"), exist_ok=True)
        log = open(P("/var/log/standins/kube-apiserver.log"), "ab")
        proc = subprocess.Popen([sys.executable, apiserver_script(), *args], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                cwd="/")
        log.close()
        write_file(APISERVER_PIDFILE, f"{proc.pid}\n")


def stop_apiserver() -> None:
    if systemd_available():
        if exists(APISERVER_UNIT):
            systemctl("disable", "--now", "standin-apiserver.service")
            remove_path(APISERVER_UNIT)
            systemctl("daemon-reload")
        return
    try:
        pid = int(read_file(APISERVER_PIDFILE).strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while running(pid) and time.time() < deadline:
            time.sleep(0.02)
        if running(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    remove_path(APISERVER_PIDFILE)


def running(pid: int) -> bool:
    """False once pid has exited (a zombie waiting for whoever adopted it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_api(adv: str, port: int, phase: str) -> None:
    out("[api-check] Waiting for a healthy API server. This can take up to 4m0s")
    host = "127.0.0.1" if bind_address() in ("0.0.0.0", "") else bind_address()
    start = time.time()
    limit = env_seconds("STANDIN_API_TIMEOUT", 30)
    last = ""
    while time.time() - start < limit:
        try:
            code, body = https_request(f"https://{host}:{port}", "GET", "/healthz", timeout=2)
            if code == 200:
                out(f"[api-check] The API server is healthy after {time.time() - start:.9f}s")
                return
            last = body.decode(errors="replace")
        except ConnError as exc:
            last = str(exc)
        time.sleep(0.2)
    out("[api-check] The API server is not healthy after 4m0s")
    raise PhaseError(phase, f"could not initialize a Kubernetes cluster: {last}")


# --------------------------------------------------------------------- init

INIT_FLAGS = {"config": "str", "upload-certs": "bool", "skip-phases": "list", "ignore-preflight-errors": "list",
              "skip-token-print": "bool", "skip-certificate-key-print": "bool", "dry-run": "bool",
              "certificate-key": "str", "control-plane-endpoint": "str", "kubernetes-version": "str",
              "pod-network-cidr": "str", "service-cidr": "str", "service-dns-domain": "str",
              "image-repository": "str", "token": "str", "token-ttl": "str", "cri-socket": "str",
              "apiserver-advertise-address": "str", "apiserver-bind-port": "int",
              "apiserver-cert-extra-sans": "list", "node-name": "str", "cert-dir": "str",
              "feature-gates": "str", "patches": "str", **GLOBAL}
INIT_MIX_OK = {"config", "upload-certs", "skip-phases", "ignore-preflight-errors", "skip-token-print",
               "skip-certificate-key-print", "dry-run", "patches"}


def init_config(f: dict, given: list) -> tuple:
    if f.get("config"):
        check_mix(given, INIT_MIX_OK)
        docs = load_config(f["config"])
        ic = docs.get("InitConfiguration") or {"apiVersion": f"kubeadm.k8s.io/{'v1beta4' if KUBE_MINOR >= 31 else 'v1beta3'}"}
        cc = docs.get("ClusterConfiguration") or {}
        kc = docs.get("KubeletConfiguration")
    else:
        av = f"kubeadm.k8s.io/{'v1beta4' if KUBE_MINOR >= 31 else 'v1beta3'}"
        ic = {"apiVersion": av, "nodeRegistration": {}, "localAPIEndpoint": {}}
        cc = {"networking": {}}
        if f.get("token"):
            ic["bootstrapTokens"] = [{"token": f["token"], "ttl": f.get("token-ttl", "24h0m0s")}]
        elif f.get("token-ttl"):
            ic["bootstrapTokens"] = [{"token": new_token(), "ttl": f["token-ttl"]}]
        if f.get("certificate-key"):
            ic["certificateKey"] = f["certificate-key"]
        if f.get("cri-socket"):
            ic["nodeRegistration"]["criSocket"] = f["cri-socket"]
        if f.get("node-name"):
            ic["nodeRegistration"]["name"] = f["node-name"]
        if f.get("apiserver-advertise-address"):
            ic["localAPIEndpoint"]["advertiseAddress"] = f["apiserver-advertise-address"]
        if f.get("apiserver-bind-port"):
            ic["localAPIEndpoint"]["bindPort"] = f["apiserver-bind-port"]
        for flag, key in (("control-plane-endpoint", "controlPlaneEndpoint"), ("kubernetes-version", "kubernetesVersion"),
                          ("image-repository", "imageRepository")):
            if f.get(flag):
                cc[key] = f[flag]
        for flag, key in (("pod-network-cidr", "podSubnet"), ("service-cidr", "serviceSubnet"),
                          ("service-dns-domain", "dnsDomain")):
            if f.get(flag):
                cc["networking"][key] = f[flag]
        if f.get("apiserver-cert-extra-sans"):
            cc["apiServer"] = {"certSANs": f["apiserver-cert-extra-sans"]}
        kc = None
    return ic, cc, kc


def cluster_defaults(cc: dict, adv: str, port: int) -> dict:
    cc = json.loads(json.dumps(cc))
    kv = str(cc.get("kubernetesVersion") or f"v{KUBE_VERSION}")
    if kv in ("stable", "stable-1", "latest"):
        kv = f"v{KUBE_VERSION}"
    if not kv.startswith("v"):
        kv = "v" + kv
    cc["kubernetesVersion"] = kv
    net = cc.setdefault("networking", {}) or {}
    cc["networking"] = net
    net.setdefault("serviceSubnet", "10.96.0.0/12")
    net.setdefault("dnsDomain", "cluster.local")
    cc.setdefault("imageRepository", "registry.k8s.io")
    cc.setdefault("clusterName", "kubernetes")
    cc.setdefault("certificatesDir", PKI)
    cc["controlPlaneEndpoint"] = cc.get("controlPlaneEndpoint") or f"{adv}:{port}"
    if ":" not in cc["controlPlaneEndpoint"].rsplit("]", 1)[-1]:
        cc["controlPlaneEndpoint"] += f":{port}"
    cc.setdefault("apiVersion", "kubeadm.k8s.io/v1beta3")
    cc["kind"] = "ClusterConfiguration"
    return cc


def check_version(kv: str) -> None:
    try:
        major, minor, _ = (int(x) for x in kv.lstrip("v").split("-")[0].split("."))
    except ValueError:
        raise Fatal(f'couldn\'t parse Kubernetes version "{kv}": could not parse "{kv}" as version') from None
    if (major, minor) > (1, KUBE_MINOR):
        raise Fatal(f"the requested control plane version {kv} is newer than the kubeadm version v{KUBE_VERSION}: "
                    f"use a kubeadm binary of the same or a newer version")
    if (major, minor) < (1, KUBE_MINOR - 1):
        raise Fatal(f"this version of kubeadm only supports deploying clusters with the control plane version "
                    f">= 1.{KUBE_MINOR - 1}.0. Current version: {kv}")


def parse_tokens(ic: dict) -> dict:
    tokens = {}
    bts = ic.get("bootstrapTokens")
    if bts is None:
        bts = [{"token": new_token()}]
    for bt in bts:
        tok = str(bt.get("token") or new_token())
        m = TOKEN_RE.match(tok)
        if not m:
            raise Fatal(f'bootstrapTokens[0].token: Invalid value: "{tok}": the bootstrap token is invalid')
        ttl = parse_duration(bt.get("ttl", "24h0m0s"))
        expires = from_rfc3339(bt["expires"]) if bt.get("expires") else (time.time() + ttl if ttl else None)
        tokens[m.group(1)] = {"secret": m.group(2), "expires": expires,
                              "usages": list(bt.get("usages") or ["signing", "authentication"]),
                              "groups": list(bt.get("groups") or [DEFAULT_TOKEN_GROUP]),
                              "description": bt.get("description", "")}
    return tokens


def read_uploadable(key: str) -> dict:
    data = {}
    for name, rel in UPLOADED.items():
        try:
            data[name] = seal(key, read_file(f"{PKI}/{rel}", binary=True))
        except FileNotFoundError:
            raise Fatal(f"error uploading certs: failed to read {PKI}/{rel}: open {PKI}/{rel}: "
                        f"no such file or directory") from None
        except DecryptError as exc:
            raise Fatal(f"error uploading certs: {exc}") from None
    return data


def uploaded_certs_ttl() -> float:
    """Two hours, like the real Secret's owner token; /etc/standins/uploaded-certs-ttl (seconds) shortens it."""
    try:
        return float(read_file("/etc/standins/uploaded-certs-ttl").strip() or 7200)
    except (OSError, ValueError):
        return 7200.0


def cmd_init(argv) -> int:
    if argv and argv[0] == "phase":
        return cmd_init_phase(argv[1:])
    f, pos, given = parse_flags(argv, INIT_FLAGS, SHORT)
    if pos:
        raise Fatal(f'unknown command "{pos[0]}" for "kubeadm init"')
    if f.get("dry-run"):
        raise Fatal("stand-in kubeadm: --dry-run is not implemented")
    ic, cc, kc_user = init_config(f, given)
    av = str(ic.get("apiVersion", ""))
    nr = ic.get("nodeRegistration") or {}
    extra = extra_args(nr, av, "init")
    lep = ic.get("localAPIEndpoint") or {}
    adv = str(lep.get("advertiseAddress") or default_ip())
    port = api_port(int(lep.get("bindPort") or 6443))
    cc = cluster_defaults(cc, adv, port)
    check_version(cc["kubernetesVersion"])
    node = str(nr.get("name") or hostname()).lower()
    nr = {**nr, "name": node, "criSocket": str(nr.get("criSocket") or detect_cri_socket())}
    default_cri_scheme(nr)
    validate_init(ic, cc, nr, {"advertiseAddress": adv, "bindPort": lep.get("bindPort", 6443)})
    cri = nr["criSocket"]
    skip = set(f.get("skip-phases") or []) | set(ic.get("skipPhases") or [])
    ignore = ignore_preflight_errors(list(f.get("ignore-preflight-errors") or [])
                                     + list(nr.get("ignorePreflightErrors") or []))
    tokens = parse_tokens(ic)
    upload = bool(f.get("upload-certs")) and "upload-certs" not in skip
    cert_key = str(ic.get("certificateKey") or f.get("certificate-key") or secrets.token_hex(32))
    if upload:
        certificate_key_bytes(cert_key)

    out(f"[init] Using Kubernetes version: {cc['kubernetesVersion']}")
    if "preflight" not in skip:
        out("[preflight] Running pre-flight checks")
        c = Checks(ignore)
        common_checks(c, cri, node, control_plane=True)
        for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"):
            p = f"{MANIFESTS}/{comp}.yaml"
            if exists(p):
                c.error(path_check_name("FileAvailable", p), f"{p} already exists")
        if dir_not_empty("/var/lib/etcd"):
            c.error("DirAvailable--var-lib-etcd", "/var/lib/etcd is not empty")
        c.finish()
        print_pull()
        sandbox_warning(cc["imageRepository"])

    # certs
    out(f'[certs] Using certificateDir folder "{PKI}"')
    ca = ensure_ca("ca", "kubernetes", True, "ca")
    control_plane_certs(cc, node, adv, ca, generate_cas=True)
    pause_point("init", "certs")

    # kubeconfig
    out('[kubeconfig] Using kubeconfig folder "/etc/kubernetes"')
    endpoint = f"https://{cc['controlPlaneEndpoint']}"
    local = f"https://{adv}:{port}"
    cname = cc["clusterName"]
    write_kubeconfig("admin.conf", endpoint, ca, cname, "kubernetes-admin", [ADMIN_ORG])
    if KUBE_MINOR >= 29:
        write_kubeconfig("super-admin.conf", endpoint, ca, cname, "kubernetes-super-admin", ["system:masters"])
    kubelet_key = new_ec_key()
    kubelet_cert = make_cert(f"system:node:{node}", kubelet_key, orgs=["system:nodes"], issuer_cert=ca[0],
                             issuer_key=ca[1], client=True)
    if not exists("/etc/kubernetes/kubelet.conf"):
        out('[kubeconfig] Writing "kubelet.conf" kubeconfig file')
        cur = kubelet_client_cert(node, kubelet_cert, kubelet_key)
        write_file("/etc/kubernetes/kubelet.conf",
                   make_kubeconfig(endpoint, read_file(f"{PKI}/ca.crt"), "default-auth", cname,
                                   cert_file=cur, key_file=cur), 0o600)
    else:
        write_kubeconfig("kubelet.conf", endpoint, ca, cname, f"system:node:{node}", ["system:nodes"])
    write_kubeconfig("controller-manager.conf", local, ca, cname, "system:kube-controller-manager")
    write_kubeconfig("scheduler.conf", local, ca, cname, "system:kube-scheduler")
    pause_point("init", "kubeconfig")

    # manifests
    out(f'[etcd] Creating static Pod manifest for local etcd in "{MANIFESTS}"')
    write_manifests(cc, node, adv, port, f"{node}=https://{adv}:2380", "new")
    pause_point("init", "control-plane")

    # kubelet
    kc = kubelet_config(kc_user, cc)
    kc["_imageRepository"] = cc["imageRepository"]
    write_kubelet_files(kc, cri, extra, node, join=False)
    start_kubelet(kc)
    pause_point("init", "kubelet-start")

    # cluster state + apiserver
    now = time.time()
    ip = node_ip(extra, adv)
    taints = nr.get("taints")
    state = {
        "version": 1, "created": now, "rv": 1, "primary": node,
        "cluster": {"name": cname, "controlPlaneEndpoint": cc["controlPlaneEndpoint"],
                    "kubernetesVersion": cc["kubernetesVersion"], "networking": cc["networking"]},
        "clusterConfiguration": cc,
        "kubeletConfiguration": {k: v for k, v in kc.items() if not k.startswith("_")},
        "tokens": tokens if "bootstrap-token" not in skip else {},
        "uploadedCerts": ({"data": read_uploadable(cert_key), "expires": now + uploaded_certs_ttl()}
                          if upload else None),
        "nodes": {},
        "etcd": {node: {"state": "started", "since": now, "peerURL": f"https://{adv}:2380"}},
        "apiservers": {node: f"{adv}:{port}"},
        "objects": {},
        "settings": {},
    }
    net = ipaddress.ip_network(cc["networking"]["podSubnet"].split(",")[0], strict=False) \
        if cc["networking"].get("podSubnet") else None
    labels = {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
    if "mark-control-plane" not in skip:
        labels.update(CP_LABELS)
    state["nodes"][node] = {
        "name": node, "uid": uuid4(), "created": now, "labels": labels,
        "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": cri, "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        "taints": ([CP_TAINT] if taints is None else list(taints)) if "mark-control-plane" not in skip else [],
        "podCIDR": (str(next(net.subnets(new_prefix=24))) if net and net.prefixlen <= 24 else
                    (str(net) if net else None)),
        "internalIP": ip, "kubeletVersion": kubelet_version(), "containerRuntimeVersion": runtime_version(cri),
        "osImage": os_pretty_name(), "kernelVersion": os.uname().release, "ready": True, "readySince": now,
    }
    if not skip & {"addon", "addon/kube-proxy"}:
        state["objects"][KUBE_PROXY_KEY] = kube_proxy_daemonset(cc.get("imageRepository") or "registry.k8s.io", cc["kubernetesVersion"], now)
    write_file(STATE_FILE, json.dumps(state, indent=1, sort_keys=True), 0o600)
    out(f'[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory '
        f'"{MANIFESTS}"')
    wait_kubelet(kc, "wait-control-plane")
    if real_etcd_node():
        wait_etcd_available([LOCAL_ETCD], "wait-control-plane")
    start_apiserver(node, adv, port, [f"--standin-state-file={STATE_FILE}", f"--standin-ca-key-file={PKI}/ca.key"])
    wait_api(adv, port, "wait-control-plane")

    out('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    out('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        'kubelets in the cluster')
    if upload:
        out('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
        out("[upload-certs] Using certificate key:")
        out(cert_key if not f.get("skip-certificate-key-print") else "<value withheld>")
    else:
        out("[upload-certs] Skipping phase. Please see --upload-certs")
    if "mark-control-plane" not in skip:
        out(f"[mark-control-plane] Marking the node {node} as control-plane by adding the labels: "
            f"[{' '.join(CP_LABELS)}]")
        ts = state["nodes"][node]["taints"]
        out(f"[mark-control-plane] Marking the node {node} as control-plane by adding the taints "
            f"[{' '.join(t['key'] + ':' + t['effect'] for t in ts)}]")
    first_token = next(iter(tokens.items()), None)
    if "bootstrap-token" not in skip and first_token:
        shown = f"{first_token[0]}.{first_token[1]['secret']}"
        out(f"[bootstrap-token] Using token: {shown if not f.get('skip-token-print') else '<value withheld>'}")
        for line in BOOTSTRAP_LINES:
            out(line)
    out('[kubelet-finalize] Updating "/etc/kubernetes/kubelet.conf" to point to a rotatable kubelet client '
        'certificate and key')
    out("[addons] Applied essential addon: CoreDNS")
    out("[addons] Applied essential addon: kube-proxy")
    out("\nYour Kubernetes control-plane has initialized successfully!\n\n"
        "To start using your cluster, you need to run the following as a regular user:\n\n"
        "  mkdir -p $HOME/.kube\n  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
        "  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
        "Alternatively, if you are the root user, you can run:\n\n"
        "  export KUBECONFIG=/etc/kubernetes/admin.conf\n\n"
        "You should now deploy a pod network to the cluster.\n"
        'Run "kubectl apply -f [podnetwork].yaml" with one of the options listed at:\n'
        "  https://kubernetes.io/docs/concepts/cluster-administration/addons/\n")
    if "show-join-command" in skip or not first_token:
        return 0
    tok = "<value withheld>" if f.get("skip-token-print") else f"{first_token[0]}.{first_token[1]['secret']}"
    key = "<value withheld>" if f.get("skip-certificate-key-print") else cert_key
    hash_ = spki_sha256(read_file(f"{PKI}/ca.crt"))
    ep = cc["controlPlaneEndpoint"]
    if upload:
        out("You can now join any number of control-plane nodes running the following command on each as root:\n\n"
            f"  kubeadm join {ep} --token {tok} \\\n\t--discovery-token-ca-cert-hash {hash_} \\\n"
            f"\t--control-plane --certificate-key {key}\n\n"
            "Please note that the certificate-key gives access to cluster sensitive data, keep it secret!\n"
            "As a safeguard, uploaded-certs will be deleted in two hours; If necessary, you can use\n"
            '"kubeadm init phase upload-certs --upload-certs" to reload certs afterward.\n')
    else:
        out("You can now join any number of control-plane nodes by copying certificate authorities\n"
            "and service account keys on each node and then running the following as root:\n\n"
            f"  kubeadm join {ep} --token {tok} \\\n\t--discovery-token-ca-cert-hash {hash_} \\\n"
            "\t--control-plane \n")
    out("Then you can join any number of worker nodes by running the following on each as root:\n\n"
        f"kubeadm join {ep} --token {tok} \\\n\t--discovery-token-ca-cert-hash {hash_} ")
    return 0


def uuid4() -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


# Phase flags exactly as the phase inherits them (InheritFlags in cmd/kubeadm/app/cmd/phases/init/
# uploadcerts.go and bootstraptoken.go), plus the root's global flags.
UPLOAD_FLAGS = {"config": "str", "upload-certs": "bool", "certificate-key": "str", "skip-certificate-key-print": "bool",
                **GLOBAL}


BOOTSTRAP_FLAGS = {"config": "str", "kubeconfig": "str", "skip-token-print": "bool", **GLOBAL}
BOOTSTRAP_LINES = (
    "[bootstrap-token] Configuring bootstrap tokens, cluster-info ConfigMap, RBAC Roles",
    "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to get nodes",
    "[bootstrap-token] Configured RBAC rules to allow Node Bootstrap tokens to post CSRs in order for nodes to "
    "get long term certificate credentials",
    "[bootstrap-token] Configured RBAC rules to allow the csrapprover controller automatically approve CSRs from "
    "a Node Bootstrap Token",
    "[bootstrap-token] Configured RBAC rules to allow certificate rotation for all node client certificates in "
    "the cluster",
    '[bootstrap-token] Creating the "cluster-info" ConfigMap in the "kube-public" namespace')


def cmd_phase_bootstrap_token(argv) -> int:
    """`kubeadm init phase bootstrap-token [--config F]`: create (or update) the config's tokens."""
    f, pos, given = parse_flags(argv, BOOTSTRAP_FLAGS, SHORT)
    ic = {}
    if f.get("config"):
        check_mix(given, {"config", "kubeconfig", "skip-token-print", "dry-run"})
        ic = load_config(f["config"]).get("InitConfiguration") or {}
    tokens = parse_tokens(ic)
    kc = admin_kubeconfig(f.get("kubeconfig"))
    tid, first = next(iter(tokens.items()))
    out(f"[bootstrap-token] Using token: "
        f"{'<value withheld>' if f.get('skip-token-print') else tid + '.' + first['secret']}")
    for line in BOOTSTRAP_LINES[:1]:
        out(line)
    for tid, t in tokens.items():
        put_token(kc, tid, t, replace=True, phase="bootstrap-token")
    for line in BOOTSTRAP_LINES[1:]:
        out(line)
    return 0


def cmd_init_phase(argv) -> int:
    if argv[:1] == ["bootstrap-token"]:
        return cmd_phase_bootstrap_token(argv[1:])
    if not argv or argv[0] != "upload-certs":
        raise Fatal(f"stand-in kubeadm: 'kubeadm init phase {argv[0] if argv else ''}' is not implemented "
                    f"(only bootstrap-token and upload-certs)")
    f, pos, given = parse_flags(argv[1:], UPLOAD_FLAGS, SHORT)
    if not f.get("upload-certs"):
        out("[upload-certs] Skipping phase. Please see --upload-certs")
        return 0
    key = f.get("certificate-key")
    if f.get("config"):
        check_mix(given, {"config", "upload-certs", "kubeconfig", "skip-certificate-key-print", "dry-run"})
        ic = load_config(f["config"]).get("InitConfiguration") or {}
        key = ic.get("certificateKey") or key
        aggregate(certificate_key_errors(str(key or ""), "certificateKey"))
    key = str(key or secrets.token_hex(32))
    kc = admin_kubeconfig(f.get("kubeconfig"))
    try:
        data = read_uploadable(key)
    except Fatal as exc:
        raise PhaseError("upload-certs", str(exc)) from None
    code, body = api(kc, "PUT", "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
                     {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "kubeadm-certs"}, "data": data},
                     phase="upload-certs")
    if code >= 300:
        raise PhaseError("upload-certs", f"error uploading certs: {status_message(body)}")
    out('[upload-certs] Storing the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
    out("[upload-certs] Using certificate key:")
    out(key if not f.get("skip-certificate-key-print") else "<value withheld>")
    return 0


# -------------------------------------------------------------------- join

JOIN_FLAGS = {"config": "str", "ignore-preflight-errors": "list", "skip-phases": "list", "dry-run": "bool",
              "token": "str", "discovery-token": "str", "discovery-token-ca-cert-hash": "list",
              "discovery-token-unsafe-skip-ca-verification": "bool", "discovery-file": "str",
              "tls-bootstrap-token": "str", "control-plane": "bool", "certificate-key": "str",
              "cri-socket": "str", "node-name": "str", "apiserver-advertise-address": "str",
              "apiserver-bind-port": "int", "patches": "str", **GLOBAL}
JOIN_MIX_OK = {"config", "ignore-preflight-errors", "skip-phases", "dry-run", "patches"}


def join_config(f: dict, pos: list, given: list) -> dict:
    if f.get("config"):
        check_mix(given, JOIN_MIX_OK)
        if pos:
            raise Fatal(f"can not mix '--config' with arguments {pos}")
        jc = load_config(f["config"]).get("JoinConfiguration")
        if jc is None:
            raise Fatal("no JoinConfiguration kind was found in the YAML file")
        return jc
    av = f"kubeadm.k8s.io/{'v1beta4' if KUBE_MINOR >= 31 else 'v1beta3'}"
    tok = f.get("discovery-token") or f.get("token") or ""
    jc = {"apiVersion": av, "kind": "JoinConfiguration",
          "discovery": {"bootstrapToken": {"apiServerEndpoint": pos[0] if pos else "", "token": tok,
                                           "caCertHashes": f.get("discovery-token-ca-cert-hash") or [],
                                           "unsafeSkipCAVerification": bool(
                                               f.get("discovery-token-unsafe-skip-ca-verification"))},
                        "tlsBootstrapToken": f.get("tls-bootstrap-token") or tok},
          "nodeRegistration": {}}
    if f.get("discovery-file"):
        jc["discovery"] = {"file": {"kubeConfigPath": f["discovery-file"]}}
    if f.get("cri-socket"):
        jc["nodeRegistration"]["criSocket"] = f["cri-socket"]
    if f.get("node-name"):
        jc["nodeRegistration"]["name"] = f["node-name"]
    if f.get("control-plane"):
        jc["controlPlane"] = {"localAPIEndpoint": {}, "certificateKey": f.get("certificate-key", "")}
        if f.get("apiserver-advertise-address"):
            jc["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] = f["apiserver-advertise-address"]
        if f.get("apiserver-bind-port"):
            jc["controlPlane"]["localAPIEndpoint"]["bindPort"] = f["apiserver-bind-port"]
    return jc


def discovery_timeout(jc: dict) -> float:
    conf = (jc.get("discovery") or {}).get("timeout") or ((jc.get("timeouts") or {}).get("discovery"))
    limit = env_seconds("STANDIN_DISCOVERY_TIMEOUT", 20)
    if exists("/etc/standins/discovery-timeout"):
        try:
            limit = float(read_file("/etc/standins/discovery-timeout").strip())
        except ValueError:
            pass
    real = parse_duration(conf) if conf else 300
    return min(real, limit)


def discover(bt: dict, timeout: float) -> str:
    """Token discovery exactly as kubeadm does it; returns the validated cluster CA PEM."""
    endpoint = str(bt.get("apiServerEndpoint") or "")
    token = str(bt.get("token") or "")
    m = TOKEN_RE.match(token)
    if not m:
        raise Fatal(f'the bootstrap token "{token}" was not of the form "^([a-z0-9]{{6}})\\\\.([a-z0-9]{{16}})$"')
    tid, tsec = m.group(1), m.group(2)
    pins = [str(h) for h in bt.get("caCertHashes") or []]
    for h in pins:
        fmt, _, val = h.partition(":")
        if not val:
            raise Fatal("invalid discovery token CA certificate hash: invalid hash, expected \"format:hex-value\". "
                        "Known format(s) are: sha256")
        if fmt.lower() != "sha256":
            raise Fatal(f'invalid discovery token CA certificate hash: unknown hash format "{fmt}". '
                        f"Known format(s) are: sha256")
        if not re.fullmatch(r"[0-9a-fA-F]{64}", val):
            raise Fatal(f'invalid discovery token CA certificate hash: invalid hash "{h}", expected a 32 byte '
                        f"SHA-256 hash, found {len(val) // 2} bytes")
    server = f"https://{endpoint}"
    path = "/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s"
    deadline = time.time() + timeout
    last, data = "", {}
    while True:
        try:
            code, body = https_request(server, "GET", path, ca_pem=None, timeout=5)
            if code == 200:
                data = (json.loads(body).get("data") or {})
                if f"jws-kubeconfig-{tid}" in data:
                    break
                last = f'could not find a JWS signature in the cluster-info ConfigMap for token ID "{tid}"'
            else:
                last = f"failed to request the cluster-info ConfigMap: {status_message(body)}"
        except ConnError as exc:
            last = f"failed to request the cluster-info ConfigMap: {exc}"
        if time.time() >= deadline:
            raise PhaseError("preflight", f"couldn't validate the identity of the API Server: {last}")
        time.sleep(min(1.0, max(0.1, deadline - time.time())))
    kubeconfig = data.get("kubeconfig")
    if not kubeconfig:
        raise PhaseError("preflight", "couldn't validate the identity of the API Server: there is no kubeconfig key "
                                      "in the cluster-info ConfigMap. This API Server isn't set up for token "
                                      "bootstrapping, can't connect")
    if not jws_detached_valid(data[f"jws-kubeconfig-{tid}"], kubeconfig, tid, tsec):
        raise PhaseError("preflight", "couldn't validate the identity of the API Server: failed to verify JWS "
                                      "signature of received cluster info object, can't trust this API Server")
    try:
        cfg = yaml_load(kubeconfig)
        ca_pem = base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]).decode()
        load_cert_pem(ca_pem)
    except (YAMLError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise PhaseError("preflight", f"couldn't validate the identity of the API Server: malformed kubeconfig in "
                                      f"the cluster-info ConfigMap: {exc}") from None
    if not pins:
        return ca_pem
    hashes = [spki_sha256(pem("CERTIFICATE", d)) for label, d in pem_blocks(ca_pem) if label == "CERTIFICATE"]
    allowed = {p.lower().partition(":")[2] for p in pins}
    if not any(h.partition(":")[2] in allowed for h in hashes):
        raise PhaseError("preflight", f"couldn't validate the identity of the API Server: cluster CA found in "
                                      f"cluster-info ConfigMap is invalid: none of the public keys "
                                      f"\"{':'.join(hashes)}\" are pinned")
    try:
        code, body = https_request(server, "GET", path, ca_pem=ca_pem, timeout=10)
    except ConnError as exc:
        raise PhaseError("preflight", f"couldn't validate the identity of the API Server: failed to request the "
                                      f"cluster-info ConfigMap: {exc}") from None
    if code != 200 or (json.loads(body).get("data") or {}).get("kubeconfig") != kubeconfig:
        raise PhaseError("preflight", "couldn't validate the identity of the API Server: the second kubeconfig from "
                                      "the cluster-info ConfigMap (using validated TLS) was different from the first")
    return ca_pem


# Where a test may stop kubeadm (the order of upstream's phases: cmd/kubeadm/app/cmd/init.go appends preflight,
# certs, kubeconfig, etcd, control-plane, kubelet-start, wait-control-plane, upload-config, upload-certs,
# mark-control-plane, bootstrap-token, kubelet-finalize, addon, show-join-command; cmd/kubeadm/app/cmd/join.go
# appends preflight, control-plane-prepare, check-etcd, kubelet-start, control-plane-join (etcd, update-status,
# mark-control-plane)). Each point is "that phase has finished, the next has not started"; etcd-member-added is
# inside control-plane-join/etcd: the member is announced and etcd.yaml written, the member has not started.
PAUSE_POINTS = {"init": ("certs", "kubeconfig", "control-plane", "kubelet-start"),
                "join": ("preflight", "control-plane-prepare", "kubelet-start", "etcd-member-added",
                         "control-plane-join/etcd")}


def pause_point(command: str, point: str) -> None:
    """Test hook: /etc/standins/kubeadm-pause holds ``step=join/kubelet-start seconds=600``.

    At that point kubeadm writes its pid to /run/standins/kubeadm-paused, deletes the hook (one run only)
    and sleeps, so that a test can kill it there and leave exactly the half state a killed kubeadm leaves.
    """
    assert point in PAUSE_POINTS[command], point
    if not exists(PAUSE_FILE):
        return
    words = dict(w.split("=", 1) for w in read_file(PAUSE_FILE).split() if "=" in w)
    if words.get("step") != f"{command}/{point}":
        return
    remove_path(PAUSE_FILE)
    seconds = float(words.get("seconds") or 600)
    note(f"paused by {PAUSE_FILE} at {command}/{point}")
    write_file(PAUSED_FILE, f"pid={os.getpid()} step={command}/{point}\n", 0o644)
    sys.stdout.flush()
    time.sleep(seconds)
    remove_path(PAUSED_FILE)


def fail_next_join(phase: str) -> None:
    """Tests create /etc/standins/fail-next-join (content: preflight | kubelet-start) to fail one join."""
    if not exists(FAIL_NEXT_JOIN):
        return
    want = read_file(FAIL_NEXT_JOIN).strip() or "preflight"
    if want != phase:
        return
    remove_path(FAIL_NEXT_JOIN)
    note(f"failure injected by {FAIL_NEXT_JOIN} ({phase})")
    raise _INJECTED[phase]()


def _fail_preflight():
    ep = _JOIN_CTX.get("endpoint", "")
    return PhaseError("preflight", f"couldn't validate the identity of the API Server: failed to request the "
                                   f"cluster-info ConfigMap: Get \"https://{ep}/api/v1/namespaces/kube-public/"
                                   f"configmaps/cluster-info?timeout=10s\": net/http: TLS handshake timeout")


def _fail_kubelet_start():
    out("[kubelet-check] Initial timeout of 40s passed.")
    return PhaseError("kubelet-start", "error waiting for kubelet TLS bootstrap: timed out waiting for the condition")


_INJECTED = {"preflight": _fail_preflight, "kubelet-start": _fail_kubelet_start}
_JOIN_CTX: dict = {}


def api(kc: dict, method: str, path: str, body=None, phase: str = "", timeout: float = 10.0):
    try:
        return kc_request(kc, method, path, body, timeout=timeout)
    except ConnError as exc:
        if phase:
            raise PhaseError(phase, str(exc)) from None
        raise Fatal(str(exc)) from None


def cmd_join(argv) -> int:
    f, pos, given = parse_flags(argv, JOIN_FLAGS, SHORT)
    if f.get("dry-run"):
        raise Fatal("stand-in kubeadm: --dry-run is not implemented")
    jc = join_config(f, pos, given)
    av = str(jc.get("apiVersion", ""))
    nr0 = jc.setdefault("nodeRegistration", {}) or {}
    jc["nodeRegistration"] = nr0
    nr0["criSocket"] = str(nr0.get("criSocket") or detect_cri_socket())
    default_cri_scheme(nr0)
    validate_join(jc)
    disc = jc.get("discovery") or {}
    bt = disc.get("bootstrapToken")
    if not bt:
        raise Fatal("stand-in kubeadm: only bootstrap token discovery is implemented")
    if not bt.get("apiServerEndpoint"):
        raise Fatal("discovery.bootstrapToken.apiServerEndpoint: Required value: "
                    "discovery.bootstrapToken.apiServerEndpoint or discovery.file.kubeConfigPath must be set")
    if not bt.get("caCertHashes") and not bt.get("unsafeSkipCAVerification"):
        raise Fatal("discovery.bootstrapToken.caCertHashes: Invalid value: []string(nil): using token-based discovery "
                    "without caCertHashes can be unsafe. Set unsafeSkipCAVerification as true in your kubeadm config "
                    "file or pass --discovery-token-unsafe-skip-ca-verification flag to continue")
    nr = jc.get("nodeRegistration") or {}
    extra = extra_args(nr, av, "join")
    node = str(nr.get("name") or hostname()).lower()
    cri = str(nr.get("criSocket") or detect_cri_socket())
    cp = jc.get("controlPlane")
    skip = set(f.get("skip-phases") or []) | set(jc.get("skipPhases") or [])
    ignore = ignore_preflight_errors(list(f.get("ignore-preflight-errors") or [])
                                     + list(nr.get("ignorePreflightErrors") or []))
    token = str(disc.get("tlsBootstrapToken") or bt.get("token"))
    _JOIN_CTX["endpoint"] = bt["apiServerEndpoint"]
    ep_host, ep_port = split_host_port(str(bt["apiServerEndpoint"]))
    try:
        ep_ip = resolve_host(ep_host)
    except LookupError:
        ep_ip = "8.8.8.8"

    out("[preflight] Running pre-flight checks")
    fail_next_join("preflight")
    if "preflight" not in skip:
        c = Checks(ignore)
        common_checks(c, cri, node, control_plane=bool(cp))
        if dir_not_empty(MANIFESTS):
            c.error(path_check_name("DirAvailable", MANIFESTS), f"{MANIFESTS} is not empty")
        for p in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/bootstrap-kubelet.conf"):
            if exists(p):
                c.error(path_check_name("FileAvailable", p), f"{p} already exists")
        if not cp and exists(f"{PKI}/ca.crt"):
            c.error(path_check_name("FileAvailable", f"{PKI}/ca.crt"), f"{PKI}/ca.crt already exists")
        if cp and dir_not_empty("/var/lib/etcd"):
            c.error("DirAvailable--var-lib-etcd", "/var/lib/etcd is not empty")
        c.finish()

    ca_pem = discover(bt, discovery_timeout(jc))
    pause_point("join", "preflight")
    server = f"https://{bt['apiServerEndpoint']}"
    tkc = {"server": server, "ca_pem": ca_pem, "token": token}
    out("[preflight] Reading configuration from the cluster...")
    out("[preflight] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'")
    code, body = api(tkc, "GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", phase="preflight")
    if code == 401:
        raise PhaseError("preflight", "unable to fetch the kubeadm-config ConfigMap: failed to get config map: "
                                      "Unauthorized")
    if code != 200:
        raise PhaseError("preflight", f"unable to fetch the kubeadm-config ConfigMap: {status_message(body)}")
    cc = yaml_load(json.loads(body)["data"]["ClusterConfiguration"])
    code, body = api(tkc, "GET", "/api/v1/namespaces/kube-system/configmaps/kubelet-config", phase="preflight")
    kc = yaml_load(json.loads(body)["data"]["kubelet"]) if code == 200 else kubelet_config(None, cc)
    kc["_imageRepository"] = cc.get("imageRepository", "registry.k8s.io")
    cname = cc.get("clusterName", "kubernetes")

    adv = None
    if cp is not None:
        lep = cp.get("localAPIEndpoint") or {}
        adv = str(lep.get("advertiseAddress") or default_ip(ep_ip))
        port = api_port(int(lep.get("bindPort") or 6443))
        out("[preflight] Running pre-flight checks before initializing the new control plane instance")
        if "preflight" not in skip:
            print_pull()
            sandbox_warning(cc.get("imageRepository", "registry.k8s.io"))
        key = str(cp.get("certificateKey") or "")
        if key and "control-plane-prepare/download-certs" not in skip:
            out('[download-certs] Downloading the certificates in Secret "kubeadm-certs" in the "kube-system" Namespace')
            code, body = api(tkc, "GET", "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
                             phase="control-plane-prepare/download-certs")
            if code == 404:
                raise PhaseError("control-plane-prepare/download-certs",
                                 'error downloading certs: error downloading the secret: secret "kubeadm-certs" was '
                                 'not found in the "kube-system" Namespace. This Secret might have expired. Please, '
                                 'run `kubeadm init phase upload-certs --upload-certs` on a control plane to generate '
                                 'a new one')
            if code != 200:
                raise PhaseError("control-plane-prepare/download-certs",
                                 f"error downloading certs: {status_message(body)}")
            data = json.loads(body).get("data") or {}
            try:
                files = {rel: unseal(key, data[name]) for name, rel in UPLOADED.items() if name in data}
            except DecryptError as exc:
                raise PhaseError("control-plane-prepare/download-certs",
                                 f"error downloading certs: error decoding secret data with provided key: {exc}") from None
            out(f'[download-certs] Saving the certificates to the folder: "{PKI}"')
            for rel, content in files.items():
                write_file(f"{PKI}/{rel}", content, 0o600 if rel.endswith(".key") else 0o644)
        out(f'[certs] Using certificateDir folder "{PKI}"')
        ca = ensure_ca("ca", "kubernetes", False, "ca")
        if ca[0]["spki"] != load_cert_pem(ca_pem)["spki"]:
            raise PhaseError("control-plane-prepare/certs", "error creating PKI assets: the CA certificate on disk does "
                                                            "not match the cluster CA")
        control_plane_certs(cc, node, adv, ca, generate_cas=False)
        out(f'[certs] Valid certificates and keys now exist in "{PKI}"')
        out("[kubeconfig] Generating kubeconfig files")
        out('[kubeconfig] Using kubeconfig folder "/etc/kubernetes"')
        write_kubeconfig("admin.conf", server, ca, cname, "kubernetes-admin", [ADMIN_ORG])
        write_kubeconfig("controller-manager.conf", f"https://{adv}:{port}", ca, cname, "system:kube-controller-manager")
        write_kubeconfig("scheduler.conf", f"https://{adv}:{port}", ca, cname, "system:kube-scheduler")
        out(f'[control-plane] Using manifest folder "{MANIFESTS}"')
        for comp in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            out(f'[control-plane] Creating static Pod manifest for "{comp}"')
        write_manifests_quiet(cc, node, adv, port)
        pause_point("join", "control-plane-prepare")
        out("[check-etcd] Checking that the etcd cluster is healthy")

    # kubelet-start
    code, body = api(tkc, "GET", f"/api/v1/nodes/{node}", phase="kubelet-start")
    if code == 200:
        conds = (json.loads(body).get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
            raise PhaseError("kubelet-start", f'a Node with name "{node}" and status "Ready" already exists in the '
                                              f'cluster. You must delete the existing Node or change the name of '
                                              f'this new joining Node')
    write_kubelet_files(kc, cri, extra, node, join=True)
    write_file("/etc/kubernetes/bootstrap-kubelet.conf",
               make_kubeconfig(server, ca_pem, "tls-bootstrap-token-user", cname, token=token), 0o600)
    ca_path = str(jc.get("caCertPath") or f"{PKI}/ca.crt")   # the kubelet's clientCAFile, as kubeadm writes it
    if not exists(ca_path):
        write_file(ca_path, ca_pem, 0o644)
    start_kubelet(kc)
    wait_kubelet(kc, "kubelet-start")
    out("[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap")
    fail_next_join("kubelet-start")
    key = new_ec_key()
    code, body = api(tkc, "POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests",
                     {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
                      "spec": {"signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                               "usages": ["digital signature", "client auth"],
                               "request": b64(public_key_pem(key))},
                      "standin": {"nodeName": node}}, phase="kubelet-start")
    if code == 401:
        raise PhaseError("kubelet-start", "error waiting for kubelet TLS bootstrap: the bootstrap token was rejected "
                                          "by the API server: Unauthorized")
    if code >= 300:
        raise PhaseError("kubelet-start", f"error waiting for kubelet TLS bootstrap: {status_message(body)}")
    cert = base64.b64decode(json.loads(body)["status"]["certificate"]).decode()
    cur = kubelet_client_cert(node, cert, key)
    write_file("/etc/kubernetes/kubelet.conf",
               make_kubeconfig(server, ca_pem, "default-auth", cname, cert_file=cur, key_file=cur), 0o600)
    remove_path("/etc/kubernetes/bootstrap-kubelet.conf")
    nkc = {"server": server, "ca_pem": ca_pem, "cert_pem": cert, "key_pem": key_pem(key)}
    ip = node_ip(extra, adv or default_ip(ep_ip))
    reg = {"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": node,
                        "labels": {"kubernetes.io/hostname": node, "kubernetes.io/os": "linux",
                                   "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                   "beta.kubernetes.io/arch": "amd64"},
                        "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": cri,
                                        "node.alpha.kubernetes.io/ttl": "0",
                                        "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
           "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": node}],
                      "nodeInfo": {"kubeletVersion": kubelet_version(), "containerRuntimeVersion": runtime_version(cri),
                                   "osImage": os_pretty_name(), "kernelVersion": os.uname().release}}}
    code, body = api(nkc, "POST", "/api/v1/nodes", reg, phase="kubelet-start")
    if code >= 300:
        raise PhaseError("kubelet-start", f"error registering the node: {status_message(body)}")
    pause_point("join", "kubelet-start")

    if cp is not None:
        akc = load_kubeconfig(P("/etc/kubernetes/admin.conf"))
        if real_etcd_node():
            join_real_etcd(akc, cc, node, adv)
        else:
            join_etcd_model(akc, cc, node, adv)
        code, body = api(akc, "GET", "/standin/v1/apiservers", phase="control-plane-join/etcd")
        info = json.loads(body)
        start_apiserver(node, adv, port, [f"--standin-upstream=https://{info['primaryEndpoint']}",
                                          f"--standin-proxy-cert-file={PKI}/standin-proxy-client.crt",
                                          f"--standin-proxy-key-file={PKI}/standin-proxy-client.key"])
        wait_api(adv, port, "control-plane-join/etcd")
        api(akc, "POST", "/standin/v1/apiservers", {"name": node, "endpoint": f"{adv}:{port}"},
            phase="control-plane-join/etcd")
        pause_point("join", "control-plane-join/etcd")
        if KUBE_MINOR <= 30:
            out("The 'update-status' phase is deprecated and will be removed in a future release. "
                "Currently it performs no operation")
        taints = nr.get("taints")
        taints = [CP_TAINT] if taints is None else list(taints)
        out(f"[mark-control-plane] Marking the node {node} as control-plane by adding the labels: "
            f"[{' '.join(CP_LABELS)}]")
        out(f"[mark-control-plane] Marking the node {node} as control-plane by adding the taints "
            f"[{' '.join(t['key'] + ':' + t['effect'] for t in taints)}]")
        code, body = api(akc, "PATCH", f"/api/v1/nodes/{node}",
                         {"metadata": {"labels": CP_LABELS}, "spec": {"taints": taints}},
                         phase="control-plane-join/mark-control-plane")
        if code >= 300:
            raise PhaseError("control-plane-join/mark-control-plane", status_message(body))
        out("\nThis node has joined the cluster and a new control plane instance was created:\n\n"
            "* Certificate signing request was sent to apiserver and approval was received.\n"
            "* The Kubelet was informed of the new secure connection details.\n"
            "* Control plane label and taint were applied to the new node.\n"
            "* The Kubernetes control plane instances scaled up.\n"
            "* A new etcd member was added to the local/stacked etcd cluster.\n\n"
            "To start administering your cluster from this node, you need to run the following as a regular user:\n\n"
            "\tmkdir -p $HOME/.kube\n\tsudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
            "\tsudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
            "Run 'kubectl get nodes' to see this node join the cluster.\n")
        return 0
    out("\nThis node has joined the cluster:\n"
        "* Certificate signing request was sent to apiserver and a response was received.\n"
        "* The Kubelet was informed of the new secure connection details.\n\n"
        "Run 'kubectl get nodes' on the control-plane to see this node join the cluster.\n")
    return 0


def join_etcd_model(akc: dict, cc: dict, node: str, adv: str) -> None:
    """control-plane-join/etcd against the stand-in API server's model of etcd."""
    code, body = api(akc, "POST", "/standin/v1/etcd/members", {"name": node, "peerURL": f"https://{adv}:2380"},
                     phase="control-plane-join/etcd")
    if code >= 300:
        raise PhaseError("control-plane-join/etcd", f"error creating local etcd static pod manifest file: "
                                                    f"{status_message(body)}")
    members = json.loads(body)["members"]
    out("[etcd] Announced new etcd member joining to the existing etcd cluster")
    out('[etcd] Creating static Pod manifest for "etcd"')
    initial = ",".join(f"{n}={m['peerURL']}" for n, m in sorted(members.items()) if m.get("peerURL"))
    write_etcd_manifest(cc, node, adv, initial, "existing")
    pause_point("join", "etcd-member-added")
    out("[etcd] Waiting for the new etcd member to join the cluster. This can take up to 40s")
    time.sleep(env_seconds("STANDIN_ETCD_JOIN_SECONDS", 0.3))
    api(akc, "POST", f"/standin/v1/etcd/members/{node}/started", {}, phase="control-plane-join/etcd")


ETCD_API_SECONDS = 120      # kubeadm's default timeouts.etcdAPICall (cmd/kubeadm/app/apis/kubeadm/v1beta4)


def etcd_endpoints(akc: dict, phase: str) -> list:
    """The stacked members' client URLs: one per control plane the cluster lists (kubeadm reads them from
    the etcd Pods' kubeadm.kubernetes.io/etcd.advertise-client-urls annotation)."""
    code, body = api(akc, "GET", "/standin/v1/apiservers", phase=phase)
    return [f"https://{endpoint.rsplit(':', 1)[0]}:2379" for endpoint in json.loads(body)["apiservers"].values()]


def etcd_poll(what: str, phase: str, attempt, seconds: float = ETCD_API_SECONDS):
    """attempt() until it returns something other than None, within ``seconds`` (kubeadm's
    wait.PollUntilContextTimeout with EtcdAPICallRetryInterval); PhaseError with etcd's last word after."""
    deadline, last = time.time() + seconds, "no answer"
    while True:
        try:
            result = attempt()
            if result is not None:
                return result
        except (EtcdError, OSError) as exc:
            last = str(exc)
        if time.time() >= deadline:
            raise PhaseError(phase, f"{what}: {last}")
        time.sleep(0.5)


def join_real_etcd(akc: dict, cc: dict, node: str, adv: str) -> None:
    """control-plane-join/etcd against Debian's real etcd, as kubeadm does it (cmd/kubeadm/app/phases/etcd/
    local.go CreateStackedEtcdStaticPodManifestFile, cmd/kubeadm/app/util/etcd/etcd.go addMember and
    MemberPromote): add this member as a learner (or find it already added by its peer URL), write etcd.yaml
    with the members as the initial cluster, promote the learner once it has caught up, wait until every
    member answers."""
    phase, peer = "control-plane-join/etcd", f"https://{adv}:2380"
    endpoints = etcd_endpoints(akc, phase)

    def add():
        listed = etcd_v3(endpoints, "cluster/member/list", {}).get("members") or []
        if not any((m.get("peerURLs") or [""])[0] == peer for m in listed):
            try:
                listed = etcd_v3(endpoints, "cluster/member/add", {"peerURLs": [peer], "isLearner": True})["members"]
            except EtcdError as exc:
                if "Peer URLs already exists" not in str(exc):
                    raise
                listed = etcd_v3(endpoints, "cluster/member/list", {}).get("members") or []
        return listed

    members = etcd_poll("error creating local etcd static pod manifest file", phase, add)
    api(akc, "POST", "/standin/v1/etcd/members", {"name": node, "peerURL": peer, "added": True}, phase=phase)
    out("[etcd] Announced new etcd member joining to the existing etcd cluster")
    out('[etcd] Creating static Pod manifest for "etcd"')
    initial = ",".join(f"{node if m['peerURLs'][0] == peer else (m.get('name') or format(int(m['ID']), 'x'))}="
                       f"{m['peerURLs'][0]}" for m in members)
    write_etcd_manifest(cc, node, adv, initial, "existing")
    pause_point("join", "etcd-member-added")
    learner = next(m["ID"] for m in members if m["peerURLs"][0] == peer)

    def promote():
        listed = etcd_v3(endpoints, "cluster/member/list", {}).get("members") or []
        if not any(m["ID"] == learner and m.get("isLearner") for m in listed):
            return True         # "Member already promoted"
        etcd_v3(endpoints, "cluster/member/promote", {"ID": learner})
        return True

    etcd_poll("error promoting the learner to a voting member", phase, promote)
    out(f"[etcd] Waiting for the new etcd member to join the cluster. This can take up to "
        f"{ETCD_API_SECONDS // 60}m0s")
    wait_etcd_available([*endpoints, f"https://{adv}:2379"], phase)
    api(akc, "POST", f"/standin/v1/etcd/members/{node}/started", {}, phase=phase)


def wait_etcd_available(endpoints: list, phase: str) -> None:
    """etcdutil WaitForClusterAvailable: every endpoint answers a status request."""
    for endpoint in endpoints:
        etcd_poll("timeout waiting for etcd cluster to be available", phase,
                  lambda: etcd_v3([endpoint], "maintenance/status", {}, timeout=5))


def write_manifests_quiet(cc: dict, node: str, adv: str, port: int) -> None:
    saved = sys.stdout
    try:
        sys.stdout = open(os.devnull, "w")
        write_manifests(cc, node, adv, port, f"{node}=https://{adv}:2380", "existing")
    finally:
        sys.stdout.close()
        sys.stdout = saved
    remove_path(f"{MANIFESTS}/etcd.yaml")  # written in control-plane-join/etcd, as real kubeadm does
    if not dir_not_empty("/var/lib/etcd/member"):   # nor does etcd's data dir exist before its pod starts
        remove_path("/var/lib/etcd/member")


# ------------------------------------------------------------------- reset

RESET_FLAGS = {"force": "bool", "cri-socket": "str", "ignore-preflight-errors": "list", "cleanup-tmp-dir": "bool",
               "skip-phases": "list", "kubeconfig": "str", "dry-run": "bool", "cert-dir": "str", "config": "str",
               **GLOBAL}


def cmd_reset(argv) -> int:
    f, pos, given = parse_flags(argv, RESET_FLAGS, {**SHORT, "f": "force"})
    force = bool(f.get("force"))
    if f.get("config"):
        rc = load_config(f["config"]).get("ResetConfiguration") or {}
        force = force or bool(rc.get("force"))
    if exists("/etc/kubernetes/admin.conf") or exists("/etc/kubernetes/kubelet.conf"):
        out("[reset] Reading configuration from the cluster...")
        out("[reset] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'")
    else:
        klog("W", "[reset] No kubeadm config, using etcd pod spec to get data directory")
    if not force:
        sys.stdout.write("[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be "
                         "reverted.\n[reset] Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        answer = read_stdin().decode(errors="replace").strip().lower()
        if answer not in ("y", "yes"):
            raise PhaseError("preflight", "won't proceed; the user didn't answer (Y|y) in order to continue")
    left = notify_leaving()
    out("[preflight] Running pre-flight checks")
    stop_apiserver()
    member_down(left)
    if real_etcd_node():
        systemctl("stop", "standin-etcd.service")       # reset removes the static pods' containers
    if exists(f"{MANIFESTS}/etcd.yaml") or dir_not_empty("/var/lib/etcd"):
        clear_dir("/var/lib/etcd")
        out("[reset] Deleted contents of the etcd data directory: /var/lib/etcd")
    else:
        out("[reset] No etcd config found. Assuming external etcd")
        out("[reset] Please, manually reset etcd to prevent further issues")
    out("[reset] Stopping the kubelet service")
    if systemd_available():
        systemctl("stop", "kubelet.service")
    out(f'[reset] Unmounting mounted directories in "{KUBELET_DIR}"')
    dirs = [MANIFESTS, KUBELET_DIR, PKI]
    for d in dirs:
        clear_dir(d)
    out(f"[reset] Deleting contents of directories: [{' '.join(dirs)}]")
    files = [f"/etc/kubernetes/{n}" for n in ("admin.conf", "super-admin.conf", "kubelet.conf",
                                               "bootstrap-kubelet.conf", "controller-manager.conf",
                                               "scheduler.conf")]
    for p in files:
        if exists(p):
            remove_path(p)
    out(f"[reset] Deleting files: [{' '.join(files)}]")
    out("\nThe reset process does not clean CNI configuration. To do so, you must remove /etc/cni/net.d\n\n"
        "The reset process does not reset or clean up iptables rules or IPVS tables.\n"
        'If you wish to reset iptables, you must do so manually by using the "iptables" command.\n\n'
        "If your cluster was setup to utilize IPVS, run ipvsadm --clear (or similar)\n"
        "to reset your system's IPVS tables.\n\n"
        "The reset process does not clean your kubeconfig files and you must remove them manually.\n"
        "Please, check the contents of the $HOME/.kube/config file.")
    return 0


def notify_leaving():
    """Best effort, like real reset: leave etcd (control planes) and stop reporting Ready."""
    node = None
    try:
        if exists("/etc/kubernetes/kubelet.conf"):
            kc = load_kubeconfig(P("/etc/kubernetes/kubelet.conf"))
            cn = load_cert_pem(kc["cert_pem"])["subject"].get("CN", [""])[0] if kc.get("cert_pem") else ""
            node = cn[len("system:node:"):] if cn.startswith("system:node:") else None
            if node:
                kc_request(kc, "POST", "/standin/v1/nodes-kubelet-stopped", {"name": node}, timeout=3)
        if exists("/etc/kubernetes/admin.conf") and exists(f"{MANIFESTS}/etcd.yaml") and not exists(STATE_FILE):
            akc = load_kubeconfig(P("/etc/kubernetes/admin.conf"))
            name = node or hostname()
            out(f'[reset] Removing info for node "{name}" from the ConfigMap "kubeadm-config" in the "kube-system" '
                f'Namespace')
            if real_etcd_node():
                return leave_real_etcd(akc, name)
            code, body = kc_request(akc, "DELETE", f"/standin/v1/etcd/members/{name}", timeout=3)
            if code >= 300:
                # cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go: a warning, and reset goes on; the member
                # stays in the cluster with its etcd down (the caller tells the stand-in cluster so).
                klog("W", f"[reset] Failed to remove etcd member: {status_message(body)}, please manually remove "
                          f"this etcd member using etcdctl")
                return akc, name
    except (ConnError, OSError, ValueError, KeyError, YAMLError) as exc:
        klog("W", f"[reset] Unable to reach the cluster: {exc}")
    return None


def leave_real_etcd(akc: dict, name: str):
    """cmd/kubeadm/app/cmd/phases/reset/removeetcdmember.go with Debian's etcd: this member's ID by its peer
    URL (etcd.yaml's --initial-advertise-peer-urls), removed through the cluster's endpoints, retried within
    kubeadm's etcdAPICall timeout (etcd refuses with "unhealthy cluster" while a member has been connected
    for less than 5 s: etcd-io/etcd server/etcdserver/server.go mayRemoveMember); on failure a warning, and
    reset goes on. Returns what member_down needs when the member stayed."""
    try:
        pod = yaml_load(read_file(f"{MANIFESTS}/etcd.yaml"))
        flags = dict(a.split("=", 1) for a in pod["spec"]["containers"][0]["command"][1:] if "=" in a)
        peer = flags["--initial-advertise-peer-urls"]
        endpoints = etcd_endpoints(akc, "remove-etcd-member") + [LOCAL_ETCD]

        def remove():
            listed = etcd_v3(endpoints, "cluster/member/list", {}, timeout=5).get("members") or []
            ids = [m["ID"] for m in listed if (m.get("peerURLs") or [""])[0] == peer]
            if ids:
                etcd_v3(endpoints, "cluster/member/remove", {"ID": ids[0]}, timeout=10)
            return True

        etcd_poll("failed to remove etcd member", "remove-etcd-member", remove)
    except (EtcdError, PhaseError, ConnError, OSError, KeyError, IndexError, TypeError, ValueError, YAMLError) \
            as exc:
        klog("W", f"[reset] Failed to remove etcd member: {exc}, please manually remove this etcd member using "
                  f"etcdctl")
        return akc, name
    try:
        kc_request(akc, "POST", f"/standin/v1/etcd/members/{name}/removed", {}, timeout=3)
    except ConnError:
        pass        # the model's books only: etcd itself has removed the member
    return None


def member_down(left) -> None:
    """After reset stopped this node's etcd without removing its member: the member is down, not gone."""
    if left:
        try:
            kc_request(left[0], "POST", f"/standin/v1/etcd/members/{left[1]}/stopped", {}, timeout=3)
        except ConnError:
            pass


# ------------------------------------------------------------------- token

TOKEN_FLAGS = {"kubeconfig": "str", "dry-run": "bool", "print-join-command": "bool", "ttl": "str",
               "description": "str", "usages": "list", "groups": "list", "certificate-key": "str",
               "config": "str", "output": "str", "show-managed-fields": "bool", "allow-missing-template-keys": "bool",
               **GLOBAL}


def admin_kubeconfig(path: str | None) -> dict:
    path = path or "/etc/kubernetes/admin.conf"
    try:
        return load_kubeconfig(user_path(path))
    except FileNotFoundError:
        raise Fatal(f'failed to load admin kubeconfig: open {path}: no such file or directory') from None


def put_token(kc: dict, tid: str, t: dict, replace: bool, phase: str = "") -> None:
    """Store bootstrap token tid (a parse_tokens() entry) as its kube-system Secret."""
    data = {"token-id": tid, "token-secret": t["secret"], "description": t.get("description", ""),
            "auth-extra-groups": ",".join(t.get("groups") or [DEFAULT_TOKEN_GROUP])}
    if t.get("expires"):
        data["expiration"] = rfc3339(t["expires"])
    for u in t.get("usages") or ["signing", "authentication"]:
        data[f"usage-bootstrap-{u}"] = "true"
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
              "metadata": {"name": f"bootstrap-token-{tid}", "namespace": "kube-system"},
              "data": {k: b64(v) for k, v in data.items()}}
    path = "/api/v1/namespaces/kube-system/secrets"
    code, body = api(kc, "POST", path, secret, phase=phase)
    if code == 409 and replace:
        api(kc, "DELETE", f"{path}/bootstrap-token-{tid}", phase=phase)
        code, body = api(kc, "POST", path, secret, phase=phase)
    if code >= 300:
        msg = f"failed to create or update bootstrap token with name bootstrap-token-{tid}: {status_message(body)}"
        raise PhaseError(phase, msg) if phase else Fatal(msg)


def cmd_token(argv) -> int:
    if not argv:
        out("This command manages bootstrap tokens. Available Commands: create delete generate list")
        return 0
    sub, rest = argv[0], argv[1:]
    f, pos, given = parse_flags(rest, TOKEN_FLAGS, {**SHORT, "o": "output"})
    if sub == "generate":
        out(new_token())
        return 0
    kc = admin_kubeconfig(f.get("kubeconfig"))
    if sub == "create":
        tok = pos[0] if pos else new_token()
        m = TOKEN_RE.match(tok)
        if not m:
            raise Fatal(f'the bootstrap token "{tok}" was not of the form "^([a-z0-9]{{6}})\\\\.([a-z0-9]{{16}})$"')
        ttl = parse_duration(f.get("ttl", "24h0m0s"))
        put_token(kc, m.group(1), {"secret": m.group(2), "expires": time.time() + ttl if ttl else None,
                                   "usages": f.get("usages"), "groups": f.get("groups"),
                                   "description": f.get("description", "")}, replace=False)
        if not f.get("print-join-command"):
            out(tok)
            return 0
        ep = kc["server"].split("://", 1)[-1].rstrip("/")
        line = f"kubeadm join {ep} --token {tok} --discovery-token-ca-cert-hash {spki_sha256(kc['ca_pem'])} "
        if f.get("certificate-key"):
            line += f"--control-plane --certificate-key {f['certificate-key']}"
        out(line)
        return 0
    if sub == "list":
        code, body = api(kc, "GET", "/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken")
        if code >= 300:
            raise Fatal(f"failed to list bootstrap tokens: {status_message(body)}")
        rows = []
        for item in json.loads(body).get("items", []):
            d = {k: base64.b64decode(v).decode() for k, v in item.get("data", {}).items()}
            exp = d.get("expiration")
            ttl = human_age(from_rfc3339(exp) - time.time()) if exp else "<forever>"
            usages = ",".join(sorted(k[len("usage-bootstrap-"):] for k in d if k.startswith("usage-bootstrap-")))
            rows.append([f"{d['token-id']}.{d['token-secret']}", ttl, exp or "<never>", usages,
                         d.get("description") or "<none>", d.get("auth-extra-groups", "")])
        out(table(["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"], rows))
        return 0
    if sub == "delete":
        if not pos:
            raise Fatal("missing subcommand; 'token delete' is missing token of form "
                        "\"[a-z0-9]{6}\" or \"[a-z0-9]{6}\\.[a-z0-9]{16}\"")
        for t in pos:
            tid = t.split(".")[0]
            code, body = api(kc, "DELETE", f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{tid}")
            if code >= 300:
                raise Fatal(f'failed to delete bootstrap token with name "bootstrap-token-{tid}": {status_message(body)}')
            out(f'bootstrap token "{tid}" deleted')
        return 0
    raise Fatal(f'unknown command "{sub}" for "kubeadm token"')


# ------------------------------------------------------------ small commands

def version_struct() -> str:
    v = KUBE_VERSION
    commit = hashlib.sha1(f"standin-{v}".encode()).hexdigest()
    return (f'&version.Info{{Major:"1", Minor:"{KUBE_MINOR}", GitVersion:"v{v}", GitCommit:"{commit}", '
            f'GitTreeState:"clean", BuildDate:"2024-06-11T20:20:00Z", GoVersion:"go1.22.4", Compiler:"gc", '
            f'Platform:"linux/amd64"}}')


def cmd_version(argv) -> int:
    f, pos, _ = parse_flags(argv, {"output": "str", **GLOBAL}, {**SHORT, "o": "output"})
    o = f.get("output", "")
    if o == "short":
        out(f"v{KUBE_VERSION}")
    elif o in ("json", "yaml"):
        info = {"major": "1", "minor": str(KUBE_MINOR), "gitVersion": f"v{KUBE_VERSION}",
                "gitCommit": hashlib.sha1(f"standin-{KUBE_VERSION}".encode()).hexdigest(), "gitTreeState": "clean",
                "buildDate": "2024-06-11T20:20:00Z", "goVersion": "go1.22.4", "compiler": "gc",
                "platform": "linux/amd64"}
        doc = {"clientVersion": info}
        out(json.dumps(doc, indent=2) if o == "json" else yaml_dump(doc).rstrip())
    elif o:
        raise Fatal(f'invalid output format: {o}')
    else:
        out(f"kubeadm version: {version_struct()}")
    return 0


# `kubeadm certs check-expiration` / `renew`: the renewal manager's certificates (cmd/kubeadm/app/phases/
# certs/renewal/manager.go, listed sorted by name) - name: (file, CA, long name). A name ending in .conf is
# the client certificate embedded in that kubeconfig under /etc/kubernetes.
RENEWABLE = {
    "admin.conf": ("admin.conf", "ca", "certificate embedded in the kubeconfig file for the admin to use and for "
                                       "kubeadm itself"),
    "apiserver": ("apiserver", "ca", "certificate for serving the Kubernetes API"),
    "apiserver-etcd-client": ("apiserver-etcd-client", "etcd-ca", "certificate the apiserver uses to access etcd"),
    "apiserver-kubelet-client": ("apiserver-kubelet-client", "ca",
                                 "certificate for the API server to connect to kubelet"),
    "controller-manager.conf": ("controller-manager.conf", "ca",
                                "certificate embedded in the kubeconfig file for the controller manager to use"),
    "etcd-healthcheck-client": ("etcd/healthcheck-client", "etcd-ca",
                                "certificate for liveness probes to healthcheck etcd"),
    "etcd-peer": ("etcd/peer", "etcd-ca", "certificate for etcd nodes to communicate with each other"),
    "etcd-server": ("etcd/server", "etcd-ca", "certificate for serving etcd"),
    "front-proxy-client": ("front-proxy-client", "front-proxy-ca", "certificate for the front proxy client"),
    "scheduler.conf": ("scheduler.conf", "ca",
                       "certificate embedded in the kubeconfig file for the scheduler manager to use"),
    "super-admin.conf": ("super-admin.conf", "ca", "certificate embedded in the kubeconfig file for the super-admin"),
}
CA_FILES = {"ca": "ca", "etcd-ca": "etcd/ca", "front-proxy-ca": "front-proxy-ca"}


def renewable() -> list:
    return [n for n in sorted(RENEWABLE) if n != "super-admin.conf" or KUBE_MINOR >= 29]


def short_human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration ShortHumanDuration (RESIDUAL TIME)."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    hours = s // 3600
    if hours < 24:
        return f"{hours}h"
    if hours < 24 * 365:
        return f"{hours // 24}d"
    return f"{hours // 24 // 365}y"


def tabwrite(rows: list) -> list:
    """text/tabwriter.NewWriter(out, 10, 4, 3, ' ', 0) over one block: every cell but a row's last is padded
    to its column's width (widest cell + 3, at least 10)."""
    widths: dict = {}
    for r in rows:
        for i, c in enumerate(r[:-1]):
            widths[i] = max(widths.get(i, 10), len(c) + 3)
    return ["".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + r[-1] for r in rows]


def cert_of(name: str):
    """(certificate dict, path) of a renewable name, or (None, path) when missing."""
    rel = RENEWABLE[name][0]
    if rel.endswith(".conf"):
        path = f"/etc/kubernetes/{rel}"
        if not exists(path):
            return None, path
        pem_ = load_kubeconfig(P(path)).get("cert_pem")
        return (load_cert_pem(pem_) if pem_ else None), path
    path = f"{PKI}/{rel}.crt"
    return (load_cert_pem(read_file(path)) if exists(path) else None), path


def expires(c: dict) -> str:
    return c["not_after"].strftime("%b %d, %Y %H:%M UTC")


def cluster_config_banner(prefix: str, kubeconfig: str | None) -> None:
    """getInternalCfg (cmd/kubeadm/app/cmd/certs.go): the kubeadm-config ConfigMap, else the defaults."""
    try:
        kc = admin_kubeconfig(kubeconfig)
        code, _ = kc_request(kc, "GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", timeout=5)
    except (Fatal, OSError, ValueError, YAMLError, ConnError):
        code = 0
    if code == 200:
        out(f'[{prefix}] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
        out(f"[{prefix}] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.")
        out("")
    else:
        out(f"[{prefix}] Error reading configuration from the Cluster. Falling back to default configuration\n")


def cmd_check_expiration(argv) -> int:
    f, pos, _ = parse_flags(argv, {"config": "str", "cert-dir": "str", "kubeconfig": "str", "output": "str",
                                   "allow-missing-template-keys": "bool", "show-managed-fields": "bool", **GLOBAL},
                            {**SHORT, "o": "output"})
    if pos:
        raise Fatal(f'unknown command "{pos[0]}" for "kubeadm certs check-expiration"')
    if f.get("output") not in (None, "text"):
        raise Fatal("stand-in kubeadm: only the text output of check-expiration is implemented")
    cluster_config_banner("check-expiration", f.get("kubeconfig"))
    now = time.time()
    ca_keys = {n: exists(f"{PKI}/{rel}.key") for n, rel in CA_FILES.items()}
    rows = [["CERTIFICATE", "EXPIRES", "RESIDUAL TIME", "CERTIFICATE AUTHORITY", "EXTERNALLY MANAGED"]]
    for name in renewable():
        c, _ = cert_of(name)
        ca = RENEWABLE[name][1]
        if c is None:
            rows.append([f"!MISSING! {name}", "", "", "", ""])
            continue
        rows.append([name, expires(c), short_human_duration(c["not_after"].timestamp() - now), ca,
                     f"{'no' if ca_keys[ca] else 'yes':<8}"])
    cas = [["CERTIFICATE AUTHORITY", "EXPIRES", "RESIDUAL TIME", "EXTERNALLY MANAGED"]]
    for name, rel in CA_FILES.items():
        if not exists(f"{PKI}/{rel}.crt"):
            cas.append([f"!MISSING! {name}", "", "", ""])
            continue
        c = load_cert_pem(read_file(f"{PKI}/{rel}.crt"))
        cas.append([name, expires(c), short_human_duration(c["not_after"].timestamp() - now),
                    f"{'no' if ca_keys[name] else 'yes':<8}"])
    for line in tabwrite(rows) + [""] + tabwrite(cas):
        out(line)
    return 0


def reissue(name: str, days: float) -> bool:
    """Sign name's certificate again by its CA (new key, same subject, SANs and usages), valid for days;
    False when the CA's key is missing (an external CA)."""
    c, path = cert_of(name)
    ca_pair = load_pair(CA_FILES[RENEWABLE[name][1]])
    if ca_pair is None:
        return False
    eku = c["exts"].get(OID_EKU, b"")
    key = new_ec_key()
    cert = make_cert(c["subject"]["CN"][0], key, orgs=c["subject"].get("O", []), issuer_cert=ca_pair[0],
                     issuer_key=ca_pair[1], server=d_oid(OID_SERVER_AUTH) in eku,
                     client=d_oid(OID_CLIENT_AUTH) in eku, dns=c["dns"], ips=c["ips"], days=days)
    if path.endswith(".conf"):
        kc = load_kubeconfig(P(path))
        write_file(path, make_kubeconfig(kc["server"], kc["ca_pem"], kc["user"], kc["cluster"], cert_pem=cert,
                                         key_pem=key_pem(key)), 0o600)
    else:
        write_pair(RENEWABLE[name][0], cert, key)
    return True


def cmd_renew(argv) -> int:
    """`kubeadm certs renew all|NAME` (certs.go getRenewSubCommands/renewCert): a new key and certificate
    valid for a year (ClusterConfiguration certificateValidityPeriod's default), signed by the local CA."""
    f, pos, _ = parse_flags(argv, {"config": "str", "cert-dir": "str", "kubeconfig": "str", **GLOBAL}, SHORT)
    names = renewable()
    if len(pos) != 1 or (pos[0] != "all" and pos[0] not in names):
        raise Fatal('"kubeadm certs renew" needs one of: all, ' + ", ".join(names))
    todo = names if pos[0] == "all" else [pos[0]]
    if exists("/etc/kubernetes/admin.conf"):
        out("[renew] Reading configuration from the cluster...")
        out("[renew] FYI: You can look at this config file with 'kubectl -n kube-system get cm kubeadm-config -o yaml'")
        out("")
    else:
        out("[renew] Error reading configuration from the Cluster. Falling back to default configuration\n")
    for name in todo:
        long_name = RENEWABLE[name][2]
        if cert_of(name)[0] is None:
            out(f"MISSING! {long_name}")
        elif not reissue(name, 365):
            out(f"Detected external {RENEWABLE[name][1]}, {long_name} can't be renewed")
        else:
            out(f"{long_name} renewed")
    if pos[0] == "all":
        out("\nDone renewing certificates. You must restart the kube-apiserver, kube-controller-manager, "
            "kube-scheduler and etcd, so that they can use the new certificates.")
    else:
        out(f"\nCertificate for {name} renewed")
    return 0


def cmd_certs(argv) -> int:
    if argv[:1] == ["certificate-key"]:
        out(secrets.token_hex(32))
        return 0
    if argv[:1] == ["check-expiration"]:
        return cmd_check_expiration(argv[1:])
    if argv[:1] == ["renew"]:
        return cmd_renew(argv[1:])
    raise Fatal("stand-in kubeadm: only 'kubeadm certs certificate-key|check-expiration|renew' are implemented")


# ------------------------------------------------------------------ upgrade
# cmd/kubeadm/app/cmd/upgrade/{plan,apply,node}.go and the version policy of
# cmd/kubeadm/app/phases/upgrade/policy.go EnforceVersionPolicies: one minor at a time (mandatory), never past
# kubeadm's own minor (mandatory), a patch above kubeadm's or a kubelet more than
# MaximumAllowedMinorVersionKubeletSkew (3 since v1.28) minors behind (skippable with --force).
KUBELET_SKEW = 3
UPGRADE_FLAGS = {"yes": "bool", "force": "bool", "kubeconfig": "str", "config": "str", "dry-run": "bool",
                 "certificate-renewal": "bool", "etcd-upgrade": "bool", "ignore-preflight-errors": "str",
                 "allow-experimental-upgrades": "bool", "allow-release-candidate-upgrades": "bool",
                 "print-config": "bool", "patches": "str", "skip-phases": "str", **GLOBAL}
CONTROL_PLANE_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def semver(text: str) -> tuple:
    try:
        major, minor, patch = (int(x) for x in str(text).lstrip("v").split("-")[0].split("."))
    except ValueError:
        raise Fatal(f'couldn\'t parse Kubernetes version "{text}": could not parse "{text}" as version') from None
    return major, minor, patch


def cluster_for_upgrade(kubeconfig: str | None, prefix: str) -> tuple:
    """(admin kubeconfig, ClusterConfiguration, the Node objects) read from the cluster."""
    out(f'[{prefix}] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    out(f"[{prefix}] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.")
    kc = admin_kubeconfig(kubeconfig)
    code, body = api(kc, "GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", phase="preflight")
    if code != 200:
        raise Fatal(f"unable to fetch the kubeadm-config ConfigMap: {status_message(body)}")
    cc = yaml_load(json.loads(body)["data"]["ClusterConfiguration"]) or {}
    code, body = api(kc, "GET", "/api/v1/nodes", phase="preflight")
    nodes = json.loads(body).get("items", []) if code == 200 else []
    return kc, cc, nodes


def kubelet_versions(nodes: list) -> dict:
    return {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}


def version_policy(cluster: str, new: str, kubelets: dict) -> tuple:
    """(mandatory, skippable) errors for upgrading a cluster at ``cluster`` to ``new`` with this kubeadm."""
    out(f"[upgrade/versions] Cluster version: {cluster}")
    out(f"[upgrade/versions] kubeadm version: v{KUBE_VERSION}")
    c, n, k = semver(cluster), semver(new), semver(KUBE_VERSION)
    mandatory, skippable = [], []
    if n[1] > c[1] + 1:
        mandatory.append(f'Specified version to upgrade to "{new}" is too high; kubeadm can upgrade only 1 minor '
                         "version at a time")
    if n[1] < c[1] - 1:
        mandatory.append(f'Specified version to downgrade to "{new}" is too low; kubeadm can downgrade only 1 minor '
                         "version at a time")
    if n > k:
        if n[1] > k[1]:
            mandatory.append(f'Specified version to upgrade to "{new}" is at least one minor release higher than the '
                             f"kubeadm minor release ({n[1]} > {k[1]}). Such an upgrade is not supported")
        else:
            skippable.append(f'Specified version to upgrade to "{new}" is higher than the kubeadm version '
                             f'"v{KUBE_VERSION}". Upgrade kubeadm first using the tool you used to install kubeadm')
    if k[1] > n[1]:
        skippable.append(f"Kubeadm version v{KUBE_VERSION} can only be used to upgrade to Kubernetes version "
                         f"{k[0]}.{k[1]}")
    old = sorted({v for v in kubelets.values() if n[1] > semver(v)[1] + KUBELET_SKEW})
    if old:
        skippable.append(f"There are kubelets in this cluster that are too old that have these versions [{' '.join(old)}]")
    return mandatory, skippable


def rewrite_control_plane(version: str) -> list:
    """The static pod manifests of this node at ``version`` (the image tag; what the kubelet then runs)."""
    done = []
    for name in CONTROL_PLANE_PODS:
        path = f"{MANIFESTS}/{name}.yaml"
        if not exists(path):
            continue
        pod = yaml_load(read_file(path))
        image = pod["spec"]["containers"][0]["image"]
        pod["spec"]["containers"][0]["image"] = f"{image.rsplit(':', 1)[0]}:{version}"
        write_file(path, yaml_dump(pod), 0o600)
        done.append(name)
    return done


def cmd_upgrade_apply(argv) -> int:
    f, pos, _ = parse_flags(argv, UPGRADE_FLAGS, {**SHORT, "y": "yes", "f": "force"})
    if not pos:
        raise Fatal("missing version argument: kubeadm upgrade apply [version]")
    new = "v" + pos[0].lstrip("v")
    semver(new)
    kc, cc, nodes = cluster_for_upgrade(f.get("kubeconfig"), "upgrade")
    kubelets = kubelet_versions(nodes)
    out("[upgrade/preflight] Running preflight checks")
    out("[upgrade] Running cluster health checks")
    out(f'[upgrade/preflight] You have chosen to upgrade the cluster version to "{new}"')
    mandatory, skippable = version_policy(str(cc.get("kubernetesVersion")), new, kubelets)
    if mandatory:
        raise Fatal("[upgrade/version] FATAL: the version argument is invalid due to these fatal errors:\n\n"
                    + "".join(f"\t- {e}\n" for e in mandatory)
                    + "\nPlease fix the misalignments highlighted above and try upgrading again")
    if skippable and not f.get("force"):
        raise Fatal("[upgrade/version] FATAL: the version argument is invalid due to these errors:\n\n"
                    + "".join(f"\t- {e}\n" for e in skippable) + "\nCan be bypassed if you pass the --force flag")
    if not f.get("yes"):
        sys.stdout.write("[upgrade] Are you sure you want to proceed? [y/N]: ")
        sys.stdout.flush()
        if read_stdin().decode(errors="replace").strip().lower() not in ("y", "yes"):
            raise Fatal("won't proceed; the user didn't answer (Y|y) in order to continue")
    out("[upgrade/prepull] Pulling images required for setting up a Kubernetes cluster")
    out(f'[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version "{new}" (timeout: 5m0s)...')
    for name in rewrite_control_plane(new):
        out(f'[upgrade/staticpods] Component "{name}" upgraded successfully!')
    cc["kubernetesVersion"] = new
    code, body = api(kc, "PUT", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kubeadm-config",
                                                                             "namespace": "kube-system"},
                      "data": {"ClusterConfiguration": yaml_dump(cc)}}, phase="upload-config")
    if code >= 300:
        raise PhaseError("upload-config", status_message(body))
    out('[upgrade/upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" '
        'Namespace')
    ds = kube_proxy_daemonset(cc.get("imageRepository") or "registry.k8s.io", new, time.time())["object"]
    code, body = api(kc, "PUT", "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy", ds, phase="addon")
    if code >= 300 and code != 404:
        raise PhaseError("addon/kube-proxy", status_message(body))
    out("[upgrade/addon] Applied essential addon: CoreDNS")
    out("[upgrade/addon] Applied essential addon: kube-proxy")
    out(f'\n[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "{new}".\n\n'
        "[upgrade] Now please proceed with upgrading the rest of the nodes by following the right order.")
    return 0


def cmd_upgrade_node(argv) -> int:
    f, pos, _ = parse_flags(argv, UPGRADE_FLAGS, {**SHORT, "y": "yes", "f": "force"})
    if pos:
        raise Fatal(f'unknown command "{pos[0]}" for "kubeadm upgrade node"')
    out('[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    out("[upgrade] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.")
    # a control plane reads the cluster with admin.conf, a worker with its kubelet's credentials
    kc = admin_kubeconfig(f.get("kubeconfig") or ("/etc/kubernetes/admin.conf" if exists("/etc/kubernetes/admin.conf")
                                                  else "/etc/kubernetes/kubelet.conf"))
    code, body = api(kc, "GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config", phase="preflight")
    if code != 200:
        raise PhaseError("preflight", f"unable to fetch the kubeadm-config ConfigMap: {status_message(body)}")
    version = str((yaml_load(json.loads(body)["data"]["ClusterConfiguration"]) or {}).get("kubernetesVersion"))
    out("[upgrade/preflight] Running pre-flight checks")
    if exists(f"{MANIFESTS}/kube-apiserver.yaml"):
        out("[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster")
        out(f'[upgrade/control-plane] Upgrading your Static Pod-hosted control plane instance to version "{version}"...')
        for name in rewrite_control_plane(version):
            out(f'[upgrade/staticpods] Component "{name}" upgraded successfully!')
        out("[upgrade/control-plane] The control plane instance for this node was successfully upgraded!")
    else:
        out("[upgrade/preflight] Skipping prepull. Not a control plane node.")
        out("[upgrade/control-plane] Skipping phase. Not a control plane node.")
    out(f'[upgrade/kubelet-config] Writing kubelet configuration to file "{KUBELET_DIR}/config.yaml"')
    out("[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!")
    out("[upgrade] The configuration for this node was successfully upgraded!")
    out("[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.")
    return 0


def cmd_upgrade_plan(argv) -> int:
    f, pos, _ = parse_flags(argv, UPGRADE_FLAGS, SHORT)
    out("[preflight] Running pre-flight checks.")
    _, cc, nodes = cluster_for_upgrade(f.get("kubeconfig"), "upgrade/config")
    kubelets = kubelet_versions(nodes)
    out("[upgrade] Running cluster health checks")
    out("[upgrade] Fetching available versions to upgrade to")
    cluster = str(cc.get("kubernetesVersion"))
    out(f"[upgrade/versions] Cluster version: {cluster}")
    out(f"[upgrade/versions] kubeadm version: v{KUBE_VERSION}")
    target = "v" + pos[0].lstrip("v") if pos else None
    if target is None:
        # no route to dl.k8s.io in the lab: kubeadm falls back to its own version (cmd/kubeadm/app/util/version.go)
        klog("W", "[upgrade/versions] WARNING: Couldn't fetch latest stable version from the internet: unable to "
                  'get URL "https://dl.k8s.io/release/stable.txt"')
        klog("W", "[upgrade/versions] WARNING: Falling back to current kubeadm version as latest stable version")
        target = f"v{KUBE_VERSION}"
    out(f"[upgrade/versions] Target version: {target}")
    if semver(target) <= semver(cluster):
        out("\nAwesome, you're up-to-date! Enjoy!")
        return 0
    rows = [["COMPONENT", "NODE", "CURRENT", "TARGET"]] + [["kubelet", n, v, target] for n, v in sorted(kubelets.items())]
    out("\nComponents that must be upgraded manually after you have upgraded the control plane with 'kubeadm "
        "upgrade apply':")
    out(tabulate(rows).rstrip())
    out("\nUpgrade to the latest stable version:\n")
    cps = sorted(n["metadata"]["name"] for n in nodes
                 if "node-role.kubernetes.io/control-plane" in n["metadata"].get("labels", {}))
    rows = [["COMPONENT", "NODE", "CURRENT", "TARGET"]]
    for comp in CONTROL_PLANE_PODS:
        rows += [[comp, n, cluster, target] for n in cps]
    rows.append(["kube-proxy", "", cluster.lstrip("v"), target])
    out(tabulate(rows).rstrip())
    out(f"\nYou can now apply the upgrade by executing the following command:\n\n\tkubeadm upgrade apply {target}\n")
    out("_" * 69)
    return 0


def tabulate(rows: list) -> str:
    """text/tabwriter with minwidth 10, padding 3 (kubeadm's plan printer)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("".join(c.ljust(max(10, w) + 3) for c, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def cmd_upgrade(argv) -> int:
    handlers = {"apply": cmd_upgrade_apply, "node": cmd_upgrade_node, "plan": cmd_upgrade_plan}
    if not argv or argv[0] not in handlers:
        raise Fatal("stand-in kubeadm: only 'kubeadm upgrade plan|apply|node' are implemented")
    return handlers[argv[0]](argv[1:])


def cmd_config(argv) -> int:
    if argv[:1] != ["images"] or len(argv) < 2 or argv[1] not in ("list", "pull"):
        raise Fatal("stand-in kubeadm: only 'kubeadm config images list|pull' is implemented")
    f, pos, given = parse_flags(argv[2:], {"config": "str", "kubernetes-version": "str", "image-repository": "str",
                                           "cri-socket": "str", "feature-gates": "str", "output": "str", **GLOBAL},
                                {**SHORT, "o": "output"})
    repo, kv, cri = "registry.k8s.io", KUBE_VERSION, None
    if f.get("config"):
        docs = load_config(f["config"])
        cc = docs.get("ClusterConfiguration") or {}
        repo = cc.get("imageRepository") or repo
        kv = str(cc.get("kubernetesVersion") or kv).lstrip("v")
        cri = ((docs.get("InitConfiguration") or docs.get("JoinConfiguration") or {}).get("nodeRegistration") or {}).get("criSocket")
    repo = f.get("image-repository") or repo
    kv = str(f.get("kubernetes-version") or kv).lstrip("v")
    imgs = image_list(repo, kv)
    if argv[1] == "list":
        for i in imgs:
            out(i)
        return 0
    cri = f.get("cri-socket") or cri or detect_cri_socket()
    sock = cri[len("unix://"):] if cri.startswith("unix://") else cri
    problem = unix_connectable(sock) if (not local_mode() or os.environ.get("STANDIN_CHECK_CRI")) else None
    for i in imgs:
        if problem:
            raise Fatal(f'failed to pull image "{i}": output: time="{rfc3339(time.time())}" level=fatal '
                        f'msg="validate service connection: validate CRI v1 image API for endpoint \\"{cri}\\": rpc '
                        f'error: code = Unavailable desc = connection error: desc = \\"transport: Error while '
                        f'dialing: {problem}\\""\n, error: exit status 1')
        out(f"[config/images] Pulled {i}")
    return 0


def cmd_standin(argv) -> int:
    """Hidden helpers for tests: `kubeadm standin expire uploaded-certs|tokens`, `kubeadm standin state`."""
    f, pos, _ = parse_flags(argv, {"kubeconfig": "str", **GLOBAL}, SHORT)
    if pos[:1] == ["reissue"] and len(pos) == 3:      # a test's short-lived certificate: reissue NAME DAYS
        if pos[1] not in RENEWABLE or cert_of(pos[1])[0] is None or not reissue(pos[1], float(pos[2])):
            raise Fatal(f"cannot reissue {pos[1]}")
        return 0
    kc = admin_kubeconfig(f.get("kubeconfig"))
    if pos[:1] == ["expire"] and len(pos) == 2:
        code, body = api(kc, "POST", "/standin/v1/expire", {"what": pos[1]})
    elif pos == ["state"]:
        code, body = api(kc, "GET", "/standin/v1/state")
    else:
        raise Fatal("usage: kubeadm standin expire uploaded-certs|tokens | kubeadm standin state")
    out(body.decode())
    return 0 if code < 300 else 1


HELP = """

    ┌──────────────────────────────────────────────────────────┐
    │ KUBEADM (STAND-IN FOR TESTS - not the real kubeadm)       │
    └──────────────────────────────────────────────────────────┘

Usage:
  kubeadm [command]

Available Commands:
  certs       Commands related to handling kubernetes certificates
  config      Manage configuration for a kubeadm cluster persisted in a ConfigMap in the cluster
  init        Run this command in order to set up the Kubernetes control plane
  join        Run this on any machine you wish to join an existing cluster
  reset       Performs a best effort revert of changes made to this host by 'kubeadm init' or 'kubeadm join'
  token       Manage bootstrap tokens
  version     Print the version of kubeadm
"""


def main(argv) -> int:
    try:
        args = list(argv)
        while args and args[0].startswith("-"):
            g, _, _ = parse_flags(args[:1], GLOBAL, SHORT)
            if g.get("help"):
                out(HELP)
                return 0
            args = args[1:] if "=" in args[0] or GLOBAL.get(args[0].lstrip("-")) == "bool" else args[2:]
        if not args or args[0] in ("help", "--help", "-h"):
            out(HELP)
            return 0
        cmd, rest = args[0], args[1:]
        if "--help" in rest or "-h" in rest:
            out(f"kubeadm {cmd} (stand-in): see tests/standins/README.md")
            return 0
        handlers = {"init": cmd_init, "join": cmd_join, "reset": cmd_reset, "token": cmd_token,
                    "version": cmd_version, "certs": cmd_certs, "config": cmd_config, "standin": cmd_standin,
                    "upgrade": cmd_upgrade}
        if cmd not in handlers:
            raise Fatal(f'unknown command "{cmd}" for "kubeadm"\nRun \'kubeadm --help\' for usage.')
        return handlers[cmd](rest)
    except FlagError as exc:
        err(str(exc))
        err(TRACE_HINT)
        return 1
    except Fatal as exc:
        err(str(exc))
        err(TRACE_HINT)
        return exc.code
    except DecryptError as exc:
        err(str(exc))
        err(TRACE_HINT)
        return 1


if __name__ == "__main__":
    run_main("kubeadm", main)
