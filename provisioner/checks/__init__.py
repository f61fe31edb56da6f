"""Preflight checks: per-node checks (one module per concern) and cross-node checks.

``NODE_CHECKS`` is the ordered list the engine and the pytest plugin use.
"""

from provisioner.checks.kernel import KernelModules, KubeSysctls, NonlocalBind, SwapActive, SwapPersistent
from provisioner.checks.network import (AddressOnNic, DefaultRoute, FreePorts, Hostname, HostsConflict, NameResolution,
                                         PeerRoute, TimeSync)
from provisioner.checks.runtime import KubeletEnabled, KubeVersions, RuntimeConsistent
from provisioner.checks.certexpiry import CertExpiry
from provisioner.checks.crisocket import CriSocket
from provisioner.checks.etcddisk import EtcdDiskLatency
from provisioner.checks.hostenv import HostTools, NodeMemory, ResolvConf
from provisioner.checks.kernelcfg import KernelConfig, KernelVersion
from provisioner.checks.leftovers import KubeadmLeftovers
from provisioner.checks.proxyenv import ProxyEnv
from provisioner.checks.sources import PackageSources, RegistryReachable
from provisioner.checks.system import CgroupV2, Cpus, DiskSpace, Firewall, Memory, Privilege, SeLinux, SupportedOs

NODE_CHECKS = (
    Privilege(), SupportedOs(), CgroupV2(), Cpus(), Memory(), DiskSpace(),
    SwapActive(), SwapPersistent(), SeLinux(), Firewall(),
    Hostname(), NameResolution(), HostsConflict(), AddressOnNic(), DefaultRoute(), PeerRoute(),
    KernelModules(), KubeSysctls(), NonlocalBind(), TimeSync(), FreePorts(),
    RuntimeConsistent(), KubeVersions(),
    # issue 26: parity with kubeadm, kubespray and kubekey
    NodeMemory(), HostTools(), ResolvConf(), ProxyEnv(), KernelVersion(), KernelConfig(), KubeadmLeftovers(),
    CriSocket(), EtcdDiskLatency(), PackageSources(), RegistryReachable(),
    # issue 24: certificates of a built control plane
    CertExpiry(), KubeletEnabled(),
)
