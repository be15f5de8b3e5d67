"""Python's side of bench/multiprocessing/lock_value.ts: two processes (spawn
start method) each increment a shared Value 50k times under one Lock.

Prints one JSON line per repeat: {"seconds": ..., "final": ...}. The clock
runs from the moment both children are ready and told to go until the last
one finished its loop (time.monotonic is CLOCK_MONOTONIC, shared by processes);
each child first warms up for WARMUP_SECONDS on a scratch Value, as weft's do.

Usage: python3 lock_value.py [REPEATS] [N]
"""
import json
import multiprocessing as mp
import sys
import time

from warmup import warm_up


def loop(lock, value, n):
    for _ in range(n):
        with lock:
            value.value += 1


def worker(lock, value, n, ready, go, ends, slot, scratch):
    warm_up(lambda: loop(lock, scratch, 100))  # untimed, on a scratch Value under the same Lock
    ready.release()
    go.wait()
    loop(lock, value, n)
    ends[slot] = time.monotonic()


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50_000
    ctx = mp.get_context('spawn')
    for _ in range(repeats):
        lock = ctx.Lock()
        value = ctx.Value('i', 0, lock=False)
        ready = ctx.Semaphore(0)
        go = ctx.Event()
        ends = ctx.Array('d', 2, lock=False)
        scratch = ctx.Value('i', 0, lock=False)
        procs = [ctx.Process(target=worker, args=(lock, value, n, ready, go, ends, i, scratch)) for i in range(2)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        t0 = time.monotonic()
        go.set()
        for p in procs:
            p.join()
        print(json.dumps({'seconds': max(ends) - t0, 'final': value.value, 'expected': 2 * n}), flush=True)


if __name__ == '__main__':
    main()
