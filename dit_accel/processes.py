"""Who a process is (host and pid) and whether another one is provably gone, for files that several
processes, possibly on several machines sharing a file system, write into one folder."""

from __future__ import annotations

import os
import re
import socket

HOST = re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"  # safe in a file name, no "-"


def pid_alive(pid: int) -> bool:
    """Whether a process with `pid` runs on this machine (it may be another program after pid reuse)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def is_gone(host: str, pid: int) -> bool:
    """True only when the process is provably dead: it ran on this machine and no such pid exists.
    A process on another machine is never known to be gone; files' ages decide there."""
    return host == HOST and not pid_alive(pid)
