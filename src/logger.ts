import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Secrets are redacted by path as a second line of defence. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'herald' },
    // A second line of defence: nothing logs these fields on purpose. Top-level paths only;
    // wildcard paths cost measurably on the per-attempt log line.
    redact: { paths: ['authorization', 'secret', 'password', 'token'], censor: '[redacted]' },
  });
}
