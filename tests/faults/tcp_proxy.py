"""A fault-injecting TCP proxy for tests: in front of a real server (PostgreSQL, Temporal), it passes
bytes through, stalls (accepts connections and never forwards a byte, on new and open connections
alike: a server that hangs) or drops (closes every connection at once: a server that goes away).

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql://...@127.0.0.1:{proxy.port}/db"
        proxy.stall()  ...  proxy.pass_through()
"""

from __future__ import annotations

import select
import socket
import threading

PASS, STALL, DROP = "pass", "stall", "drop"


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = PASS
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []  # every socket of ours, closed on stop or drop
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.accepted = 0  # connections clients opened (whatever the mode)
        self._thread = threading.Thread(target=self._accept_loop, name="tcp-proxy", daemon=True)

    # --- modes
    def pass_through(self) -> None:
        """Forward again; connections that were stalled are closed (their server side is gone)."""
        with self._lock:
            if self.mode == STALL:
                self._close_all()
            self.mode = PASS

    def stall(self) -> None:
        self.mode = STALL

    def drop(self) -> None:
        with self._lock:
            self.mode = DROP
            self._close_all()

    # --- life
    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(2)
        self._listener.close()
        with self._lock:
            self._close_all()

    def _close_all(self) -> None:
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass
        self._open.clear()

    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.accepted += 1
            with self._lock:
                if self.mode == DROP:
                    client.close()
                    continue
                self._open.append(client)
                if self.mode == STALL:
                    continue  # accepted, never answered
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        while not self._stopped.is_set():
            if self.mode == STALL:
                self._stopped.wait(0.05)  # bytes stay in the kernel's buffers: nobody answers
                continue
            try:
                readable, _, _ = select.select(list(peers), [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise OSError("closed")
                    peers[sock].sendall(data)
            except (OSError, ValueError):  # closed by a peer, by drop() or by pass_through() after a stall
                for sock in peers:
                    try:
                        sock.close()
                    except OSError:
                        pass
                return
