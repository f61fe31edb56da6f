"""Stand-in CNI plugin (every binary in /opt/cni/bin of the stand-in kubernetes-cni).

Answers CNI_COMMAND=VERSION like a real plugin; every other command fails with a
CNI error result, because nothing here can configure a pod network.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


def main(argv) -> int:
    name = os.path.basename(sys.argv[0])
    if "--version" in argv or "version" in argv:
        out(f"CNI {name} plugin v{STANDIN_BUILD['cni_version']} (stand-in)\nCNI protocol versions supported: "
            + ", ".join(VERSIONS))
        return 0
    cmd = os.environ.get("CNI_COMMAND", "")
    if cmd == "VERSION":
        out(json.dumps({"cniVersion": "1.1.0", "supportedVersions": VERSIONS}))
        return 0
    if not cmd:
        err(f"CNI {name} plugin v{STANDIN_BUILD['cni_version']} (stand-in): CNI_COMMAND is not set")
        return 1
    out(json.dumps({"cniVersion": "1.0.0", "code": 999,
                    "msg": f"stand-in CNI plugin {name}: cannot run {cmd} (tests only, no pod networking)"}))
    return 1


if __name__ == "__main__":
    run_main(os.path.basename(sys.argv[0]), main)
