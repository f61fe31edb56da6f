"""provisioner-lab: systemd + SSH test hosts in network namespaces.

Test infrastructure, not the product. See tests/lab/README.md.
"""

from .bastion import bastion_lab, proxy_jump
from .config import NodeSpec, generated_nodes, read_inventory
from .lab import Lab, destroy, leftovers
from .util import LabError

__all__ = ["Lab", "NodeSpec", "LabError", "bastion_lab", "destroy", "generated_nodes", "leftovers",
           "proxy_jump", "read_inventory"]
