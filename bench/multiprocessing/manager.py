"""Python's side of bench/multiprocessing/manager.ts: multiprocessing.Manager
with two worker processes (spawn start method), one point per run.

Points (argv[1]):
  dict_set     each worker does d[i] = i, N times (every call waits for its answer)
  list_append  each worker does l.append(i), N times
  incr_lock    each worker does `with lock: d['k'] = d['k'] + 1`, N times
               (lock = multiprocessing.Lock(), the fastest lock Python has)

The clock runs from the moment both workers are ready and told to go until the
last one finished its loop (time.monotonic is CLOCK_MONOTONIC, shared by
processes). Prints one JSON line: {"point", "ops", "seconds", "final"}.

Usage: python3 manager.py POINT N
"""
import json
import multiprocessing as mp
import sys
import time


WARMUP = 2000  # untimed calls on scratch objects first, as the weft side does


def worker(point, d, l, lock, n, ready, go, ends, tails, slot, scratch, scratch_list):
    run(point, scratch, scratch_list, lock, WARMUP)
    ready.release()
    go.wait()
    calls = run(point, d, l, lock, n)
    ends[slot] = time.monotonic()
    if calls:
        calls.sort()
        tails[2 * slot] = calls[len(calls) // 2] * 1e6
        tails[2 * slot + 1] = calls[min(len(calls) - 1, int(len(calls) * 0.99))] * 1e6


def run(point, d, l, lock, n):
    """Runs point n times; for the dict set, returns the seconds each call took."""
    if point == 'dict_set':
        calls = []
        for i in range(n):
            t = time.perf_counter()
            d[i] = i
            calls.append(time.perf_counter() - t)
        return calls
    elif point == 'list_append':
        for i in range(n):
            l.append(i)
    else:
        for _ in range(n):
            with lock:
                d['k'] = d['k'] + 1
    return []


def main():
    point = sys.argv[1]
    n = int(sys.argv[2])
    ctx = mp.get_context('spawn')
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
        tails = ctx.Array('d', 4, lock=False)
        procs = [ctx.Process(target=worker, args=(point, d, l, lock, n, ready, go, ends, tails, i, scratch, scratch_list)) for i in range(2)]
        for p in procs:
            p.start()
        for _ in procs:
            ready.acquire()
        t0 = time.monotonic()
        go.set()
        for p in procs:
            p.join()
        final = d['k'] if point == 'incr_lock' else (len(l) if point == 'list_append' else len(d))
        out = {'point': point, 'ops': 2 * n, 'seconds': max(ends) - t0, 'final': final}
        if point == 'dict_set':  # the slower worker's percentiles of one call, as the weft side reports them
            out.update(p50Us=max(tails[0], tails[2]), p99Us=max(tails[1], tails[3]))
        print(json.dumps(out), flush=True)


if __name__ == '__main__':
    main()
