"""Test-wide hooks: no network for unit tests, and stderr left uncompared by nbval."""

import ipaddress
import socket

import pytest


def _is_loopback(address) -> bool:
    if isinstance(address, tuple) and address:
        host = address[0]
    else:
        return True  # Unix sockets and the like stay on this machine.
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # A host name other than localhost would need DNS, which is the network.


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a connection to a non-loopback address."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded(method):
        def connect(self, address):
            if not _is_loopback(address):
                raise RuntimeError(f"tests must not use the network: connection to {address!r} attempted")
            return method(self, address)

        return connect

    monkeypatch.setattr(socket.socket, "connect", guarded(original_connect))
    monkeypatch.setattr(socket.socket, "connect_ex", guarded(original_connect_ex))
    monkeypatch.setattr(socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo))


def _guarded_getaddrinfo(original):
    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_loopback((host,)):
            raise RuntimeError(f"tests must not use the network: name lookup of {host!r} attempted")
        return original(host, *args, **kwargs)

    return getaddrinfo


def pytest_collectstart(collector):
    """nbval: stderr (warnings, progress) is volatile and never compared; only stdout and results are."""
    path = getattr(collector, "path", None)
    if path is not None and path.suffix == ".ipynb" and hasattr(collector, "skip_compare"):
        collector.skip_compare += (
            "stderr",
            "text/html",
            "application/javascript",
            "application/vnd.jupyter.widget-view+json",
        )
