import { GraphQLError } from 'graphql';

/** The error codes of DESIGN.md with the HTTP status each one answers with. */
export const ERROR_STATUS = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 200,
  VALIDATION_ERROR: 422,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  /** Not in DESIGN.md's table: the database cannot be reached; nothing was stored, retry. */
  SERVICE_UNAVAILABLE: 503,
  /** Not in DESIGN.md's table: over the depth, alias, token or cost limit; refused before it ran. */
  QUERY_TOO_COMPLEX: 400,
  /** Not in DESIGN.md's table: a simple (form-like) request without a CSRF-preventing header. */
  CSRF_REFUSED: 403,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface FieldError {
  field: string;
  message: string;
}

/**
 * An error a client can act on. It carries its code from where it is raised to the
 * GraphQL response; yoga reads `extensions.http.status` for the HTTP status and strips it.
 */
export class HeraldError extends GraphQLError {
  readonly code: ErrorCode;

  /** `headers` go on the HTTP response (e.g. `retry-after`). */
  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) {
    super(message, {
      extensions: { code, ...extra, http: { status: ERROR_STATUS[code], ...(headers && { headers }) } },
    });
    this.code = code;
    this.name = 'HeraldError';
  }
}

export function validationError(fields: FieldError[]): HeraldError {
  const message = fields.map((f) => `${f.field}: ${f.message}`).join('; ');
  return new HeraldError('VALIDATION_ERROR', `Invalid input: ${message}`, { fields });
}

export function notFound(what: string, id: string): HeraldError {
  return new HeraldError('NOT_FOUND', `${what} ${id} not found`);
}

/** Collects field errors during validation so a client sees all of them at once. */
export class FieldErrors {
  readonly list: FieldError[] = [];

  add(field: string, message: string): void {
    this.list.push({ field, message });
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw validationError(this.list);
  }
}

/** PostgreSQL error codes of a lost or refused connection (class 08, and shutdown/startup). */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|terminating connection|Connection ended|timeout exceeded when trying to connect|database system is (starting up|shutting down)|Client has encountered a connection error/i;

/** Whether an error (or one it wraps) means the database could not be reached. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 6; depth++) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    e = (e as { originalError?: unknown }).originalError ?? (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A start-up failure Herald can explain. Its message is one line that names the cause and the
 * way out (what to check or change, and the setting involved); the CLI prints it as
 * `herald: <message>` and exits 1, never with a stack trace.
 */
export class StartupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StartupError';
  }
}
