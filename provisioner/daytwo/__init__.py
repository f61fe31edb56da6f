"""Day-two commands on a built cluster: certificates (:mod:`.certs`) and etcd (:mod:`.etcd`).

Each command is a plain function returning an exit code; the CLI wires them.
"""
