"""``seal-tui serve``: the console in a web browser, through textual-serve.

Each browser tab that opens the page gets its own console process (the same app as
``seal-tui``, on the same run store) driven over a websocket. The server listens on
loopback unless another host is asked for: a person on another machine forwards the
port over SSH (``ssh -L 8000:127.0.0.1:8000 host``) and opens http://127.0.0.1:8000.
Anyone who can reach the port can start, stop and delete runs, so a non-loopback
host is refused unless given explicitly, and then warned about.
"""

from __future__ import annotations

import errno
import ipaddress
import shlex
import socket
import sys
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: only "localhost" is known to stay on this machine
        return False


def console_command(runs_dir: Path) -> str:
    """The shell command textual-serve runs for each browser session: this Python's console."""
    return f"{shlex.quote(sys.executable)} -m seal_tui --runs-dir {shlex.quote(str(runs_dir))} console"


def port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on (host, port), said before textual-serve tries; None if it can."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"--host {host!r} is not an address or a known host name ({exc.strerror}); try --host 127.0.0.1"
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds: a closed socket's wait is no obstacle
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is taken (another seal-tui serve or another server); "
                        f"choose a free one with --port, e.g. --port {port + 1}")
            if exc.errno == errno.EACCES:
                return f"port {port} needs privileges here; choose one above 1023 with --port"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"--host {host} is not an address of this machine; leave --host out for 127.0.0.1"
            return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def serve(runs_dir: Path, host: str, port: int) -> int:
    from engine.store import Store, StoreError

    try:  # a store that is not one, or a folder that cannot hold one: said here, not in every browser tab
        Store(runs_dir).close()
    except (StoreError, OSError) as exc:
        print(f"seal-tui serve: {exc}", file=sys.stderr)
        return 2
    if not 0 < port < 65536:
        print(f"seal-tui serve: --port {port} is not a TCP port; give one from 1024 to 65535", file=sys.stderr)
        return 2
    problem = port_problem(host, port)
    if problem:
        print(f"seal-tui serve: {problem}", file=sys.stderr)
        return 2
    if not is_loopback(host):
        print(f"seal-tui serve: WARNING: listening on {host}, not on loopback: anyone who can reach port {port} "
              "of this machine can start, stop and delete runs, with no password. Prefer the default host "
              f"and an SSH tunnel (ssh -L {port}:127.0.0.1:{port} <this host>).", file=sys.stderr)
    server = _server(console_command(runs_dir), host, port)
    print(f"seal-tui serve: the console on {runs_dir}, at http://{_url_host(host)}:{port}/ (Ctrl+C stops it; "
          f"from another machine: ssh -L {port}:127.0.0.1:{port} <this host>, then open http://127.0.0.1:{port}/)",
          flush=True)
    server.serve()
    return 0


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _server(command: str, host: str, port: int):
    from textual_serve.server import Server

    class TunnelServer(Server):
        """textual-serve writes its own host:port into the page's websocket and static URLs; behind an
        SSH tunnel to another local port (or on 0.0.0.0) the browser must use the address it asked."""

        async def handle_index(self, request):
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

    return TunnelServer(command, host=host, port=port, title="seal-tui")
