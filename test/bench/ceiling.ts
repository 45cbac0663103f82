// The benchmark's HTTP ceiling: sign and POST the same payloads with the same concurrency and
// nothing else, in its own process (as Herald and the peer are). Run by run.ts:
// node test/bench/ceiling.ts <receiverUrl> <total> <concurrency> <webhooks> [first] [path]
// → prints one JSON line: { startedMs, endedMs, cpuSeconds } (epoch ms; CPU from the first request).
// Several of these share a run's total by giving each its own `first` event number.
import { createHmac, randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';

const [receiverUrl, totalArg, concurrencyArg, webhooksArg] = process.argv.slice(2);
const total = Number(totalArg);
const concurrency = Number(concurrencyArg);
const webhooks = Number(webhooksArg);
const first = Number(process.argv[6] ?? 0);
const pathPrefix = process.argv[7] ?? '/s4/';
const agent = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 60_000 });
const key = randomBytes(32);

let next = 0;
const started = Date.now();
const cpuAtStart = process.cpuUsage();
async function worker(): Promise<void> {
  while (next < total) {
    const i = first + next++;
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
    const res = await request(`${receiverUrl}${pathPrefix}w${i % webhooks}`, {
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
const cpu = process.cpuUsage(cpuAtStart);
process.stdout.write(`${JSON.stringify({ startedMs: started, endedMs: Date.now(), cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
await agent.close();
