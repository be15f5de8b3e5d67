"""The gevent/greenlet anchors of bench/coro: `python3 gevent_points.py <point> [n]`
measures one point in a fresh process and prints one JSON line, the same work
as bench/coro/points.ts does on weft/coro (a warm-up first, then the timed run)."""
import json
import os
import sys
import time

import gevent
import gevent.pool
import gevent.queue
import greenlet
from gevent.server import StreamServer


def spawn_join(n):
    def noop():
        pass

    def once(k):
        t0 = time.perf_counter()
        gevent.joinall([gevent.spawn(noop) for _ in range(k)])
        return time.perf_counter() - t0

    once(10_000)
    s = once(n)
    return {"n": n, "seconds": s, "rate": n / s, "unit": "greenlets/s"}


def switch_ping_pong(n):
    def once(k):
        count = [0]

        def a():
            while count[0] < k:
                count[0] += 1
                gb.switch()

        def b():
            while True:
                count[0] += 1
                ga.switch()

        ga = greenlet.greenlet(a)
        gb = greenlet.greenlet(b)
        t0 = time.perf_counter()
        ga.switch()
        return time.perf_counter() - t0

    once(20_000)
    s = once(n)
    return {"n": n, "seconds": s, "rate": n / s, "unit": "switches/s"}


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def sleeping_memory(n):
    import gc

    # measured once every greenlet has started and parked, as bench/coro/points.ts does
    warm = [gevent.spawn(gevent.sleep, 0.01) for _ in range(1000)]
    gevent.joinall(warm)
    del warm
    gc.collect()
    before = rss()
    started = [0]

    def sleeper():
        started[0] += 1
        gevent.sleep(60)

    gs = [gevent.spawn(sleeper) for _ in range(n)]
    # the hub starts spawned greenlets a slice of time at a time: wait for all of them
    while started[0] < n:
        gevent.sleep(0.01)
    gc.collect()
    during = rss()
    gevent.killall(gs)
    per = (during - before) / n
    return {"n": n, "rssPerGreenlet": per, "rate": per, "unit": "bytes RSS/greenlet"}


def queue_ping_pong(n):
    def once(k):
        ping = gevent.queue.Queue()
        pong = gevent.queue.Queue()

        def echo():
            for _ in range(k):
                pong.put(ping.get())

        g = gevent.spawn(echo)
        t0 = time.perf_counter()
        for i in range(k):
            ping.put(i)
            pong.get()
        s = time.perf_counter() - t0
        g.join()
        return s

    once(20_000)
    s = once(n)
    return {"n": n, "seconds": s, "rate": n / s, "unit": "round trips/s"}


def pool_imap(n):
    def tiny(x):
        return x * 2

    def once(k):
        pool = gevent.pool.Pool(100)
        t0 = time.perf_counter()
        total = 0
        for r in pool.imap_unordered(tiny, range(k)):
            total += r
        assert total == k * (k - 1)
        return time.perf_counter() - t0

    once(10_000)
    s = once(n)
    return {"n": n, "seconds": s, "rate": n / s, "unit": "jobs/s"}


def echo_server(_n):
    received = [0]

    def handle(sock, _address):
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                received[0] += len(data)
                sock.sendall(data)
        except OSError:
            pass  # the load generator resets its connections at the end

    server = StreamServer(("127.0.0.1", 0), handle, backlog=1024)
    server.start()
    t0 = os.times()
    sys.stdout.write("%d\n" % server.server_port)
    sys.stdout.flush()
    # serve until stdin closes
    from gevent.os import make_nonblocking, nb_read

    make_nonblocking(sys.stdin.fileno())  # else the read would block the whole hub
    while nb_read(sys.stdin.fileno(), 1):
        pass
    t1 = os.times()
    cpu = (t1.user - t0.user) + (t1.system - t0.system)
    # CPU time per 1 KiB echoed: a figure the machine's other load does not change much
    sys.stdout.write(json.dumps({"cpuSeconds": cpu, "kib": received[0] / 1024}) + "\n")
    sys.stdout.flush()
    server.stop(0.1)
    return None


POINTS = {
    "spawn": spawn_join,
    "switch": switch_ping_pong,
    "memory": sleeping_memory,
    "queue": queue_ping_pong,
    "imap": pool_imap,
    "echoserver": echo_server,
}

if __name__ == "__main__":
    name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    result = POINTS[name](n)
    if result is not None:
        print(json.dumps(result))
