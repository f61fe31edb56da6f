"""Code shared by every stand-in program (python3 stdlib only).

build.py bundles this module in front of each program, so every installed
executable is one self-contained file; the tests also import it directly.

Nothing here is real Kubernetes, Docker or cryptography-library code: it is
the smallest honest imitation of what the product sees from the outside.
"""

from __future__ import annotations

import base64
import datetime as _dt
import grp
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http.server import ThreadingHTTPServer

# build.py injects the real values in front of this module.
STANDIN_BUILD = globals().get("STANDIN_BUILD") or {
    "kubernetes_version": "1.30.2",
    "kubernetes_revision": "1.1",
    "cri_tools_version": "1.30.0",
    "cni_version": "1.4.0",
    "pause_version": "3.9",
    "etcd_version": "3.5.12-0",
    "coredns_version": "v1.11.1",
    "docker_version": "29.0.4",
    "docker_api_version": "1.52",
    "docker_min_api_version": "1.44",
    "containerd_version": "1.7.22",
    "cri_dockerd_version": "0.4.4",
    "cri_dockerd_api_version": "1.44",
    "package": "source",
}

KUBE_VERSION = STANDIN_BUILD["kubernetes_version"]
KUBE_MINOR = int(KUBE_VERSION.split(".")[1])


# --------------------------------------------------------------------- paths

def root() -> str:
    """STANDIN_ROOT prefixes every file path (unit tests); "/" on a node."""
    return os.environ.get("STANDIN_ROOT") or "/"


def local_mode() -> bool:
    """True when running outside a node (a test root): no systemd, no real ports."""
    return root() != "/"


def P(path: str) -> str:
    """The file-system path for a logical path like /etc/kubernetes/admin.conf."""
    r = root()
    return path if r == "/" else os.path.join(r, path.lstrip("/"))


def hostname() -> str:
    return (os.environ.get("STANDIN_HOSTNAME") or socket.gethostname()).strip().lower()


def api_port(default: int = 6443) -> int:
    return int(os.environ.get("STANDIN_API_PORT") or default)


def bind_address() -> str:
    return os.environ.get("STANDIN_BIND_ADDRESS") or "0.0.0.0"


def env_seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def read_file(path: str, binary: bool = False):
    with open(P(path), "rb" if binary else "r") as fh:
        return fh.read()


def exists(path: str) -> bool:
    return os.path.lexists(P(path))


def write_file(path: str, data, mode: int = 0o644) -> None:
    """Atomic write (temp file + rename) with the given mode."""
    real = P(path)
    os.makedirs(os.path.dirname(real), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(real), prefix="." + os.path.basename(real) + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, real)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_path(path: str) -> None:
    real = P(path)
    if os.path.islink(real) or os.path.isfile(real):
        os.unlink(real)
    elif os.path.isdir(real):
        shutil.rmtree(real)


def clear_dir(path: str) -> None:
    """Delete the contents of a directory, keep the directory (kubeadm reset)."""
    real = P(path)
    if not os.path.isdir(real):
        return
    for name in os.listdir(real):
        full = os.path.join(real, name)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            try:
                os.unlink(full)
            except FileNotFoundError:
                pass


# ------------------------------------------------------------------ call log

CALLS_LOG = "/var/log/standins/calls.log"
CALL = {"stdin_used": False, "stdin_bytes": 0, "start": 0, "prog": "", "written": False}


def read_stdin() -> bytes:
    """Read all of stdin, recording in the call log that stdin was used."""
    data = sys.stdin.buffer.read()
    CALL["stdin_used"] = True
    CALL["stdin_bytes"] += len(data)
    return data


def read_input(path: str) -> str:
    """Read a --config/-f file; '-' and /dev/stdin read stdin (and say so in the log)."""
    if path in ("-", "/dev/stdin", "/proc/self/fd/0"):
        return read_stdin().decode()
    with open(user_path(path)) as fh:
        return fh.read()


def _stdin_isatty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def write_call(exit_code, daemon: bool = False) -> None:
    if CALL["written"]:
        return
    CALL["written"] = True
    rec = {
        "time": _dt.datetime.fromtimestamp(CALL["start"] / 1e9, _dt.timezone.utc).isoformat(timespec="microseconds"),
        "time_ns": CALL["start"],
        "end_ns": time.time_ns(),
        "host": hostname(),
        "prog": CALL["prog"],
        "argv": [CALL["prog"]] + sys.argv[1:],
        "uid": os.getuid(),
        "euid": os.geteuid(),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "sudo_user": os.environ.get("SUDO_USER"),
        "stdin": {"tty": _stdin_isatty(), "used": CALL["stdin_used"], "bytes": CALL["stdin_bytes"]},
        "exit": exit_code,
        "daemon": daemon,
        "note": CALL.get("note"),
    }
    line = json.dumps(rec, sort_keys=True) + "\n"
    path = P(CALLS_LOG)
    try:
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.chmod(os.path.dirname(path), 0o1777)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            os.write(fd, line.encode())  # one write(2) of one line: atomic with O_APPEND
        finally:
            os.close(fd)
    except OSError:
        pass  # a non-root caller without access: never break the program over the log


def run_main(prog: str, fn, daemon: bool = False) -> None:
    """Run fn(args) -> exit code; log the call; exit with the code."""
    CALL["prog"] = prog
    CALL["start"] = time.time_ns()
    if daemon:
        write_call(None, daemon=True)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    code = 0
    try:
        code = fn(sys.argv[1:])
        code = 0 if code is None else code
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
            code = 1
        else:
            code = 0 if exc.code is None else exc.code
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:
        code = 1
    except Exception:  # a stand-in bug: show it, exit like a crashed Go program
        traceback.print_exc()
        code = 2
    finally:
        if not daemon:
            write_call(code)
        try:
            sys.stdout.flush()
        except Exception:
            pass
    os._exit(code) if daemon else sys.exit(code)


def out(*parts) -> None:
    print(*parts, flush=True)


def err(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Fatal(Exception):
    """An error the program reports (message to stderr) and exits 1 for."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------- flag parsing

class FlagError(Exception):
    pass


def parse_flags(args, spec: dict, shorthands: dict | None = None):
    """pflag-like parsing. spec: name -> "bool" | "str" | "list" | "int".

    Returns (values, positionals, given) where given lists the flag names the
    caller set (in order). Unknown flags raise FlagError with pflag's wording.
    """
    shorthands = shorthands or {}
    values, given, pos = {}, [], []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, val = a[2:].partition("=")
            kind = spec.get(name)
            if kind is None:
                raise FlagError(f"unknown flag: --{name}")
        elif a.startswith("-") and len(a) > 1 and a != "-":
            short = a[1]
            name = shorthands.get(short)
            if name is None:
                raise FlagError(f"unknown shorthand flag: '{short}' in {a}")
            kind = spec[name]
            rest = a[2:]
            eq, val = ("=", rest[1:]) if rest.startswith("=") else (("=", rest) if rest else ("", ""))
        else:
            pos.append(a)
            i += 1
            continue
        if kind == "bool":
            if eq:
                if val.lower() not in ("true", "false", "1", "0", "t", "f"):
                    raise FlagError(f'invalid argument "{val}" for "--{name}" flag: strconv.ParseBool: parsing "{val}": invalid syntax')
                values[name] = val.lower() in ("true", "1", "t")
            else:
                values[name] = True
        else:
            if not eq:
                if i + 1 >= len(args):
                    raise FlagError(f"flag needs an argument: --{name}")
                i += 1
                val = args[i]
            if kind == "list":
                values.setdefault(name, []).extend(v for v in val.split(",") if v != "")
            elif kind == "int":
                try:
                    values[name] = int(val)
                except ValueError:
                    raise FlagError(f'invalid argument "{val}" for "--{name}" flag: strconv.ParseInt: parsing "{val}": invalid syntax') from None
            else:
                values[name] = val
        given.append(name)
        i += 1
    return values, pos, given


# --------------------------------------------------------------- YAML subset

def flags_or_exit(args, spec: dict, shorthands: dict | None = None, error: str = "Error: {exc}", code: int = 1):
    """parse_flags, or print the program's own usage error (``{exc}`` is the problem) and exit
    with the program's own code, as the real CLI does.

        f, pos, _ = flags_or_exit(argv, spec, {"h": "help"}, "{exc}\nSee 'docker --help'.", 125)
    """
    try:
        return parse_flags(args, spec, shorthands)
    except FlagError as exc:
        err(error.replace("{exc}", str(exc)))
        raise SystemExit(code) from None


class YAMLError(ValueError):
    pass


_INT_RE = re.compile(r"^[-+]?[0-9]+$")
_FLOAT_RE = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")


def _resolve_plain(s: str):
    if s in ("", "~", "null", "Null", "NULL"):
        return None
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if _INT_RE.match(s):
        return int(s, 10)
    if re.match(r"^0x[0-9a-fA-F]+$", s):
        return int(s, 16)
    if re.match(r"^0o[0-7]+$", s):
        return int(s[2:], 8)
    if _FLOAT_RE.match(s):
        return float(s)
    if s in (".inf", ".Inf", ".INF", "+.inf"):
        return float("inf")
    if s in ("-.inf", "-.Inf", "-.INF"):
        return float("-inf")
    if s in (".nan", ".NaN", ".NAN"):
        return float("nan")
    return s


_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v",
            "f": "\f", "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\",
            "N": "\x85", "_": "\xa0", "L": "\u2028", "P": "\u2029"}


class _Unterminated(YAMLError):
    pass


def _scan_double(s: str, i: int):
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            n = s[i + 1] if i + 1 < len(s) else ""
            if n in _ESCAPES:
                out.append(_ESCAPES[n])
                i += 2
            elif n and n in "xuU":
                width = {"x": 2, "u": 4, "U": 8}[n]
                out.append(chr(int(s[i + 2:i + 2 + width], 16)))
                i += 2 + width
            else:
                raise YAMLError(f"unknown escape \\{n}")
        else:
            out.append(c)
            i += 1
    raise _Unterminated("unterminated double-quoted scalar")


def _scan_single(s: str, i: int):
    out = []
    i += 1
    while i < len(s):
        c = s[i]
        if c == "'":
            if s[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise _Unterminated("unterminated single-quoted scalar")


def _strip_comment(s: str) -> str:
    m = re.search(r"(^|\s)#", s)
    return (s[:m.start()] if m else s).rstrip()


class _Flow:
    """Flow collections: [a, "b", {c: d}]."""

    def __init__(self, s: str):
        self.s, self.i = s, 0

    def peek(self) -> str:
        return self.s[self.i:self.i + 1]

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i] in " \t\r\n":
            self.i += 1

    def value(self):
        self.ws()
        c = self.peek()
        if c == "[":
            return self.seq()
        if c == "{":
            return self.map()
        if c == '"':
            v, self.i = _scan_double(self.s, self.i)
            return v
        if c == "'":
            v, self.i = _scan_single(self.s, self.i)
            return v
        start = self.i
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch in ",]}":
                break
            if ch == ":" and self.s[self.i + 1:self.i + 2] in ("", " ", ",", "]", "}"):
                break
            self.i += 1
        return _resolve_plain(self.s[start:self.i].strip())

    def seq(self):
        self.i += 1
        items = []
        while True:
            self.ws()
            if self.peek() == "]":
                self.i += 1
                return items
            v = self.value()
            self.ws()
            if self.peek() == ":":
                self.i += 1
                v = {v: self.value()}
                self.ws()
            items.append(v)
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "]":
                self.i += 1
                return items
            else:
                raise YAMLError(f"bad flow sequence near {self.s[self.i:self.i + 20]!r}")

    def map(self):
        self.i += 1
        d = {}
        while True:
            self.ws()
            if self.peek() == "}":
                self.i += 1
                return d
            k = self.value()
            self.ws()
            v = None
            if self.peek() == ":":
                self.i += 1
                v = self.value()
                self.ws()
            d[k] = v
            if self.peek() == ",":
                self.i += 1
            elif self.peek() == "}":
                self.i += 1
                return d
            else:
                raise YAMLError(f"bad flow mapping near {self.s[self.i:self.i + 20]!r}")


def _flow_balanced(s: str) -> bool:
    depth, i = 0, 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            try:
                _, i = (_scan_double if c == '"' else _scan_single)(s, i)
            except _Unterminated:
                return False
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        elif c == "#" and (i == 0 or s[i - 1] in " \t") and depth == 0:
            break
        i += 1
    return depth <= 0


def _is_seq_line(text: str) -> bool:
    return text == "-" or text.startswith("- ") or text.startswith("-\t")


def _split_key(text: str):
    """(key, rest) when the line is a block mapping entry, else None."""
    if not text or _is_seq_line(text) or text[0] in "[{&*!|>%@`#":
        return None
    if text[0] in "\"'":
        try:
            key, j = (_scan_double if text[0] == '"' else _scan_single)(text, 0)
        except _Unterminated:
            return None
        rest = text[j:].lstrip(" ")
        if rest.startswith(":") and (len(rest) == 1 or rest[1] in " \t"):
            return key, rest[1:]
        return None
    if text.startswith("? "):
        raise YAMLError("complex mapping keys are not supported")
    m = re.search(r":(\s|$)", text)
    if not m:
        return None
    key = text[:m.start()].rstrip()
    if re.search(r"\s#", key):
        return None
    return key, text[m.start() + 1:]


class _Block:
    def __init__(self, lines):
        self.lines = list(lines)
        self.i = 0

    def peek(self):
        while self.i < len(self.lines):
            raw = self.lines[self.i].rstrip()
            text = raw.lstrip(" ")
            if text and not text.startswith("#"):
                if text.startswith("\t"):
                    raise YAMLError(f"line {self.i + 1}: tabs are not allowed for indentation")
                return len(raw) - len(text), text
            self.i += 1
        return None

    def node(self, ind: int):
        lind, text = self.peek()
        if _is_seq_line(text):
            return self.seq(lind)
        if _split_key(text) is not None:
            return self.map(lind)
        self.i += 1
        return self.inline(text, lind - 1)

    def seq(self, ind: int):
        items = []
        while True:
            ln = self.peek()
            if ln is None:
                break
            lind, text = ln
            if lind != ind or not _is_seq_line(text):
                if lind > ind:
                    raise YAMLError(f"line {self.i + 1}: bad indentation of a sequence entry")
                break
            rest = text[1:]
            stripped = rest.lstrip(" \t")
            if stripped == "" or stripped.startswith("#"):
                self.i += 1
                nxt = self.peek()
                items.append(self.node(nxt[0]) if nxt is not None and nxt[0] > ind else None)
            else:
                new_ind = ind + 1 + (len(rest) - len(stripped))
                self.lines[self.i] = " " * new_ind + stripped
                items.append(self.node(new_ind))
        return items

    def map(self, ind: int):
        d = {}
        while True:
            ln = self.peek()
            if ln is None:
                break
            lind, text = ln
            if lind != ind:
                if lind > ind:
                    raise YAMLError(f"line {self.i + 1}: bad indentation of a mapping entry")
                break
            kv = _split_key(text)
            if kv is None:
                break
            key, rest = kv
            self.i += 1
            rs = rest.strip()
            if rs == "" or rs.startswith("#"):
                nxt = self.peek()
                if nxt is not None and nxt[0] > ind:
                    d[key] = self.node(nxt[0])
                elif nxt is not None and nxt[0] == ind and _is_seq_line(nxt[1]):
                    d[key] = self.seq(ind)
                else:
                    d[key] = None
            else:
                d[key] = self.inline(rs, ind)
        return d

    def next_raw(self) -> str:
        if self.i >= len(self.lines):
            raise YAMLError("unexpected end of document")
        line = self.lines[self.i]
        self.i += 1
        return line.strip()

    def inline(self, rest: str, parent_ind: int):
        rest = rest.strip()
        if rest.startswith("!"):
            tag, _, rest = rest.partition(" ")
            rest = rest.strip()
        if rest[:1] in ("&", "*"):
            raise YAMLError("anchors and aliases are not supported")
        if rest[:1] in ("|", ">"):
            return self.block_scalar(rest, parent_ind)
        if rest[:1] in ("\"", "'"):
            text = rest
            while True:
                try:
                    v, j = (_scan_double if text[0] == '"' else _scan_single)(text, 0)
                    break
                except _Unterminated:
                    nxt = self.next_raw()
                    text += ("\n" if nxt == "" else " ") + nxt
            tail = text[j:].strip()
            if tail and not tail.startswith("#"):
                raise YAMLError(f"unexpected text after a quoted scalar: {tail!r}")
            return v
        if rest[:1] in ("[", "{"):
            text = rest
            while not _flow_balanced(text):
                text += " " + self.next_raw()
            f = _Flow(text)
            v = f.value()
            tail = text[f.i:].strip()
            if tail and not tail.startswith("#"):
                raise YAMLError(f"unexpected text after a flow collection: {tail!r}")
            return v
        value = _strip_comment(rest)
        # multi-line plain scalar: continuation lines indented deeper than the parent
        while True:
            ln = self.peek()
            if ln is None or ln[0] <= parent_ind or _split_key(ln[1]) is not None or _is_seq_line(ln[1]):
                break
            self.i += 1
            value += " " + _strip_comment(ln[1])
        return _resolve_plain(value)

    def block_scalar(self, header: str, parent_ind: int) -> str:
        m = re.match(r"^([|>])([+-]?)([1-9]?)([+-]?)\s*(#.*)?$", header)
        if not m:
            raise YAMLError(f"bad block scalar header {header!r}")
        style, chomp, explicit = m.group(1), m.group(2) or m.group(4), m.group(3)
        lines = []
        content_ind = (max(parent_ind, 0) + int(explicit)) if explicit else None
        while self.i < len(self.lines):
            raw = self.lines[self.i].rstrip("\r\n")
            if raw.strip() == "":
                lines.append("")
                self.i += 1
                continue
            ind = len(raw) - len(raw.lstrip(" "))
            if content_ind is None:
                if ind <= parent_ind:
                    break
                content_ind = ind
            if ind < content_ind:
                break
            lines.append(raw[content_ind:])
            self.i += 1
        trailing = 0
        while lines and lines[-1] == "":
            lines.pop()
            trailing += 1
        if not lines:
            return ""
        if style == "|":
            body = "\n".join(lines)
        else:
            parts, prev_text = [], False
            for ln in lines:
                if ln == "":
                    parts.append("\n")
                    prev_text = False
                elif ln.startswith((" ", "\t")):
                    parts.append(("\n" if prev_text else "") + ln)
                    prev_text = True
                else:
                    parts.append((" " if prev_text else "") + ln)
                    prev_text = True
            body = "".join(parts)
        if chomp == "-":
            return body
        if chomp == "+":
            return body + "\n" * (1 + trailing)
        return body + "\n"


def yaml_load_all(text: str) -> list:
    """Parse a multi-document YAML stream (the subset kubeadm/kubectl files use)."""
    docs, cur = [], []
    for line in text.splitlines():
        if re.match(r"^---(\s|$)", line):
            docs.append(cur)
            cur = []
            rest = line[3:].strip()
            if rest and not rest.startswith("#"):
                cur.append(rest)
        elif re.match(r"^\.\.\.(\s|$)", line):
            docs.append(cur)
            cur = []
        elif line.startswith("%") and not cur:
            continue
        else:
            cur.append(line)
    docs.append(cur)
    result = []
    for i, lines in enumerate(docs):
        b = _Block(lines)
        ln = b.peek()
        if ln is None:
            if i == 0 or i == len(docs) - 1:
                continue  # before the first / after the last separator
            result.append(None)
            continue
        value = b.node(ln[0])
        left = b.peek()
        if left is not None:
            raise YAMLError(f"line {b.i + 1}: unexpected content {left[1][:40]!r}")
        result.append(value)
    return result


def yaml_load(text: str):
    docs = yaml_load_all(text)
    if len(docs) > 1:
        raise YAMLError("expected a single document")
    return docs[0] if docs else None


_PLAIN_OK = re.compile(r"[A-Za-z0-9_/.+][A-Za-z0-9_/.:=+@()-]*")


def _yaml_scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    s = str(v)
    if "\n" in s:
        return None
    if _PLAIN_OK.fullmatch(s) and isinstance(_resolve_plain(s), str) and not s.endswith(":"):
        return s
    return json.dumps(s)


def _yaml_key(k) -> str:
    s = _yaml_scalar(str(k))
    return s if s is not None else json.dumps(str(k))


def _dump_value(v, ind: int, prefix: str, lines: list) -> None:
    if isinstance(v, dict):
        if not v:
            lines.append(prefix + " {}")
        else:
            lines.append(prefix)
            _dump_map(v, ind + 2, lines)
    elif isinstance(v, (list, tuple)):
        if not v:
            lines.append(prefix + " []")
        else:
            lines.append(prefix)
            _dump_seq(v, ind, lines)
    else:
        s = _yaml_scalar(v)
        if s is None:
            text = str(v)
            if text[:1] in (" ", "\t"):
                lines.append(prefix + " " + json.dumps(text))
                return
            lines.append(prefix + (" |" if text.endswith("\n") and not text.endswith("\n\n") else " |-" if not text.endswith("\n") else " |+"))
            body = text[:-1] if text.endswith("\n") else text
            for ln in body.split("\n"):
                lines.append((" " * (ind + 2) + ln) if ln else "")
        else:
            lines.append(prefix + " " + s)


def _dump_map(d: dict, ind: int, lines: list) -> None:
    for k, v in d.items():
        _dump_value(v, ind, " " * ind + _yaml_key(k) + ":", lines)


def _dump_seq(items, ind: int, lines: list) -> None:
    for it in items:
        if isinstance(it, dict) and it:
            sub: list = []
            _dump_map(it, ind + 2, sub)
            sub[0] = " " * ind + "- " + sub[0][ind + 2:]
            lines.extend(sub)
        elif isinstance(it, (list, tuple)) and it:
            sub = []
            _dump_seq(it, ind + 2, sub)
            sub[0] = " " * ind + "- " + sub[0][ind + 2:]
            lines.extend(sub)
        else:
            _dump_value(it, ind, " " * ind + "-", lines)


def yaml_dump(obj) -> str:
    lines: list = []
    if isinstance(obj, dict) and obj:
        _dump_map(obj, 0, lines)
    elif isinstance(obj, (list, tuple)) and obj:
        _dump_seq(obj, 0, lines)
    else:
        s = _yaml_scalar(obj) if not isinstance(obj, (dict, list, tuple)) else ("{}" if isinstance(obj, dict) else "[]")
        lines.append(s if s is not None else json.dumps(obj))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- ASN.1 DER

def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def d_seq(*items: bytes) -> bytes:
    return der(0x30, b"".join(items))


def d_set(*items: bytes) -> bytes:
    return der(0x31, b"".join(sorted(items)))


def d_int(n: int) -> bytes:
    if n < 0:
        raise ValueError("negative INTEGER not supported")
    return der(0x02, n.to_bytes((n.bit_length() + 8) // 8, "big") if n else b"\x00")


def d_oid(dotted: str) -> bytes:
    parts = [int(x) for x in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        enc = [p & 0x7F]
        p >>= 7
        while p:
            enc.append(0x80 | (p & 0x7F))
            p >>= 7
        body.extend(reversed(enc))
    return der(0x06, bytes(body))


def decode_oid(content: bytes) -> str:
    first = content[0]
    parts = [first // 40 if first < 80 else 2, first % 40 if first < 80 else first - 80]
    n = 0
    for b in content[1:]:
        n = (n << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(n)
            n = 0
    return ".".join(str(p) for p in parts)


def d_null() -> bytes:
    return b"\x05\x00"


def d_octet(b: bytes) -> bytes:
    return der(0x04, b)


def d_bits(b: bytes, unused: int = 0) -> bytes:
    return der(0x03, bytes([unused]) + b)


def d_utf8(s: str) -> bytes:
    return der(0x0C, s.encode())


def d_ia5(s: str) -> bytes:
    return der(0x16, s.encode())


def d_bool(v: bool) -> bytes:
    return der(0x01, b"\xff" if v else b"\x00")


def d_time(t: _dt.datetime) -> bytes:
    t = t.astimezone(_dt.timezone.utc)
    if t.year < 2050:
        return der(0x17, t.strftime("%y%m%d%H%M%SZ").encode())
    return der(0x18, t.strftime("%Y%m%d%H%M%SZ").encode())


def d_ctx(n: int, content: bytes, constructed: bool = True) -> bytes:
    return der((0xA0 if constructed else 0x80) | n, content)


def der_read(data: bytes, pos: int = 0):
    """(tag, content_start, content_end) of the TLV at pos."""
    tag = data[pos]
    ln = data[pos + 1]
    p = pos + 2
    if ln & 0x80:
        nb = ln & 0x7F
        ln = int.from_bytes(data[p:p + nb], "big")
        p += nb
    return tag, p, p + ln


def der_children(data: bytes, start: int, end: int):
    """[(tag, content_start, content_end, tlv_start)] of a constructed value."""
    kids, p = [], start
    while p < end:
        tag, cs, ce = der_read(data, p)
        kids.append((tag, cs, ce, p))
        p = ce
    return kids


def pem_blocks(text: str):
    """[(label, der_bytes)] of every PEM block in text."""
    blocks = []
    for m in re.finditer(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", text, re.S):
        blocks.append((m.group(1), base64.b64decode("".join(m.group(2).split()))))
    return blocks


def pem(label: str, data: bytes) -> str:
    b = base64.b64encode(data).decode()
    return f"-----BEGIN {label}-----\n" + "\n".join(b[i:i + 64] for i in range(0, len(b), 64)) + f"\n-----END {label}-----\n"


OID_CN, OID_O = "2.5.4.3", "2.5.4.10"
OID_RSA, OID_EC, OID_P256 = "1.2.840.113549.1.1.1", "1.2.840.10045.2.1", "1.2.840.10045.3.1.7"
OID_SHA256_RSA, OID_ECDSA_SHA256 = "1.2.840.113549.1.1.11", "1.2.840.10045.4.3.2"
OID_SKI, OID_KU, OID_SAN, OID_BC, OID_EKU, OID_AKI = ("2.5.29.14", "2.5.29.15", "2.5.29.17",
                                                      "2.5.29.19", "2.5.29.37", "2.5.29.35")
OID_SERVER_AUTH, OID_CLIENT_AUTH = "1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"


def _parse_time(data: bytes, tag: int, cs: int, ce: int) -> _dt.datetime:
    s = data[cs:ce].decode()
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"
    return _dt.datetime.strptime(s, fmt).replace(tzinfo=_dt.timezone.utc)


def _parse_name(data: bytes, cs: int, ce: int) -> dict:
    out: dict = {}
    for rdn in der_children(data, cs, ce):
        for atv in der_children(data, rdn[1], rdn[2]):
            oid_t, val_t = der_children(data, atv[1], atv[2])[:2]
            oid = decode_oid(data[oid_t[1]:oid_t[2]])
            name = {OID_CN: "CN", OID_O: "O"}.get(oid, oid)
            out.setdefault(name, []).append(data[val_t[1]:val_t[2]].decode(errors="replace"))
    return out


def parse_cert(cert_der: bytes) -> dict:
    """The parts of an X.509 certificate the stand-ins need (a minimal DER walk)."""
    _, cs, ce = der_read(cert_der, 0)
    top = der_children(cert_der, cs, ce)
    tbs = top[0]
    f = der_children(cert_der, tbs[1], tbs[2])
    i = 1 if f[0][0] == 0xA0 else 0
    raw = lambda t: cert_der[t[3]:t[2]]  # noqa: E731 - full TLV bytes
    validity = der_children(cert_der, f[i + 3][1], f[i + 3][2])
    spki = f[i + 5]
    alg_t, bits_t = der_children(cert_der, spki[1], spki[2])[:2]
    alg_oid_t = der_children(cert_der, alg_t[1], alg_t[2])[0]
    exts: dict = {}
    for t in f[i + 6:]:
        if t[0] == 0xA3:
            seq = der_children(cert_der, t[1], t[2])[0]
            for e in der_children(cert_der, seq[1], seq[2]):
                parts = der_children(cert_der, e[1], e[2])
                oid = decode_oid(cert_der[parts[0][1]:parts[0][2]])
                exts[oid] = cert_der[parts[-1][1]:parts[-1][2]]
    serial_t = f[i]
    info = {
        "der": cert_der,
        "tbs": raw(tbs),
        "serial": int.from_bytes(cert_der[serial_t[1]:serial_t[2]], "big"),
        "issuer_raw": raw(f[i + 2]),
        "subject_raw": raw(f[i + 4]),
        "issuer": _parse_name(cert_der, f[i + 2][1], f[i + 2][2]),
        "subject": _parse_name(cert_der, f[i + 4][1], f[i + 4][2]),
        "not_before": _parse_time(cert_der, *validity[0][:3]),
        "not_after": _parse_time(cert_der, *validity[1][:3]),
        "spki": raw(spki),
        "key_alg": decode_oid(cert_der[alg_oid_t[1]:alg_oid_t[2]]),
        "key_bits": cert_der[bits_t[1] + 1:bits_t[2]],
        "exts": exts,
        "dns": [], "ips": [],
    }
    san = exts.get(OID_SAN)
    if san:
        _, scs, sce = der_read(san, 0)
        for tag, vcs, vce, _p in der_children(san, scs, sce):
            if tag == 0x82:
                info["dns"].append(san[vcs:vce].decode())
            elif tag == 0x87:
                info["ips"].append(str(ipaddress.ip_address(san[vcs:vce])))
    return info


def load_cert_pem(text: str) -> dict:
    for label, data in pem_blocks(text):
        if label == "CERTIFICATE":
            return parse_cert(data)
    raise ValueError("no CERTIFICATE block found")


def spki_sha256(cert_pem: str) -> str:
    """kubeadm's CA pin: sha256 over the certificate's SubjectPublicKeyInfo (DER)."""
    return "sha256:" + hashlib.sha256(load_cert_pem(cert_pem)["spki"]).hexdigest()


# ---------------------------------------------------- keys, signing (no deps)

_EC_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_EC_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_EC_G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
         0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _jdouble(pt):
    X, Y, Z = pt
    p = _EC_P
    if Y == 0 or Z == 0:
        return (0, 1, 0)
    delta = Z * Z % p
    gamma = Y * Y % p
    beta = X * gamma % p
    alpha = 3 * (X - delta) * (X + delta) % p
    X3 = (alpha * alpha - 8 * beta) % p
    Z3 = ((Y + Z) ** 2 - gamma - delta) % p
    Y3 = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
    return (X3, Y3, Z3)


def _jadd(p1, p2):
    X1, Y1, Z1 = p1
    X2, Y2, Z2 = p2
    p = _EC_P
    if Z1 == 0:
        return p2
    if Z2 == 0:
        return p1
    Z1Z1, Z2Z2 = Z1 * Z1 % p, Z2 * Z2 % p
    U1, U2 = X1 * Z2Z2 % p, X2 * Z1Z1 % p
    S1, S2 = Y1 * Z2 * Z2Z2 % p, Y2 * Z1 * Z1Z1 % p
    if U1 == U2:
        return _jdouble(p1) if S1 == S2 else (0, 1, 0)
    H = (U2 - U1) % p
    I = (2 * H) ** 2 % p  # noqa: E741
    J = H * I % p
    r = 2 * (S2 - S1) % p
    V = U1 * I % p
    X3 = (r * r - J - 2 * V) % p
    Y3 = (r * (V - X3) - 2 * S1 * J) % p
    Z3 = ((Z1 + Z2) ** 2 - Z1Z1 - Z2Z2) * H % p
    return (X3, Y3, Z3)


def ec_mul(k: int, point=_EC_G):
    R, Q = (0, 1, 0), (point[0], point[1], 1)
    for bit in bin(k)[2:]:
        R = _jdouble(R)
        if bit == "1":
            R = _jadd(R, Q)
    X, Y, Z = R
    zi = pow(Z, -1, _EC_P)
    zi2 = zi * zi % _EC_P
    return (X * zi2 % _EC_P, Y * zi2 * zi % _EC_P)


def new_ec_key() -> dict:
    """A fresh ECDSA P-256 key (pure Python: RSA generation would be too slow here)."""
    d = secrets.randbelow(_EC_N - 1) + 1
    x, y = ec_mul(d)
    return {"type": "ec", "d": d, "pub": b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")}


def key_spki(key: dict) -> bytes:
    if key["type"] == "ec":
        return d_seq(d_seq(d_oid(OID_EC), d_oid(OID_P256)), d_bits(key["pub"]))
    return d_seq(d_seq(d_oid(OID_RSA), d_null()), d_bits(d_seq(d_int(key["n"]), d_int(key["e"]))))


def key_pem(key: dict) -> str:
    """kubeadm-style private key PEM: 'EC PRIVATE KEY' (SEC1) / 'RSA PRIVATE KEY' (PKCS#1)."""
    if key["type"] == "ec":
        body = d_seq(d_int(1), d_octet(key["d"].to_bytes(32, "big")), d_ctx(0, d_oid(OID_P256)),
                     d_ctx(1, d_bits(key["pub"])))
        return pem("EC PRIVATE KEY", body)
    k = key
    body = d_seq(d_int(0), d_int(k["n"]), d_int(k["e"]), d_int(k["d"]), d_int(k["p"]), d_int(k["q"]),
                 d_int(k["d"] % (k["p"] - 1)), d_int(k["d"] % (k["q"] - 1)), d_int(pow(k["q"], -1, k["p"])))
    return pem("RSA PRIVATE KEY", body)


def public_key_pem(key: dict) -> str:
    return pem("PUBLIC KEY", key_spki(key))


def der_ints(data: bytes, start: int, end: int) -> list:
    return [int.from_bytes(data[t[1]:t[2]], "big") if t[0] == 0x02 else None
            for t in der_children(data, start, end)]


def _parse_sec1(data: bytes) -> dict:
    _, cs, ce = der_read(data, 0)
    kids = der_children(data, cs, ce)
    d = int.from_bytes(data[kids[1][1]:kids[1][2]], "big")
    for t in kids[2:]:
        if t[0] == 0xA0:
            oid = decode_oid(data[der_read(data, t[1])[1]:der_read(data, t[1])[2]])
            if oid != OID_P256:
                raise ValueError(f"unsupported EC curve {oid} (the stand-ins do P-256 only)")
    x, y = ec_mul(d)
    return {"type": "ec", "d": d, "pub": b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")}


def _parse_pkcs1(data: bytes) -> dict:
    _, cs, ce = der_read(data, 0)
    v = der_ints(data, cs, ce)
    return {"type": "rsa", "n": v[1], "e": v[2], "d": v[3], "p": v[4], "q": v[5]}


def load_key_pem(text: str) -> dict:
    for label, data in pem_blocks(text):
        if label == "RSA PRIVATE KEY":
            return _parse_pkcs1(data)
        if label == "EC PRIVATE KEY":
            return _parse_sec1(data)
        if label == "PRIVATE KEY":
            _, cs, ce = der_read(data, 0)
            kids = der_children(data, cs, ce)
            alg = der_children(data, kids[1][1], kids[1][2])
            oid = decode_oid(data[alg[0][1]:alg[0][2]])
            inner = data[kids[2][1]:kids[2][2]]
            if oid == OID_RSA:
                return _parse_pkcs1(inner)
            if oid == OID_EC:
                return _parse_sec1(inner)
            raise ValueError(f"unsupported private key algorithm {oid}")
    raise ValueError("no supported private key PEM block found")


_SHA256_DIGESTINFO = bytes.fromhex("3031300d060960864801650304020105000420")


def sign(key: dict, data: bytes):
    """(AlgorithmIdentifier DER, signature bytes) over data with SHA-256."""
    digest = hashlib.sha256(data).digest()
    if key["type"] == "ec":
        z = int.from_bytes(digest, "big")
        while True:
            k = secrets.randbelow(_EC_N - 1) + 1
            r = ec_mul(k)[0] % _EC_N
            if not r:
                continue
            s = pow(k, -1, _EC_N) * (z + r * key["d"]) % _EC_N
            if s:
                return d_seq(d_oid(OID_ECDSA_SHA256)), d_seq(d_int(r), d_int(s))
    n, d, p, q = key["n"], key["d"], key["p"], key["q"]
    klen = (n.bit_length() + 7) // 8
    t = _SHA256_DIGESTINFO + digest
    em = b"\x00\x01" + b"\xff" * (klen - len(t) - 3) + b"\x00" + t
    m = int.from_bytes(em, "big")
    m1, m2 = pow(m, d % (p - 1), p), pow(m, d % (q - 1), q)
    h = pow(q, -1, p) * (m1 - m2) % p
    return d_seq(d_oid(OID_SHA256_RSA), d_null()), (m2 + h * q).to_bytes(klen, "big")


def _name(cn: str, orgs=()) -> bytes:
    rdns = [d_set(d_seq(d_oid(OID_O), d_utf8(o))) for o in orgs]
    rdns.append(d_set(d_seq(d_oid(OID_CN), d_utf8(cn))))
    return d_seq(*rdns)


def _ski(spki: bytes) -> bytes:
    _, cs, ce = der_read(spki, 0)
    bits = der_children(spki, cs, ce)[1]
    return hashlib.sha1(spki[bits[1] + 1:bits[2]]).digest()


def make_cert(cn: str, key: dict, *, orgs=(), issuer_cert: dict | None = None, issuer_key: dict | None = None,
              is_ca: bool = False, server: bool = False, client: bool = False, dns=(), ips=(),
              days: int = 365) -> str:
    """A certificate PEM for key, signed by issuer (or self-signed when issuer_cert is None)."""
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    spki = key_spki(key)
    signer = issuer_key if issuer_cert is not None else key
    issuer_name = issuer_cert["subject_raw"] if issuer_cert is not None else _name(cn, orgs)
    exts = []
    if is_ca:
        exts.append(d_seq(d_oid(OID_KU), d_bool(True), d_octet(d_bits(bytes([0xA4]), 2))))
        exts.append(d_seq(d_oid(OID_BC), d_bool(True), d_octet(d_seq(d_bool(True)))))
    else:
        ku = bytes([0xA0]) if key["type"] == "rsa" else bytes([0x80])
        exts.append(d_seq(d_oid(OID_KU), d_bool(True), d_octet(d_bits(ku, 5 if key["type"] == "rsa" else 7))))
        ekus = ([d_oid(OID_SERVER_AUTH)] if server else []) + ([d_oid(OID_CLIENT_AUTH)] if client else [])
        if ekus:
            exts.append(d_seq(d_oid(OID_EKU), d_octet(d_seq(*ekus))))
        exts.append(d_seq(d_oid(OID_BC), d_bool(True), d_octet(d_seq())))
    exts.append(d_seq(d_oid(OID_SKI), d_octet(d_octet(_ski(spki)))))
    if issuer_cert is not None:
        aki = issuer_cert["exts"].get(OID_SKI)
        kid = der_read(aki, 0) if aki else None
        kid = aki[kid[1]:kid[2]] if kid else _ski(issuer_cert["spki"])
        exts.append(d_seq(d_oid(OID_AKI), d_octet(d_seq(d_ctx(0, kid, constructed=False)))))
    if dns or ips:
        names = [der(0x82, n.encode()) for n in dns] + [der(0x87, ipaddress.ip_address(i).packed) for i in ips]
        exts.append(d_seq(d_oid(OID_SAN), d_octet(d_seq(*names))))
    alg = d_seq(d_oid(OID_ECDSA_SHA256)) if signer["type"] == "ec" else d_seq(d_oid(OID_SHA256_RSA), d_null())
    tbs = d_seq(
        d_ctx(0, d_int(2)),
        d_int(secrets.randbits(62) | (1 << 62)),
        alg,
        issuer_name,
        d_seq(d_time(now - _dt.timedelta(minutes=5)), d_time(now + _dt.timedelta(days=days))),
        _name(cn, orgs),
        spki,
        d_ctx(3, d_seq(*exts)),
    )
    alg, sig = sign(signer, tbs)
    return pem("CERTIFICATE", d_seq(tbs, alg, d_bits(sig)))


def cert_matches_key(cert: dict, key: dict) -> bool:
    return cert["spki"] == key_spki(key)


# ---------------------------------------------- JWS, sealed secrets, tokens

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jws_detached(payload: str, token_id: str, token_secret: str) -> str:
    """kubeadm's cluster-info signature: a detached HS256 JWS keyed by the token secret."""
    header = b64url(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    body = b64url(payload.encode())
    sig = hmac.new(token_secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}..{b64url(sig)}"


def jws_detached_valid(jws: str, payload: str, token_id: str, token_secret: str) -> bool:
    return hmac.compare_digest(jws, jws_detached(payload, token_id, token_secret))


def new_token() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    pick = lambda n: "".join(secrets.choice(alphabet) for _ in range(n))  # noqa: E731
    return f"{pick(6)}.{pick(16)}"


def _keystream(key: bytes, nonce: bytes, n: int) -> bytes:
    out, counter = bytearray(), 0
    while len(out) < n:
        out += hmac.new(key, b"enc" + nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


class DecryptError(Exception):
    pass


def certificate_key_bytes(hex_key: str) -> bytes:
    try:
        key = bytes.fromhex(hex_key)
    except ValueError as exc:
        raise DecryptError(f"error decoding certificate key: encoding/hex: invalid byte in {hex_key[:4]}...") from exc
    if len(key) != 32:
        raise DecryptError(f"error decoding certificate key: crypto/aes: invalid key size {len(key)}")
    return key


def seal(hex_key: str, data: bytes) -> str:
    """Stand-in for kubeadm's AES-GCM: HMAC-SHA256 stream + HMAC tag (stdlib has no AES)."""
    key = certificate_key_bytes(hex_key)
    nonce = secrets.token_bytes(16)
    ct = bytes(a ^ b for a, b in zip(data, _keystream(key, nonce, len(data))))
    tag = hmac.new(key, b"mac" + nonce + ct, hashlib.sha256).digest()
    return base64.b64encode(nonce + ct + tag).decode()


def unseal(hex_key: str, blob: str) -> bytes:
    key = certificate_key_bytes(hex_key)
    raw = base64.b64decode(blob)
    nonce, ct, tag = raw[:16], raw[16:-32], raw[-32:]
    if not hmac.compare_digest(tag, hmac.new(key, b"mac" + nonce + ct, hashlib.sha256).digest()):
        raise DecryptError("cipher: message authentication failed")
    return bytes(a ^ b for a, b in zip(ct, _keystream(key, nonce, len(ct))))


# ---------------------------------------------------------- time, durations

def parse_duration(s) -> float:
    """Go duration ("24h0m0s", "2h", "90s", "0") -> seconds."""
    if isinstance(s, (int, float)):
        return float(s)
    s = str(s).strip()
    if s in ("0", ""):
        return 0.0
    total, pos = 0.0, 0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)", s):
        if m.start() != pos:
            raise ValueError(f'time: invalid duration "{s}"')
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(s):
        raise ValueError(f'time: invalid duration "{s}"')
    return total


def go_duration(seconds: float) -> str:
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h}h{m}m{s}s"
    if m:
        return f"{m}m{s}s"
    return f"{s}s"


def rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(int(ts), _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_rfc3339(s: str) -> float:
    return _dt.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc).timestamp()


def human_age(seconds: float) -> str:
    """kubectl's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def table(headers, rows) -> str:
    """kubectl's tabwriter output: columns padded to width + 3 spaces."""
    cols = [headers] + [list(map(str, r)) for r in rows]
    widths = [max(len(r[i]) for r in cols) for i in range(len(headers))]
    lines = []
    for r in cols:
        cells = [r[i].ljust(widths[i] + 3) if i < len(r) - 1 else r[i] for i in range(len(r))]
        lines.append("".join(cells).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------- name resolution

def resolve_host(name: str) -> str:
    """IPv4 address for name: literal IP, then STANDIN_ROOT's /etc/hosts, then the resolver."""
    try:
        ipaddress.ip_address(name)
        return name
    except ValueError:
        pass
    try:
        with open(P("/etc/hosts")) as fh:
            for line in fh:
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 2 and name.lower() in (p.lower() for p in parts[1:]):
                    try:
                        if ipaddress.ip_address(parts[0]).version == 4:
                            return parts[0]
                    except ValueError:
                        continue
    except OSError:
        pass
    try:
        return socket.getaddrinfo(name, None, socket.AF_INET)[0][4][0]
    except (socket.gaierror, IndexError):
        raise LookupError(name) from None


def split_host_port(endpoint: str, default_port: int = 6443):
    if endpoint.startswith("["):
        host, _, rest = endpoint[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, sep, port = endpoint.rpartition(":")
    if not sep:
        return endpoint, default_port
    return host, int(port)


# ------------------------------------------------------------- HTTPS client

class ConnError(Exception):
    """A transport failure, worded like Go's net/http errors."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


class _Conn(http.client.HTTPSConnection):
    def __init__(self, host, port, ip, context, timeout):
        super().__init__(host, port, context=context, timeout=timeout)
        self._ip = ip
        self._closing = True

    def getresponse(self):
        resp = super().getresponse()
        self._closing = resp.will_close
        return resp

    def will_close_after_response(self) -> bool:
        """Whether the last answer ended this connection (HTTP/1.0, or Connection: close)."""
        return self._closing or self.sock is None

    def connect(self):
        sock = socket.create_connection((self._ip, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def _verify_message(exc: ssl.SSLCertVerificationError, host: str) -> str:
    msg = str(getattr(exc, "verify_message", "") or exc)
    if "Hostname mismatch" in msg or "IP address mismatch" in msg:
        return f"tls: failed to verify certificate: x509: certificate is not valid for {host}"
    if "expired" in msg:
        return "tls: failed to verify certificate: x509: certificate has expired or is not yet valid"
    return "tls: failed to verify certificate: x509: certificate signed by unknown authority"


def _client_context(ca_pem: str | None, cert_pem: str | None, key_pem: str | None) -> ssl.SSLContext:
    """A TLS client context: ca_pem None = no server verification (discovery's first pass)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_pem is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=ca_pem)
    if cert_pem and key_pem:
        tmpdir = tempfile.mkdtemp(prefix="standin-tls-")
        cf, kf = os.path.join(tmpdir, "c.pem"), os.path.join(tmpdir, "k.pem")
        for f, data in ((cf, cert_pem), (kf, key_pem)):
            fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, data.encode())
            os.close(fd)
        try:
            ctx.load_cert_chain(cf, kf)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return ctx


def _request_parts(token: str | None, body, headers: dict | None) -> tuple[dict, bytes | None]:
    hdrs = {"Accept": "application/json", "User-Agent": f"standin/{KUBE_VERSION}"}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs["Content-Type"] = "application/json"
    if isinstance(body, str):
        body = body.encode()
    hdrs.update(headers or {})
    return hdrs, body


def _exchange(conn: _Conn, method: str, url: str, path: str, body, hdrs: dict):
    """One request on ``conn``: (status, body bytes), or ConnError worded as Go's net/http words it."""
    verb, ip, port, host = method.capitalize(), conn._ip, conn.port, conn.host
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except ConnectionRefusedError:
        raise ConnError(f'{verb} "{url}": dial tcp {ip}:{port}: connect: connection refused', "refused") from None
    except ssl.SSLCertVerificationError as exc:
        raise ConnError(f'{verb} "{url}": {_verify_message(exc, host)}', "tls") from None
    except (socket.timeout, TimeoutError):
        raise ConnError(f'{verb} "{url}": dial tcp {ip}:{port}: i/o timeout', "timeout") from None
    except ssl.SSLError as exc:
        raise ConnError(f'{verb} "{url}": remote error: tls: {exc.reason or exc}', "tls") from None
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        raise ConnError(f'{verb} "{url}": EOF', "eof") from None
    except OSError as exc:
        raise ConnError(f'{verb} "{url}": dial tcp {ip}:{port}: {exc.strerror or exc}', "other") from None


def _endpoint(server: str, method: str, path: str) -> tuple[str, int, str, str]:
    """(host, port, ip, url) of ``server``; ConnError when its name does not resolve."""
    u = urllib.parse.urlsplit(server)
    host, port = u.hostname, u.port or 443
    url = f"{server.rstrip('/')}{path}"
    try:
        return host, port, resolve_host(host), url
    except LookupError:
        raise ConnError(f'{method.capitalize()} "{url}": dial tcp: lookup {host}: no such host', "dns") from None


def https_request(server: str, method: str, path: str, *, ca_pem: str | None = None,
                  cert_pem: str | None = None, key_pem: str | None = None, token: str | None = None,
                  body=None, timeout: float = 10.0, headers: dict | None = None):
    """(status, body bytes) of one request on a connection of its own. ca_pem None = no server verification."""
    host, port, ip, url = _endpoint(server, method, path)
    hdrs, body = _request_parts(token, body, headers)
    conn = _Conn(host, port, ip, _client_context(ca_pem, cert_pem, key_pem), timeout)
    try:
        return _exchange(conn, method, url, path, body, hdrs)
    finally:
        conn.close()


class KeptClient:
    """Requests to one API server over kept connections, as client-go keeps its own (HTTP/2, or HTTP/1.1
    keep-alive): the TLS context and client certificate are loaded once, and a connection is opened (one
    handshake) only when no idle one is at hand. Thread-safe: each request takes an idle connection or opens
    one, and gives it back after a whole answer. A kept connection the other end closed meanwhile (an idle
    timeout) fails its next request with EOF before any answer; that request is sent once more on a new
    connection, as Go's net/http Transport retries a request on a reused connection that died unused."""

    def __init__(self, server: str, *, ca_pem: str | None = None, cert_pem: str | None = None,
                 key_pem: str | None = None, token: str | None = None, timeout: float = 10.0, idle: int = 8):
        self.server, self.token, self.timeout, self.idle_max = server, token, timeout, idle
        self.ctx = _client_context(ca_pem, cert_pem, key_pem)
        self.idle: list[_Conn] = []
        self.lock = threading.Lock()

    @classmethod
    def from_kubeconfig(cls, kc: dict, timeout: float = 10.0) -> "KeptClient":
        return cls(kc["server"], **kubeconfig_credentials(kc), timeout=timeout)

    def request(self, method: str, path: str, body=None, headers: dict | None = None):
        host, port, ip, url = _endpoint(self.server, method, path)
        hdrs, body = _request_parts(self.token, body, headers)
        with self.lock:
            kept = self.idle.pop() if self.idle else None
        if kept is not None:
            try:
                return self._send(kept, method, url, path, body, hdrs)
            except ConnError as exc:
                if exc.kind != "eof":
                    raise
        return self._send(_Conn(host, port, ip, self.ctx, self.timeout), method, url, path, body, hdrs)

    def _send(self, conn: _Conn, method: str, url: str, path: str, body, hdrs: dict):
        """One request on ``conn``; the connection is kept for the next one when the answer leaves it open."""
        try:
            code, data = _exchange(conn, method, url, path, body, hdrs)
        except ConnError:
            conn.close()
            raise
        with self.lock:
            keep = len(self.idle) < self.idle_max and not conn.will_close_after_response()
            if keep:
                self.idle.append(conn)
        if not keep:
            conn.close()
        return code, data

    def close(self) -> None:
        with self.lock:
            for conn in self.idle:
                conn.close()
            self.idle.clear()


def status_message(body: bytes) -> str:
    try:
        return json.loads(body).get("message") or body.decode(errors="replace")
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()


# ----------------------------------------------------------------- kubeconfig

def b64(data) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def make_kubeconfig(server: str, ca_pem: str, user: str, cluster: str = "kubernetes", *,
                    cert_pem: str | None = None, key_pem: str | None = None, token: str | None = None,
                    cert_file: str | None = None, key_file: str | None = None) -> str:
    creds: dict = {}
    if cert_pem:
        creds["client-certificate-data"] = b64(cert_pem)
        creds["client-key-data"] = b64(key_pem)
    if cert_file:
        creds["client-certificate"] = cert_file
        creds["client-key"] = key_file
    if token:
        creds["token"] = token
    ctxname = f"{user}@{cluster}"
    return yaml_dump({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"certificate-authority-data": b64(ca_pem), "server": server}, "name": cluster}],
        "contexts": [{"context": {"cluster": cluster, "user": user}, "name": ctxname}],
        "current-context": ctxname,
        "kind": "Config",
        "preferences": {},
        "users": [{"name": user, "user": creds}],
    })


def user_path(path: str) -> str:
    """A path a user typed (--config F, --kubeconfig F). Under STANDIN_ROOT (unit tests) an
    absolute path is logical (/etc/kubernetes/admin.conf -> ROOT/etc/...) when that file
    exists, else taken as it is (a test's own temp file)."""
    if not local_mode() or not os.path.isabs(path) or path.startswith(root().rstrip("/") + "/"):
        return path
    return P(path) if os.path.lexists(P(path)) or not os.path.lexists(path) else path


def _kc_file(path: str, base: str) -> str:
    if not os.path.isabs(path):
        path = os.path.join(base, path)
    with open(user_path(path)) as fh:
        return fh.read()


def load_kubeconfig(path: str) -> dict:
    """{server, ca_pem (None = insecure), cert_pem, key_pem, token, cluster, user} of the current context.

    path is a real file-system path (callers map logical paths with P() or user_path()).
    """
    with open(path) as fh:
        cfg = yaml_load(fh.read()) or {}
    base = os.path.dirname(path)
    current = cfg.get("current-context")
    ctx = next((c.get("context") or {} for c in cfg.get("contexts") or [] if c.get("name") == current), None)
    clusters = {c.get("name"): c.get("cluster") or {} for c in cfg.get("clusters") or []}
    users = {u.get("name"): u.get("user") or {} for u in cfg.get("users") or []}
    if ctx is None:
        if len(clusters) == 1:
            ctx = {"cluster": next(iter(clusters)), "user": next(iter(users), None)}
        else:
            raise ValueError("invalid configuration: no configuration has been provided")
    cl = clusters.get(ctx.get("cluster"), {})
    us = users.get(ctx.get("user"), {})
    res = {"server": cl.get("server"), "cluster": ctx.get("cluster"), "user": ctx.get("user"),
           "ca_pem": None, "cert_pem": None, "key_pem": None, "token": us.get("token")}
    if cl.get("certificate-authority-data"):
        res["ca_pem"] = base64.b64decode(cl["certificate-authority-data"]).decode()
    elif cl.get("certificate-authority"):
        res["ca_pem"] = _kc_file(cl["certificate-authority"], base)
    res["insecure"] = bool(cl.get("insecure-skip-tls-verify"))
    if us.get("client-certificate-data"):
        res["cert_pem"] = base64.b64decode(us["client-certificate-data"]).decode()
    elif us.get("client-certificate"):
        res["cert_pem"] = _kc_file(us["client-certificate"], base)
    if us.get("client-key-data"):
        res["key_pem"] = base64.b64decode(us["client-key-data"]).decode()
    elif us.get("client-key"):
        res["key_pem"] = _kc_file(us["client-key"], base)
    return res


def kubeconfig_credentials(kc: dict) -> dict:
    """The https_request / KeptClient keywords of a load_kubeconfig() result: no CA (no verification) when the
    kubeconfig says insecure-skip-tls-verify."""
    return {"ca_pem": None if kc.get("insecure") else kc["ca_pem"], "cert_pem": kc.get("cert_pem"),
            "key_pem": kc.get("key_pem"), "token": kc.get("token")}


def kc_request(kc: dict, method: str, path: str, body=None, timeout: float = 10.0):
    return https_request(kc["server"], method, path, **kubeconfig_credentials(kc), body=body, timeout=timeout)


# ------------------------------------------------------------------- systemd

def systemd_available() -> bool:
    return (not local_mode() and os.path.isdir("/run/systemd/system") and shutil.which("systemctl") is not None
            and not os.environ.get("STANDIN_NO_SYSTEMD"))


ETCD_BINARY = "/usr/bin/etcd"
ETCD_POD_UNIT = "/usr/lib/systemd/system/standin-etcd.service"
LOCAL_ETCD = "https://127.0.0.1:2379"      # the local member: kube-apiserver's --etcd-servers in kubeadm's manifest


def real_etcd_node() -> bool:
    """This node runs Debian's etcd (package etcd-server) as its stacked member: the stand-in kubelet runs
    etcd.yaml with it through standin-etcd.service (src/etcd_pod.py). Elsewhere the stand-in API server's
    model of etcd answers on the etcd port."""
    return systemd_available() and exists(ETCD_BINARY) and exists(ETCD_POD_UNIT)


class EtcdError(Exception):
    pass


def etcd_v3(endpoints: list, call: str, body: dict, timeout: float = 10.0) -> dict:
    """``POST /v3/CALL`` through etcd's grpc-gateway (etcd-io/etcd api/etcdserverpb/rpc.proto) on the first of
    ``endpoints`` that answers, with the certificate kubeadm's etcd client uses (cmd/kubeadm/app/util/etcd/
    etcd.go NewFromCluster: etcd/ca.crt, apiserver-etcd-client.crt/.key). EtcdError carries etcd's message."""
    pki = "/etc/kubernetes/pki"
    ca, cert, key = (read_file(f"{pki}/{n}") for n in ("etcd/ca.crt", "apiserver-etcd-client.crt",
                                                          "apiserver-etcd-client.key"))
    last = "no etcd endpoint to ask"
    for endpoint in endpoints:
        try:
            code, raw = https_request(endpoint, "POST", f"/v3/{call}", ca_pem=ca, cert_pem=cert, key_pem=key,
                                      body=body, timeout=timeout)
        except ConnError as exc:
            last = str(exc)
            continue
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            data = {}
        if code == 200:
            return data
        raise EtcdError(data.get("message") or data.get("error") or f"{endpoint}: HTTP {code}")
    raise EtcdError(last)


def systemctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["systemctl", *args], capture_output=True, text=True)


def sd_notify(message: str) -> bool:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return False
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(addr)
        s.sendall(message.encode())
        return True
    except OSError:
        return False
    finally:
        s.close()


def listen_fds() -> list:
    """Sockets passed by systemd socket activation (LISTEN_FDS), else []."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return []
    n = int(os.environ.get("LISTEN_FDS") or 0)
    for var in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(var, None)
    return [socket.socket(fileno=3 + i) for i in range(n)]


def listener_backlog() -> int:
    """The accept queue Go gives a listener (golang/go src/net/sock_linux.go maxListenerBacklog): net.core.somaxconn,
    at most 65535. kube-apiserver, etcd and the kubelet are Go programs."""
    try:
        with open("/proc/sys/net/core/somaxconn") as f:
            n = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return socket.SOMAXCONN
    return min(n, 65535) if n > 0 else socket.SOMAXCONN


class GoHTTPServer(ThreadingHTTPServer):
    """HTTP(S) served as Go's net/http serves it: the listener's backlog from somaxconn, each connection in its own
    thread with its TLS handshake there (net/http server.go conn.serve), never in the accept loop, and no Nagle
    (golang/go src/net/tcpsock.go TCPConn.SetNoDelay: "The default is true (no delay)"). http.server writes the
    headers and the body apart: with Nagle on, a small body waited for the client's delayed ACK of the headers."""
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = listener_backlog()

    def __init__(self, addr, handler, ctx: ssl.SSLContext | None = None):
        self.ctx = ctx
        super().__init__(addr, handler)

    def finish_request(self, request, client_address):
        request.settimeout(30)
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            conn = self.ctx.wrap_socket(request, server_side=True) if self.ctx else request
        except (ssl.SSLError, OSError):
            return  # plain TCP health checks and probes, scanners, clients rejecting our certificate
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            if conn is not request:
                try:
                    conn.close()
                except OSError:
                    pass


def unix_listen(path: str, mode: int = 0o660, group: str | None = None) -> socket.socket:
    real = P(path)
    os.makedirs(os.path.dirname(real), exist_ok=True)
    try:
        os.unlink(real)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(real)
    os.chmod(real, mode)
    if group:
        try:
            os.chown(real, 0 if os.geteuid() == 0 else -1, grp.getgrnam(group).gr_gid)
        except (KeyError, PermissionError):
            pass
    s.listen(64)
    return s


def unix_http_get(path: str, target: str, timeout: float = 10.0) -> tuple:
    """GET target (HTTP/1.0) on the unix socket at the real path: (status, body). Raises OSError."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    chunks = []
    try:
        s.connect(path)
        s.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    try:
        return int(head.split(b" ", 2)[1]), body
    except (IndexError, ValueError):
        raise OSError(f"malformed HTTP answer on {path}") from None


def stop_on_signals() -> threading.Event:
    """An event a daemon waits on: set by SIGTERM (systemctl stop) and SIGINT."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def _read_then_close(conn: socket.socket) -> None:
    # A gRPC server (grpc-go http2_server.go newHTTP2Server) first reads the client's HTTP/2 preface and
    # closes the connection when it is not one: read what the client sends (or wait 2 s), then close.
    # Closing at once, before the client wrote, made curl's connect fail now and then (exit 7).
    try:
        conn.settimeout(2)
        conn.recv(4096)
    except OSError:
        pass
    finally:
        conn.close()


def accept_and_close(sock: socket.socket, stop: threading.Event) -> None:
    """Accept connections on a listening socket, read the client's first bytes and close, until stop is set:
    enough for clients that only probe a runtime socket (the stand-ins speak no gRPC)."""
    sock.settimeout(0.5)
    while not stop.is_set():
        try:
            conn, _ = sock.accept()
            threading.Thread(target=_read_then_close, args=(conn,), daemon=True).start()
        except socket.timeout:
            continue
        except OSError:
            return


def unix_connectable(path: str, timeout: float = 2.0) -> str | None:
    """None when path accepts a connection, else the Go-style dial error."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(P(path))
        return None
    except FileNotFoundError:
        return f"dial unix {path}: connect: no such file or directory"
    except ConnectionRefusedError:
        return f"dial unix {path}: connect: connection refused"
    except PermissionError:
        return f"dial unix {path}: connect: permission denied"
    except OSError as exc:
        return f"dial unix {path}: connect: {exc.strerror or exc}"
    finally:
        s.close()


def cgroup_v1() -> bool:
    """Not cgroup v2 unified mode: what runc's cgroups.IsCgroup2UnifiedMode() answers with
    statfs("/sys/fs/cgroup") == CGROUP2_SUPER_MAGIC, read here as the type of the last mount on
    /sys/fs/cgroup in /proc/self/mounts (a v1 or hybrid host mounts tmpfs there). Under a test
    root, that root's /proc/self/mounts (absent: v2, the lab host's and every current OS's default)."""
    path = "/proc/self/mounts" if not local_mode() else P("/proc/self/mounts")
    try:
        with open(path) as fh:
            types = [ln.split()[2] for ln in fh.read().splitlines() if ln.split()[1:2] == ["/sys/fs/cgroup"]]
    except OSError:
        types = []
    if not types:
        return not local_mode()
    return types[-1] != "cgroup2"


def swaps_in_use() -> list:
    path = "/proc/swaps" if not local_mode() else P("/proc/swaps")
    try:
        with open(path) as fh:
            return [ln.split()[0] for ln in fh.read().splitlines()[1:] if ln.strip()]
    except OSError:
        return []


def klog(level: str, msg: str) -> None:
    """A klog-style line on stderr: E0611 20:27:59.123456    1234 file.go:123] msg."""
    now = _dt.datetime.now()
    err(f"{level}{now:%m%d %H:%M:%S.%f} {os.getpid():>7} standin.go:1] {msg}")


def os_pretty_name() -> str:
    try:
        with open(P("/etc/os-release") if local_mode() and os.path.exists(P("/etc/os-release")) else "/etc/os-release") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Debian GNU/Linux 12 (bookworm)"


# ------------------------------------------------- etcd snapshots (stand-in format)
# The stand-in etcd's database is the first control plane's state. A snapshot is that state as key/value
# pairs behind a magic line, followed - as a real etcd snapshot is (etcd-io/etcd server/etcdserver/api/
# v3rpc/maintenance.go Snapshot: the db, then its sha256) - by the sha256 of everything before it.

SNAPSHOT_MAGIC = b"STANDIN-ETCD-SNAPSHOT/1 (not a bbolt database)\n"


def etcd_kvs(state: dict) -> list:
    """[(key, value)] of a state dict, sorted: one key per entry of each top-level map."""
    kvs = []
    for top, value in sorted(state.items()):
        if isinstance(value, dict):
            for k, v in sorted(value.items()):
                kvs.append((f"/registry/standin/{top}/{k}", json.dumps(v, sort_keys=True)))
        else:
            kvs.append((f"/registry/standin/{top}", json.dumps(value, sort_keys=True)))
    return kvs


def etcd_snapshot_bytes(kvs: list, revision: int) -> bytes:
    body = SNAPSHOT_MAGIC + json.dumps({"revision": revision, "kvs": kvs}, sort_keys=True).encode()
    return body + hashlib.sha256(body).digest()


def etcd_snapshot_read(data: bytes) -> tuple:
    """(revision, kvs, db size) of a snapshot file's bytes; ValueError when it is not one or is damaged."""
    if not data.startswith(SNAPSHOT_MAGIC) or len(data) < len(SNAPSHOT_MAGIC) + 32:
        raise ValueError("invalid database")
    body, digest = data[:-32], data[-32:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError("snapshot file integrity check failed")
    doc = json.loads(body[len(SNAPSHOT_MAGIC):])
    return int(doc["revision"]), [tuple(kv) for kv in doc["kvs"]], len(body)


def _crc32c_table() -> list:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32 with the Castagnoli polynomial (Go's crc32.MakeTable(crc32.Castagnoli)), chainable."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _CRC32C[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF
