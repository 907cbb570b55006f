"""How ``qiantang serve`` runs uvicorn: the HTTP protocol with TCP_NODELAY on every connection.

With ``--workers N`` (N > 1) uvicorn binds the listening socket itself (``socket.socket(AF_INET)``, whose
``proto`` is 0), and asyncio sets TCP_NODELAY only on accepted sockets whose ``proto`` is IPPROTO_TCP. So
with several workers every connection kept Nagle's algorithm on: uvicorn writes a response's headers and
its body in two ``write`` calls, the body waited for the client's delayed ACK of the headers, and every
response took about 40 ms more (measured: a 2 kB response on one keep-alive connection, median 0.5 ms
with one worker, 44 ms with two; uvicorn issue #3149). One worker was not affected (uvicorn then lets
asyncio create the socket, with ``proto`` 6). ``NoDelayH11Protocol`` sets the option itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

# How uvicorn is told to use it (``uvicorn.run(http=...)`` or ``uvicorn --http ...``).
HTTP_PROTOCOL = "qiantang.web.serving:NoDelayH11Protocol"


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    """Turn Nagle's algorithm off on the transport's TCP socket (a Unix socket or none: nothing)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):  # the peer may already have gone
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with TCP_NODELAY set on the connection's socket."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        set_nodelay(transport)
        super().connection_made(transport)
