"""The HTTP listener's socket: connections accepted on it send small writes at once.

Starlette writes an answer's headers and body separately; without TCP_NODELAY the body
waited for the client's delayed ACK, 40 ms on every request after the first of a kept-alive
connection (bench/api.py's 50-article GET measured 45 ms where the work was 3 ms)."""

from __future__ import annotations

import asyncio
import socket

from maildesk.http.server import bind


def test_accepted_connections_have_nodelay() -> None:
    async def main() -> int:
        sock = bind("127.0.0.1", 0)
        port = sock.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer: socket.socket = writer.get_extra_info("socket")
            seen.set_result(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(seen, 10)
            writer.close()
        return value

    assert asyncio.run(main()) != 0
