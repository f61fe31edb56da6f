"""Stand-in for the etcd static pod's container: runs Debian's real etcd (package etcd-server,
/usr/bin/etcd) with the command kubeadm wrote into /etc/kubernetes/manifests/etcd.yaml.

The stand-in kubelet starts it (standin-etcd.service) when the manifest appears, restarts it when
the manifest changes and stops it when the manifest goes, as the real kubelet does with the pod.
The member, its data directory, its peer and client TLS, membership and snapshots are then etcd's
own. Debian 12 ships etcd 3.4, while kubeadm 1.36+ writes the flag names of etcd 3.6
(cmd/kubeadm/app/phases/etcd/local.go getEtcdCommand: "feature-gates=InitialCorruptCheck=true" and
"watch-progress-notify-interval" from 3.6.0, the "experimental-" names before). Those two are given
to 3.4 under their 3.4 names; every other flag reaches etcd unchanged, and etcd refuses what it
does not know ("flag provided but not defined", exit 2), as the real image would refuse a wrong one.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

MANIFEST = "/etc/kubernetes/manifests/etcd.yaml"
ETCD = "/usr/bin/etcd"
# etcd 3.6 name -> etcd 3.4 name (etcd-io/etcd CHANGELOG-3.6: the experimental flags were renamed, and
# experimental-initial-corrupt-check became the InitialCorruptCheck feature gate).
RENAMED = {"--watch-progress-notify-interval": "--experimental-watch-progress-notify-interval"}
GATES = {"InitialCorruptCheck": "--experimental-initial-corrupt-check"}


def etcd34_args(command: list) -> list:
    """The manifest's command for Debian's etcd 3.4 (see the module docstring)."""
    if not command or os.path.basename(command[0]) != "etcd":
        raise ValueError(f"the etcd container's command is {command[:1]}, not etcd")
    args = []
    for arg in command[1:]:
        name, eq, value = arg.partition("=")
        if name == "--feature-gates" and eq:
            for gate in filter(None, value.split(",")):
                key, _, on = gate.partition("=")
                if key not in GATES:
                    raise ValueError(f"unknown feature gate {key!r} for etcd 3.4")
                args.append(f"{GATES[key]}={on or 'true'}")
            continue
        args.append(f"{RENAMED.get(name, name)}{eq}{value}")
    return args


def main(argv) -> int:
    try:
        pod = yaml_load(read_file(MANIFEST)) or {}
        command = pod["spec"]["containers"][0]["command"]
        args = etcd34_args(command)
    except FileNotFoundError:
        err(f"etcd-pod: {MANIFEST} is gone: the pod has no manifest")
        return 1
    except (KeyError, IndexError, TypeError, ValueError, YAMLError) as exc:
        err(f"etcd-pod: cannot run {MANIFEST}: {exc}")
        return 1
    os.execv(ETCD, [ETCD, *args])
    return 127


if __name__ == "__main__":
    run_main("etcd-pod", main, daemon=True)   # the call is logged before etcd replaces this process
