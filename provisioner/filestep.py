"""A file with exact content, owner, group and mode, or a managed block inside one (:class:`FileStep`),
and how its plan shows a diff without showing a secret."""

from __future__ import annotations

import difflib
import hashlib
import shlex
from typing import Callable

from provisioner.factdata import Fact
from provisioner.facts import FileBodyProbe, FileProbe
from provisioner.stepbase import Change, Step, StepContext

q = shlex.quote


def _merge_block(current: str, block: str) -> str:
    """``current`` with the marked block replaced (or appended): only our lines change."""
    lines = block.strip("\n").splitlines()
    begin, end = lines[0], lines[-1]
    out, inside, placed = [], False, False
    for line in current.splitlines():
        if line == begin:
            inside = True
            continue
        if inside:
            if line == end:
                inside = False
                if not placed:
                    out.extend(lines)
                    placed = True
            continue
        out.append(line)
    if not placed:
        if out and out[-1].strip():
            out.append("")
        out.extend(lines)
    return "\n".join(out) + "\n"


MASK = "<redacted>"


def secret_keywords(redacted: str) -> list[str]:
    r"""The keywords that introduce a secret in a rendered file whose secrets are already ``<redacted>``.

    >>> secret_keywords("  auth_pass <redacted>\n  stats auth admin:<redacted>\nmode tcp\n")
    ['auth_pass', 'stats auth']
    """
    keys = []
    for line in redacted.splitlines():
        if MASK in line:
            before = line.split(MASK, 1)[0].strip()
            # "stats auth admin:" -> "stats auth": the user part may differ on the host too.
            key = before.rsplit(None, 1)[0] if " " in before else before.rstrip(":= ") or before
            if key and key not in keys:
                keys.append(key)
    return keys


def mask_secret_lines(text: str, keys: list[str]) -> str:
    r"""Every line starting with one of ``keys`` keeps its keyword and loses the rest.

    >>> mask_secret_lines("    auth_pass oldpass1\nmode tcp\n", ["auth_pass"])
    '    auth_pass <redacted>\nmode tcp\n'
    """
    out = []
    for line in text.splitlines(True):
        body = line.lstrip()
        key = next((k for k in keys if body == k or body.startswith((k + " ", k + ":", k + "=", k + "\t"))), None)
        if key is not None:
            indent = line[:len(line) - len(body)]
            line = f"{indent}{key} {MASK}" + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


class FileStep(Step):
    """A file with exact content, owner, group and mode (or a managed block inside one)."""

    def __init__(self, path: str, content: str, *, mode: int = 0o644, owner: str = "root", group: str = "root",
                 secret: bool = False, block: bool = False, validate: str | None = None, notify: str | None = None):
        self.path, self.content, self.mode, self.owner, self.group = path, content, mode, owner, group
        self.secret, self.block, self.validate, self.notify = secret, block, validate, notify
        self.name, self.writes = f"write {path}", (path,)

    @classmethod
    def of(cls, rendered, **kw) -> "FileStep":
        """From a :class:`provisioner.render.RenderedFile`."""
        return cls(rendered.path, rendered.content, mode=rendered.mode, owner=rendered.owner, group=rendered.group,
                   secret=rendered.secret, block=rendered.merge == "block", **kw)

    def identity(self) -> str:
        digest = hashlib.sha256(self.content.encode()).hexdigest()
        return f"file {self.path} {self.mode:o} {self.owner}:{self.group} {digest} {self.block}"

    def probe(self) -> str:
        # the whole content for a managed block (it is merged into what is there), else its hash
        return FileBodyProbe(self.path) if self.block else FileProbe(self.path)

    def desired(self, fact: Fact | None) -> str:
        if not self.block:
            return self.content
        return _merge_block(self._current(fact) or "", self.content)

    @staticmethod
    def _current(fact: Fact | None) -> str | None:
        """The content a block probe read (None: absent or not read)."""
        read = FileBodyProbe.parse(fact)
        return read[1] if read else None

    def change(self, fact: Fact | None, notified: set[str]) -> Change | None:
        want = [f"{self.mode:o}", self.owner, self.group]
        if self.block:
            read = FileBodyProbe.parse(fact)
            meta = read[0] if read else None
            desired = self.desired(fact)
            same = read is not None and (read[1].rstrip("\n") + "\n" == desired or read[1] == desired)
        else:
            state = FileProbe.parse(fact)
            meta = [state.mode, state.owner, state.group] if state else None
            same = state is not None and state.sha256 == hashlib.sha256(self.content.encode()).hexdigest()
        if meta is None:
            what = "create"
        elif same and meta == want:
            return None
        else:
            what = "update" if not same else f"fix owner/mode ({' '.join(meta)} -> {' '.join(want)})"
        return Change(f"{what} {self.path}", [f"install {self.path} (mode {self.mode:o}, {self.owner}:{self.group})"])

    def diff(self, current: str | None, fact: Fact | None, redact: Callable[[str], str]) -> str:
        new = self.desired(fact)
        old = current or ""
        raw_differs = old != new
        if self.secret:
            # The host's side may hold an OLD secret that no redactor knows: mask every line that
            # carries a secret in our rendering (by its keyword, e.g. ``auth_pass``), on both sides.
            keys = secret_keywords(redact(self.content))
            old, new = mask_secret_lines(redact(old), keys), mask_secret_lines(redact(new), keys)
        text = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                            f"{self.path} (on host)" if current is not None else "/dev/null",
                                            f"{self.path} (provisioner)"))
        if not text and raw_differs:   # only masked values differ: say so without showing them
            text = f"--- {self.path} (on host)\n+++ {self.path} (provisioner)\n@@ secret values differ (masked) @@\n"
        return text

    def apply(self, ctx: StepContext, change: Change) -> None:
        content = self.content
        if self.block:   # re-read right before writing: merge into what is there now
            content = _merge_block(ctx.remote.read(self.path) or "", self.content)
        ctx.remote.put(self.path, content, mode=self.mode, owner=self.owner, group=self.group,
                       validate=self.validate)
