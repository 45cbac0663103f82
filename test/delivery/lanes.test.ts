import { expect, test } from 'vitest';
import { type Gate, Lanes } from '../../src/delivery/lanes.ts';

interface Item {
  name: string;
  priority: number;
}

/** A gate that lets `limit` tasks of a key run at once, and records what wanted more. */
function limitGate(limits: Record<string, number>) {
  const running = new Map<string, number>();
  const wanted: string[] = [];
  const gate: Gate<number> = {
    limit: (key) => limits[key] ?? 1,
    take(key) {
      const n = running.get(key) ?? 0;
      if (n >= (limits[key] ?? 1)) return null;
      running.set(key, n + 1);
      return n;
    },
    done(key) {
      running.set(key, (running.get(key) ?? 1) - 1);
    },
    wants(key) {
      wanted.push(key);
    },
  };
  return { gate, wanted, limits };
}

/** Tasks that finish when the test says so. */
function controlled(limits: Record<string, number>, globalLimit = 3) {
  const running = new Map<string, () => void>();
  const started: string[] = [];
  const { gate, wanted } = limitGate(limits);
  const lanes = new Lanes<Item, number>(
    globalLimit,
    gate,
    (item) =>
      new Promise<void>((resolve) => {
        started.push(item.name);
        running.set(item.name, resolve);
      }),
  );
  const finish = async (name: string) => {
    running.get(name)!();
    running.delete(name);
    await new Promise((r) => setImmediate(r));
  };
  const push = (key: string, name: string, priority = 1) => lanes.push(key, { name, priority });
  return { lanes, running, started, finish, push, wanted };
}

test('at most what the gate allows per key and `globalLimit` in all; a finished task lets the next one start', async () => {
  const { lanes, running, finish, push, wanted } = controlled({ a: 2, b: 2 });
  for (const item of ['a1', 'a2', 'a3']) push('a', item);
  for (const item of ['b1', 'b2']) push('b', item);
  expect([...running.keys()]).toEqual(['a1', 'a2', 'b1']); // a at its limit of 2, 3 in all
  expect(lanes.held).toBe(5);
  expect(lanes.waiting('a')).toBe(1);
  expect(lanes.running('a')).toBe(2);
  expect(wanted).toContain('a'); // the gate was told a wanted more
  await finish('a1');
  expect([...running.keys()].sort()).toEqual(['a2', 'a3', 'b1']);
  expect(lanes.held).toBe(4);
});

test('within a lane HIGH goes before NORMAL before LOW, FIFO within a priority; queued tasks are reordered by a later HIGH', async () => {
  const { started, finish, push } = controlled({ a: 1 });
  push('a', 'n1'); // starts at once
  push('a', 'n2');
  push('a', 'low', 2);
  push('a', 'n3');
  push('a', 'high', 0); // published last, waits least
  for (const name of ['n1', 'high', 'n2', 'n3']) await finish(name);
  expect(started).toEqual(['n1', 'high', 'n2', 'n3', 'low']);
});

test('across lanes, free global capacity goes to HIGH tasks first', async () => {
  const { started, finish, push } = controlled({ a: 5, b: 5 }, 1);
  push('a', 'a1'); // takes the one global place
  push('a', 'a2');
  push('a', 'a3');
  push('b', 'b-high', 0);
  await finish('a1');
  expect(started).toEqual(['a1', 'b-high']);
});

test('belowCapacity waits while more than the threshold could start; idle resolves when all is done', async () => {
  const limits = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`k${i}`, 1]));
  const { lanes, running, finish, push } = controlled(limits);
  for (let i = 0; i < 6; i++) push(`k${i}`, `t${i}`); // 6 lanes, 3 running, 3 startable
  let below = false;
  void lanes.belowCapacity(3).then(() => (below = true));
  await new Promise((r) => setImmediate(r));
  expect(below).toBe(false);
  await finish('t0'); // t3 starts: 2 startable left
  expect(below).toBe(true);
  let idle = false;
  void lanes.idle().then(() => (idle = true));
  while (running.size > 0) await finish([...running.keys()][0]);
  expect(lanes.held).toBe(0);
  expect(idle).toBe(true);
});

test('drainWaiting and takeWaiting hand back what has not started; running tasks finish', async () => {
  const { lanes, running, finish, push } = controlled({ a: 1, b: 1 });
  for (const item of ['a1', 'a2', 'a3']) push('a', item);
  for (const item of ['b1', 'b2']) push('b', item);
  expect(lanes.takeWaiting('b').map((i) => i.name)).toEqual(['b2']);
  expect(lanes.drainWaiting().map((i) => i.name)).toEqual(['a2', 'a3']);
  expect(lanes.held).toBe(2);
  await finish('a1');
  await finish('b1');
  expect(running.size).toBe(0);
  expect(lanes.held).toBe(0);
});

test('a lane its gate refused is not asked again after every other task, only once its own task ends, a task is pushed to it, or the gate calls pump()', async () => {
  // 20 lanes at their gate's limit with tasks waiting, and one lane running 200 tasks one by one:
  // before, each of those 200 finishes asked the gate again for all 20 (4 000 refused takes).
  const limits: Record<string, number> = { busy: 1 };
  for (let i = 0; i < 20; i++) limits[`full${i}`] = 1;
  const { gate, wanted } = limitGate(limits);
  const takes = new Map<string, number>();
  const counting: Gate<number> = {
    ...gate,
    take(key) {
      takes.set(key, (takes.get(key) ?? 0) + 1);
      return gate.take(key);
    },
  };
  const running = new Map<string, () => void>();
  const lanes = new Lanes<Item, number>(100, counting, (item) => new Promise<void>((resolve) => running.set(item.name, resolve)));
  const finish = async (name: string) => {
    running.get(name)!();
    running.delete(name);
    await new Promise((r) => setImmediate(r));
  };
  for (let i = 0; i < 20; i++) for (const n of [1, 2]) lanes.push(`full${i}`, { name: `full${i}-${n}`, priority: 1 });
  for (let n = 0; n < 200; n++) lanes.push('busy', { name: `busy-${n}`, priority: 1 });
  const refusedBefore = takes.get('full0')!;
  expect(refusedBefore).toBe(2); // its first task started, its second was refused
  expect(wanted.filter((k) => k === 'full0')).toHaveLength(1);
  for (let n = 0; n < 200; n++) await finish(`busy-${n}`);
  expect(takes.get('full0')).toBe(refusedBefore); // not asked again

  await finish('full0-1'); // its own task ended: asked again, and its second task starts
  expect(running.has('full0-2')).toBe(true);

  limits.full1 = 2; // the gate gives more (a raised limit, new slots) and says so
  expect(running.has('full1-2')).toBe(false);
  lanes.pump();
  expect(running.has('full1-2')).toBe(true);

  limits.full2 = 2; // a task pushed to a refused lane asks again too
  lanes.push('full2', { name: 'full2-3', priority: 1 });
  expect(running.has('full2-2')).toBe(true);
  expect(wanted.filter((k) => k === 'full3')).toHaveLength(2); // refused again at the pump() above
});
