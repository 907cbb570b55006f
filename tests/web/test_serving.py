"""``qiantang serve``'s HTTP protocol sets TCP_NODELAY, also on a listening socket uvicorn made itself
(``--workers N``), where asyncio leaves Nagle's algorithm on (uvicorn issue #3149)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from concurrent.futures import ThreadPoolExecutor

from uvicorn.protocols.http.h11_impl import H11Protocol

from qiantang.web.serving import HTTP_PROTOCOL, NoDelayH11Protocol


def _nodelay_of_accepted(protocol_class: type[asyncio.Protocol]) -> int:
    """TCP_NODELAY of the server side of one connection, on a socket bound as uvicorn's workers bind it."""

    async def main() -> int:
        listener = socket.socket(family=socket.AF_INET)  # uvicorn Config.bind_socket: proto 0
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        seen: list[int] = []

        class Probe(protocol_class):  # type: ignore[misc, valid-type]
            def __init__(self) -> None:  # nothing of uvicorn's configuration is needed here
                pass

            def connection_made(self, transport) -> None:
                # The unconfigured uvicorn protocol stops (AttributeError) after the part tested here.
                with contextlib.suppress(AttributeError):
                    super().connection_made(transport)
                sock = transport.get_extra_info("socket")
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Probe, sock=listener)
        port = listener.getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()
        return seen[0]

    # In a thread of its own: an earlier test on this worker may leave an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def test_plain_h11_keeps_nagle_on_a_worker_socket():
    # The problem as it is: asyncio does not set the option on this socket's connections.
    assert _nodelay_of_accepted(H11Protocol) == 0


def test_serve_protocol_sets_nodelay():
    assert _nodelay_of_accepted(NoDelayH11Protocol) != 0


def test_serve_uses_the_protocol(monkeypatch):
    import signal

    import uvicorn
    from typer.testing import CliRunner

    from qiantang.cli import app

    called: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: called.update(kw))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # serve's SIGTERM handler: not in the test process
    monkeypatch.setenv("QIANTANG_DATABASE_URL", "sqlite:///unused.db")
    result = CliRunner().invoke(app, ["serve", "--no-worker", "--port", "8999"])
    assert result.exit_code == 0, result.output
    assert called["http"] == HTTP_PROTOCOL
    assert HTTP_PROTOCOL.split(":")[1] == NoDelayH11Protocol.__name__


def test_startup_compiles_every_template_then_freezes_the_heap(client):
    """The server's start-up (the app's lifespan, here entered by the test client) compiles every page
    template and then moves what it built out of the collector's generations (gc.freeze)."""
    import gc

    from qiantang.web.templating import environment

    env = environment()
    names = env.list_templates(extensions=["html"])
    assert len(names) > 50
    cached = {key[1] for key in env.cache}  # jinja2 keys its cache by (loader ref, name)
    assert set(names) <= cached
    assert gc.get_freeze_count() > 0
    assert client.get("/healthz").status_code == 200
