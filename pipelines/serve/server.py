"""Running the service on a loopback port from Python (tests, benchmarks, notebooks).

``facerec serve`` runs uvicorn in the foreground; here :func:`serve_in_thread` runs an app
in a background thread of this process, and :class:`ServerProcess` runs ``facerec serve``
itself in a child process (a real restart or crash can then be tested)::

    with serve_in_thread(app) as url:     # "http://127.0.0.1:PORT", a free port
        FaceRecognitionClient(url).verify(a, b)
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import uvicorn
from fastapi import FastAPI


@contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1", startup_timeout: float = 30.0,
                    log_level: str = "warning") -> Iterator[str]:
    """Serve ``app`` on a free port of ``host`` until the ``with`` block ends; yields the base URL.

    The listening socket is bound here (port 0) and handed to uvicorn, so no other process
    can take the port between choosing and binding it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (for a server in another process)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerProcess:
    """``facerec serve ARGS --host 127.0.0.1 --port <free>`` in a child process.

    ``start()`` returns once ``/healthz`` answers; ``kill()`` ends it without any shutdown
    (SIGKILL: what a crash or power cut looks like to the galleries), ``stop()`` politely.
    Its output goes to ``log_path``.
    """

    def __init__(self, args: Sequence[str], log_path: str | os.PathLike, host: str = "127.0.0.1",
                 env: dict[str, str] | None = None) -> None:
        self.args, self.log_path, self.host = list(args), Path(log_path), host
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.url = ""

    def start(self, timeout: float = 120.0) -> str:
        for _ in range(3):  # the port can be taken between free_port() and the child's bind
            port = free_port(self.host)
            self.url = f"http://{self.host}:{port}"
            cmd = [sys.executable, "-m", "pipelines.cli", "serve", *self.args, "--host", self.host, "--port", str(port)]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                             cwd=Path(__file__).resolve().parents[2])
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                        if resp.status == 200:
                            return self.url
                except OSError:
                    time.sleep(0.1)
            if self.proc.poll() is None:
                self.kill()
                break
            if b"address already in use" not in self.log_path.read_bytes().lower():
                break
        raise RuntimeError(f"facerec serve did not start; see {self.log_path}:\n"
                           + self.log_path.read_text(errors="replace")[-2000:])

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
