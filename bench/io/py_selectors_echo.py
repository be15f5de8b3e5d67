# Python's selectors echo server for the benchmark: the seed's server minus the
# printing, surviving resets. Usage: python3 py_selectors_echo.py PORT
import selectors
import socket
import sys

sel = selectors.DefaultSelector()

def accept(sock, mask):
    while True:
        try:
            conn, addr = sock.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sel.register(conn, selectors.EVENT_READ, read)

def read(conn, mask):
    try:
        data = conn.recv(65536)
        if data:
            conn.sendall(data)  # small echoes: the kernel takes them whole
            return
    except BlockingIOError:
        return
    except OSError:
        pass
    sel.unregister(conn)
    conn.close()

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(('127.0.0.1', int(sys.argv[1])))
sock.listen(4096)
sock.setblocking(False)
sel.register(sock, selectors.EVENT_READ, accept)
print('ready', sock.getsockname()[1], flush=True)
while True:
    for key, mask in sel.select():
        key.data(key.fileobj, mask)
