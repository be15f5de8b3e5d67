// registerType (Python's copyreg): registered classes cross queues, pipes,
// pools and the manager as themselves, in both contexts; unregistered ones are
// refused with the fix named, on whichever side lacks the registration.
import assert from 'node:assert/strict';
import { types } from 'node:util';
import { after, describe, test } from 'node:test';
import { Pipe, Pool, Process, Queue, UnsendableError, ValueError, registerType } from 'weft';
import {
  Money, ParentOnly, Point, ValidationError, echoPipe, echoQueue, echoTask, makeUnregistered, validate,
} from './fixtures/copyreg.js';
import { trackManagers } from './started.js';
import { dumps, loads } from '../../src/internals.js';

registerType(ParentOnly);
const startManager = trackManagers();

describe('registerType in one realm', () => {
  test('a registered instance comes back as its class, with its methods and state', () => {
    const p = loads(dumps(new Point(3, 4))) as Point;
    assert.ok(p instanceof Point);
    assert.equal(p.norm(), 5);
    assert.deepEqual({ ...p }, { x: 3, y: 4 });
  });

  test('reduce and rebuild carry private state', () => {
    const m = loads(dumps({ price: new Money(1999n) })) as { price: Money };
    assert.ok(m.price instanceof Money);
    assert.equal(m.price.cents, 1999n);
  });

  test('shared references stay shared, and a default-rebuilt instance may contain itself', () => {
    const a = new Point(1, 1);
    const [x, y] = loads(dumps([a, a])) as [Point, Point];
    assert.equal(x, y);
    const self = new Point(0, 0) as Point & { me?: Point };
    self.me = self;
    const back = loads(dumps(self)) as Point & { me?: Point };
    assert.equal(back.me, back);
  });

  test('an instance whose own rebuild would need itself is refused on arrival, not looped on', () => {
    class Box {
      constructor(public inner: unknown) {}
    }
    registerType(Box, { reduce: (b) => ({ inner: b.inner }), rebuild: (s: { inner: unknown }) => new Box(s.inner) });
    const box = new Box(null);
    box.inner = box;
    assert.throws(() => loads(dumps(box)), /contains itself/);
  });

  test('a registered error keeps its class, message, stack, cause and fields', () => {
    const sent = new ValidationError('name is required', 'name', { cause: new Point(1, 2) });
    const got = loads(dumps(sent)) as ValidationError;
    assert.ok(got instanceof ValidationError);
    assert.ok(types.isNativeError(got));
    assert.equal(got.message, 'name is required');
    assert.equal(got.name, 'ValidationError');
    assert.equal(got.field, 'name');
    assert.equal(got.stack, sent.stack);
    assert.ok(got.cause instanceof Point);
  });

  test('an unregistered class is refused by the sender, naming registerType', () => {
    class Unregistered {}
    assert.throws(() => dumps({ a: [new Unregistered()] }), (err: Error) =>
      err instanceof UnsendableError && /a Unregistered at obj\.a\[0\]/.test(err.message) && /registerType\(Unregistered\)/.test(err.message));
  });

  test('a name taken by another class is a clear error; the same class again is fine', () => {
    registerType(Point);
    const Other = { Point: class {} }.Point;
    assert.throws(() => registerType(Other), (err: Error) => err instanceof ValueError && /'Point' is taken by another class; pass \{ name \}/.test(err.message));
    registerType(Other, { name: 'other.Point' });
    assert.ok(loads(dumps(new Other())) instanceof Other);
    assert.ok(loads(dumps(new Point(0, 0))) instanceof Point);
  });

  test('what is not a class of its own is refused', () => {
    assert.throws(() => registerType(Map), /weft carries Map values already/);
    assert.throws(() => registerType(TypeError), /weft carries TypeError values already/);
    assert.throws(() => registerType(Uint8Array), /weft carries Uint8Array values already/);
    assert.throws(() => registerType((() => 1) as unknown as new () => object), /registerType needs a class/);
    assert.throws(() => registerType(class {}), /has no name; pass \{ name \}/);
  });

  test('a rebuild that returns no object is an error naming the class', () => {
    class Bad {}
    registerType(Bad, { reduce: () => 1, rebuild: () => null as unknown as Bad });
    assert.throws(() => loads(dumps(new Bad())), /rebuild registered for class 'Bad' returned null/);
  });
});

for (const context of ['process', 'thread'] as const) {
  describe(`registerType across a ${context}`, () => {
    test('a Queue carries registered instances both ways', async () => {
      const inbox = new Queue<unknown>();
      const outbox = new Queue<[string, unknown]>();
      const p = new Process({ target: echoQueue, args: [inbox, outbox], context });
      p.start();
      await inbox.put([new Point(3, 4), new Money(5n)]);
      const [seen, back] = await outbox.get({ timeout: 20 });
      assert.equal(seen, '[Point(3,4) norm=5, Money(5)]');
      const [point, money] = back as [Point, Money];
      assert.ok(point instanceof Point && money instanceof Money);
      assert.equal(money.cents, 5n);
      await p.join();
      assert.equal(p.exitCode, 0);
    });

    test('a Pipe carries registered instances both ways', async () => {
      const [mine, theirs] = Pipe();
      const p = new Process({ target: echoPipe, args: [theirs], context });
      p.start();
      await mine.send(new ValidationError('bad', 'f'));
      const [seen, back] = (await mine.recv()) as [string, ValidationError];
      assert.equal(seen, 'ValidationError(bad, f)');
      assert.ok(back instanceof ValidationError);
      await p.join();
    });

    test('a child that did not register the class says which class and how to fix it', async () => {
      const inbox = new Queue<unknown>();
      const outbox = new Queue<[string, unknown]>();
      const p = new Process({ target: echoQueue, args: [inbox, outbox], context });
      p.start();
      await inbox.put(new ParentOnly('x'));
      const [kind, message] = await outbox.get({ timeout: 20 });
      assert.equal(kind, 'error');
      assert.match(String(message), /class 'ParentOnly', which this process \(or thread\) did not register: call registerType\(ParentOnly\)/);
      await p.join();
    });

    test('a Pool carries them as arguments and results, and a thrown registered error is instanceof its class', async () => {
      await using pool = new Pool({ processes: 1, context });
      const [seen, back] = (await pool.apply(echoTask, [new Point(6, 8)])) as [string, Point];
      assert.equal(seen, 'Point(6,8) norm=10');
      assert.ok(back instanceof Point);
      const many = await pool.map(echoTask, [new Money(1n), new Money(2n)]);
      assert.deepEqual(many.map((r) => (r as [string, Money])[1].cents), [1n, 2n]);
      await assert.rejects(pool.apply(validate, ['email']), (err: unknown) => {
        assert.ok(err instanceof ValidationError);
        assert.equal(err.message, 'email is required');
        assert.equal(err.field, 'email');
        assert.match(err.stack ?? '', /fixtures\/copyreg\.js/); // the worker's stack
        assert.ok(err.cause instanceof Point);
        return true;
      });
      await assert.rejects(pool.apply(makeUnregistered, []), (err: Error) => err instanceof UnsendableError && /registerType\(Local\)/.test(err.message));
    });
  });
}

describe('registerType through the Manager', () => {
  const managers: { shutdown(): Promise<void> }[] = [];
  after(async () => {
    for (const m of managers) await m.shutdown();
  });

  test('a dict and a list hand registered instances back as their class; the server needs no registration', async () => {
    const manager = await startManager();
    managers.push(manager);
    const d = await manager.dict<string, unknown>();
    await d.set('p', new Point(3, 4));
    await d.set('err', new ValidationError('late', 'due', { cause: new Money(7n) }));
    const p = (await d.get('p')) as Point;
    assert.ok(p instanceof Point);
    assert.equal(p.norm(), 5);
    const err = (await d.get('err')) as ValidationError;
    assert.ok(err instanceof ValidationError);
    assert.equal(err.field, 'due');
    assert.ok(err.cause instanceof Money && err.cause.cents === 7n);
    const l = await manager.list<unknown>();
    await l.append(new Money(42n));
    const m = (await l.get(0)) as Money;
    assert.ok(m instanceof Money);
    assert.equal(m.cents, 42n);
  });
});
