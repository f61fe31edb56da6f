"""Ctrl-C during ``up``: the first one stops the run once the hosts finish the step they are in (the
runner's job); from then on a second one ends the process at once (:func:`second_interrupt_exits`)."""

from __future__ import annotations

import os
import signal
import sys
import threading

from provisioner.errors import INTERRUPTED
from provisioner.runlog import RunLog


def second_interrupt_exits(log: RunLog) -> None:
    """From now on SIGINT ends the process at once (exit 130), without waiting for the hosts."""

    def now(signum, frame):
        sys.stderr.write("interrupted again: stopping at once - a step in progress may be left half-done; "
                         "the next `provisioner up` reads every host and completes it\n")
        try:
            log.note("-", "interrupted again (SIGINT): exiting at once")
            log.close()
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
        os._exit(INTERRUPTED)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, now)
