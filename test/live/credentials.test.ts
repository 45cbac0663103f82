import { afterEach, expect, test } from 'vitest';
import { type CredentialEnd, CredentialWatch, type ValidCredentials } from '../../src/live/credentials.ts';
import { createLogger } from '../../src/logger.ts';
import { createTenant, startTestHerald } from '../helpers/herald.ts';
import { collect, connectLive, subscribeOverSse, subscriptionsRunning } from '../helpers/live.ts';

const watches: CredentialWatch[] = [];
afterEach(() => {
  for (const w of watches.splice(0)) w.stop();
});

function watchWith(valid: ValidCredentials, checkMs?: number): CredentialWatch {
  const watch = new CredentialWatch({ valid, logger: createLogger('silent'), checkMs });
  watches.push(watch);
  return watch;
}

const allValid: ValidCredentials = async (ids) => new Set(ids);

test('a revoked message ends every watcher of that credential, in the order they were added, once', () => {
  const watch = watchWith(allValid);
  const calls: string[] = [];
  watch.watch({ id: 'key_a' }, (end) => calls.push(`connection ${end}`));
  watch.watch({ id: 'key_a' }, (end) => calls.push(`subscription ${end}`));
  watch.watch({ id: 'key_b' }, (end) => calls.push(`other ${end}`));
  expect(watch.watching).toBe(2);

  watch.receive([{ kind: 'revoked', credentialId: 'key_a' }]);
  watch.receive([{ kind: 'revoked', credentialId: 'key_a' }]);
  expect(calls).toEqual(['connection revoked', 'subscription revoked']);
  expect(watch.watching).toBe(1);
});

test('stopping to watch forgets the credential once nothing of it is open', () => {
  const watch = watchWith(allValid);
  const ended: CredentialEnd[] = [];
  const stopOne = watch.watch({ id: 'key_a' }, (end) => ended.push(end));
  const stopTwo = watch.watch({ id: 'key_a' }, (end) => ended.push(end));
  stopOne();
  expect(watch.watching).toBe(1);
  stopTwo();
  expect(watch.watching).toBe(0);
  watch.receive([{ kind: 'revoked', credentialId: 'key_a' }]);
  expect(ended).toEqual([]);
});

test('the periodic check ends the credentials no longer valid, with one query for all of them', async () => {
  const asked: string[][] = [];
  const watch = watchWith(async (ids) => {
    asked.push(ids);
    return new Set(ids.filter((id) => id !== 'key_gone'));
  }, 50);
  const ended: string[] = [];
  watch.watch({ id: 'key_gone' }, () => ended.push('key_gone'));
  watch.watch({ id: 'key_kept' }, () => ended.push('key_kept'));
  watch.start();
  await expect.poll(() => ended).toEqual(['key_gone']);
  expect(asked[0].sort()).toEqual(['key_gone', 'key_kept']);
  // The next checks ask only for the one still watched, and end nothing more.
  const checksBefore = asked.length;
  await expect.poll(() => asked.length).toBeGreaterThan(checksBefore + 1);
  expect(asked.slice(checksBefore)).toEqual(asked.slice(checksBefore).map(() => ['key_kept']));
  expect(ended).toEqual(['key_gone']);
});

test('a check that fails (the database away) ends nothing', async () => {
  const watch = watchWith(async () => {
    throw new Error('connect ECONNREFUSED');
  });
  const ended: string[] = [];
  watch.watch({ id: 'key_a' }, () => ended.push('key_a'));
  await watch.check();
  expect(ended).toEqual([]);
  expect(watch.watching).toBe(1);
});

test('an expiring credential ends at its expiry', async () => {
  const watch = watchWith(allValid);
  const ended: { end: CredentialEnd; at: number }[] = [];
  const start = Date.now();
  watch.watch({ id: 'ses_1', expiresAt: new Date(start + 200) }, (end) => ended.push({ end, at: Date.now() }));
  await expect.poll(() => ended.length).toBe(1);
  expect(ended[0].end).toBe('expired');
  // Not before its expiry (a fixed look at 100 ms would say less, and fail when the timers run late).
  expect(ended[0].at - start).toBeGreaterThanOrEqual(195);
});

test('what a key opened stops being watched when it closes by itself: nothing is left behind', async () => {
  // The watch of the Herald started below, caught as it starts.
  const started: CredentialWatch[] = [];
  const start = CredentialWatch.prototype.start;
  CredentialWatch.prototype.start = function (this: CredentialWatch) {
    started.push(this);
    return start.call(this);
  };
  const h = await startTestHerald().finally(() => {
    CredentialWatch.prototype.start = start;
  });
  try {
    const [watch] = started;
    const tenant = await createTenant(h, 'watched');
    const client = await connectLive(h.url, tenant.key);
    const subscriptions = [
      collect(client, 'subscription { deliveryUpdated { phase } }'),
      collect(client, 'subscription { webhookStatusChanged { id } }'),
    ];
    const abort = new AbortController();
    const sse = subscribeOverSse(h.url, tenant.key, { query: 'subscription { deliveryUpdated { phase } }' }, () => {}, abort.signal).catch(
      () => false,
    );
    await subscriptionsRunning(h.url, 3);
    expect(watch.watching).toBe(1);

    subscriptions[0].unsubscribe();
    abort.abort();
    await sse;
    await subscriptionsRunning(h.url, 1);
    expect(watch.watching).toBe(1); // the connection and its other subscription still hold it
    await client.dispose();
    await expect.poll(() => watch.watching).toBe(0);
  } finally {
    await h.stop();
  }
});
