"""Make a lab node an SELinux host: the SELinux stand-ins (tests/standins/src/selinux.py) on its PATH and an
/etc/selinux/config in the MODE given. Nodes not marked stay without SELinux, as Debian ships."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

from ..standins.build import selinux_tools


def make_selinux_host(lab, node, mode: str = "enforcing") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tools = selinux_tools(Path(tmp))
        blob = base64.b64encode(next(iter(tools.values())).read_bytes()).decode()
    names = " ".join(tools)
    script = (f"set -e; base64 -d > /usr/local/sbin/.selinux-standin <<'EOF'\n{blob}\nEOF\n"
              "chmod 0755 /usr/local/sbin/.selinux-standin; "
              f"for n in {names}; do ln -f /usr/local/sbin/.selinux-standin /usr/local/sbin/$n; done; "
              "mkdir -p /etc/selinux; "
              f"printf 'SELINUX={mode}\\nSELINUXTYPE=targeted\\n' > /etc/selinux/config.new; "
              "mv -f /etc/selinux/config.new /etc/selinux/config; rm -rf /var/lib/selinux-standin")
    with lab.ssh(node) as s:
        r = s.sudo(script)
    assert r.ok, r
