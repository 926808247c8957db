"""The emulator as a plain WSGI app, and a threaded loopback server for tests, the demo and the CLI.

``make_wsgi_app(emulator)`` works under any WSGI server. Under another server a dropped-
connection fault surfaces as the :class:`ConnectionDropped` exception (most servers answer 500);
under :func:`serve` the socket is closed without a byte of answer, as a real network drop would.
"""

from __future__ import annotations

import socket
import struct
import sys
import threading
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl
from wsgiref.handlers import SimpleHandler
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from .core import Emulator
from .faults import ConnectionDropped

__all__ = ["make_wsgi_app", "serve", "EmulatorServer"]


def make_wsgi_app(emulator: Emulator):
    """A WSGI callable serving ``emulator`` under any prefix (``/client/v4/accounts/...`` included)."""

    def app(environ, start_response):
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "")
        query = dict(parse_qsl(environ.get("QUERY_STRING") or "", keep_blank_values=True))
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        response = emulator.handle(environ.get("REQUEST_METHOD", "GET"), path, query, body, headers)
        out_headers = [(name, value) for name, value in response.headers.items()]
        if response.stream is not None:  # the handler set its content-length
            start_response(f"{response.status} {response.reason}", out_headers)
            return response.stream
        out_headers.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {response.reason}", out_headers)
        return [response.body]

    app.emulator = emulator
    return app


class _Handler(ServerHandler):
    def handle_error(self):
        if isinstance(sys.exc_info()[1], ConnectionDropped):
            raise  # reaches _RequestHandler.handle, which closes the socket unanswered
        super().handle_error()

    answered = False

    def close(self):
        self.answered = self.status is not None  # close() forgets the status: remember it
        if self.status is None:  # dropped before any answer: nothing to log
            SimpleHandler.close(self)
        else:
            super().close()


class _RequestHandler(WSGIRequestHandler):
    """One connection, many requests (HTTP/1.1 keep-alive), as the real API allows.

    wsgiref answers one request per connection; a page walk would then pay a new TCP
    connection per page, which the client's pooled session never pays against Cloudflare.
    """

    protocol_version = "HTTP/1.1"
    # wsgiref writes the head and the body separately; on a kept-alive connection Nagle's
    # algorithm would hold the body back until the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # quiet: test output stays readable, and nothing secret could ever be logged

    def handle(self):
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self):
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:  # the client closed the connection
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # also decides close_connection from the request's headers
            return
        handler = _Handler(self.rfile, self.wfile, self.get_stderr(), self.get_environ(), multithread=True)
        handler.http_version = "1.1" if self.request_version == "HTTP/1.1" else "1.0"
        handler.request_handler = self
        try:
            handler.run(self.server.get_app())
        except ConnectionDropped:
            self.close_connection = True
            self._drop()
            return
        if not handler.answered or handler.http_version != "1.1":
            self.close_connection = True
        self.wfile.flush()

    def _drop(self):
        try:
            # Linger 0: close with a reset, like a proxy dying mid-request.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class EmulatorServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/client/v4``: the SDK's and the client's ``BASE_URL``."""
        host = self.server_address[0]
        return f"http://{host}:{self.port}/client/v4"


def serve(
    emulator: Emulator, host: str = "127.0.0.1", port: int = 0
) -> tuple[EmulatorServer, threading.Thread]:
    """Serve ``emulator`` on a daemon thread; ``port=0`` picks a free port (read ``server.port``).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = EmulatorServer((host, port), _RequestHandler)
    server.set_app(make_wsgi_app(emulator))
    if "download_base_url" not in vars(emulator):  # download links point at this server
        emulator.download_base_url = f"http://{server.server_address[0]}:{server.port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="realtimekit-emulator", daemon=True
    )
    thread.start()
    return server, thread
