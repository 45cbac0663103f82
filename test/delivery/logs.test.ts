import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { waitUntil } from '../helpers/deliveries.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// Herald as operators run it: `herald serve` in its own process, logging JSON to stdout.
const root = fileURLToPath(new URL('../..', import.meta.url));
const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;

let child: ChildProcess;
let receiver: Receiver;
let url: string;
let stdout = '';
let stderr = '';

beforeAll(async () => {
  receiver = await startReceiver();
  const port = await freePort();
  url = `http://127.0.0.1:${port}/graphql`;
  child = spawn(`${root}node_modules/.bin/node`, ['src/cli.ts', 'serve'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: await createTestDatabase(),
      HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      HERALD_ADMIN_KEY: adminKey,
      PORT: String(port),
      HOST: '127.0.0.1',
      HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
      HERALD_ALLOW_HTTP: 'true',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  await waitUntil(() => logLines().some((l) => l.msg === 'Herald started') || child.exitCode !== null, {
    timeout: 30_000,
    message: 'Herald to start',
  });
  if (child.exitCode !== null) throw new Error(`herald exited ${child.exitCode}: ${stderr}`);
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await once(child, 'exit');
    clearTimeout(killer);
  }
  await receiver?.close();
});

async function gql(query: string, variables: Record<string, unknown>, key: string) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: any; errors?: unknown[] };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

/** Every stdout line, parsed; a line that is not JSON fails the test. */
function logLines(): Record<string, any>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

test('each attempt is one JSON log line with delivery id, webhook id, status and duration — no secrets, no payload', async () => {
  const { createTenant } = await gql('mutation { createTenant(input: { name: "logs" }) { tenant { id } apiKey } }', {}, adminKey);
  const tenantKey: string = createTenant.apiKey;
  const authToken = `auth-token-${randomBytes(8).toString('hex')}`;
  const { createWebhook } = await gql(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } secret } }',
    {
      input: {
        url: `${receiver.url}/logged`,
        events: ['*'],
        auth: { type: 'BEARER', token: authToken },
        headers: [{ name: 'x-customer', value: 'header-value-visible' }],
        retrySchedule: [1],
      },
    },
    tenantKey,
  );
  const webhookId: string = createWebhook.webhook.id;
  const signingSecret: string = createWebhook.secret;
  const marker = `payload-marker-${randomBytes(8).toString('hex')}`;
  // The first attempt fails and the second succeeds, so both outcomes are logged.
  let n = 0;
  receiver.setHandler((_req, res) => res.writeHead(n++ === 0 ? 500 : 200).end(`response-body-${marker}`));
  const { publishEvent } = await gql(
    'mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } } }',
    { input: { type: 'message.inbound', channel: 'sms', data: { text: marker, phone: '+15550100' } } },
    tenantKey,
  );
  const eventId: string = publishEvent.event.id;
  await receiver.waitFor(2, 10_000);
  const attemptLines = () => logLines().filter((l) => l.msg === 'delivery attempt' && l.eventId === eventId);
  await expect.poll(() => attemptLines().length, { timeout: 10_000 }).toBe(2);

  const { deliveries } = await gql(
    'query($id: ID!) { deliveries(filter: { eventId: $id }) { edges { node { id } } } }',
    { id: eventId },
    tenantKey,
  );
  const deliveryId: string = deliveries.edges[0].node.id;
  const [first, second] = attemptLines();
  for (const [line, status, attempt] of [
    [first, 500, 1],
    [second, 200, 2],
  ] as const) {
    expect(line).toMatchObject({ level: 30, deliveryId, webhookId, eventId, status, attempt, trigger: 'SCHEDULED' });
    expect(typeof line.durationMs).toBe('number');
    expect(typeof line.time).toBe('number');
  }
  expect(first.outcome).toBe('retry');
  expect(second.outcome).toBe('succeeded');

  const log = stdout + stderr;
  for (const secret of [signingSecret, signingSecret.slice('whsec_'.length), authToken, tenantKey, adminKey]) {
    expect(log).not.toContain(secret);
  }
  expect(log).not.toContain(marker);
  expect(log).not.toContain('+15550100');
  const signature = String(receiver.requests[0].headers['webhook-signature']);
  expect(log).not.toContain(signature.slice(3));
});

/** A loopback port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
