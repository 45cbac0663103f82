import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A delivery profile file, as in examples/profiles/ (the bench's --delivery-profile). */
export interface DeliveryProfileFile {
  name: string;
  description?: string;
  definition: {
    heraldHeaders?: boolean;
    signature?: { header: string; signs: string; key: string; encoding: string; format: string } | null;
  };
}

/** Checks one request's signature; throws if it does not verify. */
export type SignatureVerifier = (body: string, headers: IncomingHttpHeaders) => void;

/**
 * How the receiver checks a path's signatures: the `standardwebhooks` library for Herald's own
 * contract; for a delivery profile, HMAC-SHA256 of its signed content written in its format
 * (profiles signing the body or `{t}.{body}` with the secret's bytes, as those of examples/profiles/
 * do; null for others, which are then not checked).
 */
export function signatureVerifier(
  secret: string | null,
  signature: DeliveryProfileFile['definition']['signature'] | undefined,
): SignatureVerifier | null {
  if (!secret) return null;
  if (signature === undefined) {
    const verifier = new Webhook(secret);
    return (body, headers) => void verifier.verify(body, headers as Record<string, string>);
  }
  if (signature?.key !== 'SECRET_BYTES' || signature.signs === 'ID_DOT_TIMESTAMP_DOT_BODY') return null;
  const encoding = signature.encoding === 'HEX' ? 'hex' : 'base64';
  return (body, headers) => {
    const value = String(headers[signature.header.toLowerCase()] ?? '');
    const t = /(?:^|,)t=(\d+)/.exec(value)?.[1];
    const hmac = createHmac('sha256', secret);
    if (signature.signs === 'TIMESTAMP_DOT_BODY') hmac.update(`${t}.`);
    if (!value.includes(hmac.update(body).digest(encoding))) throw new Error('signature mismatch');
  };
}

/**
 * The benchmark's endpoint: answers 200 at once (HTTP/1.1 keep-alive), counts unique
 * deliveries per path (by `webhook-id`, or by body when a delivery profile leaves Herald's
 * headers out: the body holds the event's id), records publish→receipt latency from
 * `data.sentAt`, and verifies the signature of every 50th request.
 */
export interface BenchReceiver {
  url: string;
  /** path → set of webhook-ids received */
  received: Map<string, Set<string>>;
  latencies: number[];
  requests: number;
  signatureFailures: number;
  verified: number;
  /** Paths whose requests hang until the client gives up. */
  hangPaths: Set<string>;
  /** How each path's signatures are checked (none: not checked). */
  verifiers: Map<string, SignatureVerifier | null>;
  reset(): void;
  uniqueCount(filter?: (path: string) => boolean): number;
  close(): Promise<void>;
}

export async function startBenchReceiver(): Promise<BenchReceiver> {
  const state: BenchReceiver = {
    url: '',
    received: new Map(),
    latencies: [],
    requests: 0,
    signatureFailures: 0,
    verified: 0,
    hangPaths: new Set(),
    verifiers: new Map(),
    reset() {
      state.received = new Map();
      state.latencies = [];
      state.requests = 0;
      state.signatureFailures = 0;
      state.verified = 0;
    },
    uniqueCount(filter) {
      let n = 0;
      for (const [path, ids] of state.received) if (!filter || filter(path)) n += ids.size;
      return n;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server: Server = createServer({ keepAliveTimeout: 60_000 }, (req: IncomingMessage, res) => {
    const path = req.url ?? '/';
    if (state.hangPaths.has(path)) return; // never answers; the client times out
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = Date.now();
      const body = Buffer.concat(chunks).toString('utf8');
      state.requests++;
      const id = String(req.headers['webhook-id'] ?? body);
      let ids = state.received.get(path);
      if (!ids) {
        ids = new Set();
        state.received.set(path, ids);
      }
      const first = !ids.has(id);
      ids.add(id);
      if (first) {
        const sentAt = /"sentAt":(\d+)/.exec(body);
        if (sentAt) state.latencies.push(now - Number(sentAt[1]));
      }
      const verifier = state.verifiers.get(path);
      if (verifier && state.requests % 50 === 0) {
        try {
          verifier(body, req.headers);
          state.verified++;
        } catch {
          state.signatureFailures++;
        }
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function latencySummary(latencies: number[]): { p50Ms: number; p95Ms: number; p99Ms: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), p99Ms: percentile(sorted, 99) };
}
