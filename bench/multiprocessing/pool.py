"""Python's multiprocessing.Pool on the measures of bench/multiprocessing/pool.ts.

Run by that benchmark (python3 bench/multiprocessing/pool.py REPEATS); prints one
JSON object: for each measure, the list of per-repeat figures.

python3 bench/multiprocessing/pool.py one apply|map_first N: one run for
bench/run.ts --load, one JSON object. apply: N sequential pool.apply calls
(calls/s, p50 and p99 in us); map_first: in this fresh process, Pool start + the
first map of N tiny items, then the same map warm (items/s; default chunksize,
as weft's: ceil(N / (4 x workers))).
"""
import json
import multiprocessing as mp
import sys
import time

from warmup import warm_up


def square(x):
    return x * x


def burn(n):
    s = 0
    for i in range(n):
        s += i * i % 7
    return s


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def one(which, n):
    if which == "map_first":
        items = range(n)
        t = time.perf_counter()
        with mp.Pool(2) as pool:
            pool.map(square, items)
            first = n / (time.perf_counter() - t)
            pool.map(square, items)
            warm = n / timed(lambda: pool.map(square, items))
        return {"first": first, "warm": warm}
    with mp.Pool(2) as pool:
        pool.map(square, range(100))  # both workers up
        warm_up(lambda: pool.apply(square, (0,)))  # and warm, as weft's (bench/lib/warmup.ts)
        times = []
        start = time.perf_counter()
        for i in range(n):
            t = time.perf_counter_ns()
            pool.apply(square, (i,))
            times.append(time.perf_counter_ns() - t)
        mean = (time.perf_counter() - start) / n
        times.sort()
        return {"value": 1 / mean, "p50Us": times[n // 2] / 1000, "p99Us": times[-(-n * 99 // 100) - 1] / 1000}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        print(json.dumps(one(sys.argv[2], int(sys.argv[3]))))
        return
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    out = {"python": sys.version.split()[0], "start_method": mp.get_start_method(), "results": {}}
    res = out["results"]
    with mp.Pool(2) as pool:
        pool.map(square, range(100))  # warm up both workers

        def apply_async(n=100_000):
            rs = [pool.apply_async(square, (i,)) for i in range(n)]
            for r in rs:
                r.get()

        def imap_unordered(n=100_000):
            for _ in pool.imap_unordered(square, range(n), 1):
                pass

        def map_1m():
            pool.map(square, range(1_000_000))

        def apply_latency(n=2000):
            times = []
            start = time.perf_counter()
            for i in range(n):
                t = time.perf_counter()
                pool.apply(square, (i,))
                times.append(time.perf_counter() - t)
            mean = (time.perf_counter() - start) / n * 1e6
            times.sort()
            return mean, times[n // 2] * 1e6

        for name, fn, units in [
            ("apply_async_100k", apply_async, 100_000),
            ("imap_unordered_100k", imap_unordered, 100_000),
            ("map_1m", map_1m, 1_000_000),
        ]:
            res[name] = [units / timed(fn) for _ in range(repeats)]  # items per second
        lat = [apply_latency() for _ in range(repeats)]
        res["apply_latency_us"] = [m for m, _ in lat]
        res["apply_latency_median_us"] = [md for _, md in lat]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
