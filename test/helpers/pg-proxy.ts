import { connect, createServer, type Socket } from 'node:net';

export interface PgProxy {
  port: number;
  /**
   * From now on, a client that closes its connection (sends Terminate) is answered as a
   * PostgreSQL shutting down answers it at that moment: `FATAL 57P01 terminating connection due to
   * administrator command`, then the connection is closed.
   */
  terminateOnClose(): void;
  close(): Promise<void>;
}

/** ErrorResponse: FATAL 57P01, as PostgreSQL sends to each session when it is stopped (fast shutdown). */
function adminShutdownMessage(): Buffer {
  const fields = Buffer.concat([
    ...[
      ['S', 'FATAL'],
      ['V', 'FATAL'],
      ['C', '57P01'],
      ['M', 'terminating connection due to administrator command'],
    ].map(([code, value]) => Buffer.from(`${code}${value}\0`, 'utf8')),
    Buffer.from([0]),
  ]);
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([header, fields]);
}

/**
 * A TCP proxy in front of a PostgreSQL server that reads the client's side of the protocol, so
 * that it can turn a client's clean close into the race a stopping server produces: the server's
 * FATAL arriving after the client has decided to close. Deterministic, where stopping a real
 * server a few milliseconds after a client begins to close hits that window only sometimes.
 */
export async function startPgProxy(target: { host: string; port: number }): Promise<PgProxy> {
  let terminating = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    upstream.on('data', (chunk) => client.write(chunk));
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());
    // The client's messages: the first (startup) has no type byte, the rest are type + length.
    let pending = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const offset = started ? 1 : 0;
        if (pending.length < offset + 4) return;
        const length = offset + pending.readInt32BE(offset);
        if (pending.length < length) return;
        const message = pending.subarray(0, length);
        pending = pending.subarray(length);
        const isStartup = !started;
        // An SSLRequest (80877103) is answered with one byte and followed by the real startup.
        if (isStartup && message.readInt32BE(4) !== 80877103) started = true;
        if (!isStartup && message[0] === 0x58 /* Terminate */ && terminating) {
          client.end(adminShutdownMessage());
          upstream.destroy();
          return;
        }
        upstream.write(message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    terminateOnClose() {
      terminating = true;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
