/**
 * The report of `weft bench servers`: the text table, the paragraphs written
 * from the numbers, and the HTML page rendered by headless Chromium (Debian's
 * `chromium`, which .ci/run installs when missing): its screenshot is not
 * blank and shows the charts' colours, and its DOM holds every chart's title
 * and every model's row. The report is built from fixed figures, so each
 * assertion knows what the page must say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import { MODELS, SCENARIOS, charts, chartTitles, describeModel, formatTable, renderHtml } from '../../src/internals.js';
import { runNode } from '../helpers/run.js';
import type { BenchReport, ScenarioResult } from '../../src/servers/bench.js';

/** Figures for every model and scenario: epoll 1.5x event at 100 x 1 KiB; select and process unable at 10k; uring refused. */
function fixedReport(): BenchReport {
  const results: ScenarioResult[] = [];
  MODELS.forEach((model, m) => {
    SCENARIOS.forEach((s) => {
      const base = {
        model,
        scenario: s.name,
        seconds: 5,
        warmupSeconds: model === 'process' ? 4.2 : 0.25,
        latencyUs: { p50: 100 + m * 10, p99: 1000 + m * 100, p999: 3000 + m * 100, max: 9000 },
        latencyCdfUs: [0, 50, 90, 99, 99.9, 100].map((p, i): [number, number] => [p, (50 + m * 5) * 2 ** i]),
        serverCpuUsPerMessage: model === 'prefork' && s.churn ? null : 10 + m, // null: a process exited between samples
        loadCpuUsPerMessage: 8,
        serverRssBytes: 60e6 + m * 1e6,
        serverPssBytes: 50e6 + m * 1e6,
        serverProcesses: model === 'prefork' ? 2 : 1,
        errors: 0,
        errorKinds: {},
      };
      const rate = model === 'epoll' ? 45_000 : model === 'event' ? 30_000 : 10_000 + m * 1000;
      const perConnection = model === 'process' ? 30 * 2 ** 20 : model === 'thread' ? 6 * 2 ** 20 : 2000 + m * 100;
      const unable =
        model === 'uring'
          ? 'the server refused to start: exited with code 2: weft serve: io_uring is unavailable here'
          : s.idle && (model === 'select' || model === 'process' || model === 'thread')
            ? `${model} <cannot> take 10,100 connections`
            : null;
      results.push(
        unable
          ? { ...base, status: 'unable', reason: unable, messages: 0, messagesPerSecond: 0, connectionsPerSecond: null, memoryPerConnectionBytes: 0, rssPerConnectionBytes: 0 }
          : {
              ...base,
              status: 'ok',
              reason: null,
              messages: rate * 5,
              messagesPerSecond: rate,
              connectionsPerSecond: s.churn ? rate / 10 : null,
              memoryPerConnectionBytes: s.churn ? 0 : perConnection,
              rssPerConnectionBytes: s.churn ? 0 : perConnection * 1.2,
            },
      );
    });
  });
  return {
    weft: '0.1.0',
    node: 'v20.20.2',
    cpus: 2,
    cpuModel: 'AMD EPYC',
    date: '2026-12-06T18:00:00Z',
    quick: true,
    warmup: 0.25,
    duration: 1,
    models: [...MODELS],
    scenarios: [...SCENARIOS],
    results,
  };
}

test('the text table: a block per scenario, a row per model, reasons where a model could not', () => {
  const text = formatTable(fixedReport());
  for (const s of SCENARIOS) assert.ok(text.includes(`\n${s.title}\n`) || text.startsWith(`${s.title}\n`), s.title);
  assert.match(text, /^ {2}epoll +45,000 +140 µs +1\.4 ms +3\.4 ms +14\.0 µs +61 MiB +2\.3 KiB +— +0$/m);
  assert.match(text, /^ {2}uring +unable: the server refused to start: exited with code 2: weft serve: io_uring is unavailable here$/m);
  assert.match(text, /^ {2}select +unable: select <cannot> take 10,100 connections$/m);
  // churn shows connections/s and no memory per connection
  assert.match(text, /^ {2}epoll +45,000 .* +— +4,500 +0$/m);
  assert.equal(text.match(/^ {2}process /gm)?.length, SCENARIOS.length);
  assert.match(text, /^ {2}prefork +17,000 +170 µs +1\.7 ms +3\.7 ms +— +/m, 'CPU that could not be told');
});

test('a paragraph per model, from the numbers: rank, ratio to Node\'s net, memory, what it could not take', () => {
  const report = fixedReport();
  const epoll = describeModel(report, 'epoll');
  assert.match(epoll, /100 connections × 1 KiB: 45,000 msg\/s, p99 1\.4 ms, the fastest of 8 \(1\.5× Node's net\); the server spent 14\.0 µs of CPU per message\./);
  assert.match(epoll, /churn: connect, one 64 B echo, close: 4,500 connections\/s, .*per connection\./);
  assert.match(epoll, /Each connection cost the server about 2.3 KiB of memory \(measured with 10,000 idle connections\)\./);
  const process_ = describeModel(report, 'process');
  assert.match(process_, /the slowest of 8 \(0\.3× Node's net\); the server spent 10\.0 µs of CPU per message; every connection had its first reply only after 4\.2 s\./);
  assert.match(process_, /about 30 MiB of memory \(measured with 1,000 active connections\)/);
  assert.match(process_, /Could not take 10,000 idle \+ 100 active × 64 B: process <cannot> take 10,100 connections\./);
  assert.doesNotMatch(describeModel(report, 'event'), /Node's net\)/, 'the baseline is not compared with itself');
  assert.match(describeModel(report, 'uring'), /^Could not take 1 connection × 64 B: the server refused to start/);
});

test('the HTML is one self-contained page: no script, nothing fetched, text escaped', () => {
  const html = renderHtml(fixedReport());
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|@import|url\(/i);
  assert.doesNotMatch(html, /\s(src|href)=/i);
  // the only URL is SVG's namespace name, which is never fetched
  assert.deepEqual([...new Set(html.match(/https?:\/\/[^"'\s)]+/g))], ['http://www.w3.org/2000/svg']);
  assert.ok(html.includes('select &lt;cannot&gt; take'));
  assert.ok(!html.includes('<cannot>'));
  assert.equal(html.match(/<svg /g)?.length, chartTitles(fixedReport()).length);
});

test('each chart is also a standalone SVG document, the same one the page embeds', () => {
  const report = fixedReport();
  const list = charts(report);
  assert.deepEqual(list.map((c) => c.title), chartTitles(report));
  assert.deepEqual(list.map((c) => c.name), [...SCENARIOS.flatMap((s) => [`${s.name}-rate`, `${s.name}-latency`]), 'memory']);
  const html = renderHtml(report);
  for (const c of list) {
    // its own namespace, size, title and styles: a file an <img> or a browser shows as it is in the page
    assert.match(c.svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+" role="img"><title>/);
    assert.ok(c.svg.includes(`<title>${c.title.replace(/&/g, '&amp;')}</title><style>`), c.name);
    assert.ok(c.svg.endsWith('</svg>'));
    assert.equal(c.svg.match(/<svg /g)?.length, 1);
    assert.ok(html.includes(c.svg), `${c.name} is embedded in the page as it is`);
  }
});

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('weft bench servers --from: the table, the page and the SVG files from earlier runs, merged by scenario (the last run of each), nothing measured', async () => {
  const report = fixedReport();
  const dir = mkdtempSync(join(tmpdir(), 'weft-from-'));
  try {
    // a run taken in two parts, the later scenarios first
    const part = (names: string[]) => ({ ...report, scenarios: report.scenarios.filter((s) => names.includes(s.name)), results: report.results.filter((r) => names.includes(r.scenario)) });
    writeFileSync(join(dir, 'a.json'), JSON.stringify(part(['idle', 'churn'])));
    writeFileSync(join(dir, 'b.json'), JSON.stringify(part(['latency', 'throughput', 'many'])));
    const from = `${join(dir, 'a.json')},${join(dir, 'b.json')}`;
    const r = await runNode([cli, 'bench', 'servers', '--from', from, '--out', join(dir, 'r.html'), '--svg-dir', join(dir, 'svg')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), formatTable(report), 'the scenarios in their usual order');
    assert.equal(readFileSync(join(dir, 'r.html'), 'utf8'), renderHtml(report));
    const files = readdirSync(join(dir, 'svg')).sort();
    assert.deepEqual(files, charts(report).map((c) => `${c.name}.svg`).sort());
    assert.equal(readFileSync(join(dir, 'svg', 'memory.svg'), 'utf8'), `${charts(report).at(-1)!.svg}\n`);

    // a scenario measured again: the later run's figures count
    const again = { ...part(['idle']), results: part(['idle']).results.map((r) => ({ ...r, messagesPerSecond: r.messagesPerSecond + 1 })) };
    writeFileSync(join(dir, 'again.json'), JSON.stringify(again));
    const twice = await runNode([cli, 'bench', 'servers', '--json', '--from', `${join(dir, 'a.json')},${join(dir, 'again.json')}`]);
    assert.equal(twice.code, 0, twice.stderr);
    const merged = JSON.parse(twice.stdout) as BenchReport;
    assert.deepEqual(merged.scenarios.map((s) => s.name), ['idle', 'churn']);
    assert.deepEqual(merged.results.filter((r) => r.scenario === 'idle'), again.results);
    assert.equal(merged.results.length, again.results.length * 2);
    writeFileSync(join(dir, 'c.json'), '{"models": []}');
    const notARun = await runNode([cli, 'bench', 'servers', '--from', join(dir, 'c.json')]);
    assert.equal(notARun.code, 1);
    assert.match(notARun.stderr, /c\.json is not the output of weft bench servers --json/);
    const measuring = await runNode([cli, 'bench', 'servers', '--from', join(dir, 'b.json'), '--quick']);
    assert.equal(measuring.code, 2);
    assert.match(measuring.stderr, /--from measures nothing, so --quick cannot apply/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs Debian's chromium headless with a time limit and a profile of its own; resolves with stdout. */
function chromium(args: string[], profile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'chromium',
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', `--user-data-dir=${profile}`, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`chromium did not run (${e.message}): install it with apt-get install -y chromium, as .ci/run does`));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`chromium exited with ${code ?? signal}: ${err.slice(-2000)}`));
    });
  });
}

/** The pixels of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), as RGBA. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Uint8Array } {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length; ) {
    const len = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth 8');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels, `colour type ${data[9]}`);
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const rgba = new Uint8Array(width * height * 4);
  const prev = new Uint8Array(stride);
  const cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? cur[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter]!;
      cur[i] = (line[i]! + predictor) & 0xff;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) rgba[(y * width + x) * 4 + k] = cur[x * channels + k]!;
      rgba[(y * width + x) * 4 + 3] = channels === 4 ? cur[x * channels + 3]! : 255;
    }
    prev.set(cur);
  }
  return { width, height, rgba };
}

test('the page renders in headless Chromium: a screenshot that is not blank, the DOM with every chart title and model row', async () => {
  const report = fixedReport();
  const dir = mkdtempSync(join(tmpdir(), 'weft-report-'));
  try {
    const page = join(dir, 'report.html');
    writeFileSync(page, renderHtml(report));
    const shot = join(dir, 'shot.png');
    const [, dom] = await Promise.all([
      chromium(['--hide-scrollbars', '--window-size=1360,1400', `--screenshot=${shot}`, `file://${page}`], join(dir, 'profile-a')),
      chromium(['--dump-dom', `file://${page}`], join(dir, 'profile-b')),
    ]);
    const { width, height, rgba } = decodePng(readFileSync(shot));
    assert.deepEqual([width, height], [1360, 1400]);
    let inked = 0;
    const colours = new Set<number>();
    for (let i = 0; i < rgba.length; i += 4) {
      const [r, g, b] = [rgba[i]!, rgba[i + 1]!, rgba[i + 2]!];
      if (r < 200 || g < 200 || b < 200) inked++;
      colours.add((r << 16) | (g << 8) | b);
    }
    assert.ok(inked / (width * height) > 0.02, `only ${((inked / (width * height)) * 100).toFixed(2)}% of the screenshot is not near white`);
    assert.ok(colours.size > 50, `${colours.size} colours`);
    // the bars of the first chart are drawn: the palette's solid colours are on screen
    const near = (hex: number): boolean => {
      for (const c of colours) {
        if (Math.abs((c >> 16) - (hex >> 16)) <= 3 && Math.abs(((c >> 8) & 255) - ((hex >> 8) & 255)) <= 3 && Math.abs((c & 255) - (hex & 255)) <= 3) return true;
      }
      return false;
    };
    for (const hex of [0x0072b2, 0xe69f00, 0x009e73, 0xd55e00]) assert.ok(near(hex), `colour #${hex.toString(16).padStart(6, '0')} not on screen`);

    const titles = chartTitles(report);
    assert.equal(titles.length, SCENARIOS.length * 2 + 1, 'a bar chart and a CDF per scenario, and the memory chart');
    for (const title of titles) {
      assert.ok(dom.includes(`<figcaption>${title.replace(/&/g, '&amp;')}</figcaption>`), `chart "${title}" is in the DOM`);
    }
    for (const model of report.models) {
      assert.equal(dom.match(new RegExp(`<tr data-model="${model}">`, 'g'))?.length, SCENARIOS.length, `${model}'s rows`);
      assert.ok(dom.includes(`<strong>${model}</strong>:`), `${model}'s paragraph`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
