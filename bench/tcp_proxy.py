#!/usr/bin/env python3
"""A throwaway TCP forwarder for bench/status.sh: 127.0.0.1:LISTEN_PORT -> 127.0.0.1:TARGET_PORT.

Keel reaches PostgreSQL only through this process; killing it makes the database unreachable
for that keel (open connections are closed, new ones refused) without touching the PostgreSQL
server. Loopback only.

    python3 bench/tcp_proxy.py LISTEN_PORT TARGET_PORT
"""

import asyncio
import sys


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def main(listen_port: int, target_port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
