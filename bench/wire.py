"""A loopback TCP proxy between an engine and PostgreSQL that counts round trips and can delay replies.

Used by `bench/run.py` (round trips per request, latency with 1 ms per reply) and by the round-trip tests.

A round trip is a reply the client waits for. pg8000 (like libpq outside pipeline mode) ends every
exchange with a Sync or a simple Query and then reads until the server's ReadyForQuery ('Z'): the proxy
reads the framing of the server's messages and counts the 'Z's. (Counting turns of the conversation
instead would also count a BindComplete the server sends while the client is still writing a large
Bind/Execute, which no one waits for.) With `reply_delay_s` the proxy holds back each piece of the
server's stream that holds a ReadyForQuery, so every round trip costs that much more, standing in for
the network between a Lambda function and RDS Proxy (about 1 ms per round trip in AWS).

When the connection is encrypted (TLS or GSS after an SSLRequest/GSSENCRequest) the messages cannot be
read; the proxy then counts turns: the first bytes from the server after bytes from the client.

Loopback only: it listens on 127.0.0.1 and connects to the database the engine would have used.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import URL

_CHUNK = 65536
_READY_FOR_QUERY = ord("Z")
# The first message of a client asking for an encrypted connection; the server answers with one byte.
_ENCRYPTION_REQUESTS = (bytes.fromhex("0000000804d2162f"), bytes.fromhex("0000000804d21630"))


@dataclass
class RoundTrips:
    """Round trips and new connections seen while a `RoundTripProxy.measure()` block ran."""

    round_trips: int = 0
    connections: int = 0


class _Link:
    """One client connection and its upstream connection, pumped by two threads."""

    def __init__(self, proxy: RoundTripProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.awaiting_reply = False
        self.reset_on_next_send = False
        self.closed = False
        self._first_client_bytes = True
        self._encryption_answer_due = False
        self._encrypted = False
        # framing of the server's stream: header bytes of the message being read, body bytes still due
        self._header = bytearray()
        self._body_due = 0
        self._lock = threading.Lock()
        self._open_pumps = 2

    def start(self) -> None:
        for target in (self._client_to_server, self._server_to_client):
            threading.Thread(target=target, daemon=True, name=f"wire-{target.__name__}").start()

    def _client_to_server(self) -> None:
        try:
            while data := self.client.recv(_CHUNK):
                if self.reset_on_next_send:
                    self.close(reset=True)
                    return
                if self._first_client_bytes:
                    self._first_client_bytes = False
                    self._encryption_answer_due = data[:8] in _ENCRYPTION_REQUESTS
                # Before forwarding, so the reply can never arrive before the turn is marked.
                self.awaiting_reply = True
                self.upstream.sendall(data)
        except OSError:
            pass
        self._done(self.upstream)

    def _server_to_client(self) -> None:
        try:
            while data := self.upstream.recv(_CHUNK):
                replies = self._replies_in(data)
                if replies:
                    self.proxy._count_round_trips(replies)
                    delay = self.proxy.reply_delay_s
                    if delay > 0:
                        time.sleep(delay * replies)
                self.client.sendall(data)
        except OSError:
            pass
        self._done(self.client)

    def _replies_in(self, data: bytes) -> int:
        """How many replies the client waits for end in this piece of the server's stream."""
        if self._encryption_answer_due:  # one unframed byte: N(o), else S(SL)/G(SS) and encryption begins
            self._encryption_answer_due = False
            self._encrypted = data[:1] != b"N"
            data = data[1:]
        if self._encrypted:
            answers_client = self.awaiting_reply
            self.awaiting_reply = False
            return int(answers_client)
        replies = 0
        position = 0
        while position < len(data):
            if self._body_due:
                step = min(self._body_due, len(data) - position)
                self._body_due -= step
                position += step
                continue
            needed = 5 - len(self._header)
            self._header += data[position : position + needed]
            position += needed
            if len(self._header) == 5:
                if self._header[0] == _READY_FOR_QUERY:
                    replies += 1
                self._body_due = int.from_bytes(self._header[1:5], "big") - 4
                self._header.clear()
        return replies

    def _done(self, peer: socket.socket) -> None:
        # One direction ended: pass the end of stream on, close both once both directions have ended.
        with contextlib.suppress(OSError):
            peer.shutdown(socket.SHUT_WR)
        with self._lock:
            self._open_pumps -= 1
            last = self._open_pumps == 0
        if last:
            self.close()

    def close(self, *, reset: bool = False) -> None:
        with self._lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                if reset:
                    # RST instead of FIN on close: the connection vanishes as a dropped NAT entry makes it.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # Wakes the pump blocked in recv(); SHUT_RD sends nothing to the peer.
                sock.shutdown(socket.SHUT_RD if reset else socket.SHUT_RDWR)
            sock.close()
        self.proxy._forget(self)


class RoundTripProxy:
    """Listens on 127.0.0.1:<port>; each accepted connection is relayed to `upstream`.

    upstream: (host, port) or the path of a Unix socket. `reply_delay_s` may be changed at any time.
    """

    def __init__(self, upstream: tuple[str, int] | str, *, reply_delay_s: float = 0.0) -> None:
        self.upstream = upstream
        self.reply_delay_s = reply_delay_s
        self._round_trips = 0
        self._connections = 0
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self._listener.getsockname()[:2]
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True, name="wire-accept")

    @classmethod
    def for_url(cls, url: URL, *, reply_delay_s: float = 0.0) -> RoundTripProxy:
        """A proxy in front of the server an engine for `url` would reach (TCP or pg8000's unix_sock)."""
        unix_sock = url.query.get("unix_sock")
        if isinstance(unix_sock, str):
            return cls(unix_sock, reply_delay_s=reply_delay_s)
        return cls((url.host or "127.0.0.1", url.port or 5432), reply_delay_s=reply_delay_s)

    def url(self, url: URL) -> URL:
        """`url`, pointed at this proxy instead of the server."""
        query = {k: v for k, v in url.query.items() if k != "unix_sock"}
        return url.set(host=self.host, port=self.port, query=query)

    def start(self) -> RoundTripProxy:
        self._acceptor.start()
        return self

    def close(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop_connections()

    def __enter__(self) -> RoundTripProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def round_trips(self) -> int:
        with self._lock:
            return self._round_trips

    @property
    def connections(self) -> int:
        with self._lock:
            return self._connections

    @contextlib.contextmanager
    def measure(self) -> Iterator[RoundTrips]:
        """Round trips and new connections during the block (a count, read once the block has ended)."""
        result = RoundTrips()
        before_trips, before_connections = self.round_trips, self.connections
        yield result
        result.round_trips = self.round_trips - before_trips
        result.connections = self.connections - before_connections

    def drop_connections(self, *, reset: bool = True) -> int:
        """Cut every open connection (RST by default), as a network that lost them would; returns how many."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(reset=reset)
        return len(links)

    def reset_on_next_send(self) -> int:
        """Make every open connection look alive until its client sends again, then answer with a reset:
        the failure shows only after a request went out, as with a connection a NAT or proxy dropped
        while the client was frozen. Returns how many connections were marked."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.reset_on_next_send = True
        return len(links)

    def _count_round_trips(self, count: int) -> None:
        with self._lock:
            self._round_trips += count

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def _connect_upstream(self) -> socket.socket:
        if isinstance(self.upstream, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.upstream)
            return sock
        sock = socket.create_connection(self.upstream)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                upstream = self._connect_upstream()
            except OSError:
                client.close()
                continue
            link = _Link(self, client, upstream)
            with self._lock:
                self._connections += 1
                self._links.add(link)
            link.start()
