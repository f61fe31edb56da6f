"""Several HTTPS reads of one probe in ONE curl process (``--next`` between them).

A probe that asks the API server, etcd and the API again (is this control plane done?) used to start one
curl per question; on a node a curl costs ~7 ms of CPU before it sends a byte (its shared libraries), and
the probe runs in every ``up``. :func:`curl_reads` asks them all in one process and leaves each answer in
shell variables for the probe's own logic::

    >>> probe = curl_reads([Read("https://10.0.0.1:6443/healthz"),
    ...                     Read("$_s/api/v1/nodes/n1", kubeconfig="/etc/kubernetes/kubelet.conf", body=True)])
    >>> probe += '; [[ $_c0 == 2?? ]] && [[ $_c1 == 2?? ]] && [[ $_b1 == *n1* ]]'

``_c<i>``: read i's HTTP status (``000``: no answer - refused, timed out, or the server not verified with
its ``cacert``; ``-``: not sent, because its kubeconfig is one :func:`~provisioner.phases.base.api_read`
does not understand - a token, a second user - so the caller asks kubectl); ``_b<i>``: its body, where
``body`` is set. A status is what ``curl -f`` judges by: 2xx is success.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from provisioner.phases.base import CA, FILE_CREDS, INLINE_CREDS, read_kubeconfig

q = shlex.quote


@dataclass(frozen=True)
class Read:
    """One request: ``url`` with the server checked against ``cacert``; the client certificate of ``kubeconfig``
    (read as :func:`~provisioner.phases.base.api_read` reads it; ``url`` may start with ``$_s``, its server) or
    of the ``cert``/``key`` files, or none; ``post``: a body sent with POST; ``body``: keep the answer."""

    url: str
    cacert: str = CA
    kubeconfig: str | None = None
    cert: str | None = None
    key: str | None = None
    post: str | None = None       # sent with POST, as curl -d sends it
    timeout: int = 3
    body: bool = False


def _transfer(i: int, read: Read, creds: str) -> str:
    opts = [f"--max-time {int(read.timeout)}", f"--cacert {q(read.cacert)}"]
    if read.kubeconfig:
        opts.append(creds)
    elif read.cert:
        opts.append(f"--cert {q(read.cert)}" + (f" --key {q(read.key)}" if read.key else ""))
    if read.post is not None:
        opts.append(f"-X POST -d {q(read.post)}")
    if not read.body:
        opts.append("-o /dev/null")
    url = f"\"$_s\"{q(read.url[3:])}" if read.url.startswith("$_s") else q(read.url)
    # -w after the body: a newline first, so a body without one still ends before the marker
    return " ".join(opts) + f" -w '\\n@@R{i} %{{http_code}}\\n' {url}"


def _curl(reads: list[Read], creds: str | None) -> str:
    """One curl for ``reads`` (those needing the kubeconfig only with ``creds``)."""
    parts = [_transfer(i, r, creds or "") for i, r in enumerate(reads) if creds is not None or not r.kubeconfig]
    return "_o=$(curl -sS " + " --next ".join(parts) + " 2>/dev/null)" if parts else "_o=''"


def curl_reads(reads: list[Read]) -> str:
    """Shell setting ``_c<i>``/``_b<i>`` for each of ``reads`` (see the module), by one curl. At most one
    kubeconfig among them."""
    configs = {r.kubeconfig for r in reads if r.kubeconfig}
    if len(configs) > 1:
        raise ValueError(f"curl_reads: one kubeconfig at most, got {sorted(configs)}")
    init = " ".join(f"_c{i}={'-' if r.kubeconfig else '000'} _b{i}=''" for i, r in enumerate(reads))
    if configs:
        (config,) = configs
        send = (f"{read_kubeconfig(config)}; "
                f"if [ -z \"$_x\" ] && [ -n \"$_cd\" ] && [ -n \"$_kd\" ]; then {_curl(reads, INLINE_CREDS)}; "
                f"elif [ -z \"$_x\" ] && [ -n \"$_c\" ] && [ -n \"$_k\" ]; then {_curl(reads, FILE_CREDS)}; "
                f"else {_curl(reads, None)}; fi")
    else:
        send = _curl(reads, "")
    # Each read's answer ends with its marker line; the lines before it, back to the previous marker, are its body.
    parse = ("_acc=''; while IFS= read -r _l; do case $_l in '@@R'[0-9]*' '*) _i=${_l#@@R}; _i=${_i%% *}; "
             "printf -v \"_c$_i\" '%s' \"${_l##* }\"; printf -v \"_b$_i\" '%s' \"$_acc\"; _acc='';; "
             "*) _acc+=$_l$'\\n';; esac; done <<< \"$_o\"")
    return f"{init}; {send}; {parse}"


def ok(i: int) -> str:
    """Shell test: read ``i`` answered 2xx."""
    return f"[[ $_c{i} == 2[0-9][0-9] ]]"
