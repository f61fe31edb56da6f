"""Stand-in containerd: `containerd --version`, and a daemon that accepts connections on
/run/containerd/containerd.sock and tells systemd READY=1. It runs no containers.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import threading


def main(argv) -> int:
    spec = {"version": "bool", "config": "str", "address": "str", "log-level": "str", "help": "bool", "root": "str",
            "state": "str"}
    f, pos, _ = flags_or_exit(argv, spec, {"v": "version", "c": "config", "a": "address", "l": "log-level",
                                           "h": "help"}, "containerd: {exc}")
    if f.get("version"):
        out(f"containerd containerd.io {STANDIN_BUILD['containerd_version']} 7f7fdf5fed64eb6a7caf99b3e12efcf9d60e311c")
        return 0
    if f.get("help") or pos:
        out("containerd - high performance container runtime (STAND-IN for tests; no CRI, no containers)")
        return 0
    address = f.get("address") or "/run/containerd/containerd.sock"
    sock = unix_listen(address, 0o660)
    stop = stop_on_signals()
    threading.Thread(target=accept_and_close, args=(sock, stop), daemon=True).start()
    err(f'level=info msg="serving..." address={address} (stand-in)')
    err(f'level=info msg="containerd successfully booted" (stand-in {STANDIN_BUILD["containerd_version"]})')
    sd_notify("READY=1")
    stop.wait()
    return 0


if __name__ == "__main__":
    run_main("containerd", main, daemon="--version" not in sys.argv and "-v" not in sys.argv)
