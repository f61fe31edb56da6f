"""provisioner-lab: systemd + SSH test hosts in network namespaces.

Test infrastructure, not the product. See tests/lab/README.md.
"""

from .config import NodeSpec, generated_nodes, read_inventory
from .lab import Lab, destroy, leftovers
from .util import LabError

__all__ = ["Lab", "NodeSpec", "LabError", "destroy", "generated_nodes", "leftovers",
           "read_inventory"]
