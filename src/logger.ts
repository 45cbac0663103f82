import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Secrets are redacted by path as a second line of defence. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'herald' },
    redact: {
      paths: ['authorization', '*.authorization', 'secret', '*.secret', 'password', '*.password', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
