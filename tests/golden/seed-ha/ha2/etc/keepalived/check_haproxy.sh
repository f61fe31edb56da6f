#!/bin/sh
# Managed by provisioner. keepalived's health check for haproxy: exit 0 while
# haproxy runs; otherwise try to restart it and report failure, so keepalived
# lowers this node's priority and the VIP moves to a healthy peer.
if pidof haproxy >/dev/null 2>&1; then
    exit 0
fi
systemctl restart haproxy >/dev/null 2>&1
exit 1
