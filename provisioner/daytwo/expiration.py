"""``kubeadm certs check-expiration`` output as rows, and their table/JSON forms.

>>> rows = parse_check_expiration(SAMPLE, "master1", NOW)
>>> [(r.name, r.days_left, r.ca) for r in rows][:2]
[('admin.conf', 364, 'ca'), ('super-admin.conf', None, '')]
>>> rows[-1].name, rows[-1].authority, rows[-1].days_left
('ca', True, 3650)

The format is upstream's (kubernetes/kubernetes cmd/kubeadm/app/cmd/certs.go, newCmdCertsExpiration): two
tabwriter tables - CERTIFICATE / EXPIRES / RESIDUAL TIME / CERTIFICATE AUTHORITY / EXTERNALLY MANAGED, then
CERTIFICATE AUTHORITY / EXPIRES / RESIDUAL TIME / EXTERNALLY MANAGED - dates as "Jan 02, 2006 15:04 MST",
a missing file as ``!MISSING! NAME``. Columns are found from the header's positions (a cell never holds
three spaces; the date holds single ones). Days left are computed from the date, not from RESIDUAL TIME
(which says "364d", "9y", "5h").
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass

WARN_DAYS = 30
HEADER = "CERTIFICATE"
CA_HEADER = "CERTIFICATE AUTHORITY"
DATE_FORMAT = "%b %d, %Y %H:%M UTC"   # Go's "Jan 02, 2006 15:04 MST" of a UTC time

SAMPLE = """\
[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...

CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED
admin.conf                 Dec 04, 2027 10:00 UTC   364d            ca                      no      
!MISSING! super-admin.conf                                                                  

CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED
ca                      Dec 02, 2036 10:00 UTC   9y              no      
"""
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.timezone.utc)


class ParseError(ValueError):
    """The output is not check-expiration's tables."""


@dataclass(frozen=True)
class CertRow:
    host: str
    name: str
    expires: str            # ISO 8601 UTC, "" when missing
    days_left: int | None   # whole days until expiry (negative: expired), None when missing
    ca: str                 # the signing CA's name ("" for a CA itself or a missing file)
    externally_managed: bool
    authority: bool         # a row of the CA table
    missing: bool

    def warning(self, warn_days: int = WARN_DAYS) -> str | None:
        """One line when this certificate needs attention, else None."""
        what = f"{self.host}: {'CA ' if self.authority else ''}{self.name}"
        if self.missing:
            return None if self.name == "super-admin.conf" else f"{what} is missing"
        if self.days_left is not None and self.days_left < 0:
            return f"{what} EXPIRED on {self.expires}"
        if self.days_left is not None and self.days_left < warn_days:
            return f"{what} expires in {self.days_left} days ({self.expires}), under {warn_days}"
        return None

    def as_dict(self) -> dict:
        return asdict(self)


def _columns(header: str) -> list[int]:
    return [m.start() for m in re.finditer(r"(?:^|(?<=   ))\S", header)]


def _cells(line: str, starts: list[int]) -> list[str]:
    bounds = starts[1:] + [len(line) + 1]
    return [line[a:b].strip() for a, b in zip(starts, bounds)]


def _expiry(text: str, where: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, DATE_FORMAT).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise ParseError(f"{where}: cannot read the date {text!r} (expected like 'Jan 02, 2006 15:04 UTC')") from None


def parse_check_expiration(text: str, host: str, now: dt.datetime | None = None) -> list[CertRow]:
    """Both tables of ``kubeadm certs check-expiration`` as rows; ParseError when neither is there."""
    now = now or dt.datetime.now(dt.timezone.utc)
    rows: list[CertRow] = []
    starts: list[int] | None = None
    authority = False
    seen = 0
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(HEADER + " ") and "EXPIRES" in line:
            starts, authority, seen = _columns(line), line.startswith(CA_HEADER), seen + 1
            continue
        if not line.strip():
            starts = None
            continue
        if starts is None:
            continue            # the [check-expiration] lines before the tables
        where = f"{host}: check-expiration line {n}"
        if line.startswith("!MISSING! "):
            rows.append(CertRow(host, line.split()[1], "", None, "", False, authority, True))
            continue
        cells = _cells(line, starts)
        if len(cells) != (4 if authority else 5):
            raise ParseError(f"{where}: {len(cells)} columns, expected {4 if authority else 5}: {line!r}")
        expiry = _expiry(cells[1], where)
        days = (expiry - now).days          # floored: -1 once it has expired
        rows.append(CertRow(host, cells[0], expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), days,
                            "" if authority else cells[3], cells[-1] == "yes", authority, False))
    if not seen:
        raise ParseError(f"{host}: no CERTIFICATE table in the output of kubeadm certs check-expiration")
    return rows


def table(rows: list[CertRow], warn_days: int = WARN_DAYS) -> str:
    """A fixed-width table: HOST NAME EXPIRES DAYS LEFT CA (a CA's row says CA in the CA column)."""
    head = ("HOST", "CERTIFICATE", "EXPIRES", "DAYS LEFT", "CA", "")
    body = [(r.host, r.name, r.expires or "-", "-" if r.days_left is None else str(r.days_left),
             "(CA)" if r.authority else (r.ca or "-"), "WARN" if r.warning(warn_days) else "")
            for r in rows]
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(x, widths)).rstrip() for x in [head, *body])
