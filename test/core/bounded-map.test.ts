import { expect, test } from 'vitest';
import { BoundedMap } from '../../src/core/bounded-map.ts';

test('a bounded cache never holds more than its maximum, and updating a held key keeps the others', () => {
  const cache = new BoundedMap<string, number>(3);
  for (const k of ['a', 'b', 'c']) cache.set(k, 1);
  cache.set('b', 2); // a held key: nothing dropped
  expect([...cache]).toEqual([
    ['a', 1],
    ['b', 2],
    ['c', 1],
  ]);
  cache.set('d', 1); // a fourth key: emptied first
  expect([...cache]).toEqual([['d', 1]]);
  for (let i = 0; i < 100; i++) {
    cache.set(`k${i}`, i);
    expect(cache.size).toBeLessThanOrEqual(3);
  }
});
