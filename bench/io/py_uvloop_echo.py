# uvloop's echo server for the benchmark: an asyncio Protocol on uvloop (the
# fastest of uvloop's own echo-server variants). Usage: python3 py_uvloop_echo.py PORT
import asyncio
import socket
import sys

import uvloop


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        transport.get_extra_info('socket').setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    def connection_lost(self, exc):
        pass


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Echo, '127.0.0.1', int(sys.argv[1]), backlog=4096)
    print('ready', server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


uvloop.install()
asyncio.run(main())
