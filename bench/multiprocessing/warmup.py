"""The Python twins' warm-up, as bench/lib/warmup.ts: every steady-state point
runs untimed for a time, not a count, before its clock starts."""
import time

WARMUP_SECONDS = 1.0


def warm_up(step, seconds=WARMUP_SECONDS, minimum=1):
    """Runs step() until `seconds` have passed and it ran at least `minimum` times; returns how many times it ran."""
    end = time.perf_counter() + seconds
    n = 0
    while n < minimum or time.perf_counter() < end:
        step()
        n += 1
    return n
