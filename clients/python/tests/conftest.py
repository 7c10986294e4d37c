"""What the live tests share: the server scripts/clients-test started, a UUID
v7 nobody has, a receiver for webhooks and a proxy that drops answers."""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from payrail import Payrail


@dataclass(frozen=True)
class Server:
    """The server scripts/clients-test started: its URL and two tokens."""

    url: str
    #: Every scope.
    admin_token: str
    #: `read+pay`: no `issue`, no `admin`.
    pay_token: str


@pytest.fixture(scope="session")
def server() -> Server:
    names = ("PAYRAIL_URL", "PAYRAIL_TOKEN", "PAYRAIL_PAY_TOKEN")
    missing = [n for n in names if not os.environ.get(n)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not set: run the live tests with scripts/clients-test")
    return Server(*(os.environ[n] for n in names))


@pytest.fixture
def client(server: Server) -> Iterator[Payrail]:
    with Payrail(server.url, server.admin_token) as c:
        yield c


@pytest.fixture
def pay_only(server: Server) -> Iterator[Payrail]:
    with Payrail(server.url, server.pay_token) as c:
        yield c


def unknown_v7() -> uuid.UUID:
    """A well-formed UUID v7 that no row has."""
    b = bytearray(int(time.time() * 1000).to_bytes(6, "big") + secrets.token_bytes(10))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return uuid.UUID(bytes=bytes(b))


@dataclass
class Delivery:
    body: bytes
    signature: str
    event_id: str


class Receiver:
    """An HTTP server on loopback that answers 200 to every POST and keeps what it got."""

    def __init__(self) -> None:
        self.got: list[Delivery] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                d = Delivery(body, self.headers.get("Payrail-Signature", ""), self.headers.get("Payrail-Event-Id", ""))
                with outer.cond:
                    outer.got.append(d)
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payrail"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, pred: Callable[[Delivery], bool], timeout: float = 30.0) -> Delivery:
        with self.cond:
            found = self.cond.wait_for(lambda: next((d for d in self.got if pred(d)), None), timeout)
        assert found, "no such delivery in time"
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DroppingProxy:
    """A TCP proxy to the API that lets the first `drops` connections deliver
    their request and closes them as the answer starts to come back: the
    server has recorded the request, the client never hears so."""

    def __init__(self, base_url: str, drops: int) -> None:
        self.drops = drops
        self.connections = 0
        up = urlsplit(base_url)
        self.upstream = (up.hostname, up.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            drop = self.connections < self.drops
            self.connections += 1
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=self._pipe, args=(conn, upstream, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, conn, drop), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket, drop: bool) -> None:
        try:
            while chunk := src.recv(65536):
                if drop:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.listener.close()
