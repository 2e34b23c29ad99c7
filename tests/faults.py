"""Loopback stand-ins for a database in trouble: a listener that never answers, and a proxy that cuts
the connection in the middle of a chosen statement. Loopback only; each closes what it opened."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from sqlalchemy import URL

from progress_common.db_url import url_from_database_url


@contextmanager
def _listener(on_accept: Callable[[socket.socket], None]) -> Iterator[int]:
    """A loopback port whose connections are handed to on_accept, one at a time, on a thread of its own;
    yields the port, and closes the listener and every connection it accepted afterwards."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)  # so the thread sees `stop` soon
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)
            on_accept(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for conn in accepted:
            conn.close()


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word (a hung server, a black-holed proxy)."""
    with _listener(lambda conn: None) as port:
        yield port


def _connector(database_url: str) -> Callable[[], socket.socket]:
    """How to reach the real test database (TCP, or the embedded server's Unix socket)."""
    url: URL = url_from_database_url(database_url)
    unix_sock = url.query.get("unix_sock")
    if isinstance(unix_sock, str):

        def connect_unix() -> socket.socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(unix_sock)
            return sock

        return connect_unix
    host, port = url.host or "127.0.0.1", url.port or 5432
    return lambda: socket.create_connection((host, port), timeout=10)


class CuttingProxy:
    """Forwards to the real database; when the client sends bytes containing `cut_marker`, both sides of
    that connection are closed before the statement reaches the server (a connection reset mid-statement)."""

    def __init__(self, database_url: str) -> None:
        self._connect = _connector(database_url)
        self.cut_marker: bytes | None = None
        self.spare = 0  # statements with the marker to let through before cutting
        self.cuts = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)  # so the thread sees `_stop` soon
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def url_for(self, database_url: str) -> str:
        """DATABASE_URL of the same database, through this proxy."""
        url = url_from_database_url(database_url)
        query = {k: v for k, v in url.query.items() if k != "unix_sock"}
        return (
            url.set(drivername="postgresql", host="127.0.0.1", port=self.port, query=query)
        ).render_as_string(hide_password=False)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            server = self._connect()
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                if from_client and self.cut_marker is not None and self.cut_marker in data:
                    if self.spare <= 0:
                        self.cuts += 1
                        break
                    self.spare -= 1
                sink.sendall(data)
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        for sock in self._sockets:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with suppress(OSError):
                sock.close()


@contextmanager
def untrusted_tls_server(tmp_dir: str) -> Iterator[int]:
    """A port that speaks PostgreSQL's TLS opening (SSLRequest → 'S') and then presents a self-signed
    certificate for localhost: what an RDS instance reached directly looks like to a client that trusts
    only public CAs (its certificate is signed by the RDS CA)."""
    import ssl
    import subprocess
    from pathlib import Path

    key, cert = Path(tmp_dir) / "key.pem", Path(tmp_dir) / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def refuse_the_check(conn: socket.socket) -> None:
        with suppress(OSError, ssl.SSLError):
            conn.settimeout(5)
            conn.recv(8)  # SSLRequest: length 8, code 80877103
            conn.sendall(b"S")
            context.wrap_socket(conn, server_side=True).close()  # the client refuses the certificate

    with _listener(refuse_the_check) as port:
        yield port
