"""Listeners that accept in the background, for tests that must see whether anything
connected (task code reaching a host service) or that hold connections open (a silent
server)."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Iterator, List


@contextlib.contextmanager
def accepting(listener: socket.socket) -> Iterator[List[socket.socket]]:
    """Accept on ``listener`` in a thread; yield the list of accepted connections. At the
    end, stop, close them and the listener."""
    listener.settimeout(0.2)
    accepted: List[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield accepted
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
