/**
 * Fuzzing what faces untrusted input: the Manager's frame reader, message
 * decoder and handshake (a network peer), the Queue/Pipe codec (another
 * process), and the CLI's argument parsing (a user). Seeded and bounded in
 * `npm test`; `npm run fuzz` runs many more iterations. A failure names the
 * seed and iteration: WEFT_FUZZ_SEED=<seed> reproduces it.
 *
 *   WEFT_FUZZ_ITERATIONS=20000 WEFT_FUZZ_SEED=7 node --test dist/test/fuzz/
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { EOFError } from 'weft';
import {
  AuthenticationError, FrameReader, ProtocolError, cliMain, decode, deliverChallenge, dumps, frame, loads,
} from '../../src/internals.js';

const ITERATIONS = Number(process.env.WEFT_FUZZ_ITERATIONS ?? 300);
const SEED = Number(process.env.WEFT_FUZZ_SEED ?? 14);

/** mulberry32: small, fast, and the same sequence for the same seed on every Node. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** A random plain value: what a Queue or a Manager carries. */
  value(depth = 0): unknown {
    const k = this.int(depth > 3 ? 6 : 9);
    switch (k) {
      case 0: return this.int(2 ** 31) - 2 ** 30;
      case 1: return this.pick([0, -0, 1.5, -1.5, NaN, Infinity, -Infinity, 2 ** 53, Number.MIN_VALUE]);
      case 2: return this.bytes(this.int(8)).toString('latin1') + this.pick(['', 'é', '\u0000', '😀', '\ud800', '\udfff', '\ude00\ud83d']);
      case 3: return this.pick([null, undefined, true, false]);
      case 4: return BigInt(this.int(1000)) * 10n ** BigInt(this.int(30));
      case 5: return this.bytes(this.int(16));
      case 6: return Array.from({ length: this.int(5) }, () => this.value(depth + 1));
      case 7: return Object.fromEntries(Array.from({ length: this.int(5) }, (_, i) => [`k${i}${this.pick(['', '__proto__', 'constructor', '\udbff'])}`, this.value(depth + 1)]));
      default: return new Map(Array.from({ length: this.int(4) }, () => [this.int(100), this.value(depth + 1)]));
    }
  }
  /** `payload` with a few random flips, truncations and insertions. */
  mutate(payload: Uint8Array): Buffer {
    let b = Buffer.from(payload);
    for (let n = 1 + this.int(3); n > 0; n--) {
      const at = this.int(b.length + 1);
      switch (this.int(4)) {
        case 0: if (b.length) b[Math.min(at, b.length - 1)] ^= 1 << this.int(8); break;
        case 1: b = b.subarray(0, at); break;
        case 2: b = Buffer.concat([b.subarray(0, at), this.bytes(1 + this.int(8)), b.subarray(at)]); break;
        default: if (b.length) b[Math.min(at, b.length - 1)] = this.pick([0, 0xff, 0x7f, 0x80, 0xc1, 0xdc, 0xdd]);
      }
    }
    return b;
  }
}

/** Run `body` ITERATIONS times, each with its own seeded generator; a failure names the seed and iteration. */
async function fuzz(name: string, iterations: number, body: (g: Gen, i: number) => void | Promise<void>): Promise<void> {
  for (let i = 0; i < iterations; i++) {
    const g = new Gen(SEED * 1_000_003 + i);
    try {
      await body(g, i);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`${name}: iteration ${i} of seed ${SEED} failed (WEFT_FUZZ_SEED=${SEED} reproduces it): ${why}`, { cause: err });
    }
  }
}

/** Decoded data must be plain: no function anywhere (nothing of the sender's code runs here). */
function assertInert(value: unknown, seen = new Set<unknown>()): void {
  if (typeof value === 'function') assert.fail('a decoded message produced a function');
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (value instanceof SharedArrayBuffer) assert.fail('a decoded message mapped shared memory');
  for (const v of value instanceof Map ? value.values() : Object.values(value)) assertInert(v, seen);
}

/** Either a value or an Error: never a thrown non-Error, never a crash. */
function decodesOrRefuses(run: () => unknown): void {
  let out: unknown;
  try {
    out = run();
  } catch (err) {
    assert.ok(err instanceof Error, `threw a non-Error: ${String(err)}`);
    return;
  }
  assertInert(out);
}

const fakeProxy = (): object => ({});

describe('fuzz: the Manager wire', () => {
  test('FrameReader splits any chunking of valid frames back into the same frames', async () => {
    await fuzz('FrameReader (valid)', ITERATIONS, (g) => {
      const bodies = Array.from({ length: 1 + g.int(6) }, () => g.bytes(g.int(300)));
      const stream = Buffer.concat(bodies.map((b) => frame(b)));
      const reader = new FrameReader(1024);
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + g.int(64);
        reader.push(stream.subarray(at, at + n), out);
        at += n;
      }
      assert.deepEqual(out.map((b) => b.toString('hex')), bodies.map((b) => b.toString('hex')));
      assert.equal(reader.pending, 0);
    });
  });

  test('FrameReader: an empty frame whose header arrives in pieces (found by this fuzzer)', () => {
    const reader = new FrameReader(1024);
    const out: Buffer[] = [];
    const stream = Buffer.concat([frame(Buffer.alloc(0)), frame(Buffer.from('next'))]);
    reader.push(stream.subarray(0, 2), out);
    reader.push(stream.subarray(2, 4), out); // the header completes with nothing behind it
    reader.push(stream.subarray(4), out);
    assert.deepEqual(out.map(String), ['', 'next']);
  });

  test('FrameReader on garbage yields frames within the limit or a ProtocolError, nothing else', async () => {
    await fuzz('FrameReader (garbage)', ITERATIONS, (g) => {
      const reader = new FrameReader(1 + g.int(2048));
      const out: Buffer[] = [];
      try {
        for (let k = g.int(8); k >= 0; k--) reader.push(g.bytes(g.int(200)), out);
      } catch (err) {
        assert.ok(err instanceof ProtocolError, `not a ProtocolError: ${String(err)}`);
      }
      for (const f of out) assert.ok(f.length <= reader.maxFrame);
    });
  });

  test('decode of random and mutated messages returns plain data or throws an Error', async () => {
    await fuzz('manager decode', ITERATIONS, (g) => {
      const valid = dumps(g.value());
      decodesOrRefuses(() => decode(g.mutate(valid), fakeProxy));
      const raw = Buffer.concat([Buffer.from([g.pick([0, 1, 2, 255])]), g.bytes(g.int(64))]);
      decodesOrRefuses(() => decode(raw, fakeProxy));
    });
  });

  test('the handshake refuses a peer that sends anything but the right answer, within its deadline', async () => {
    const key = Buffer.from('fuzz-key');
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      await fuzz('handshake', Math.max(20, Math.floor(ITERATIONS / 10)), async (g) => {
        const accepted = once(server, 'connection') as Promise<[Socket]>;
        const client = connect(port, '127.0.0.1');
        client.on('error', () => {});
        const [sock] = await accepted;
        sock.on('error', () => {});
        const t0 = performance.now();
        const outcome = deliverChallenge(sock, key, 300, 1024).then(
          () => 'authenticated',
          (err: unknown) => err,
        );
        // Garbage, in frames or not, then maybe a close.
        for (let k = g.int(4); k >= 0; k--) {
          const body = g.bytes(g.int(g.pick([8, 40, 300])));
          client.write(g.int(2) ? frame(body) : body);
        }
        if (g.int(2)) client.end();
        const result = await outcome;
        client.destroy();
        sock.destroy();
        assert.notEqual(result, 'authenticated');
        assert.ok(
          result instanceof AuthenticationError || result instanceof EOFError || result instanceof ProtocolError,
          `an unexpected refusal: ${String(result)}`,
        );
        assert.ok(performance.now() - t0 < 5000, 'the handshake outlived its deadline');
      });
    } finally {
      server.close();
    }
  });
});

describe('fuzz: the Queue/Pipe codec', () => {
  test('-0 and lone surrogates (in values and keys) come back exactly, alone and inside plain data', () => {
    const long = 'x'.repeat(62); // around the length where the check changes (64)
    const lone = ['\ud800', '\udfff', 'a\udc00b', '\ud83d', '😀\ud83d', '\ude00😀', long + '\ud800', long.slice(1) + '\ud800', long + 'y\ud800', '漢'.repeat(200) + '\udc00', `\ufffd${long}`];
    for (const v of [-0, [-0], { x: -0 }, ...lone, lone, { [lone[0]!]: 1 }, { a: { b: [lone[2]] } }]) {
      const back = loads(dumps(v));
      assert.deepEqual(back, v);
    }
    assert.ok(Object.is(loads(dumps(-0)), -0));
    assert.equal(loads(dumps('\ud800')), '\ud800');
    // Well-formed data keeps the compact msgpack path (tag 0); only the exceptions take the structured one.
    assert.equal(dumps({ s: '😀é', n: 0, m: -1.5 })[0], 0);
    assert.equal(dumps({ s: '\ud800' })[0], 1);
    assert.equal(dumps([0, -0])[0], 1);
    assert.equal(dumps({ s: long + '😀' })[0], 0);
    for (const key of [long.slice(1), long, long + 'y', long + 'yy']) assert.equal(dumps({ [key + '\ud800']: 1 })[0], 1);
  });

  test('loads(dumps(v)) gives v back for random values', async () => {
    await fuzz('codec round trip', ITERATIONS, (g) => {
      const value = g.value();
      assert.deepEqual(loads(dumps(value)), value);
    });
  });

  test('loads of random and mutated payloads returns plain data or throws an Error', async () => {
    await fuzz('codec garbage', ITERATIONS, (g) => {
      decodesOrRefuses(() => loads(g.mutate(dumps(g.value()))));
      decodesOrRefuses(() => loads(Buffer.concat([Buffer.from([g.int(4)]), g.bytes(g.int(64))])));
    });
  });
});

describe('fuzz: the CLI arguments', () => {
  const loadTokens = ['--connections', '--size', '--depth', '--rate', '--warmup', '--duration', '--port', '--json', '--frob', '-x', '--', '--size=', '--depth=-1'];
  const fetchTokens = ['-c', '--concurrency', '--timeout', '--retries', '-q', '--quiet', '--frob', '--'];
  const values = ['0', '-1', '1', '7', '1.5', 'NaN', 'Infinity', '1e309', '99999999999', '65536', '', ' ', 'abc', '0x10', '😀', '--size'];
  const junkUrls = ['abc', 'ftp://127.0.0.1/x', '::', 'http//', 'file:///etc/passwd', 'javascript:1'];

  test('any argument list ends with an exit code 0-2 and at most one-line errors, never a stack', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const { log, error } = console;
    console.log = (...a: unknown[]) => void out.push(a.join(' '));
    console.error = (...a: unknown[]) => void err.push(a.join(' '));
    const debugWas = process.env.WEFT_DEBUG;
    delete process.env.WEFT_DEBUG;
    try {
      await fuzz('cli', Math.max(30, Math.floor(ITERATIONS / 5)), async (g) => {
        out.length = 0;
        err.length = 0;
        const command = g.pick(['load', 'fetch', 'nope', 'help', '']);
        const argv: string[] = command ? [command] : [];
        const tokens = command === 'fetch' ? fetchTokens : loadTokens;
        for (let k = g.int(6); k > 0; k--) {
          argv.push(g.pick(tokens));
          if (g.int(3)) argv.push(g.pick(values));
          if (command === 'fetch' && g.int(3) === 0) argv.push(g.pick(junkUrls));
        }
        // Whatever came before, a load that parses connects to a port nobody listens on and a fetch gets no real URL.
        if (command === 'load') argv.push('--host', '127.0.0.1', '--port', '9', '--duration', '0.05');
        const code = await Promise.race([
          cliMain(argv),
          new Promise<string>((resolve) => setTimeout(resolve, 20_000, 'timeout').unref()),
        ]);
        const context = `weft ${argv.join(' ')}\nstderr: ${err.join('\n')}`;
        assert.ok(code === 0 || code === 1 || code === 2, `exit code ${String(code)}: ${context}`);
        for (const line of err) {
          assert.doesNotMatch(line, /\n\s+at /, context);
          if (line.startsWith('weft')) assert.equal(line.split('\n').length, 1, context);
        }
        if (code === 2 && command !== '') assert.ok(err.length >= 1 || out.length >= 1, context);
      });
    } finally {
      console.log = log;
      console.error = error;
      if (debugWas !== undefined) process.env.WEFT_DEBUG = debugWas;
    }
  });
});
