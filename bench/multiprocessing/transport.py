"""Python anchor for bench/multiprocessing/transport.ts: the same measurements
with multiprocessing's spawn start method. Prints one JSON object.

usage: python3 transport.py queue|pipe|start|start_paced|burst N
"""
import json
import multiprocessing as mp
import resource
import sys
import time

from warmup import warm_up


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


def put_one(q, i):
    q.put(i)


def percentiles_us(ns):
    """p50 and p99 of per-call times in ns, in us (nearest rank, as an HDR histogram reads them)."""
    ns = sorted(ns)
    at = lambda p: ns[max(0, -(-len(ns) * p // 100) - 1)] / 1000
    return {'p50Us': at(50), 'p99Us': at(99)}


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
    warm_up(lambda: (a.send(0), a.recv()), minimum=200)
    ns = [0] * n
    clock = time.perf_counter_ns
    t = time.perf_counter()
    for i in range(n):
        t0 = clock()
        a.send(i)
        assert a.recv() == i
        ns[i] = clock() - t0
    dt = time.perf_counter() - t
    a.send(None)
    p.join()
    return {'rate': n / dt, **percentiles_us(ns)}


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


def cpu_seconds():
    """CPU of this process and its reaped children (getrusage SELF + CHILDREN)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def burst(n):
    # n children started at once, each puts one message; done when all are in and
    # every child is joined. Spawn's resource tracker, started with the first child
    # and alive until this process ends, is not counted (as weft's spare is not).
    q = mp.Queue()
    cpu0 = cpu_seconds()
    t = time.perf_counter()
    procs = [mp.Process(target=put_one, args=(q, i)) for i in range(n)]
    for p in procs:
        p.start()
    for _ in range(n):
        q.get(timeout=120)
    for p in procs:
        p.join()
    seconds = time.perf_counter() - t
    return {'seconds': seconds, 'cpuMsPerStart': (cpu_seconds() - cpu0) * 1000 / n}


if __name__ == '__main__':
    mp.set_start_method('spawn')
    which, n = sys.argv[1], int(sys.argv[2])
    print(json.dumps({'queue': queue, 'pipe': pipe, 'start': start, 'start_paced': start_paced, 'burst': burst}[which](n)))
