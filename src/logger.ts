import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * JSON logs on stdout. Writes are asynchronous: under load, lines written while a write is in
 * flight go out together (one line per attempt would otherwise be one syscall each); pino
 * flushes what is left when the process exits.
 */
export function createLogger(level: string): Logger {
  const options = {
    level,
    base: { service: 'herald' },
    // A second line of defence: nothing logs these fields on purpose. Top-level paths only;
    // wildcard paths cost measurably on the per-attempt log line.
    redact: { paths: ['authorization', 'secret', 'password', 'token'], censor: '[redacted]' },
  };
  return pino(options, pino.destination({ dest: 1, sync: false }));
}
