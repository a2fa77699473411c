import socket
import threading

_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the OS picks it), and never one this process
    handed out before: a stack picks its gateway's port and every process's metrics port before any
    of them binds, and until a port is bound the OS may well offer it again."""
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with _lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("no free loopback port that this process has not already handed out")
