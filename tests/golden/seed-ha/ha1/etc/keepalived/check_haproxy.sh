#!/bin/sh
# Managed by provisioner. keepalived's health check, as in the kubeadm HA guide
# (kubernetes/kubeadm docs/ha-considerations.md, check_apiserver.sh): ask the API
# server's /healthz through this node's haproxy, not just "is haproxy running" -
# a running haproxy whose backends are all down must give the VIP away.
# -f: an HTTP error (503 from a dying apiserver) fails too; -k: haproxy passes TLS
# through to the apiservers, whose certificate does not name localhost.
errorExit() {
    echo "*** $*" 1>&2
    exit 1
}

curl -sfk --max-time 2 -o /dev/null https://localhost:6443/healthz \
    || errorExit "Error GET https://localhost:6443/healthz"
# On the VIP holder, also through the VIP itself (the address clients use).
if ip -4 -o addr show dev ens33 | grep -qF " 10.0.0.100/"; then
    curl -sfk --max-time 2 -o /dev/null https://10.0.0.100:6443/healthz \
        || errorExit "Error GET https://10.0.0.100:6443/healthz"
fi
