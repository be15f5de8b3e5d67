// What `npm run bench -- --load ...` measures: each point names the commands
// that take one measurement (a weft contender or its Python twin, each run in
// a fresh process and printing one JSON line) and the figures read from that
// line. The measurements themselves live in bench/multiprocessing/*.ts and
// their Python twins; this file only lists them and their sizes.
import { fileURLToPath } from 'node:url';

/** The groups `--rows` picks from. */
export const ROWS = ['transport', 'lock', 'manager', 'pool', 'first'] as const;
export type Row = (typeof ROWS)[number];

/** One figure a point reports, e.g. round trips/s or the p99 of a call. */
export interface Metric {
  key: string;
  title: string;
  unit: string;
  /** Which way is better: the ratio weft / Python reads as a speed-up above 1 for 'higher', below 1 for 'lower'. */
  better: 'higher' | 'lower';
}

/** One side of a point: the command that makes one measurement and how to read its JSON line. */
export interface Contender {
  label: string;
  argv: string[];
  /** Variables taken out of the environment the command runs in (see {@link WITHOUT_EXTRA_CA}). */
  unsetEnv?: string[];
  /** The metrics of `metric` keys out of the command's JSON, or a thrown Error if the run is wrong. */
  read(out: Record<string, number>): Record<string, number>;
}

export interface Point {
  row: Row;
  name: string;
  metrics: Metric[];
  weft: Contender[];
  python: Contender;
}

const bench = (file: string) => fileURLToPath(new URL(`../multiprocessing/${file}`, import.meta.url));
const script = (file: string) => fileURLToPath(new URL(`../../../bench/multiprocessing/${file}`, import.meta.url));

const rate: Metric = { key: 'rate', title: '', unit: '/s', better: 'higher' };
const p50: Metric = { key: 'p50Us', title: 'p50', unit: 'µs', better: 'lower' };
const p99: Metric = { key: 'p99Us', title: 'p99', unit: 'µs', better: 'lower' };

/** Reads `{value, p50Us?, p99Us?}`, weft's --one output and the shape the Python twins print for the same points. */
function asIs(key = 'value'): Contender['read'] {
  return (out) => {
    const r: Record<string, number> = { rate: out[key]! };
    if (out.p50Us !== undefined) r.p50Us = out.p50Us;
    if (out.p99Us !== undefined) r.p99Us = out.p99Us;
    return r;
  };
}

function node(label: string, file: string, args: string[], read: Contender['read'] = asIs()): Contender {
  return { label, argv: [process.execPath, bench(file), ...args], read };
}

/**
 * Node 20 reads and parses the file NODE_EXTRA_CA_CERTS names at every start,
 * TLS or not (~55 ms of CPU for a system bundle of ~140 certificates, more than
 * the rest of Node's boot); Node 22 and later only when TLS first needs it, and
 * Python never reads it. Where the environment sets it, the rows that start
 * processes are measured a second time without it, which is how a Node 22+
 * child starts, so that Node's own cost and weft's are told apart.
 */
export const WITHOUT_EXTRA_CA = 'no NODE_EXTRA_CA_CERTS';

/** `c`, and where NODE_EXTRA_CA_CERTS is set, `c` again without it. */
function andWithoutExtraCa(c: Contender): Contender[] {
  if (!process.env.NODE_EXTRA_CA_CERTS) return [c];
  return [c, { ...c, label: `${c.label}, ${WITHOUT_EXTRA_CA}`, unsetEnv: ['NODE_EXTRA_CA_CERTS'] }];
}

function python(file: string, args: string[], read: Contender['read']): Contender {
  return { label: 'Python', argv: ['python3', script(file), ...args], read };
}

/** Sizes of a full run and of a --quick one. */
function sizes(quick: boolean) {
  return quick
    ? { pipe: 3000, queue: 20_000, lock: 10_000, manager: 2000, apply: 500, map: 250_000, shortLived: 5000, burst: 20 }
    : { pipe: 20_000, queue: 100_000, lock: 50_000, manager: 10_000, apply: 2000, map: 1_000_000, shortLived: 10_000, burst: 100 };
}

/** Every point, in the order they run within a repeat. */
export function points(quick: boolean): Point[] {
  const n = sizes(quick);
  const k = (x: number) => (x >= 1e6 ? `${x / 1e6}M` : x >= 1000 ? `${x / 1000}k` : String(x));
  const pipeArgs = (context: string) => ['--one', 'pipe', '--context', context, '--n', String(n.pipe)];
  return [
    {
      row: 'transport',
      name: `Pipe round trips, parent <-> child (${k(n.pipe)})`,
      metrics: [{ ...rate, title: 'round trips', unit: '/s' }, { ...p50, title: 'round trip p50' }, { ...p99, title: 'round trip p99' }],
      weft: [node('weft process', 'transport.js', pipeArgs('process')), node('weft thread', 'transport.js', pipeArgs('thread'))],
      python: python('transport.py', ['pipe', String(n.pipe)], asIs('rate')),
    },
    {
      row: 'transport',
      name: `Queue, child -> parent (${k(n.queue)} messages)`,
      metrics: [{ ...rate, title: 'messages', unit: '/s' }],
      weft: [node('weft process', 'transport.js', ['--one', 'queue', '--context', 'process', '--n', String(n.queue)])],
      python: python('transport.py', ['queue', String(n.queue)], asIs('rate')),
    },
    {
      row: 'lock',
      name: `Lock + Value increments, 2 children x ${k(n.lock)}`,
      metrics: [{ ...rate, title: 'increments', unit: '/s' }],
      weft: ['process', 'thread'].map((context) =>
        node(`weft ${context}, await acquire()`, 'lock_value.js', ['--one', 'acquire', '--context', context, '--n', String(n.lock)]),
      ),
      python: python('lock_value.py', ['1', String(n.lock)], (out) => {
        if (out.final !== 2 * n.lock) throw new Error(`Python lock: final value ${out.final}, expected ${2 * n.lock}`);
        return { rate: (2 * n.lock) / out.seconds! };
      }),
    },
    {
      row: 'manager',
      name: `Manager dict set, each call awaited, 2 children x ${k(n.manager)}`,
      metrics: [{ ...rate, title: 'sets', unit: '/s' }, { ...p50, title: 'call p50' }, { ...p99, title: 'call p99' }],
      weft: [node('weft', 'manager.js', ['--one', 'dict_set', '--n', String(n.manager)])],
      python: python('manager.py', ['dict_set', String(n.manager)], (out) => {
        if (out.final !== n.manager + 1) throw new Error(`Python dict set: ${out.final} keys, expected ${n.manager + 1}`);
        return { rate: out.ops! / out.seconds!, p50Us: out.p50Us!, p99Us: out.p99Us! };
      }),
    },
    {
      row: 'pool',
      name: `Sequential await pool.apply, 2 workers (${k(n.apply)} calls)`,
      metrics: [{ ...rate, title: 'calls', unit: '/s' }, { ...p50, title: 'call p50' }, { ...p99, title: 'call p99' }],
      weft: ['thread', 'process'].map((context) =>
        node(`weft ${context}`, 'pool.js', ['--one', 'apply', '--context', context, '--n', String(n.apply)]),
      ),
      python: python('pool.py', ['one', 'apply', String(n.apply)], asIs()),
    },
    {
      row: 'first',
      name: `pool.map of ${k(n.map)} tiny items, default chunksize, 2 workers`,
      metrics: [
        { key: 'first', title: 'fresh process: Pool start + first map', unit: 'items/s', better: 'higher' },
        { key: 'warm', title: 'the same map, warm', unit: 'items/s', better: 'higher' },
      ],
      weft: ['process', 'thread'].flatMap((context) => {
        const c = node(`weft ${context}`, 'pool.js', ['--one', 'map_first', '--context', context, '--n', String(n.map)], (out) => ({ ...out }));
        return context === 'process' ? andWithoutExtraCa(c) : [c];
      }),
      python: python('pool.py', ['one', 'map_first', String(n.map)], (out) => ({ ...out })),
    },
    {
      row: 'first',
      name: `2 short-lived children x ${k(n.shortLived)} awaited Manager dict sets, start and first connection counted`,
      metrics: [{ key: 'seconds', title: 'start to both joined', unit: 's', better: 'lower' }],
      weft: andWithoutExtraCa(node('weft', 'manager.js', ['--one', 'short_lived', '--n', String(n.shortLived)], (out) => ({ seconds: out.value! }))),
      python: python('manager.py', ['short_lived', String(n.shortLived)], (out) => {
        if (out.final !== n.shortLived) throw new Error(`Python short-lived: ${out.final} keys, expected ${n.shortLived}`);
        return { seconds: out.seconds! };
      }),
    },
    {
      row: 'first',
      name: `Burst: ${n.burst} processes started at once, each puts one message on a Queue`,
      metrics: [
        { key: 'seconds', title: 'all in and joined', unit: 's', better: 'lower' },
        { key: 'cpuMsPerStart', title: 'CPU per start', unit: 'ms', better: 'lower' },
      ],
      weft: [
        ...andWithoutExtraCa(node('weft process', 'transport.js', ['--one', 'burst', '--context', 'process', '--n', String(n.burst)], burstRead)),
        node('weft thread', 'transport.js', ['--one', 'burst', '--context', 'thread', '--n', String(n.burst)], burstRead),
        ...andWithoutExtraCa(node(NODE_BOOT, 'transport.js', ['--one', 'node_boot', '--n', String(n.burst)], burstRead)),
      ],
      python: python('transport.py', ['burst', String(n.burst)], (out) => ({ seconds: out.seconds!, cpuMsPerStart: out.cpuMsPerStart! })),
    },
  ];
}

/** The burst's reference contender: Node's own boot, no weft. */
export const NODE_BOOT = 'node -e 0 (Node alone)';

function burstRead(out: Record<string, number>): Record<string, number> {
  return { seconds: out.value!, cpuMsPerStart: out.cpuMsPerStart! };
}
