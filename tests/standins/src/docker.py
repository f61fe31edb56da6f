"""Stand-in docker CLI: --version, version, info (with --format templates), ps, images.

Like the real CLI it asks the daemon over /var/run/docker.sock (or
DOCKER_HOST / -H unix://...), so it fails when dockerd is not running.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

CLIENT = lambda: {"Platform": {"Name": ""}, "Version": STANDIN_BUILD["docker_version"],  # noqa: E731
                  "ApiVersion": STANDIN_BUILD["docker_api_version"], "DefaultAPIVersion":
                      STANDIN_BUILD["docker_api_version"], "GitCommit": "3247a5a", "GoVersion": "go1.25.4",
                  "Os": "linux", "Arch": "amd64", "BuildTime": "Mon Nov 24 21:59:50 2025", "Context": "default"}


class DockerError(Exception):
    pass


def socket_path(host: str | None) -> str:
    host = host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if not host.startswith("unix://"):
        raise DockerError(f"stand-in docker: only unix:// hosts are supported, not {host}")
    return host[len("unix://"):]


def daemon_get(host: str | None, path: str):
    sock_path = socket_path(host)
    real = sock_path if os.path.isabs(sock_path) and (not local_mode() or sock_path.startswith(root())) \
        else P(sock_path)
    api = STANDIN_BUILD["docker_api_version"]
    url = f"http://%2Fvar%2Frun%2Fdocker.sock/v{api}{path}"
    try:
        code, body = unix_http_get(real, f"/v{api}{path}")
    except PermissionError:
        raise DockerError(f"permission denied while trying to connect to the Docker daemon socket at "
                          f"unix://{sock_path}: Get \"{url}\": dial unix {sock_path}: connect: permission denied")
    except (FileNotFoundError, ConnectionRefusedError):
        raise DockerError(f"Cannot connect to the Docker daemon at unix://{sock_path}. Is the docker daemon running?")
    except OSError as exc:
        raise DockerError(f"error during connect: Get \"{url}\": {exc}")
    if code >= 400:      # the daemon's refusal (e.g. its API version range), as the Go client prints it
        try:
            message = json.loads(body).get("message")
        except ValueError:
            message = body.decode(errors="replace").strip()
        raise DockerError(f"Error response from daemon: {message}")
    return json.loads(body)


# Go templates see the struct fields, not the JSON tags: .Server.APIVersion (json "ApiVersion"),
# .Server.MinAPIVersion (docker/cli cli/command/system/version.go, types.Version).
GO_FIELDS = {"APIVersion": "ApiVersion"}


def lookup(obj, path: str):
    cur = obj
    for part in [p for p in path.split(".") if p]:
        if isinstance(cur, dict) and GO_FIELDS.get(part) in cur:
            cur = cur[GO_FIELDS[part]]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise DockerError(f'template: :1: executing "" at <.{path}>: map has no entry for key "{part}"')
    return cur


def render(tmpl: str, obj) -> str:
    def sub(m):
        fn, path = m.group(1), m.group(2)
        v = lookup(obj, path)
        if fn:
            return json.dumps(v)
        if isinstance(v, (dict, list)):
            return "map[...]" if isinstance(v, dict) else "[" + " ".join(map(str, v)) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return "<no value>" if v is None else str(v)
    return re.sub(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}", sub, tmpl)


def main(argv) -> int:
    spec = {"host": "str", "format": "str", "version": "bool", "all": "bool", "quiet": "bool", "help": "bool",
            "debug": "bool", "log-level": "str", "context": "str", "config": "str"}
    f, pos, _ = flags_or_exit(argv, spec, {"H": "host", "f": "format", "v": "version", "a": "all", "q": "quiet",
                                           "h": "help", "D": "debug", "l": "log-level", "c": "context"},
                              "{exc}\nSee 'docker --help'.", 125)
    if f.get("version") and not pos:
        out(f"Docker version {STANDIN_BUILD['docker_version']}, build 3247a5a")
        return 0
    if not pos or f.get("help"):
        out("Usage:  docker [OPTIONS] COMMAND\n\nA self-sufficient runtime for containers (STAND-IN for tests: "
            "version, info, ps, images)")
        return 0
    cmd = pos[0]
    try:
        if cmd == "version":
            doc = {"Client": CLIENT()}
            try:
                doc["Server"] = daemon_get(f.get("host"), "/version")
            except DockerError as exc:
                if f.get("format"):
                    raise
                print_client(doc["Client"])
                err(str(exc))
                return 1
            if f.get("format"):
                out(render(f["format"], doc))
            else:
                print_client(doc["Client"])
                s = doc["Server"]
                out(f"\nServer: Docker Engine - Community\n Engine:\n  Version:          {s['Version']}\n"
                    f"  API version:      {s['ApiVersion']} (minimum version {s['MinAPIVersion']})\n"
                    f"  Go version:       {s['GoVersion']}\n  Git commit:       {s['GitCommit']}\n"
                    f"  Built:            {s['BuildTime']}\n  OS/Arch:          {s['Os']}/{s['Arch']}\n"
                    f"  Experimental:     false\n containerd:\n  Version:          "
                    f"{STANDIN_BUILD['containerd_version']}")
            return 0
        if cmd == "info":
            info = daemon_get(f.get("host"), "/info")
            if f.get("format"):
                out(render(f["format"], info))
            else:
                out(f"Client: Docker Engine - Community\n Version:    {STANDIN_BUILD['docker_version']}\n"
                    f" Context:    default\n Debug Mode: false\n\nServer:\n Containers: 0\n  Running: 0\n"
                    f"  Paused: 0\n  Stopped: 0\n Images: 0\n Server Version: {info['ServerVersion']}\n"
                    f" Storage Driver: {info['Driver']}\n Logging Driver: {info['LoggingDriver']}\n"
                    f" Cgroup Driver: {info['CgroupDriver']}\n Cgroup Version: {info['CgroupVersion']}\n"
                    f" Kernel Version: {info['KernelVersion']}\n Operating System: {info['OperatingSystem']}\n"
                    f" Docker Root Dir: {info['DockerRootDir']}\n Name: {info['Name']}\n"
                    f" Registry Mirrors:\n" + "".join(f"  {m}/\n" for m in info["RegistryConfig"]["Mirrors"]) +
                    f" Live Restore Enabled: {str(info['LiveRestoreEnabled']).lower()}")
            return 0
        if cmd in ("ps", "images", "image", "container"):
            daemon_get(f.get("host"), "/containers/json" if cmd in ("ps", "container") else "/images/json")
            if not f.get("quiet"):
                out("CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES" if cmd in ("ps", "container")
                    else "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE")
            return 0
    except DockerError as exc:
        err(str(exc))
        return 1
    err(f"docker: '{cmd}' is not a docker command (stand-in docker: version, info, ps, images).\n"
        f"See 'docker --help'")
    return 1


def print_client(c: dict) -> None:
    out(f"Client: Docker Engine - Community\n Version:           {c['Version']}\n"
        f" API version:       {c['ApiVersion']}\n Go version:        {c['GoVersion']}\n"
        f" Git commit:        {c['GitCommit']}\n Built:             {c['BuildTime']}\n"
        f" OS/Arch:           {c['Os']}/{c['Arch']}\n Context:           default")


if __name__ == "__main__":
    run_main("docker", main)
