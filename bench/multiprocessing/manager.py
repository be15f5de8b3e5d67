"""Python's side of bench/multiprocessing/manager.ts: multiprocessing.Manager
with two worker processes (spawn start method), one point per run.

Points (argv[1]):
  dict_set     each worker does d[i] = i, N times (every call waits for its answer)
  list_append  each worker does l.append(i), N times
  incr_lock    each worker does `with lock: d['k'] = d['k'] + 1`, N times
               (lock = multiprocessing.Lock(), the fastest lock Python has)
  short_lived  two workers started on the clock, each making N dict sets from a
               cold start: their start and first connection are counted

The clock runs from the moment both workers are ready and told to go until the
last one finished its loop (time.monotonic is CLOCK_MONOTONIC, shared by
processes). Prints one JSON line: {"point", "ops", "seconds", "final"}, and for
dict_set the p50 and p99 of a call in us ("p50Us", "p99Us", from perf_counter_ns).

Usage: python3 manager.py POINT N
"""
import json
import multiprocessing as mp
import sys
import time

from warmup import warm_up


WARMUP_CALLS = 2000  # untimed calls on scratch objects first, for a second and at least this many, as the weft side does


def worker(point, d, l, lock, n, ready, go, ends, slot, scratch, scratch_list, latencies):
    warm_up(lambda: run(point, scratch, scratch_list, lock, 100), minimum=WARMUP_CALLS // 100)
    ready.release()
    go.wait()
    ns = [0] * n if point == 'dict_set' else None
    run(point, d, l, lock, n, ns)
    ends[slot] = time.monotonic()
    if ns is not None:
        latencies.put(ns)


def short_lived(d, n):
    for i in range(n):
        d[i] = i


def percentiles_us(ns):
    """p50 and p99 of per-call times in ns, in us (nearest rank, as an HDR histogram reads them)."""
    ns = sorted(ns)
    at = lambda p: ns[max(0, -(-len(ns) * p // 100) - 1)] / 1000
    return {'p50Us': at(50), 'p99Us': at(99)}


def run(point, d, l, lock, n, ns=None):
    if point == 'dict_set':
        if ns is None:
            for i in range(n):
                d[i] = i
        else:
            clock = time.perf_counter_ns
            for i in range(n):
                t = clock()
                d[i] = i
                ns[i] = clock() - t
    elif point == 'list_append':
        for i in range(n):
            l.append(i)
    else:
        for _ in range(n):
            with lock:
                d['k'] = d['k'] + 1


def main():
    point = sys.argv[1]
    n = int(sys.argv[2])
    ctx = mp.get_context('spawn')
    if point == 'short_lived':
        with ctx.Manager() as manager:
            d = manager.dict()
            t = time.perf_counter()
            procs = [ctx.Process(target=short_lived, args=(d, n)) for _ in range(2)]
            for p in procs:
                p.start()
            for p in procs:
                p.join()
            seconds = time.perf_counter() - t
            final = len(d)
        print(json.dumps({'point': point, 'ops': 2 * n, 'seconds': seconds, 'final': final}), flush=True)
        return
    with ctx.Manager() as manager:
        d = manager.dict()
        l = manager.list()
        d['k'] = 0
        scratch = manager.dict()
        scratch['k'] = 0
        scratch_list = manager.list()
        lock = ctx.Lock()
        ready = ctx.Semaphore(0)
        go = ctx.Event()
        ends = ctx.Array('d', 2, lock=False)
        latencies = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(point, d, l, lock, n, ready, go, ends, i, scratch, scratch_list, latencies))
                 for i in range(2)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        t0 = time.monotonic()
        go.set()
        # read before join: a child exits only once its queue's data is taken
        ns = [x for _ in procs for x in latencies.get(timeout=600)] if point == 'dict_set' else None
        for p in procs:
            p.join()
        final = d['k'] if point == 'incr_lock' else (len(l) if point == 'list_append' else len(d))
        out = {'point': point, 'ops': 2 * n, 'seconds': max(ends) - t0, 'final': final}
        if ns is not None:
            out.update(percentiles_us(ns))
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
