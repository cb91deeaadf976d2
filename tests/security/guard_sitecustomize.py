"""Installed as ``sitecustomize`` where network namespaces are unavailable: from the first import on, every
socket connection that is not loopback or a Unix socket fails, as it would on a machine with no network."""

import ipaddress
import socket

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex


def _allowed(address: object) -> bool:
    if isinstance(address, str | bytes):  # Unix sockets
        return True
    host = str(address[0]) if isinstance(address, tuple) else ""  # type: ignore[index]
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect(self: socket.socket, address: object) -> None:
    if not _allowed(address):
        raise OSError(101, f"network is unreachable (guard): {address}")
    _connect(self, address)  # type: ignore[arg-type]


def connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(address):
        return 101
    return _connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = connect  # type: ignore[method-assign]
socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
