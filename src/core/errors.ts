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

  constructor(code: ErrorCode, message: string, extra: Record<string, unknown> = {}) {
    super(message, {
      extensions: { code, ...extra, http: { status: ERROR_STATUS[code] } },
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
