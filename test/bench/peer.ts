// The "afternoon alternative" to Herald for the benchmark: a bare pg-boss 12 queue with
// LISTEN/NOTIFY and batched workers that sign and POST with undici, recording nothing.
// Run as a child process by run.ts: node test/bench/peer.ts <databaseUrl> <concurrency>
import { createHmac } from 'node:crypto';
import { type Job, PgBoss } from 'pg-boss';
import { Agent, request } from 'undici';

export const PEER_SCHEMA = 'peer_boss';
export const PEER_QUEUE = 'peer-deliveries';

export interface PeerJob {
  url: string;
  id: string;
  body: string;
  secret: string;
}

async function main(): Promise<void> {
  const [databaseUrl, concurrencyArg] = process.argv.slice(2);
  const concurrency = Number(concurrencyArg ?? 200);
  const boss = new PgBoss({ connectionString: databaseUrl, schema: PEER_SCHEMA, useListenNotify: true, max: 10 });
  await boss.start();
  await boss.createQueue(PEER_QUEUE, { notify: true });
  const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
  const keys = new Map<string, Buffer>();

  const send = async (job: PeerJob) => {
    let key = keys.get(job.secret);
    if (!key) {
      key = Buffer.from(job.secret.slice(6), 'base64');
      keys.set(job.secret, key);
    }
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = createHmac('sha256', key).update(`${job.id}.${timestamp}.${job.body}`).digest('base64');
    const res = await request(job.url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'webhook-id': job.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': `v1,${signature}`,
      },
      body: job.body,
    });
    await res.body.dump();
    if (res.statusCode >= 300) throw new Error(`status ${res.statusCode}`);
  };

  // Several batch workers so the HTTP concurrency is `concurrency` in all.
  const batchSize = 50;
  const workers = Math.max(1, Math.round(concurrency / batchSize));
  await boss.work<PeerJob>(
    PEER_QUEUE,
    { batchSize, localConcurrency: workers, pollingIntervalSeconds: 0.5, burstWhenBatchFull: true },
    async (jobs: Job<PeerJob>[]) => {
      await Promise.all(jobs.map((job) => send(job.data)));
    },
  );
  process.stdout.write('peer ready\n');
  process.on('SIGTERM', () => {
    void boss.stop({ graceful: false }).finally(() => process.exit(0));
  });
}

if (import.meta.main) await main();
