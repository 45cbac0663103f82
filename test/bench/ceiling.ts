// The benchmark's HTTP ceiling: sign and POST the same payloads with the same concurrency and
// nothing else, in its own process (as Herald and the peer are). Run by run.ts:
//   node test/bench/ceiling.ts <receiverUrl> <count> <concurrency> <webhooks> <first> <path>
// It warms up (`concurrency` × 5 requests under `<path without its last />-warm-up/`, opening
// its connections and compiling the hot code), prints `ready`, waits for a line on stdin, then
// POSTs events `first` … `first + count - 1` to `<path>w<n>` and prints one JSON line:
// { startedMs, endedMs, cpuSeconds } (epoch ms; its CPU from the go, measured here: it may
// have exited before the run reads /proc). Several of these share a run's events, each from its own
// `first`, and start together on the one go.
import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { Agent, request } from 'undici';

const [receiverUrl, countArg, concurrencyArg, webhooksArg, firstArg, pathPrefix] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg);
const webhooks = Number(webhooksArg);
const first = Number(firstArg);
const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
const key = randomBytes(32);

/** POSTs events `from` … `from + n - 1`, `concurrency` at a time, under `prefix`. */
async function post(from: number, n: number, prefix: string): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < n) {
      const i = from + next++;
      const id = `evt_${i}`;
      const body = JSON.stringify({
        id,
        type: 'message.delivered',
        timestamp: new Date().toISOString(),
        tenantId: 'ten_bench',
        channel: 'g1',
        data: { seq: i, sentAt: Date.now(), to: '+15550100', status: 'delivered' },
      });
      const ts = Math.floor(Date.now() / 1000);
      const signature = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64');
      const res = await request(`${receiverUrl}${prefix}w${i % webhooks}`, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'content-type': 'application/json',
          'webhook-id': id,
          'webhook-timestamp': String(ts),
          'webhook-signature': `v1,${signature}`,
        },
        body,
      });
      await res.body.dump();
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
}

await post(first, concurrency * 5, `${pathPrefix.replace(/\/$/, '')}-warm-up/`);
process.stdout.write('ready\n');
process.stdin.resume();
await once(process.stdin, 'data');
const started = Date.now();
const cpuAtStart = process.cpuUsage();
await post(first, count, pathPrefix);
const cpu = process.cpuUsage(cpuAtStart);
process.stdout.write(`${JSON.stringify({ startedMs: started, endedMs: Date.now(), cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
await agent.close();
process.exit(0);
