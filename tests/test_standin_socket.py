"""The stand-in runtimes' CRI socket behaves as a gRPC server does for a client that is not gRPC: it reads
what the client sends, then closes (grpc-go internal/transport/http2_server.go: newHTTP2Server reads the
client preface and closes the connection when it is not HTTP/2). Closing at once, before reading, made
preflight's runtime.socket probe (curl, provisioner/checks/crisocket.py) see "refused" now and then on a
socket that was listening."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import threading

from provisioner.checks.crisocket import socket_command
from tests.support.skips import need_tool

SRC = __import__("pathlib").Path(__file__).parent / "standins/src/standin_common.py"


def _standin_common():
    spec = importlib.util.spec_from_file_location("standin_common_under_test", SRC)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_probe_finds_a_standin_runtime_socket_answering_every_time(tmp_path):
    need_tool("curl", "apt-get install curl")
    common = _standin_common()
    path = tmp_path / "cri-dockerd.sock"
    stop = threading.Event()
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(path))
        listener.listen(64)
        threading.Thread(target=common.accept_and_close, args=(listener, stop), daemon=True).start()
        try:
            answers = [subprocess.run(["bash", "-c", socket_command(str(path))], capture_output=True,
                                      text=True, timeout=30).stdout.split("\n")[0] for _ in range(30)]
        finally:
            stop.set()
    assert set(answers) == {"answers connect"}, answers
