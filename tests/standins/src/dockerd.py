"""Stand-in dockerd: reads /etc/docker/daemon.json at start (like the real daemon,
changes need a restart), serves a tiny Docker Engine API (/_ping, /version, /info,
/containers/json, /images/json) on docker.sock, and runs no containers.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KNOWN = {"exec-opts", "log-driver", "log-opts", "storage-driver", "storage-opts", "registry-mirrors",
         "insecure-registries", "data-root", "live-restore", "default-address-pools", "bip", "dns", "dns-search",
         "debug", "log-level", "iptables", "ip-forward", "ip-masq", "mtu", "max-concurrent-downloads",
         "max-concurrent-uploads", "features", "experimental", "hosts", "group", "default-ulimits", "runtimes",
         "default-runtime", "containerd", "cgroup-parent", "ipv6", "fixed-cidr-v6", "userland-proxy",
         "proxies", "builder", "default-cgroupns-mode", "metrics-addr", "seccomp-profile", "selinux-enabled",
         "userns-remap", "shutdown-timeout", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "labels",
         "min-api-version", "pidfile"}
# Command-line flags and the daemon.json key each sets (moby daemon/config/config.go
# findConfigurationConflicts: a flag given and its key in the file is an error; -H is the named option "hosts").
FLAG_KEYS = {"host": "hosts", "containerd": "containerd", "debug": "debug", "log-level": "log-level",
             "group": "group", "data-root": "data-root", "pidfile": "pidfile"}


def go_value(v) -> str:
    """fmt's %v of a flag or JSON value: [a b] for lists, true/false, plain strings."""
    if isinstance(v, list):
        return "[" + " ".join(go_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def conflicts(f: dict, cfg: dict) -> list:
    return [f"{key}: (from flag: {go_value(f[flag])}, from file: {go_value(cfg[key])})"
            for flag, key in FLAG_KEYS.items() if flag in f and key in cfg]


def registry_errors(cfg: dict) -> list:
    """moby/moby registry/config.go ValidateMirror and ValidateIndexName, as config.Validate applies them."""
    errs = []
    for m in cfg.get("registry-mirrors") or []:
        u = urllib.parse.urlsplit(str(m))
        if u.scheme not in ("http", "https"):
            errs.append(f'invalid mirror: unsupported scheme "{u.scheme}" in "{m}"')
        elif (u.path not in ("", "/")) or u.query or u.fragment:
            errs.append(f'invalid mirror: path, query, or fragment at end of the URI "{m}"')
        elif u.username is not None:
            shown = m.replace(f"{u.username}:{u.password}@", f"{u.username}:xxxxx@") if u.password else m
            errs.append(f'invalid mirror: username/password not allowed in URI "{shown}"')
    for r in cfg.get("insecure-registries") or []:
        r = str(r)
        if "://" in r:
            errs.append(f"insecure registry {r} should not contain '://'")
        elif r.startswith("-") or r.endswith("-"):
            errs.append(f"invalid index name ({r}). Cannot begin or end with a hyphen")
    return errs


def cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def load_config(path: str) -> dict:
    try:
        text = read_file(path)
    except FileNotFoundError:
        return {}
    try:
        cfg = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise Fatal(f"unable to configure the Docker daemon with file {path}: {exc}") from None
    if not isinstance(cfg, dict):
        raise Fatal(f"unable to configure the Docker daemon with file {path}: json: cannot unmarshal into config")
    unknown = sorted(k for k in cfg if k not in KNOWN)
    if unknown:
        raise Fatal(f"unable to configure the Docker daemon with file {path}: the following directives don't match "
                    f"any configuration option: {', '.join(unknown)}")
    return cfg


def daemon_info(cfg: dict) -> dict:
    driver = "systemd" if cgroup_version() == "2" else "cgroupfs"
    for opt in cfg.get("exec-opts") or []:
        k, _, v = str(opt).partition("=")
        if k == "native.cgroupdriver":
            if v not in ("systemd", "cgroupfs"):
                raise Fatal(f"failed to start daemon: native cgroup driver option {v} is not supported")
            driver = v
    try:
        with open("/proc/meminfo") as fh:
            mem = int(fh.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        mem = 0
    mirrors = cfg.get("registry-mirrors") or []
    return {
        "ID": hashlib.sha256(hostname().encode()).hexdigest()[:36], "Containers": 0, "ContainersRunning": 0,
        "ContainersPaused": 0, "ContainersStopped": 0, "Images": 0,
        "Driver": cfg.get("storage-driver", "overlay2"), "LoggingDriver": cfg.get("log-driver", "json-file"),
        "CgroupDriver": driver, "CgroupVersion": cgroup_version(), "KernelVersion": os.uname().release,
        "OperatingSystem": os_pretty_name(), "OSType": "linux", "Architecture": "x86_64",
        "NCPU": os.cpu_count(), "MemTotal": mem, "DockerRootDir": cfg.get("data-root", "/var/lib/docker"),
        "Name": hostname(), "ServerVersion": STANDIN_BUILD["docker_version"], "LiveRestoreEnabled":
            bool(cfg.get("live-restore")),
        "RegistryConfig": {"Mirrors": mirrors, "InsecureRegistryCIDRs": ["127.0.0.0/8"],
                           "IndexConfigs": {r: {"Name": r, "Secure": False, "Official": False}
                                            for r in cfg.get("insecure-registries") or []}},
        "Labels": cfg.get("labels") or [], "Warnings": None,
    }


def min_api_version() -> str:
    # DOCKER_MIN_API_VERSION lowers the minimum, as the real daemon allows (Docker 29 release notes).
    return os.environ.get("DOCKER_MIN_API_VERSION") or STANDIN_BUILD["docker_min_api_version"]


def api_tuple(v: str) -> tuple:
    """Compared per part, numerically (moby api/types/versions.compare)."""
    return tuple(int(x) for x in v.split(".")) if re.fullmatch(r"\d+(\.\d+)*", v) else (0,)


def version_error(requested: str) -> str | None:
    """What moby's VersionMiddleware answers a request for API ``requested`` (HTTP 400), or None.
    Wording from moby/moby daemon/server/middleware/version.go (versionUnsupportedError)."""
    lo, hi = min_api_version(), STANDIN_BUILD["docker_api_version"]
    if api_tuple(requested) < api_tuple(lo):
        return (f"client version {requested} is too old. Minimum supported API version is {lo}, "
                f"please upgrade your client to a newer version")
    if api_tuple(requested) > api_tuple(hi):
        return f"client version {requested} is too new. Maximum supported API version is {hi}"
    return None


def version_doc() -> dict:
    v = STANDIN_BUILD["docker_version"]
    return {"Platform": {"Name": "Docker Engine - Community"}, "Version": v,
            "ApiVersion": STANDIN_BUILD["docker_api_version"], "MinAPIVersion": min_api_version(),
            "GitCommit": "4612690", "GoVersion": "go1.25.4", "Os": "linux", "Arch": "amd64",
            "KernelVersion": os.uname().release, "BuildTime": "2025-11-24T21:59:50.000000000+00:00",
            "Components": [{"Name": "Engine", "Version": v, "Details": {"ApiVersion": STANDIN_BUILD["docker_api_version"]}},
                           {"Name": "containerd", "Version": STANDIN_BUILD["containerd_version"], "Details": {}}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def address_string(self):
        return "unix"

    def do_GET(self):
        raw = self.path.split("?")[0]
        m = re.match(r"^/v([^/]+)(/.*)$", raw)
        path = m.group(2) if m else raw
        problem = version_error(m.group(1)) if m else None
        if problem:
            self.reply(400, {"message": problem})
        elif path == "/_ping":
            self.reply(200, "OK", "text/plain")
        elif path == "/version":
            self.reply(200, version_doc())
        elif path == "/info":
            self.reply(200, self.server.info)
        elif path in ("/containers/json", "/images/json"):
            self.reply(200, [])
        else:
            self.reply(404, {"message": "page not found"})

    do_HEAD = do_GET

    def reply(self, code, payload, ctype="application/json"):
        data = (json.dumps(payload) if ctype == "application/json" else payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Api-Version", STANDIN_BUILD["docker_api_version"])
        self.send_header("Server", f"Docker/{STANDIN_BUILD['docker_version']} (linux)")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class UnixHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sock, info):
        self.info = info
        super().__init__(("", 0), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.server_address = "docker.sock"

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)


def main(argv) -> int:
    spec = {"host": "list", "containerd": "str", "config-file": "str", "version": "bool", "debug": "bool",
            "log-level": "str", "group": "str", "help": "bool", "data-root": "str", "pidfile": "str"}
    f, _, _ = flags_or_exit(argv, spec, {"H": "host", "v": "version", "D": "debug", "G": "group", "h": "help",
                                         "l": "log-level", "p": "pidfile"}, "{exc}\nSee 'dockerd --help'.", 125)
    if f.get("version"):
        out(f"Docker version {STANDIN_BUILD['docker_version']}, build 4612690")
        return 0
    if f.get("help"):
        out("Usage:\tdockerd [OPTIONS]\n\nA self-sufficient runtime for containers (STAND-IN for tests; runs no "
            "containers).")
        return 0
    path = f.get("config-file") or "/etc/docker/daemon.json"
    try:
        cfg = load_config(path)
        clash = conflicts(f, cfg)
        if clash:
            raise Fatal(f"unable to configure the Docker daemon with file {path}: the following directives are "
                        f"specified both as a flag and in the configuration file: {', '.join(clash)}")
        bad = registry_errors(cfg)
        if bad:
            raise Fatal(f"unable to configure the Docker daemon with file {path}: configuration validation from "
                        f"file failed: {bad[0]}")
        info = daemon_info(cfg)
    except Fatal as exc:
        err(str(exc))
        return 1
    if cfg.get("min-api-version"):      # Docker 29: daemon.json min-api-version lowers the minimum, like the env
        os.environ["DOCKER_MIN_API_VERSION"] = str(cfg["min-api-version"])
    containerd = f.get("containerd")
    if containerd and not local_mode():
        deadline = time.time() + env_seconds("STANDIN_CONTAINERD_WAIT", 15)
        while unix_connectable(containerd):
            if time.time() > deadline:
                err(f'failed to start daemon: Error while dialing: dial unix {containerd}: connect: no such file or '
                    f'directory: failed to dial "{containerd}": context deadline exceeded')
                return 1
            time.sleep(0.5)
    hosts = f.get("host") or cfg.get("hosts") or ["unix:///var/run/docker.sock"]
    socks = []
    for h in hosts:
        if h == "fd://" or h.startswith("fd://"):
            fds = listen_fds()
            if not fds:
                err("failed to load listeners: no sockets found via socket activation: make sure the service was "
                    "started by systemd")
                return 1
            socks.extend(fds)
        elif h.startswith("unix://"):
            group = f.get("group") or cfg.get("group") or "docker"
            try:
                grp.getgrnam(group)
            except KeyError:
                err(f'level=warning msg="could not change group {h[7:]} to {group}: group {group} not found"')
                group = None
            socks.append(unix_listen(h[len("unix://"):], 0o660, group))
        else:
            err(f"stand-in dockerd: only unix:// and fd:// hosts are supported, not {h}")
            return 1
    servers = [UnixHTTPServer(s, info) for s in socks]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    stop = stop_on_signals()
    signal.signal(signal.SIGHUP, lambda *_: err('level=info msg="Got signal to reload configuration" '
                                                '(stand-in: cgroup driver changes need a restart)'))
    err(f'level=info msg="Daemon has completed initialization" (stand-in) cgroupdriver={info["CgroupDriver"]}')
    err(f'level=info msg="API listen on {", ".join(hosts)}"')
    sd_notify("READY=1")
    stop.wait()
    sd_notify("STOPPING=1")
    for s in servers:
        s.shutdown()
    return 0


if __name__ == "__main__":
    run_main("dockerd", main, daemon="--version" not in sys.argv and "-v" not in sys.argv)
