"""Stand-in cri-dockerd: waits for Docker, then accepts connections on the CRI socket
(socket-activated fd:// from cri-docker.socket, or unix://PATH) and tells systemd
READY=1 itself (Type=notify). It does not speak gRPC: callers only probe the socket.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

import threading

STATE = "/run/standins/cri-dockerd.json"


def docker_ping(endpoint: str) -> str | None:
    path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
    try:
        code, _ = unix_http_get(P(path), "/_ping", timeout=3)
    except OSError as exc:
        return f"Cannot connect to the Docker daemon at {endpoint}. Is the docker daemon running? " \
               f"({exc.strerror or exc})"
    return None if code == 200 else f"unexpected answer from {endpoint}: HTTP {code}"


def docker_version_problem(endpoint: str) -> str | None:
    """GET /vAPI/version with this release's client API; the daemon's refusal, worded as the Go client does."""
    path = endpoint[len("unix://"):] if endpoint.startswith("unix://") else endpoint
    api = STANDIN_BUILD["cri_dockerd_api_version"]
    try:
        code, body = unix_http_get(P(path), f"/v{api}/version", timeout=5)
    except OSError as exc:
        return f"Cannot connect to the Docker daemon at {endpoint}. Is the docker daemon running? ({exc})"
    if code == 200:
        return None
    try:
        message = json.loads(body).get("message") or body.decode(errors="replace")
    except ValueError:
        message = body.decode(errors="replace")
    return f"Error response from daemon: {message}"


def main(argv) -> int:
    spec = {"container-runtime-endpoint": "str", "pod-infra-container-image": "str", "network-plugin": "str",
            "docker-endpoint": "str", "cri-dockerd-root-directory": "str", "version": "bool", "help": "bool",
            "log-level": "str", "cni-bin-dir": "str", "cni-conf-dir": "str", "cni-cache-dir": "str",
            "runtime-cgroups": "str", "hairpin-mode": "str", "ipv6-dual-stack": "bool", "v": "int"}
    f, _, _ = flags_or_exit(argv, spec, {"h": "help", "v": "v"})
    if f.get("version"):
        out(f"cri-dockerd {STANDIN_BUILD['cri_dockerd_version']} (683f70f)")
        return 0
    if f.get("help"):
        out("CRI that connects to the Docker Daemon (STAND-IN for tests; no gRPC, no containers)")
        return 0
    docker = f.get("docker-endpoint") or "unix:///var/run/docker.sock"
    deadline = time.time() + env_seconds("STANDIN_DOCKER_WAIT", 20)
    while True:
        problem = docker_ping(docker)
        if not problem:
            break
        if time.time() > deadline:
            err(f'level=fatal msg="{problem}"')
            return 1
        time.sleep(0.5)
    err(f'level=info msg="Connecting to docker on the Endpoint {docker}"')
    problem = docker_version_problem(docker)
    if problem:
        # cri-dockerd asks the daemon's version at start (core/docker_service.go getDockerVersion) with
        # the client library's fixed API version (no negotiation: libdocker/client.go).
        err(f'level=fatal msg="failed to get docker version from dockerd: {problem}"')
        return 1
    ep = f.get("container-runtime-endpoint") or "unix:///var/run/cri-dockerd.sock"
    if ep.startswith("fd://"):
        socks = listen_fds()
        if not socks:
            err('level=fatal msg="listen fd://: no sockets found via socket activation: make sure the service was '
                'started by systemd"')
            return 1
        sock = socks[0]
    elif ep.startswith("unix://"):
        try:
            grp.getgrnam("docker")
            group = "docker"
        except KeyError:
            group = None
        sock = unix_listen(ep[len("unix://"):], 0o660, group)
    else:
        err(f'level=fatal msg="stand-in cri-dockerd: unsupported endpoint {ep}"')
        return 1
    image = f.get("pod-infra-container-image") or f"registry.k8s.io/pause:{STANDIN_BUILD['pause_version']}"
    try:
        write_file(STATE, json.dumps({"podInfraContainerImage": image, "pid": os.getpid(),
                                      "version": STANDIN_BUILD["cri_dockerd_version"],
                                      "endpoint": ep, "networkPlugin": f.get("network-plugin", "cni")}), 0o644)
    except OSError:
        pass
    stop = stop_on_signals()
    threading.Thread(target=accept_and_close, args=(sock, stop), daemon=True).start()
    err(f'level=info msg="Docker cri networking managed by network plugin {f.get("network-plugin") or "cni"}"')
    err(f'level=info msg="Setting cgroupDriver" (stand-in) podInfraContainerImage={image}')
    err('level=info msg="Start cri-dockerd grpc backend"')
    sd_notify("READY=1")
    stop.wait()
    try:
        remove_path(STATE)
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    run_main("cri-dockerd", main, daemon="--version" not in sys.argv and "--help" not in sys.argv)
