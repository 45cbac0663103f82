import { expect, test } from 'vitest';
import { Lanes } from '../../src/delivery/lanes.ts';

/** Tasks that finish when the test says so. */
function controlled() {
  const running = new Map<string, () => void>();
  const lanes = new Lanes<string>(3, (item) => new Promise<void>((resolve) => running.set(item, resolve)));
  const finish = async (item: string) => {
    running.get(item)!();
    running.delete(item);
    await new Promise((r) => setImmediate(r));
  };
  return { lanes, running, finish };
}

test('at most `limit` per key and `globalLimit` in all; a finished task lets the next one start', async () => {
  const { lanes, running, finish } = controlled();
  for (const item of ['a1', 'a2', 'a3']) lanes.push('a', 2, item);
  for (const item of ['b1', 'b2']) lanes.push('b', 2, item);
  expect([...running.keys()]).toEqual(['a1', 'a2', 'b1']); // a at its limit of 2, 3 in all
  expect(lanes.held).toBe(5);
  expect(lanes.waiting('a')).toBe(1);
  await finish('a1');
  expect([...running.keys()].sort()).toEqual(['a2', 'a3', 'b1']);
  expect(lanes.held).toBe(4);
});

test('belowCapacity waits while more than the threshold could start; idle resolves when all is done', async () => {
  const { lanes, running, finish } = controlled();
  for (let i = 0; i < 6; i++) lanes.push(`k${i}`, 1, `t${i}`); // 6 lanes, 3 running, 3 startable
  let below = false;
  void lanes.belowCapacity(3).then(() => (below = true));
  await new Promise((r) => setImmediate(r));
  expect(below).toBe(false);
  await finish('t0'); // t3 starts: 2 startable left
  expect(below).toBe(true);
  let idle = false;
  void lanes.idle().then(() => (idle = true));
  for (const item of ['t1', 't2', 't3', 't4', 't5']) {
    await new Promise((r) => setImmediate(r));
    if (running.has(item)) await finish(item);
  }
  while (running.size > 0) await finish([...running.keys()][0]);
  expect(lanes.held).toBe(0);
  expect(idle).toBe(true);
});

test('drainWaiting hands back what has not started; running tasks finish', async () => {
  const { lanes, running, finish } = controlled();
  for (const item of ['a1', 'a2', 'a3']) lanes.push('a', 1, item);
  expect(lanes.drainWaiting()).toEqual(['a2', 'a3']);
  expect(lanes.held).toBe(1);
  await finish('a1');
  expect(running.size).toBe(0);
  expect(lanes.held).toBe(0);
});
