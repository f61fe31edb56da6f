"""Preflight checks: per-node checks (one module per concern) and cross-node checks.

``NODE_CHECKS`` is the ordered list the engine and the pytest plugin use.
"""

from provisioner.checks.kernel import KernelModules, KubeSysctls, NonlocalBind, SwapActive, SwapPersistent
from provisioner.checks.network import (AddressOnNic, DefaultRoute, FreePorts, Hostname, HostsConflict, NameResolution,
                                         PeerRoute, TimeSync)
from provisioner.checks.runtime import KubeVersions, RuntimeConsistent
from provisioner.checks.system import CgroupV2, Cpus, DiskSpace, Firewall, Memory, Privilege, SeLinux, SupportedOs

NODE_CHECKS = (
    Privilege(), SupportedOs(), CgroupV2(), Cpus(), Memory(), DiskSpace(),
    SwapActive(), SwapPersistent(), SeLinux(), Firewall(),
    Hostname(), NameResolution(), HostsConflict(), AddressOnNic(), DefaultRoute(), PeerRoute(),
    KernelModules(), KubeSysctls(), NonlocalBind(), TimeSync(), FreePorts(),
    RuntimeConsistent(), KubeVersions(),
)
