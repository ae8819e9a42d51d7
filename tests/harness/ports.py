"""Ports: the OS picks a free one, so areas and parallel runs never collide on a fixed number."""
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on `host` a moment ago (bound to port 0, so the OS chose it)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free ports: all held open at once while the OS picks them, so none repeats."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def accepts_connections(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something listens on host:port (a TCP connect succeeds)."""
    with socket.socket() as s:
        s.settimeout(timeout)
        return s.connect_ex((host, port)) == 0
