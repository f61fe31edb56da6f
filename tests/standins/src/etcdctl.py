"""Stand-in etcdctl (API v3) as Debian bookworm's etcd-client 3.4.23 ships it: `snapshot save|status`,
`member list`, `endpoint status [--cluster]`, `version` - for tests only.

It talks to the stand-in etcd (the kube-apiserver stand-in's etcd port: grpc-gateway JSON over TLS, the
client certificate checked against the etcd CA) instead of gRPC. Outputs, errors and exit codes follow
etcd-io/etcd v3.4 etcdctl/ctlv3/command: snapshot_command.go (one endpoint only, `<file>.part` then rename,
"Snapshot saved at"), printer_json.go / printer_simple.go (snapshot status: hash, revision, totalKey,
totalSize; member list; endpoint status), error.go (exit codes). The snapshot file is the stand-in's own
format (see standin_common: the state as key/value pairs plus a sha256 of them, as etcd appends one to
its bbolt snapshot); `snapshot status` computes the hash as etcd's snapshot Status does: CRC-32C over
each bucket name, key and value.
"""

from standin_common import *  # noqa: F401,F403 - bundled by build.py

ETCD_CLIENT_VERSION = "3.4.23"
API_VERSION = "3.4"
EXIT_ERROR, EXIT_BAD_CONNECTION, EXIT_BAD_ARGS = 1, 2, 128
SPEC = {"endpoints": "str", "cacert": "str", "cert": "str", "key": "str", "write-out": "str", "cluster": "bool",
        "command-timeout": "str", "dial-timeout": "str", "insecure-skip-tls-verify": "bool", "help": "bool",
        "hex": "bool", "debug": "bool"}
SHORT_FLAGS = {"w": "write-out", "h": "help"}


class EtcdError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR):
        super().__init__(message)
        self.code = code


def log_line(msg: str, **fields) -> None:
    """zap's JSON log line on stderr, as etcdctl 3.4's snapshot save writes them."""
    rec = {"level": "info", "ts": round(time.time(), 6), "caller": "snapshot/v3_snapshot.go", "msg": msg, **fields}
    err(json.dumps(rec))


def env_or(f: dict, name: str, env: str, default=None):
    return f.get(name) or os.environ.get(env) or default


def client(f: dict) -> dict:
    tls = {"ca": env_or(f, "cacert", "ETCDCTL_CACERT"), "cert": env_or(f, "cert", "ETCDCTL_CERT"),
           "key": env_or(f, "key", "ETCDCTL_KEY")}
    pems = {}
    for k, path in tls.items():
        if path:
            try:
                with open(user_path(path)) as fh:
                    pems[k] = fh.read()
            except OSError as exc:
                raise EtcdError(f"open {path}: {exc.strerror.lower()}") from None
    return pems


def endpoints(f: dict) -> list:
    return [e for e in env_or(f, "endpoints", "ETCDCTL_ENDPOINTS", "127.0.0.1:2379").split(",") if e]


def call(f: dict, endpoint: str, path: str, timeout: float = 5.0) -> dict:
    pems = client(f)
    server = endpoint if "://" in endpoint else f"http://{endpoint}"
    if not server.startswith("https://"):
        raise EtcdError("context deadline exceeded")    # the stand-in etcd speaks TLS only
    try:
        code, body = https_request(server, "POST", path, ca_pem=pems.get("ca"), cert_pem=pems.get("cert"),
                                   key_pem=pems.get("key"), body="{}", timeout=timeout)
    except (ConnError, OSError, ssl.SSLError) as exc:
        err(json.dumps({"level": "warn", "ts": round(time.time(), 6), "caller": "clientv3/retry_interceptor.go",
                        "msg": "retrying of unary invoker failed", "target": f"endpoint://client/{endpoint}",
                        "error": f"rpc error: code = DeadlineExceeded desc = latest balancer error: {exc}"}))
        raise EtcdError("context deadline exceeded") from None
    doc = json.loads(body or b"{}")
    if code != 200:
        raise EtcdError(doc.get("error") or f"HTTP {code}")
    return doc


def numbers(obj):
    """grpc-gateway sends 64-bit integers as strings; etcdctl's JSON printer writes numbers."""
    if isinstance(obj, dict):
        return {k: numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [numbers(v) for v in obj]
    if isinstance(obj, str) and obj.isdigit():
        return int(obj)
    return obj


def human_bytes(n: int) -> str:
    """github.com/dustin/go-humanize Bytes (SI units), as printer_simple.go shows totalSize."""
    if n < 10:
        return f"{n} B"
    units = ["B", "kB", "MB", "GB", "TB"]
    e = min(int(__import__("math").log(n, 1000)), len(units) - 1)
    v = n / 1000 ** e
    return (f"{v:.0f} {units[e]}" if v >= 10 else f"{v:.1f} {units[e]}")


def snapshot_save(f: dict, pos: list) -> int:
    if len(pos) != 1:
        raise EtcdError("snapshot save expects one argument", EXIT_BAD_ARGS)
    eps = endpoints(f)
    if len(eps) != 1:
        raise EtcdError(f"snapshot must be requested to one selected node, not multiple [{' '.join(eps)}]",
                        EXIT_BAD_ARGS)
    path = pos[0]
    part = path + ".part"
    start = time.time()
    log_line("created temporary db file", path=part)
    log_line("fetching snapshot", endpoint=eps[0])
    doc = call(f, eps[0], "/v3/maintenance/snapshot", timeout=30)
    blob = base64.b64decode(doc["result"]["blob"])
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, blob)
        os.fsync(fd)
    finally:
        os.close(fd)
    log_line("fetched snapshot", endpoint=eps[0], size=human_bytes(len(blob)), took=go_duration(time.time() - start))
    os.rename(part, path)
    log_line("saved", path=path)
    out(f"Snapshot saved at {path}")
    return 0


def snapshot_status(f: dict, pos: list) -> int:
    if len(pos) != 1:
        raise EtcdError("snapshot status requires exactly one argument", EXIT_BAD_ARGS)
    path = pos[0]
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise EtcdError(f"stat {path}: no such file or directory") from None
    try:
        revision, kvs, size = etcd_snapshot_read(data)
    except ValueError as exc:
        raise EtcdError(str(exc)) from None
    h = crc32c(b"key")
    for k, v in kvs:
        h = crc32c(v.encode(), crc32c(k.encode(), h))
    st = {"hash": h, "revision": revision, "totalKey": len(kvs), "totalSize": size}
    w = f.get("write-out") or "simple"
    if w == "json":
        out(json.dumps(st, separators=(",", ":")))
    elif w == "simple":
        out(f"{h:x}, {revision}, {len(kvs)}, {human_bytes(size)}")
    else:
        raise EtcdError(f"stand-in etcdctl: --write-out={w} is not implemented for snapshot status")
    return 0


def member_list(f: dict) -> dict:
    return numbers(call(f, endpoints(f)[0], "/v3/cluster/member/list"))


def cmd_member(f: dict, pos: list) -> int:
    if pos != ["list"]:
        raise EtcdError("stand-in etcdctl: only `member list` is implemented")
    doc = member_list(f)
    if (f.get("write-out") or "simple") == "json":
        out(json.dumps(doc, separators=(",", ":")))
        return 0
    for m in doc.get("members", []):
        started = "started" if m.get("name") else "unstarted"
        out(f"{m['ID']:x}, {started}, {m.get('name', '')}, {','.join(m.get('peerURLs', []))}, "
            f"{','.join(m.get('clientURLs', []))}, false")
    return 0


def cmd_endpoint(f: dict, pos: list) -> int:
    if pos != ["status"]:
        raise EtcdError("stand-in etcdctl: only `endpoint status` is implemented")
    eps = endpoints(f)
    if f.get("cluster"):
        eps = [u for m in member_list(f).get("members", []) for u in m.get("clientURLs", [])]
    rows, failed = [], False
    for ep in eps:
        try:
            rows.append({"Endpoint": ep, "Status": numbers(call(f, ep, "/v3/maintenance/status"))})
        except EtcdError as exc:
            err(f"Failed to get the status of endpoint {ep} (context deadline exceeded)" if "deadline" in str(exc)
                else f"Failed to get the status of endpoint {ep} ({exc})")
            failed = True
    if (f.get("write-out") or "simple") == "json":
        out(json.dumps(rows, separators=(",", ":")))
    else:
        for r in rows:
            s = r["Status"]
            out(f"{r['Endpoint']}, {s['header']['member_id']:x}, {s['version']}, {human_bytes(s['dbSize'])}, "
                f"{str(s['leader'] == s['header']['member_id']).lower()}, false, {s['raftTerm']}, {s['raftIndex']}, "
                f"{s['raftAppliedIndex']}, ")
    return EXIT_ERROR if failed else 0


def main(argv) -> int:
    try:
        f, pos, _ = parse_flags(argv, SPEC, SHORT_FLAGS)
    except FlagError as exc:
        err(f"Error: {exc}")
        return EXIT_ERROR
    if os.environ.get("ETCDCTL_API") not in (None, "", "3"):
        err("Error: stand-in etcdctl speaks API v3 only")
        return EXIT_ERROR
    try:
        if pos[:1] == ["version"]:
            out(f"etcdctl version: {ETCD_CLIENT_VERSION}\nAPI version: {API_VERSION}")
            return 0
        if pos[:2] == ["snapshot", "save"]:
            return snapshot_save(f, pos[2:])
        if pos[:2] == ["snapshot", "status"]:
            return snapshot_status(f, pos[2:])
        if pos[:1] == ["member"]:
            return cmd_member(f, pos[1:])
        if pos[:1] == ["endpoint"]:
            return cmd_endpoint(f, pos[1:])
        if not pos or f.get("help"):
            out("etcdctl (STAND-IN for tests: snapshot save|status, member list, endpoint status, version)")
            return 0
        raise EtcdError(f'unknown command "{pos[0]}" for "etcdctl"', EXIT_BAD_ARGS)
    except EtcdError as exc:
        err(f"Error: {exc}")
        return exc.code


if __name__ == "__main__":
    run_main("etcdctl", main)
