/**
 * Shared by the weft/io suites: the open-fd count (the after-hooks fail on a
 * leaked fd) and the selector backends every selectors test runs over, as
 * CPython's test_selectors.py installs its tests per selector.
 */
import { readdirSync } from 'node:fs';
import { DefaultSelector, EpollSelector, PollSelector, SelectSelector, type BaseSelector } from 'weft/io';

/** Number of fds this process has open now. */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The selector classes under test, by name. */
export const backends: [string, new () => BaseSelector<unknown>][] = [
  ['SelectSelector', SelectSelector],
  ['PollSelector', PollSelector],
  ['EpollSelector', EpollSelector],
  ['DefaultSelector', DefaultSelector],
];

/** Wait `ms` milliseconds without blocking the loop. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
