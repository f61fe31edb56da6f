"""provisioner: build highly available kubeadm clusters over SSH.

The pieces, in the order a run uses them::

    inv = load_inventory("inventories/lab.yaml")   # validated once, trusted after
    files = render_cluster(inv, secrets)            # every config file, per host
"""

__version__ = "0.1.0"
