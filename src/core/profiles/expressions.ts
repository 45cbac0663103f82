// JSONata expressions of delivery profiles: compiled once per profile version, evaluated with a
// time box. Pure: no I/O.
import jsonata from 'jsonata';

/**
 * How long one evaluation may run before it fails, in milliseconds of wall-clock time. Generous
 * at run time: a loaded machine or a garbage collection can stall a process for tens of
 * milliseconds, and a timed-out body fails its deliveries; it is there to stop a runaway
 * expression. A definition is tried with the strict bound before it is stored.
 */
export const EVALUATION_TIMEOUT_MS = 1000;
/** The bound when a definition is tried on an example event before it is stored. */
export const TRIAL_TIMEOUT_MS = 50;
/** Deepest evaluation stack (recursion) allowed. */
const MAX_DEPTH = 200;
/** Longest sequence an evaluation may build. */
const MAX_SEQUENCE = 100_000;

/**
 * Functions whose result changes from one call to the next. A body is evaluated once and its
 * bytes are signed and sent on every attempt, so it must be a function of the event alone.
 */
const NOT_IN_BODIES = new Set(['now', 'millis', 'random']);

/** A JSONata expression that could not be compiled or evaluated; `field` names it in a definition (`body`, `headers.X-Event`). */
export class ExpressionError extends Error {
  readonly field: string | undefined;
  /** The message without the field: what a caller that names the field itself shows. */
  readonly reason: string;

  constructor(reason: string, field?: string) {
    super(field ? `${field}: ${reason}` : reason);
    this.name = 'ExpressionError';
    this.field = field;
    this.reason = reason;
  }
}

/** A compiled expression, safe to evaluate concurrently. */
export interface CompiledExpression {
  readonly source: string;
  /** Evaluates over `input`; `undefined` when it selects nothing. Throws `ExpressionError`. */
  evaluate(input: object): Promise<unknown>;
}

/**
 * Compiles a JSONata expression; each evaluation is bounded by `timeoutMs` (default
 * EVALUATION_TIMEOUT_MS). With `body`, `$now()`, `$millis()` and `$random()` are refused (and
 * shadowed at run time, so `$eval` cannot reach them either). Throws `ExpressionError` with
 * JSONata's message and the character position.
 */
export function compileExpression(source: string, options: { body?: boolean; timeoutMs?: number } = {}): CompiledExpression {
  const timeout = options.timeoutMs ?? EVALUATION_TIMEOUT_MS;
  let expression: jsonata.Expression;
  try {
    expression = jsonata(source, { timeout, stack: MAX_DEPTH, sequence: MAX_SEQUENCE });
  } catch (error) {
    throw new ExpressionError(describe(error));
  }
  if (options.body) {
    const used = findVariables(expression.ast(), NOT_IN_BODIES);
    if (used) throw new ExpressionError(`$${used}() is not allowed in a body: every attempt must send the same bytes`);
    for (const name of NOT_IN_BODIES) {
      expression.registerFunction(name, () => {
        throw new ExpressionError(`$${name}() is not allowed in a body`);
      });
    }
  }
  const direct = directEvaluation(expression.ast());
  return {
    source,
    async evaluate(input) {
      if (direct) {
        const value = direct(input);
        if (value !== FALL_BACK) return value;
      }
      try {
        return await expression.evaluate(input);
      } catch (error) {
        throw new ExpressionError(describe(error, timeout));
      }
    },
  };
}

const FALL_BACK = Symbol('evaluate with JSONata');
const PLAIN_STEP = new Set(['value', 'type', 'position']);

/**
 * A direct evaluation of the commonest header expressions — a path of names (`type`,
 * `delivery.id`) or `$string()` of one — that skips JSONata's asynchronous evaluator (about
 * 5 µs each, per attempt). It answers only where the result is certain to be JSONata's: plain
 * objects along the path, and a string or a whole number for `$string`; anything else (an array
 * on the way, a fraction) falls back to JSONata.
 */
function directEvaluation(ast: jsonata.ExprNode): ((input: object) => unknown) | null {
  const names = (node: jsonata.ExprNode | undefined): string[] | null => {
    if ((node?.type as string) !== 'path' || !node?.steps?.length) return null;
    const steps = node.steps.map((step) =>
      step.type === 'name' && typeof step.value === 'string' && Object.keys(step).every((key) => PLAIN_STEP.has(key)) ? step.value : null,
    );
    return steps.every((step) => step !== null) ? (steps as string[]) : null;
  };
  const walk = (path: string[], input: object): unknown => {
    let value: unknown = input;
    for (const name of path) {
      if (Array.isArray(value)) return FALL_BACK;
      if (value === null || typeof value !== 'object') return undefined;
      value = (value as Record<string, unknown>)[name];
    }
    return Array.isArray(value) ? FALL_BACK : value;
  };
  const path = names(ast);
  if (path) return (input) => walk(path, input);
  const [argument, ...more] = ast.arguments ?? [];
  const inner =
    ast.type === 'function' && ast.procedure?.type === 'variable' && ast.procedure.value === 'string' && !more.length && names(argument);
  if (!inner) return null;
  return (input) => {
    const value = walk(inner, input);
    if (value === undefined || typeof value === 'string') return value;
    return Number.isSafeInteger(value) ? String(value) : FALL_BACK;
  };
}

/** The first variable of `names` the syntax tree refers to, if any (calls and references alike). */
function findVariables(node: unknown, names: Set<string>): string | null {
  if (Array.isArray(node)) {
    for (const item of node) {
      const found = findVariables(item, names);
      if (found) return found;
    }
    return null;
  }
  if (node === null || typeof node !== 'object') return null;
  const { type, value } = node as { type?: unknown; value?: unknown };
  if (type === 'variable' && typeof value === 'string' && names.has(value)) return value;
  for (const child of Object.values(node)) {
    const found = findVariables(child, names);
    if (found) return found;
  }
  return null;
}

/** JSONata throws plain objects `{ code, message, position }`; errors thrown inside functions pass through. */
function describe(error: unknown, timeoutMs = EVALUATION_TIMEOUT_MS): string {
  if (error instanceof ExpressionError) return error.message;
  const { message, position, code } = (error ?? {}) as { message?: unknown; position?: unknown; code?: unknown };
  const text = typeof message === 'string' && message ? message : String(error);
  if (code === 'D1012') return `evaluation took longer than ${timeoutMs} ms`;
  return typeof position === 'number' && position > 0 ? `${text} (at character ${position})` : text;
}
