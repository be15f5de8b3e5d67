"""Python anchor for bench/multiprocessing/transport.ts: the same three measurements
with multiprocessing's spawn start method. Prints one JSON object.

usage: python3 transport.py queue|pipe|start|start_paced N
"""
import json
import multiprocessing as mp
import sys
import time


def produce(q, n):
    for i in range(n):
        q.put({'id': i, 'name': 'hahaha123', 'tags': [1, 2, 3]})
    q.put(None)


def echo(conn):
    while True:
        x = conn.recv()
        if x is None:
            return
        conn.send(x)


def noop():
    pass


def queue(n):
    q = mp.Queue()
    p = mp.Process(target=produce, args=(q, n))
    p.start()
    q.get()  # the clock starts at the first message: process start-up is measured separately
    t = time.perf_counter()
    count = 1
    while q.get() is not None:
        count += 1
    dt = time.perf_counter() - t
    p.join()
    assert count == n, count
    return {'rate': (n - 1) / dt}


def pipe(n):
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    for i in range(200):
        a.send(i)
        a.recv()
    trips = []
    t = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        a.send(i)
        assert a.recv() == i
        trips.append(time.perf_counter() - t0)
    dt = time.perf_counter() - t
    a.send(None)
    p.join()
    trips.sort()
    return {'rate': n / dt, 'p50Us': trips[n // 2] * 1e6, 'p99Us': trips[min(n - 1, int(n * 0.99))] * 1e6}


def start_join(n, pause):
    times = []
    for _ in range(n):
        time.sleep(pause)
        t = time.perf_counter()
        p = mp.Process(target=noop)
        p.start()
        p.join()
        times.append(time.perf_counter() - t)
    times.sort()
    return {'ms': times[len(times) // 2] * 1000}


def start(n):
    return start_join(n, 0)


def start_paced(n):
    # The same, with a pause between starts: Python's spawn gains nothing from it.
    return start_join(n, 0.3)


if __name__ == '__main__':
    mp.set_start_method('spawn')
    which, n = sys.argv[1], int(sys.argv[2])
    print(json.dumps({'queue': queue, 'pipe': pipe, 'start': start, 'start_paced': start_paced}[which](n)))
