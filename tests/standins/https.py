"""Serve an ASGI app over HTTPS on 127.0.0.1 in a background thread.

MSAL only talks to an https authority, so the stand-ins get a certificate from a throwaway
certificate authority (trustme); clients are given that CA's file explicitly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trustme
import uvicorn


@dataclass(frozen=True)
class LocalTLS:
    ca_file: Path  # give this to clients as `verify=`
    server_pem: Path  # private key and certificate chain of the server


def make_local_tls(directory: Path) -> LocalTLS:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    ca_file = directory / "standin-ca.pem"
    server_pem = directory / "standin-server.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server.private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    return LocalTLS(ca_file=ca_file, server_pem=server_pem)


@contextmanager
def serve_https(app: Any, tls: LocalTLS) -> Iterator[str]:
    """Run `app` on a free port; yields its base URL (`https://127.0.0.1:PORT`)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Accepted connections inherit TCP_NODELAY; without it uvicorn's separate header and body
    # writes meet the client's delayed ACK and every response takes 40 ms more.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.server_pem),
        log_level="warning",
        lifespan="off",
        # Requests the stand-in deliberately stalls must not hold up the end of the session.
        timeout_graceful_shutdown=1,
    )
    server = _StandInServer(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="https-standin", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the HTTPS stand-in did not start")
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        # Don't wait for stalled requests to finish: they were stalled on purpose.
        server.should_exit = server.force_exit = True
        thread.join(timeout=10)
        sock.close()


class _StandInServer(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Clients in the tests keep idle TLS connections open and never answer a TLS
        # close_notify; drop the connections so the loop ends with nothing left open.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)
