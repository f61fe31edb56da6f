"""Stand-in crictl: --version, and version/info/ps/images/pods that only check the
runtime endpoint answers (from --runtime-endpoint or /etc/crictl.yaml).
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py


def endpoint(f: dict) -> str:
    if f.get("runtime-endpoint"):
        return f["runtime-endpoint"]
    if os.environ.get("CONTAINER_RUNTIME_ENDPOINT"):
        return os.environ["CONTAINER_RUNTIME_ENDPOINT"]
    cfg_path = f.get("config") or "/etc/crictl.yaml"
    try:
        cfg = yaml_load(read_file(cfg_path)) or {}
        if cfg.get("runtime-endpoint"):
            return cfg["runtime-endpoint"]
    except (OSError, YAMLError):
        pass
    return "unix:///run/containerd/containerd.sock"


def main(argv) -> int:
    spec = {"runtime-endpoint": "str", "image-endpoint": "str", "config": "str", "timeout": "str", "debug": "bool",
            "version": "bool", "help": "bool", "output": "str", "quiet": "bool", "all": "bool", "name": "str",
            "state": "str"}
    f, pos, _ = flags_or_exit(argv, spec, {"r": "runtime-endpoint", "i": "image-endpoint", "c": "config",
                                           "t": "timeout", "D": "debug", "v": "version", "h": "help",
                                           "o": "output", "q": "quiet", "a": "all"}, 'level=fatal msg="{exc}"')
    if f.get("version"):
        out(f"crictl version v{STANDIN_BUILD['cri_tools_version']}")
        return 0
    if not pos or f.get("help"):
        out("crictl - client for CRI (STAND-IN for tests: version, info, ps, images, pods)")
        return 0
    ep = endpoint(f)
    sock = ep[len("unix://"):] if ep.startswith("unix://") else ep
    problem = unix_connectable(sock)
    if problem:
        err(f'time="{rfc3339(time.time())}" level=fatal msg="validate service connection: validate CRI v1 runtime '
            f'API for endpoint \\"{ep}\\": rpc error: code = Unavailable desc = connection error: desc = '
            f'\\"transport: Error while dialing: {problem}\\""')
        return 1
    runtime = ("docker", STANDIN_BUILD["docker_version"]) if "cri-dockerd" in ep else \
        ("containerd", "v" + STANDIN_BUILD["containerd_version"])
    cmd = pos[0]
    if cmd == "version":
        out(f"Version:  0.1.0\nRuntimeName:  {runtime[0]}\nRuntimeVersion:  {runtime[1]}\nRuntimeApiVersion:  v1")
    elif cmd == "info":
        out(json.dumps({"status": {"conditions": [{"type": "RuntimeReady", "status": True},
                                                  {"type": "NetworkReady", "status": False,
                                                   "reason": "NetworkPluginNotReady",
                                                   "message": "stand-in runtime: no CNI"}]}}, indent=2))
    elif cmd == "ps":
        # The static pods the stand-in kubelet runs (/run/standins/static-pods.json); --name is a regular
        # expression matched against the container name, -q prints the IDs only (crictl's ps.go).
        try:
            pods = json.loads(read_file("/run/standins/static-pods.json"))
        except (OSError, ValueError):
            pods = {}
        want = re.compile(f.get("name") or "")
        hits = [(n, p["id"]) for n, p in sorted(pods.items()) if want.search(n)]
        if f.get("quiet"):
            for _, cid in hits:
                out(cid)
        else:
            out("CONTAINER           IMAGE               CREATED             STATE               NAME                "
                "ATTEMPT             POD ID              POD")
            for n, cid in hits:
                out(f"{cid[:13]:<20}{'sha256:' + cid[13:26]:<20}{'2 minutes ago':<20}{'Running':<20}"
                    f"{n:<20}{'0':<20}{cid[26:39]:<20}{n}")
    elif cmd == "images":
        out("IMAGE               TAG                 IMAGE ID            SIZE")
    elif cmd == "pods":
        out("POD ID              CREATED             STATE               NAME                NAMESPACE           "
            "ATTEMPT             RUNTIME")
    else:
        err(f'level=fatal msg="stand-in crictl: command \\"{cmd}\\" is not implemented"')
        return 1
    return 0


if __name__ == "__main__":
    run_main("crictl", main)
