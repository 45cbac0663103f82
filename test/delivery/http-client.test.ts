import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryClient, DeliveryClientOptions, OutboundRequest } from '../../src/delivery/http-client.ts';
import { createDeliveryClient } from '../../src/delivery/http-client.ts';
import type { Receiver } from '../helpers/receiver.ts';
import { startReceiver } from '../helpers/receiver.ts';
import { createTestCa } from '../helpers/tls.ts';

const ca = createTestCa();
const LOOPBACK = ['127.0.0.0/8'];

const clients: DeliveryClient[] = [];
const receivers: Receiver[] = [];

function client(opts: DeliveryClientOptions = {}): DeliveryClient {
  const created = createDeliveryClient(opts);
  clients.push(created);
  return created;
}

async function receiver(options: Parameters<typeof startReceiver>[0] = { tls: ca }): Promise<Receiver> {
  const started = await startReceiver(options);
  receivers.push(started);
  return started;
}

function post(url: string, extra: Partial<OutboundRequest> = {}): OutboundRequest {
  return { url, headers: { 'content-type': 'application/json' }, body: '{"hello":"world"}', timeoutMs: 5_000, ...extra };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('delivering', () => {
  it('POSTs over HTTPS to a receiver whose CA is passed as `ca`', async () => {
    const hook = await receiver({
      tls: ca,
      handler: (_req, res) => {
        res.setHeader('X-Multi', ['a', 'b']);
        res.writeHead(202, { 'Content-Type': 'application/json' }).end('{"received":true}');
      },
    });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(
      post(`${hook.url}/hooks/sms?tenant=1`, { headers: { 'content-type': 'application/json', 'webhook-id': 'evt_1' } }),
    );

    expect(result).toMatchObject({
      status: 202,
      body: '{"received":true}',
      bodyTruncated: false,
      error: null,
      errorMessage: null,
    });
    expect(result.headers['content-type']).toBe('application/json');
    expect(result.headers['x-multi']).toBe('a, b');
    expect(hook.requests).toHaveLength(1);
    expect(hook.requests[0]).toMatchObject({ method: 'POST', url: '/hooks/sms?tenant=1', body: '{"hello":"world"}' });
    expect(hook.requests[0].headers['webhook-id']).toBe('evt_1');
  });

  it('fails with TLS when the receiver certificate is not trusted', async () => {
    const hook = await receiver();
    const result = await client({ allowedCidrs: LOOPBACK }).send(post(hook.url));

    expect(result).toMatchObject({ status: null, error: 'TLS' });
    expect(result.errorMessage).toBeTruthy();
    expect(hook.requests).toHaveLength(0);
  });

  it('sends http:// only when allowHttp is set', async () => {
    const hook = await receiver({});

    const refused = await client({ allowedCidrs: LOOPBACK }).send(post(hook.url));
    expect(refused).toMatchObject({ status: null, error: 'INVALID_URL' });
    expect(hook.connections).toBe(0);

    const sent = await client({ allowedCidrs: LOOPBACK, allowHttp: true }).send(post(hook.url));
    expect(sent).toMatchObject({ status: 200, body: 'ok', error: null });
    expect(hook.requests).toHaveLength(1);
  });

  it('refuses URLs with user-info, other schemes, control characters and garbage as INVALID_URL', async () => {
    const hook = await receiver();
    const sender = client({ allowedCidrs: LOOPBACK, ca: ca.caPem, allowHttp: true });
    for (const url of [
      `https://user:secret@127.0.0.1:${hook.port}/`,
      `ftp://127.0.0.1:${hook.port}/`,
      'not a url',
      // Stored before URLs were checked for these: never requested as another URL than the one shown.
      `https://127.0.0.1:${hook.port}/a\tb`,
      `https://127.0.0.1:${hook.port}/hook\r\n`,
    ]) {
      const result = await sender.send(post(url));
      expect(result.error, url).toBe('INVALID_URL');
      expect(result.errorMessage, url).not.toContain('secret');
    }
    expect(hook.connections).toBe(0);
  });

  it('reports a 3xx as REDIRECT and does not follow Location', async () => {
    const hook = await receiver({
      tls: ca,
      handler: (_req, res) => res.writeHead(302, { location: '/elsewhere' }).end(),
    });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(`${hook.url}/start`));

    expect(result).toMatchObject({ status: 302, error: 'REDIRECT' });
    expect(result.headers.location).toBe('/elsewhere');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(hook.requests.map((r) => r.url)).toEqual(['/start']);
  });

  it('reports a refused connection as CONNECTION', async () => {
    const port = await closedPort();
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(`https://127.0.0.1:${port}/`));
    expect(result).toMatchObject({ status: null, error: 'CONNECTION' });
  });

  it('reports an unresolvable host as DNS', async () => {
    const result = await client({}).send(post('https://nonexistent.invalid/'));
    expect(result).toMatchObject({ status: null, error: 'DNS' });
  });

  it('passes a non-2xx status through without an error kind', async () => {
    const hook = await receiver({ tls: ca, handler: (_req, res) => res.writeHead(500).end('boom') });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url));
    expect(result).toMatchObject({ status: 500, body: 'boom', error: null });
  });
});

describe('limits', () => {
  it('keeps only the first 16 KiB of a 1 MiB response', async () => {
    const hook = await receiver({ tls: ca, handler: (_req, res) => res.writeHead(200).end('x'.repeat(1024 * 1024)) });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url));

    expect(result).toMatchObject({ status: 200, bodyTruncated: true, error: null });
    expect(result.body).toBe('x'.repeat(16 * 1024));
  });

  // Bytes that are not UTF-8 decode to U+FFFD, three bytes each, and PostgreSQL cannot store
  // NUL (replaced by U+FFFD too): the 16 KiB bound is on the bytes of the text kept.
  it.each([
    ['bytes that are not UTF-8', Buffer.alloc(20_000, 0xe9), '\uFFFD'],
    ['NUL bytes', Buffer.alloc(20_000, 0), '\uFFFD'],
    ['four-byte characters', Buffer.from('😀'.repeat(5_000)), '😀'],
  ])('keeps at most 16 KiB of UTF-8, cut between characters, of a body of %s', async (_case, body, char) => {
    const hook = await receiver({ tls: ca, handler: (_req, res) => res.writeHead(200).end(body) });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url));

    expect(result).toMatchObject({ status: 200, bodyTruncated: true, error: null });
    const bytes = Buffer.byteLength(result.body);
    expect(bytes).toBeLessThanOrEqual(16 * 1024);
    expect(bytes).toBeGreaterThan(16 * 1024 - Buffer.byteLength(char));
    expect(result.body).toBe(char.repeat(result.body.length / char.length));
  });

  it('a short body that is not UTF-8 is kept whole, NUL replaced, and not marked truncated', async () => {
    const body = Buffer.concat([Buffer.from('ok '), Buffer.from([0xe9, 0x00]), Buffer.from(' é')]);
    const hook = await receiver({ tls: ca, handler: (_req, res) => res.writeHead(200).end(body) });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url));
    expect(result).toMatchObject({ status: 200, body: 'ok \uFFFD\uFFFD é', bodyTruncated: false });
  });

  it('stops reading a huge slow body once the cap is reached', async () => {
    let written = 0;
    let closed = false;
    const hook = await receiver({
      tls: ca,
      handler: async (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.on('close', () => (closed = true));
        const chunk = Buffer.alloc(64 * 1024, 'y');
        // 50 MiB at 64 KiB every 10 ms would take about 8 s to download in full.
        while (!closed && written < 50 * 1024 * 1024) {
          written += chunk.length;
          // Honour backpressure, so only the client deciding to stop can end this early.
          const flushed = res.write(chunk);
          await new Promise((resolve) => {
            if (flushed) setTimeout(resolve, 10);
            else {
              res.once('drain', resolve);
              res.once('close', resolve);
            }
          });
        }
      },
    });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url, { timeoutMs: 10_000 }));

    expect(result).toMatchObject({ status: 200, bodyTruncated: true, error: null });
    expect(result.body).toHaveLength(16 * 1024);
    expect(result.durationMs).toBeLessThan(1_000);
    await expect.poll(() => closed).toBe(true);
    expect(written).toBeLessThan(5 * 1024 * 1024);
  });

  it('times out a receiver that never answers after about timeoutMs', async () => {
    const hook = await receiver({ tls: ca, handler: () => {} });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url, { timeoutMs: 1_000 }));

    expect(result).toMatchObject({ status: null, error: 'TIMEOUT' });
    expect(result.durationMs).toBeGreaterThanOrEqual(950);
    expect(result.durationMs).toBeLessThan(2_000);
    expect(hook.requests).toHaveLength(1);
  });

  it('a request still waiting for a connection times out on its own deadline, unsent', async () => {
    const hook = await receiver({ tls: ca, handler: () => {} });
    const oneConnection = client({ allowedCidrs: LOOPBACK, ca: ca.caPem, connectionsPerOrigin: 1 });
    const first = oneConnection.send(post(hook.url, { timeoutMs: 3_000 }));
    await expect.poll(() => hook.requests.length).toBe(1);
    const queued = await oneConnection.send(post(hook.url, { timeoutMs: 500 }));

    expect(queued).toMatchObject({ status: null, error: 'TIMEOUT' });
    expect(queued.durationMs).toBeGreaterThanOrEqual(450);
    expect(queued.durationMs).toBeLessThan(1_500);
    expect(await first).toMatchObject({ status: null, error: 'TIMEOUT' });
    expect(hook.requests).toHaveLength(1);
  });

  it("the caller's signal ends a request under way: send rejects with its reason, no outcome", async () => {
    const hook = await receiver({ tls: ca, handler: () => {} });
    const stopping = new AbortController();
    const sending = client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url, { signal: stopping.signal }));
    await expect.poll(() => hook.requests.length).toBe(1);
    const reason = new Error('worker stopping');
    stopping.abort(reason);

    await expect(sending).rejects.toBe(reason);
  });

  it('times out a body that trickles forever, keeping the status', async () => {
    const hook = await receiver({
      tls: ca,
      handler: (_req, res) => {
        res.writeHead(200);
        const timer = setInterval(() => res.write('.'), 50);
        res.on('close', () => clearInterval(timer));
      },
    });
    const result = await client({ allowedCidrs: LOOPBACK, ca: ca.caPem }).send(post(hook.url, { timeoutMs: 1_000 }));

    expect(result).toMatchObject({ status: 200, error: 'TIMEOUT' });
    expect(result.body).toMatch(/^\.+$/);
    expect(result.durationMs).toBeLessThan(2_000);
  });
});

// An interim (1xx) answer is not the endpoint's answer: an attempt that got only a 102 or 103
// before the deadline or a dropped connection has no status.
describe('interim answers', () => {
  const plain = () => client({ allowedCidrs: LOOPBACK, allowHttp: true });

  it('103 Early Hints and then nothing: TIMEOUT with no status or headers', async () => {
    const hook = await receiver({ handler: (_req, res) => res.writeEarlyHints({ link: '</style.css>; rel=preload' }) });
    const result = await plain().send(post(hook.url, { timeoutMs: 300 }));
    expect(result).toMatchObject({ status: null, error: 'TIMEOUT', headers: {} });
  });

  it('102 Processing and then a dropped connection: CONNECTION with no status', async () => {
    const hook = await receiver({
      handler: (req, res) => {
        res.writeProcessing();
        setTimeout(() => req.socket.destroy(), 50);
      },
    });
    const result = await plain().send(post(hook.url));
    expect(result).toMatchObject({ status: null, error: 'CONNECTION' });
  });

  it('103 and then the answer: the answer’s status, headers and body', async () => {
    const hook = await receiver({
      handler: (_req, res) => {
        res.writeEarlyHints({ link: '</style.css>; rel=preload' });
        setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), 20);
      },
    });
    const result = await plain().send(post(hook.url));
    expect(result).toMatchObject({ status: 200, body: 'ok', error: null });
    expect(result.headers.link).toBeUndefined();
  });
});

describe('SSRF guard', () => {
  let hook: Receiver;

  beforeAll(async () => {
    hook = await startReceiver({ tls: ca });
  });
  afterAll(() => hook.close());

  // Every form points at the receiver's port; with no allowed ranges all of them must be
  // refused before any socket opens.
  const forms = (port: number) => [
    `https://127.0.0.1:${port}/`,
    `https://127.0.0.2:${port}/`,
    `https://localhost:${port}/`,
    `https://[::1]:${port}/`,
    `https://[::ffff:127.0.0.1]:${port}/`,
    `https://[::ffff:7f00:1]:${port}/`,
    `https://[64:ff9b::7f00:1]:${port}/`,
    `https://2130706433:${port}/`,
    `https://0x7f.1:${port}/`,
    `https://0177.0.0.1:${port}/`,
    `https://127.1:${port}/`,
    `https://0.0.0.0:${port}/`,
    `https://[::]:${port}/`,
    `https://169.254.169.254:${port}/`,
    `https://10.0.0.1:${port}/`,
    `https://192.168.0.1:${port}/`,
    `https://100.64.0.1:${port}/`,
  ];

  it('refuses every blocked form with BLOCKED_ADDRESS and opens no connection', async () => {
    const sender = client({ ca: ca.caPem, connectTimeoutMs: 1_000 });
    for (const url of forms(hook.port)) {
      const result = await sender.send(post(url, { timeoutMs: 1_000 }));
      expect(result.error, url).toBe('BLOCKED_ADDRESS');
      expect(result.status, url).toBeNull();
    }
    expect(hook.requests).toHaveLength(0);
    expect(hook.connections).toBe(0);
  });

  it('refuses a host when any one of its addresses is blocked', async () => {
    const sender = client({
      allowedCidrs: LOOPBACK,
      ca: ca.caPem,
      resolveHost: async () => [
        { address: '127.0.0.1', family: 4 },
        { address: '10.0.0.1', family: 4 },
      ],
    });
    const result = await sender.send(post(`https://localhost:${hook.port}/`));

    expect(result.error).toBe('BLOCKED_ADDRESS');
    expect(result.errorMessage).toContain('10.0.0.1');
    expect(hook.connections).toBe(0);
  });
});

describe('address resolution', () => {
  it('connects to the address it checked and verifies TLS against the hostname', async () => {
    const hook = await receiver();
    const lookups: string[] = [];
    const sender = client({
      allowedCidrs: LOOPBACK,
      ca: ca.caPem,
      resolveHost: async (hostname) => {
        lookups.push(hostname);
        return [{ address: '127.0.0.1', family: 4 }];
      },
    });

    const first = await sender.send(post(`https://localhost:${hook.port}/a`));
    expect(lookups).toEqual(['localhost']);
    const second = await sender.send(post(`https://localhost:${hook.port}/b`));

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(hook.requests.map((r) => r.servername)).toEqual(['localhost', 'localhost']);
    expect(hook.requests[0].headers.host).toBe(`localhost:${hook.port}`);
    // Exactly one resolution per connection (undici may open a second one or reuse the first):
    // the address a socket connects to is always the one that was checked.
    expect(lookups).toHaveLength(hook.connections);
  });

  it('fails with TLS when the certificate does not name the hostname, even though it names the IP', async () => {
    const hook = await receiver();
    const sender = client({
      allowedCidrs: LOOPBACK,
      ca: ca.caPem,
      resolveHost: async () => [{ address: '127.0.0.1', family: 4 }],
    });
    const result = await sender.send(post(`https://hooks.herald.test:${hook.port}/`));

    expect(result.error).toBe('TLS');
    expect(hook.requests).toHaveLength(0);
  });
});

describe('trust store', () => {
  // NODE_EXTRA_CA_CERTS is read once at process start, so these run a child Node process.
  const clientModule = fileURLToPath(new URL('../../src/delivery/http-client.ts', import.meta.url));

  async function sendFromChild(url: string, options: DeliveryClientOptions, env: Record<string, string>) {
    const script = `
      import { createDeliveryClient } from ${JSON.stringify(clientModule)};
      const client = createDeliveryClient(${JSON.stringify(options)});
      const result = await client.send({ url: ${JSON.stringify(url)}, headers: {}, body: '{}', timeoutMs: 5000 });
      await client.close();
      process.stdout.write(JSON.stringify(result));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, ...env },
    });
    return JSON.parse(stdout);
  }

  it('trusts NODE_EXTRA_CA_CERTS, alone and together with the `ca` option', async () => {
    const hook = await receiver();
    const other = createTestCa(join(dirname(ca.caPath), 'other-ca'));
    const env = { NODE_EXTRA_CA_CERTS: ca.caPath };

    expect(await sendFromChild(hook.url, { allowedCidrs: LOOPBACK }, env)).toMatchObject({ status: 200, error: null });
    expect(await sendFromChild(hook.url, { allowedCidrs: LOOPBACK, ca: other.caPem }, env)).toMatchObject({
      status: 200,
      error: null,
    });
    expect(await sendFromChild(hook.url, { allowedCidrs: LOOPBACK, ca: other.caPem }, {})).toMatchObject({
      error: 'TLS',
    });
  });
});

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
