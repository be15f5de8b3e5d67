/**
 * examples/13-manager.ts (the seed's Manager program) runs, exits 0 by itself and prints what the seed describes.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runNode } from '../helpers/run.js';

const example = fileURLToPath(new URL('../../examples/13-manager.js', import.meta.url));

for (const tour of [false, true]) {
  test(`examples/13-manager${tour ? ' (WEFT_TOUR=1)' : ''}: ten processes share a dict and a list`, async () => {
    const { code, stdout, stderr } = await runNode([example], { env: tour ? { WEFT_TOUR: '1' } : {}, timeout: 30 });
    assert.equal(code, 0, stderr);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 12, stdout);
    const lists = lines.slice(0, 10).map((line) => JSON.parse(line) as number[]);
    const finalDict = lines[10]!;
    const finalList = JSON.parse(lines[11]!) as number[];
    assert.equal(finalList.length, 10);
    assert.equal(new Set(finalList).size, 10);
    // Each child printed the list after its own append: its pid is in it, and the lists only grow.
    for (const l of lists) assert.deepEqual(finalList.slice(0, l.length), l);
    assert.deepEqual(lists.map((l) => l.length).sort((a, b) => a - b).at(-1), 10);
    const pairs = [...finalDict.matchAll(/(\d+): (\d+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    assert.equal(pairs.length, 10);
    for (const [k, v] of pairs) assert.equal(k, v);
    assert.deepEqual(pairs.map(([k]) => k).sort(), [...finalList].sort());
  });
}
