// Herald's public API as the portal uses it: GraphQL over HTTP with the session's bearer token,
// and live updates over graphql-ws with the same token in connection_init. Nothing else.
import { createClient } from 'graphql-ws';

/** A GraphQL error as the page shows it: Herald's `extensions.code` and, for bad input, the fields. */
export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {string} code e.g. VALIDATION_ERROR, FORBIDDEN, NETWORK
   * @param {{ field: string, message: string }[]} [fields]
   */
  constructor(message, code, fields = []) {
    super(message);
    this.code = code;
    this.fields = fields;
  }
}

/** Where the page was served from: the API is beside it (`/portal` → `/graphql`). */
const GRAPHQL_URL = new URL('graphql', document.baseURI).href;

/**
 * Runs GraphQL operations with `token`. `onUnauthorized(message)` is called when Herald says the
 * token is no longer valid (revoked or expired session).
 * @param {string} token
 * @param {(message: string) => void} onUnauthorized
 */
export function createApi(token, onUnauthorized) {
  /**
   * @param {string} query
   * @param {Record<string, unknown>} [variables]
   * @returns {Promise<any>} the `data` of the answer
   */
  async function request(query, variables = {}) {
    let response;
    try {
      response = await fetch(GRAPHQL_URL, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${token}`,
        },
        body: JSON.stringify({ query, variables }),
      });
    } catch {
      throw new ApiError('Herald cannot be reached. Check the connection and try again.', 'NETWORK');
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new ApiError(`Herald answered HTTP ${response.status} without a GraphQL result.`, 'BAD_RESPONSE');
    }
    if (body.errors?.length) {
      const first = body.errors[0];
      const code = first.extensions?.code ?? 'INTERNAL_SERVER_ERROR';
      if (code === 'UNAUTHORIZED') onUnauthorized(first.message);
      throw new ApiError(body.errors.map((e) => e.message).join('; '), code, first.extensions?.fields ?? []);
    }
    return body.data;
  }
  return { request };
}

/** How long updates are gathered before the page renders them: at most ten renders a second. */
const FLUSH_MS = 100;

const DELIVERY_UPDATED = `subscription PortalDeliveries {
  deliveryUpdated {
    phase
    delivery { id status eventType webhookId eventId attemptCount createdAt lastAttemptAt nextAttemptAt lastResponseStatus lastError completedAt }
  }
}`;

const WEBHOOK_STATUS_CHANGED = `subscription PortalWebhooks {
  webhookStatusChanged { id status disabledReason deletedAt throttle { concurrency rate reason since } }
}`;

/** Close codes after which reconnecting with the same token cannot help. */
const SESSION_ENDED_CODES = new Set([4401]);

/**
 * Live updates of the tenant's deliveries and endpoints over one graphql-ws connection.
 *
 * Updates are gathered and handed over in batches (`onDeliveries(updates[])` at most every
 * FLUSH_MS) so that a burst of a thousand updates a second is a few renders, not a thousand.
 * The connection is kept up whatever happens: graphql-ws retries dropped connections itself,
 * and after a close it treats as final (4429, when Herald drops a client that reads too slowly)
 * the subscriptions are started again here. After every reconnection `onReconnected()` asks the
 * page to re-read what it shows, since updates were missed meanwhile.
 *
 * @param {{
 *   token: string,
 *   onStatus: (status: 'connecting' | 'connected' | 'reconnecting') => void,
 *   onDeliveries: (updates: any[]) => void,
 *   onWebhook: (webhook: any) => void,
 *   onReconnected: () => void,
 *   onEnded: (message: string) => void,
 * }} handlers
 * @returns {{ stop(): void }}
 */
export function startLive({ token, onStatus, onDeliveries, onWebhook, onReconnected, onEnded }) {
  const url = new URL(GRAPHQL_URL);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  let stopped = false;
  let everConnected = false;
  let pending = [];
  let flushTimer = null;
  const timers = new Set();

  const flush = () => {
    flushTimer = null;
    const batch = pending;
    pending = [];
    if (batch.length && !stopped) onDeliveries(batch);
  };
  const later = (fn, ms) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };
  const backoff = (attempt) => Math.min(10_000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);

  const client = createClient({
    url: url.href,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => later(resolve, backoff(retries))),
    // Pings find a connection that died silently (a laptop waking up, a proxy timing out).
    keepAlive: 10_000,
    on: {
      connecting: () => onStatus(everConnected ? 'reconnecting' : 'connecting'),
      connected: () => {
        onStatus('connected');
        if (everConnected) onReconnected();
        everConnected = true;
      },
      closed: (event) => {
        if (stopped) return;
        if (SESSION_ENDED_CODES.has(event?.code)) return end(event.reason);
        onStatus('reconnecting');
      },
    },
  });

  function end(reason) {
    if (stopped) return;
    stop();
    onEnded(reason || 'Your session has ended.');
  }

  /** Keeps one subscription running: started again (after a pause) whenever it ends. */
  function keep(query, onData) {
    let failures = 0;
    const start = () => {
      if (stopped) return;
      client.subscribe(
        { query },
        {
          next: (result) => {
            failures = 0;
            if (result.data) onData(result.data);
          },
          error: (error) => {
            if (stopped) return;
            if (SESSION_ENDED_CODES.has(error?.code)) return end(error.reason);
            onStatus('reconnecting');
            later(start, backoff(failures++));
          },
          complete: () => later(start, backoff(failures++)),
        },
      );
    };
    start();
  }

  keep(DELIVERY_UPDATED, (data) => {
    pending.push(data.deliveryUpdated);
    flushTimer ??= setTimeout(flush, FLUSH_MS);
  });
  keep(WEBHOOK_STATUS_CHANGED, (data) => onWebhook(data.webhookStatusChanged));

  function stop() {
    stopped = true;
    clearTimeout(flushTimer);
    for (const timer of timers) clearTimeout(timer);
    client.dispose();
  }
  return { stop };
}

/**
 * Spends a portal link's one-time code for a session.
 * @param {string} code
 * @returns {Promise<{ token: string, expiresAt: string, readOnly: boolean, tenant: { id: string, name: string } }>}
 */
export async function openSession(code) {
  let response;
  try {
    response = await fetch(new URL('portal/session', document.baseURI), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code }),
    });
  } catch {
    throw new ApiError('Herald cannot be reached. Check the connection and reload the page.', 'NETWORK');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = body.errors?.[0];
    throw new ApiError(
      error?.message ?? `Could not open the session (HTTP ${response.status}).`,
      error?.extensions?.code ?? 'UNAUTHORIZED',
    );
  }
  return body;
}
