"""Stand-ins for the SELinux command-line tools: getenforce, setenforce, getsebool, setsebool, semanage
(fcontext only) and restorecon. One script, installed under each name (argv[0] picks the tool).

SELinux cannot run in a lab node (no policy in a network namespace's kernel), so the state the kernel and
the policy store keep lives in files under /var/lib/selinux-standin/: the live mode (``enforce``: 1 or 0,
set from /etc/selinux/config's SELINUX= at the first call, as boot does), the booleans (active and
persistent), the local file-context rules and the file labels (with the inode they belong to: a file
replaced by rename loses its label, as a new inode takes its directory's default type). /etc/selinux/config
itself is the real file. Messages, output formats and exit codes follow upstream (SELinuxProject/selinux
libselinux/utils/getenforce.c, setenforce.c, getsebool.c; policycoreutils/setsebool/setsebool.c,
policycoreutils/semanage/seobject.py, libselinux/src/selinux_restorecon.c); tests/test_selinux_standins.py
cites them per behaviour.
"""


from standin_common import *  # noqa: F401,F403

STATE = "/var/lib/selinux-standin"
CONFIG = "/etc/selinux/config"
# Booleans the lab's policy knows, with their defaults in the targeted policy.
BOOLEANS = {"haproxy_connect_any": 0, "container_manage_cgroup": 0, "virt_use_nfs": 0,
            "domain_can_mmap_files": 0, "nis_enabled": 0}
DEFAULT_TYPE = "etc_t"      # what a new file under /etc gets (the stand-in knows no other directory)


def _text(path: str) -> str | None:
    return read_file(path) if exists(path) else None


def _load(name: str, default):
    text = _text(f"{STATE}/{name}")
    return default if text is None else json.loads(text)


def _save(name: str, value) -> None:
    write_file(f"{STATE}/{name}", json.dumps(value, sort_keys=True) + "\n", 0o600)


def configured_mode() -> str:
    for line in (_text(CONFIG) or "").splitlines():
        if line.startswith("SELINUX="):
            return line.partition("=")[2].strip().lower()
    return "disabled"


def live_mode() -> str:
    """enforcing, permissive or disabled: the state file, else what boot would take from the config."""
    text = _text(f"{STATE}/enforce")
    if text is None:
        mode = configured_mode()
        mode = mode if mode in ("enforcing", "permissive") else "disabled"
        write_file(f"{STATE}/enforce", {"enforcing": "1\n", "permissive": "0\n"}.get(mode, "disabled\n"), 0o644)
        return mode
    return {"1": "enforcing", "0": "permissive"}.get(text.strip(), "disabled")


def enabled() -> bool:
    return live_mode() != "disabled"


def getenforce(args) -> int:
    out({"enforcing": "Enforcing", "permissive": "Permissive"}.get(live_mode(), "Disabled"))
    return 0


def setenforce(args) -> int:
    prog = sys.argv[0]
    if len(args) != 1:
        err(f"usage:  {prog} [ Enforcing | Permissive | 1 | 0 ]")
        return 1
    if not enabled():
        err(f"{prog}: SELinux is disabled")
        return 1
    value = {"1": "1", "0": "0", "enforcing": "1", "permissive": "0"}.get(args[0] if len(args[0]) == 1
                                                                          else args[0].lower())
    if value is None:
        err(f"usage:  {prog} [ Enforcing | Permissive | 1 | 0 ]")
        return 1
    write_file(f"{STATE}/enforce", value + "\n", 0o644)
    return 0


def getsebool(args) -> int:
    prog = sys.argv[0]
    if not args or (args[0] == "-a" and len(args) > 1) or any(a.startswith("-") and a != "-a" for a in args):
        err(f"usage:  {prog} -a or {prog} boolean...")
        return 1
    if not enabled():
        err(f"{prog}:  SELinux is disabled")
        return 1
    active = {**BOOLEANS, **_load("booleans.json", {})}
    for name in (sorted(active) if args == ["-a"] else args):
        if name not in active:
            err(f"Error getting active value for {name}")
            return 255
        out(f"{name} --> {'on' if active[name] else 'off'}")
    return 0


def setsebool(args) -> int:
    usage = "\nUsage:  setsebool [ -NPV ] boolean value | bool1=val1 bool2=val2...\n"
    flags = [a for a in args if a.startswith("-")]
    rest = [a for a in args if not a.startswith("-")]
    if not args or any(f.strip("-") == "" or set(f[1:]) - set("PNV") for f in flags):
        err(usage)
        return 1
    if not rest:
        err("Error: boolean name required" + usage)
        return 1
    if "=" not in rest[0]:
        if len(rest) != 2:
            err(usage)
            return 1
        rest = [f"{rest[0]}={rest[1]}"]
    values = {}
    for item in rest:
        name, eq, raw = item.partition("=")
        if not eq:
            err(f"setsebool: '=' not found in boolean expression {item}")
            return 255
        value = 1 if raw == "1" or raw.lower() in ("true", "on") else 0 if raw == "0" or raw.lower() in ("false", "off") \
            else None
        if value is None:
            err(f"setsebool: illegal value {raw} for boolean {name}")
            return 255
        values[name] = value
    permanent = any("P" in f for f in flags)
    for name in values:
        if name not in BOOLEANS:
            err(f"Boolean {name} is not defined" if permanent else "Could not change active booleans: Invalid boolean")
            return 255
    if not permanent and not enabled():
        err("Could not change active booleans: No such file or directory")
        return 255
    if enabled():
        _save("booleans.json", {**_load("booleans.json", {}), **values})
    if permanent:
        _save("booleans.local.json", {**_load("booleans.local.json", {}), **values})
    return 0


def _context(kind: str) -> str:
    return f"system_u:object_r:{kind}:s0"


def semanage(args) -> int:
    """semanage fcontext -a|-m -t TYPE SPEC, semanage fcontext -l [-C] (seobject.py fcontextRecords)."""
    if not os.path.exists(P(CONFIG)):
        err("ValueError: SELinux policy is not managed or store cannot be accessed.")
        return 1
    if not args or args[0] != "fcontext":
        err("usage: semanage fcontext ... (the stand-in knows only fcontext)")
        return 2
    rules = _load("fcontexts.json", {})
    rest = args[1:]
    if rest and rest[0] in ("-l", "--list"):
        local = "-C" in rest or "--locallist" in rest
        out("%-50s %-18s %s\n" % ("SELinux fcontext", "type", "Context"))
        if local:
            for spec in sorted(rules):
                out("%-50s %-18s %s" % (spec, "all files", _context(rules[spec])))
        return 0
    if rest and rest[0] in ("-a", "--add", "-m", "--modify"):
        op, kind, spec = rest[0].lstrip("-")[0], None, None
        i = 1
        while i < len(rest):
            if rest[i] in ("-t", "--type") and i + 1 < len(rest):
                kind, i = rest[i + 1], i + 2
            elif not rest[i].startswith("-") and spec is None:
                spec, i = rest[i], i + 1
            else:
                err(f"semanage fcontext: error: unrecognized arguments: {rest[i]}")
                return 2
        if not kind or not spec:
            err("semanage fcontext: error: the following arguments are required: -t/--type, file_spec")
            return 2
        if op == "a" and spec in rules:
            err(f"ValueError: File context for {spec} already defined")
            return 1
        if op == "m" and spec not in rules:
            err(f"ValueError: File context for {spec} is not defined")
            return 1
        rules[spec] = kind
        _save("fcontexts.json", rules)
        return 0
    err("semanage fcontext: error: one of -a -d -m -l -D -E is required")
    return 2


def restorecon(args) -> int:
    """restorecon [-R] [-n] [-v] [-F] PATH...: each path to the type its file-context rule names."""
    flags = "".join(a[1:] for a in args if a.startswith("-"))
    paths = [a for a in args if not a.startswith("-")]
    if set(flags) - set("RrnvFi") or not paths:
        err("usage:  restorecon [-iIDFmnprRv0xT] [-e excludedir] pathname...")
        return 1
    if not enabled():
        return 0
    rules, labels = _load("fcontexts.json", {}), _load("labels.json", {})
    code = 0
    for path in paths:
        try:
            inode = os.lstat(P(path)).st_ino
        except OSError as exc:
            err(f"restorecon: lstat({path}) failed: {exc.strerror}")
            code = 255
            continue
        have = labels.get(path)
        current = have["type"] if have and have.get("inode") == inode else DEFAULT_TYPE
        wanted = next((t for spec, t in sorted(rules.items()) if re.fullmatch(spec, path)), DEFAULT_TYPE)
        if current == wanted:
            continue
        if "n" not in flags:
            labels[path] = {"inode": inode, "type": wanted}
        if "v" in flags:
            out(f"{'Would relabel' if 'n' in flags else 'Relabeled'} {path} from {_context(current)} to "
                f"{_context(wanted)}")
    _save("labels.json", labels)
    return code


TOOLS = {"getenforce": getenforce, "setenforce": setenforce, "getsebool": getsebool, "setsebool": setsebool,
         "semanage": semanage, "restorecon": restorecon}

if __name__ == "__main__":
    _name = os.path.basename(sys.argv[0])
    run_main(_name, TOOLS.get(_name, lambda args: (err(f"{_name}: not a SELinux stand-in name"), 127)[1]))
