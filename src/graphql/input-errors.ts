import {
  type ASTNode,
  coerceInputValue,
  type DocumentNode,
  type GraphQLError,
  type GraphQLSchema,
  getOperationAST,
  isInputType,
  isNonNullType,
  Kind,
  typeFromAST,
  visit,
} from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { type FieldError, type HeraldError, validationError } from '../core/errors.ts';

/**
 * Input errors, in one place for every operation and transport: a value GraphQL refuses — a
 * literal in the document or a variable (a bad scalar such as a DateTime without offset or an
 * Int out of range, an unknown enum value, a missing required input field or argument, an
 * unknown input-object field) — and any string PostgreSQL cannot store (U+0000, a lone
 * surrogate), wherever it is in the input, JSON values included. Each becomes one
 * VALIDATION_ERROR (422) whose `fields` give the input path (`filter.since`, `input.url`,
 * `inputs[2].data.text`), before anything runs. A broken document (a parse error, an unknown
 * field or argument, a variable of the wrong type) stays a plain GraphQL error (400).
 */
export function useInputErrors(): Plugin {
  type Args = { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null; variableValues?: unknown };
  /**
   * Before running: strings that cannot be stored (graphql-js would accept them). After: when
   * graphql-js refused the variables (a result with errors and no `data`), the same refusal with
   * input paths. Coercing only once on the happy path keeps a 1 000-event publish cheap.
   */
  const check = (args: Args, stop: (result: { errors: GraphQLError[] }) => void) => {
    const unstorable = unstorableVariables(args.document, args.operationName, args.variableValues);
    if (unstorable) stop({ errors: [unstorable] });
    return unstorable !== null;
  };
  const explain = (args: Args, result: unknown, set: (result: { errors: GraphQLError[] }) => void) => {
    if (isAsyncIterable(result) || !(result as { errors?: unknown[] }).errors?.length || 'data' in (result as object)) return;
    const error = variableInputError(args.schema, args.document, args.operationName, args.variableValues);
    if (error) set({ errors: [error] });
  };
  return {
    // Runs on yoga's cached validation results too; the answer depends on the document only.
    onValidate:
      ({ params }) =>
      ({ result, setResult }) => {
        const errors = documentInputErrors(params.documentAST, result as readonly GraphQLError[]);
        if (errors !== result) setResult([...errors]);
      },
    onExecute: ({ args, setResultAndStopExecution }) =>
      check(args, setResultAndStopExecution) ? undefined : { onExecuteDone: ({ result, setResult }) => explain(args, result, setResult) },
    onSubscribe: ({ args, setResultAndStopExecution }) =>
      check(args, setResultAndStopExecution)
        ? undefined
        : { onSubscribeResult: ({ result, setResult }) => explain(args, result, setResult) },
  };
}

const UNSTORABLE = 'contains a character that cannot be stored (U+0000 or an unpaired surrogate)';

/** Whether PostgreSQL can store a string: text and jsonb refuse NUL, and UTF-8 has no lone surrogates. */
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');

/**
 * The validation errors of a document with its value errors and unstorable string literals
 * turned into one VALIDATION_ERROR; unchanged when the document has another kind of error (or
 * none of these).
 */
export function documentInputErrors(document: DocumentNode, errors: readonly GraphQLError[]): readonly GraphQLError[] {
  const unstorable = unstorableLiterals(document);
  if (errors.length === 0 && unstorable.length === 0) return errors;
  const fields = [...unstorable];
  for (const error of errors) {
    const field = valueErrorField(error, inputPaths(document));
    if (!field) return errors;
    fields.push(field);
  }
  return [validationError(fields)];
}

/**
 * The VALIDATION_ERROR for the variables of an operation, or null when they are all good:
 * each is coerced as graphql-js will coerce it, and its strings are checked for storability.
 */
export function variableInputError(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: unknown,
): HeraldError | null {
  const operation = getOperationAST(document, operationName);
  if (!operation?.variableDefinitions?.length) return null;
  const values = (variables && typeof variables === 'object' ? variables : {}) as Record<string, unknown>;
  const fields: FieldError[] = [];
  for (const definition of operation.variableDefinitions) {
    const name = definition.variable.name.value;
    const type = typeFromAST(schema, definition.type);
    if (!type || !isInputType(type)) continue; // the document is invalid: validation said so
    const base = inputPaths(document).ofVariable.get(name) ?? `$${name}`;
    if (!Object.hasOwn(values, name)) {
      if (isNonNullType(type) && !definition.defaultValue) fields.push({ field: base, message: `is required (${String(type)})` });
      continue;
    }
    coerceInputValue(values[name], type, (path, _value, error) => fields.push(fieldOf(base + printPath(path), error.message)));
    for (const at of unstorableStrings(values[name])) fields.push({ field: base + at, message: UNSTORABLE });
  }
  return fields.length > 0 ? validationError(fields) : null;
}

/** The VALIDATION_ERROR for the strings in an operation's variables that cannot be stored, or null. */
function unstorableVariables(document: DocumentNode, operationName: string | null | undefined, variables: unknown): HeraldError | null {
  if (!variables || typeof variables !== 'object' || allStorable(variables)) return null;
  const operation = getOperationAST(document, operationName);
  const fields: FieldError[] = [];
  for (const definition of operation?.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (!Object.hasOwn(variables, name)) continue;
    const base = inputPaths(document).ofVariable.get(name) ?? `$${name}`;
    for (const at of unstorableStrings((variables as Record<string, unknown>)[name]))
      fields.push({ field: base + at, message: UNSTORABLE });
  }
  return fields.length > 0 ? validationError(fields) : null;
}

/** `.name` and `[index]` segments, as graphql-js prints a path. */
function printPath(path: readonly (string | number)[]): string {
  return path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${key}`)).join('');
}

const MISSING_FIELD = /^Field "(?:[^"]*\.)?([^".]+)" of required type "([^"]+)" was not provided\.$/;
const UNKNOWN_FIELD = /^Field "([^"]+)" is not defined by type "([^"]+)"\.(.*)$/;
const MISSING_ARGUMENT = /^Field "[^"]+" argument "([^"]+)" of type "([^"]+)" is required, but it was not provided\.$/;

/** A field error from graphql-js's message about the value at `path`; a missing or unknown input field is named in the path. */
function fieldOf(path: string, message: string): FieldError {
  const missing = MISSING_FIELD.exec(message);
  if (missing) return { field: `${path}.${missing[1]}`, message: `is required (${missing[2]})` };
  const unknown = UNKNOWN_FIELD.exec(message);
  if (unknown) return { field: `${path}.${unknown[1]}`, message: `is not defined by ${unknown[2]}.${unknown[3]}`.trim() };
  return { field: path, message };
}

/** The field error for a validation error about a value (or a missing required argument), or null for any other error. */
function valueErrorField(error: GraphQLError, paths: InputPaths): FieldError | null {
  const argument = MISSING_ARGUMENT.exec(error.message);
  if (argument) return { field: argument[1], message: `is required (${argument[2]})` };
  const node = error.nodes?.[0];
  // An undefined variable is a document error, reported on the variable's node.
  const path = node && node.kind !== Kind.VARIABLE ? paths.ofNode.get(node) : undefined;
  if (path === undefined) return null;
  // A missing field is reported on the object, an unknown one on the field itself.
  if (node!.kind === Kind.OBJECT_FIELD) return { field: path, message: error.message };
  return fieldOf(path, error.originalError?.message ?? error.message);
}

interface InputPaths {
  /** Every value (and object field) inside an argument or a variable's default, with its input path. */
  ofNode: Map<ASTNode, string>;
  /** Where each variable is used first, as an input path (`filter.since` for `filter: { since: $since }`). */
  ofVariable: Map<string, string>;
}

const VALUE_KINDS: ReadonlySet<string> = new Set([
  Kind.VARIABLE,
  Kind.INT,
  Kind.FLOAT,
  Kind.STRING,
  Kind.BOOLEAN,
  Kind.NULL,
  Kind.ENUM,
  Kind.LIST,
  Kind.OBJECT,
]);

const pathsOf = new WeakMap<DocumentNode, InputPaths>();

/** The input paths of a document's values, computed once per document (yoga reuses parsed documents). */
function inputPaths(document: DocumentNode): InputPaths {
  let paths = pathsOf.get(document);
  if (paths) return paths;
  const ofNode = new Map<ASTNode, string>();
  const ofVariable = new Map<string, string>();
  const defaults: [ASTNode, string, string][] = [];
  const stack: string[] = [];
  visit(document, {
    enter(node, key) {
      let segment = '';
      if (node.kind === Kind.ARGUMENT) segment = node.name.value;
      else if (node.kind === Kind.OBJECT_FIELD) segment = `.${node.name.value}`;
      else if (node.kind === Kind.VARIABLE_DEFINITION) segment = `$${node.variable.name.value}`;
      else if (typeof key === 'number' && VALUE_KINDS.has(node.kind)) segment = `[${key}]`; // an item of a list value
      stack.push(segment);
      if (!VALUE_KINDS.has(node.kind) && node.kind !== Kind.OBJECT_FIELD) return;
      const path = stack.join('');
      if (path === '') return;
      if (path.startsWith('$')) {
        // Inside a variable's default value: named after where the variable is used, once known.
        const name = /^\$(\w+)/.exec(path)![1];
        if (node.kind !== Kind.VARIABLE) defaults.push([node, name, path.slice(name.length + 1)]);
        return;
      }
      ofNode.set(node, path);
      if (node.kind === Kind.VARIABLE && !ofVariable.has(node.name.value)) ofVariable.set(node.name.value, path);
    },
    leave() {
      stack.pop();
    },
  });
  for (const [node, name, rest] of defaults) ofNode.set(node, (ofVariable.get(name) ?? `$${name}`) + rest);
  paths = { ofNode, ofVariable };
  pathsOf.set(document, paths);
  return paths;
}

const unstorableOf = new WeakMap<DocumentNode, FieldError[]>();

/** Field errors for the string literals of a document that cannot be stored; computed once per document. */
function unstorableLiterals(document: DocumentNode): FieldError[] {
  let found = unstorableOf.get(document);
  if (found) return found;
  const nodes: ASTNode[] = [];
  visit(document, {
    StringValue(node) {
      if (!storable(node.value)) nodes.push(node);
    },
  });
  found = nodes.map((node) => ({ field: inputPaths(document).ofNode.get(node) ?? 'query', message: UNSTORABLE }));
  unstorableOf.set(document, found);
  return found;
}

/** Whether every string in a JSON value, object keys included, can be stored. Iterative, as below; builds no paths. */
function allStorable(value: unknown): boolean {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const item = pending.pop();
    if (typeof item === 'string') {
      if (!storable(item)) return false;
    } else if (Array.isArray(item)) {
      for (const child of item) pending.push(child);
    } else if (item !== null && typeof item === 'object') {
      for (const key in item) {
        if (!storable(key)) return false;
        pending.push((item as Record<string, unknown>)[key]);
      }
    }
  }
  return true;
}

/**
 * Paths (`.data.text`, `[3]`) of the strings in a variable's JSON value that cannot be stored,
 * object keys included. Iterative: a deeply nested value cannot exhaust the stack.
 */
function unstorableStrings(value: unknown): string[] {
  if (allStorable(value)) return [];
  const found: string[] = [];
  const pending: [unknown, string][] = [[value, '']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, path] = next;
    if (typeof item === 'string') {
      if (!storable(item)) found.push(path);
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) pending.push([item[i], `${path}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item).reverse()) {
        const at = `${path}.${key}`;
        if (!storable(key)) found.push(at);
        pending.push([child, at]);
      }
    }
  }
  return found;
}
