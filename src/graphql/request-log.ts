import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type DocumentNode, type ExecutionArgs, type ExecutionResult, getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.ts';
import { observeGraphqlRequest } from '../metrics.ts';
import { type Caller, callerTenantId } from '../services/caller.ts';

/** Accepted from a proxy's `x-request-id`; anything else is replaced by a fresh id. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Error codes are Herald's, yoga's and graphql-js's constants; this keeps the `code` label bounded all the same. */
const CODE = /^[A-Z][A-Z0-9_]{0,39}$/;

interface Operation {
  id: string;
  startedAt: number;
  transport: 'http' | 'ws';
  operationName: string | null;
  operationType: string;
  caller: Caller | null;
  code: string;
}

/**
 * One log line and the GraphQL request metrics for every GraphQL request over HTTP (and every
 * operation over WebSocket): request id (returned as `x-request-id`, taken from the request's
 * own when it looks like one), operation name and type, the caller's kind (admin, tenant key or
 * portal session) and tenant,
 * duration, HTTP status and error code (`OK` when none). Never variables, query text or
 * results: those carry payloads and secrets.
 */
export function useRequestLog(logger: Logger): Plugin {
  const log = logger.child({ component: 'api' });
  // Keyed by Node's request object: it stays the same through every hook, whatever another
  // plugin does to the Fetch Request.
  const operations = new WeakMap<IncomingMessage, Operation>();

  const start = (transport: Operation['transport'], id: string): Operation => ({
    id,
    startedAt: performance.now(),
    transport,
    operationName: null,
    operationType: 'unknown',
    caller: null,
    code: 'OK',
  });

  const describe = (op: Operation, document: DocumentNode, name: string | null | undefined) => {
    const ast = getOperationAST(document, name ?? undefined);
    op.operationType = ast?.operation ?? 'unknown';
    op.operationName = name ?? ast?.name?.value ?? null;
  };

  const finish = (op: Operation, status: number | null) => {
    const durationMs = performance.now() - op.startedAt;
    observeGraphqlRequest(op.operationType, op.code, durationMs / 1000);
    log.info(
      {
        requestId: op.id,
        transport: op.transport,
        operationName: op.operationName,
        operationType: op.operationType,
        caller: op.caller?.kind ?? null,
        tenantId: op.caller ? callerTenantId(op.caller) : null,
        durationMs: Math.round(durationMs * 10) / 10,
        status,
        code: op.code,
      },
      'graphql request',
    );
  };

  /** Over WebSocket there is no HTTP request: each operation is logged once it has its first answer. */
  const onOperation = (args: ExecutionArgs) => {
    const context = args.contextValue as { req?: IncomingMessage; caller?: Caller };
    const http = context.req ? operations.get(context.req) : undefined;
    const op = http ?? start('ws', randomUUID());
    op.caller = context.caller ?? null;
    describe(op, args.document, args.operationName);
    if (http) return undefined;
    return (result: unknown) => {
      op.code = codeOf(result);
      finish(op, null);
    };
  };

  return {
    onRequestParse({ serverContext }) {
      const req = (serverContext as { req?: IncomingMessage }).req;
      if (!req) return;
      const header = req.headers['x-request-id'];
      operations.set(req, start('http', typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID()));
    },
    onParams({ params, context }) {
      const op = opOf(context);
      if (op) op.operationName = params.operationName ?? null;
    },
    onParse({ context }) {
      const op = opOf(context);
      if (!op) return undefined;
      return ({ result }) => {
        if (result && typeof result === 'object' && 'kind' in result) describe(op, result as DocumentNode, op.operationName);
      };
    },
    onExecute({ args }) {
      const done = onOperation(args);
      return done ? { onExecuteDone: ({ result }) => done(result) } : undefined;
    },
    onSubscribe({ args }) {
      const done = onOperation(args);
      return done ? { onSubscribeResult: ({ result }) => done(result) } : undefined;
    },
    onResultProcess({ result, serverContext }) {
      const op = opOf(serverContext);
      if (op) op.code = codeOf(result);
    },
    onResponse({ response, serverContext }) {
      const req = (serverContext as { req?: IncomingMessage }).req;
      const op = req ? operations.get(req) : undefined;
      if (!op) return;
      operations.delete(req!);
      response.headers.set('x-request-id', op.id);
      if (op.code === 'OK' && response.status >= 400) op.code = response.status === 400 ? 'BAD_REQUEST' : `HTTP_${response.status}`;
      finish(op, response.status);
    },
  };

  function opOf(context: unknown): Operation | undefined {
    const req = (context as { req?: IncomingMessage } | undefined)?.req;
    return req ? operations.get(req) : undefined;
  }
}

/** The code of a result's first error (OK when none; a stream counts as OK). */
function codeOf(result: unknown): string {
  const results = (Array.isArray(result) ? result : [result]) as ExecutionResult[];
  for (const r of results) {
    const error = r && typeof r === 'object' && 'errors' in r ? r.errors?.[0] : undefined;
    if (!error) continue;
    const code = error.extensions?.code;
    return typeof code === 'string' && CODE.test(code) ? code : 'OTHER';
  }
  return 'OK';
}
