import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import { type ExecutionArgs, GraphQLError } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, maskError, type YogaServerInstance } from 'graphql-yoga';
import type { PgBoss } from 'pg-boss';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Config } from './config.ts';
import { HeraldError, isDatabaseUnavailable } from './core/errors.ts';
import { isPortalToken } from './core/secrets.ts';
import type { GraphQLContext } from './graphql/context.ts';
import { graphiqlPage } from './graphql/graphiql-page.ts';
import { useInputErrors, variableInputError } from './graphql/input-errors.ts';
import { graphqlLimits } from './graphql/limits.ts';
import { useRequestErrors } from './graphql/request-errors.ts';
import { useRequestLog } from './graphql/request-log.ts';
import { closeWithCredential, useCredentialWatch } from './graphql/revocation.ts';
import { schema } from './graphql/schema.ts';
import type { LiveBus } from './live/bus.ts';
import type { CredentialWatch } from './live/credentials.ts';
import type { Logger } from './logger.ts';
import type { OpsHandler } from './ops/endpoints.ts';
import type { HttpPort } from './ops/http-port.ts';
import { createPortalHandler } from './portal/http.ts';
import { authenticate } from './services/api-keys.ts';
import type { Caller } from './services/caller.ts';
import { createRateLimiter } from './services/rate-limits.ts';

export interface ServerDeps {
  orm: MikroORM;
  config: Readonly<Config>;
  adminKey: string;
  encryptionKey: Buffer;
  logger: Logger;
  live: LiveBus;
  /** Ends the subscriptions and connections of revoked or expired credentials. */
  credentials: CredentialWatch;
  boss: PgBoss;
  /** /healthz, /readyz and /metrics, answered before GraphQL. */
  ops?: OpsHandler;
  /** The port the API answers on, bound before anything else started (see bindHttpPort). */
  port: HttpPort;
}

export interface HeraldServer {
  /** Starts answering on `deps.port`; resolves to its number. */
  start(): Promise<number>;
  stop(): Promise<void>;
  url(): string;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** What GraphiQL's editor shows the first time: where the key goes (nothing is sent for it). */
const GRAPHIQL_DEFAULT_QUERY = `# Herald's GraphQL API. Every request needs a key: put it in the Headers tab below,
#   { "authorization": "Bearer hrld_…" }
# (the admin key, HERALD_ADMIN_KEY, or a tenant's API key), then press Run.
# Docs and completion need the schema: once the key is there, press "Re-fetch GraphQL schema" (left bar).

query {
  tenant {
    id
    name
  }
}
`;

/**
 * Closes a WebSocket whose key is missing or bad: 4401 mirrors HTTP 401 (graphql-ws alone would
 * say 4403); 4429, HTTP 429, when its address failed to authenticate too often.
 */
function refuse(socket: WebSocket, error: unknown): void {
  const message = error instanceof HeraldError ? error.message : 'Unauthorized';
  if (error instanceof HeraldError && error.code === 'RATE_LIMITED') socket.close(4429, `Rate limited: ${message}`.slice(0, 120));
  else socket.close(4401, `Unauthorized: ${message}`.slice(0, 120));
}

/** A header GraphiQL put in a subscribe message's `extensions.headers` (any letter case). */
function headerOf(extensions: Record<string, unknown> | undefined | null, name: string): unknown {
  const headers = extensions?.headers;
  if (!headers || typeof headers !== 'object') return undefined;
  const entry = Object.entries(headers).find(([key]) => key.toLowerCase() === name);
  return entry?.[1];
}

/** The execute and subscribe of yoga's envelop, as graphql-ws calls them. */
type Enveloped = { execute(args: ExecutionArgs): OperationResult; subscribe(args: ExecutionArgs): OperationResult };

/** GraphQL over HTTP (yoga, with GraphiQL) and over WebSocket (graphql-ws) on one port and path. */
export function buildServer(deps: ServerDeps): HeraldServer {
  const log = deps.logger.child({ component: 'api' });

  async function callerFor(authorization: unknown): Promise<Caller> {
    if (typeof authorization !== 'string' || authorization === '') {
      throw new HeraldError('UNAUTHORIZED', 'Missing authorization: send `authorization: Bearer <key>`');
    }
    const match = BEARER.exec(authorization);
    if (!match) throw new HeraldError('UNAUTHORIZED', 'Malformed authorization: expected `Bearer <key>`');
    const caller = await authenticate(deps.orm.em.fork(), match[1], deps.adminKey);
    if (!caller) {
      throw new HeraldError(
        'UNAUTHORIZED',
        isPortalToken(match[1]) ? 'Unknown, revoked or expired portal session' : 'Unknown or revoked API key',
      );
    }
    return caller;
  }

  const limiter = createRateLimiter(deps.orm, deps.config, log);
  /**
   * callerFor, rate-limited: the caller's bucket, and the address's when the key is refused. No
   * authorization at all guesses no key (GraphiQL before one is typed): refused, at no cost.
   */
  const admit = (authorization: unknown, request: IncomingMessage) =>
    authorization == null || authorization === '' ? callerFor(authorization) : limiter.admit(request, () => callerFor(authorization));

  function contextFor(caller: Caller, socket?: WebSocket): GraphQLContext {
    return {
      closeConnection: socket ? (code, reason) => socket.close(code, reason) : undefined,
      em: deps.orm.em.fork(),
      caller,
      config: deps.config,
      encryptionKey: deps.encryptionKey,
      live: deps.live,
      publicUrl: publicUrl(),
      boss: deps.boss,
    };
  }

  const yoga: YogaServerInstance<{ req: IncomingMessage; res: ServerResponse }, GraphQLContext> = createYoga({
    schema,
    plugins: [
      useRequestLog(deps.logger),
      ...graphqlLimits(deps.config.graphqlLimits, { introspection: deps.config.graphiql }),
      useInputErrors(),
      useRequestErrors(),
      useCredentialWatch(deps.credentials),
    ],
    maxRequestBodySize: deps.config.graphqlLimits.maxRequestBytes,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // GraphiQL inlined from the package: the default page loads its code from a CDN, which
    // self-hosted and offline installs may not reach.
    renderGraphiQL: graphiqlPage(),
    maskedErrors: {
      // Never yoga's development mode (it follows NODE_ENV): it would send stacks to clients.
      isDev: false,
      // Internal errors stay masked, but an unreachable database is said plainly, so a client
      // knows to retry (a publish that failed at COMMIT may or may not have been stored).
      maskError: (error, message, isDev) =>
        isDatabaseUnavailable(error)
          ? new HeraldError('SERVICE_UNAVAILABLE', 'The database is unavailable. Retry shortly (an idempotencyKey makes the retry safe).')
          : maskError(error, message, isDev),
    },
    // No headers prefilled: GraphiQL sends them at once (its schema introspection), and a
    // placeholder key would be a failed authentication on every page load. The hint is a comment.
    graphiql: deps.config.graphiql && {
      title: 'Herald',
      subscriptionsProtocol: 'WS',
      defaultEditorToolsVisibility: 'headers',
      defaultQuery: GRAPHIQL_DEFAULT_QUERY,
    },
    logging: {
      debug: (...args) => log.debug(args.map(String).join(' ')),
      info: (...args) => log.info(args.map(String).join(' ')),
      warn: (...args) => log.warn(args.map(String).join(' ')),
      error: (...args) => log.error({ err: args.find((a) => a instanceof Error) }, args.map(String).join(' ')),
    },
    context: async ({ request, req }) => contextFor(await admit(request.headers.get('authorization'), req)),
  });

  const portal = createPortalHandler({ ...deps, limiter });
  const httpServer = deps.port.server;

  // Upgrades are handed over here rather than through `server: httpServer`: ws would forward the
  // HTTP server's errors to the WebSocket server, where graphql-ws prints them with a stack trace,
  // and a port in use must be one clear line at start.
  const wsServer = new WebSocketServer({
    noServer: true,
    path: yoga.graphqlEndpoint,
    maxPayload: deps.config.graphqlLimits.maxRequestBytes,
  });
  httpServer.on('upgrade', (request, socket, head) => {
    wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
  });
  const callers = new WeakMap<WebSocket, Caller>();

  useServer<Record<string, unknown>, { socket: WebSocket }>(
    {
      // onSubscribe below puts yoga's enveloped execute/subscribe in rootValue.
      execute: (args) => (args.rootValue as Enveloped).execute(args),
      subscribe: (args) => (args.rootValue as Enveloped).subscribe(args),
      onConnect: async (ctx) => {
        // A key in connection_init (graphql-ws clients) authenticates the whole connection.
        // GraphiQL cannot send one: it sends its headers tab with each subscribe instead, so a
        // connection without a key is accepted and each of its operations is checked below.
        const authorization = ctx.connectionParams?.authorization;
        if (authorization === undefined) return true;
        try {
          const caller = await admit(authorization, ctx.extra.request);
          callers.set(ctx.extra.socket, caller);
          closeWithCredential(deps.credentials, caller, ctx, (error) => refuse(ctx.extra.socket, error));
          return true;
        } catch (error) {
          refuse(ctx.extra.socket, error);
          return false;
        }
      },
      onSubscribe: async (ctx, _id, params) => {
        let caller = callers.get(ctx.extra.socket);
        try {
          // Each subscribe is a request, as an HTTP request is: a token of the caller's bucket.
          if (caller) await limiter.take(caller);
          else caller = await admit(headerOf(params.extensions, 'authorization'), ctx.extra.request);
        } catch (error) {
          if (error instanceof HeraldError && error.code === 'RATE_LIMITED') return [error];
          refuse(ctx.extra.socket, error);
          return [error instanceof HeraldError ? error : new HeraldError('UNAUTHORIZED', 'Unauthorized')];
        }
        const enveloped = yoga.getEnveloped({ ...ctx, params });
        let document: ReturnType<typeof enveloped.parse>;
        let errors: readonly GraphQLError[];
        try {
          document = enveloped.parse(params.query);
          errors = enveloped.validate(enveloped.schema, document);
        } catch (error) {
          // A syntax error or a refused limit (graphql/limits.ts) answers this subscribe alone;
          // thrown on, it would close the whole connection with 4500.
          if (error instanceof GraphQLError) return [error];
          throw error;
        }
        if (errors.length) return errors;
        const inputError = variableInputError(enveloped.schema, document, params.operationName, params.variables);
        if (inputError) return [inputError];
        const args: ExecutionArgs = {
          schema: enveloped.schema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue: contextFor(caller, ctx.extra.socket),
          rootValue: { execute: enveloped.execute, subscribe: enveloped.subscribe },
        };
        return args;
      },
    },
    wsServer,
  );

  const port = deps.port.port;
  function listenUrl(): string {
    const host = deps.config.host.includes(':') ? `[${deps.config.host}]` : deps.config.host;
    return `http://${host}:${port}`;
  }
  /** Where browsers reach Herald: HERALD_PUBLIC_URL, or the address it listens on. */
  function publicUrl(): string {
    return deps.config.publicUrl ?? listenUrl();
  }
  return {
    async start() {
      deps.port.serve((req, res) => deps.ops?.(req, res) || portal(req, res) || yoga(req, res));
      log.info({ url: `http://${deps.config.host}:${port}/graphql` }, 'GraphQL API listening');
      return port;
    },
    async stop() {
      for (const client of wsServer.clients) client.close(1001, 'Server shutting down');
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
      // Give in-flight requests a moment, then cut what is left.
      await deps.port.close(5000);
    },
    url() {
      return `${listenUrl()}/graphql`;
    },
  };
}
