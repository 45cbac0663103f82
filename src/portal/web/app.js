// The customer portal: sign-in (portal link or tenant API key), then endpoints and deliveries,
// kept live. The session token lives in this page's memory only: never in a cookie, storage or
// the URL.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, createApi, openSession, startLive } from './api.js';
import { DeliveriesPage } from './deliveries.js';
import { DeliveryPage } from './delivery.js';
import { EndpointsPage } from './endpoints.js';
import { CATALOG, PROFILES, TENANT, WEBHOOKS } from './queries.js';
import { html, Portal } from './ui.js';

/** The link's code, taken out of the address at once so that it is neither kept nor shown. */
function takeCode() {
  const match = /^#code=([^&]+)/.exec(location.hash);
  if (!match) return null;
  history.replaceState(null, '', `${location.pathname}${location.search}#/endpoints`);
  return decodeURIComponent(match[1]);
}

function App() {
  const [session, setSession] = useState(null);
  const [message, setMessage] = useState(null);
  const [opening, setOpening] = useState(() => location.hash.startsWith('#code='));

  useEffect(() => {
    // A link opened in this tab later (the address bar changes only the fragment) opens its session too.
    const open = () => {
      const code = takeCode();
      if (!code) return;
      setOpening(true);
      setSession(null);
      openSession(code)
        .then((opened) =>
          setSession({ token: opened.token, readOnly: opened.readOnly, tenant: opened.tenant, expiresAt: opened.expiresAt }),
        )
        .catch((error) => setMessage(error.message))
        .finally(() => setOpening(false));
    };
    open();
    addEventListener('hashchange', open);
    return () => removeEventListener('hashchange', open);
  }, []);

  const end = (why) => {
    setSession(null);
    setMessage(why);
  };

  if (opening) return html`<main class="center"><p role="status">Opening your session…</p></main>`;
  if (!session) return html`<${SignIn} message=${message} onSignedIn=${setSession} />`;
  return html`<${SignedIn} session=${session} onEnded=${end} />`;
}

/** Sign-in with a tenant API key (platforms embed the portal with a link instead). */
function SignIn({ message, onSignedIn }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const data = await createApi(key.trim(), () => {}).request(TENANT);
      if (!data.tenant) throw new ApiError('This is not a tenant API key (the admin key cannot sign in here).', 'FORBIDDEN');
      onSignedIn({ token: key.trim(), readOnly: false, tenant: data.tenant, expiresAt: null });
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="center">
    <form class="panel signin" onSubmit=${submit} aria-labelledby="signin-title">
      <h1 id="signin-title">Webhooks</h1>
      ${message && html`<p role="alert" class="warning">${message}</p>`}
      <p>Open the portal link your provider gave you, or sign in with an API key.</p>
      <div class="field">
        <label for="api-key">API key</label>
        <input id="api-key" type="password" autocomplete="off" value=${key} onInput=${(e) => setKey(e.currentTarget.value)} required />
        ${error && html`<p class="error-text" role="alert">${error}</p>`}
      </div>
      <div class="actions"><button type="submit" class="primary" disabled=${busy || !key.trim()}>Sign in</button></div>
    </form>
  </main>`;
}

/** `#/deliveries/dlv_…?…` → `{ page, id, params }`. */
function parseRoute(hash) {
  const [path, query = ''] = hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(query);
  if (parts[0] === 'deliveries' && parts[1]) return { page: 'delivery', id: parts[1], params };
  if (parts[0] === 'deliveries') return { page: 'deliveries', params };
  return { page: 'endpoints', params };
}

function useRoute() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const changed = () => setHash(location.hash);
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return useMemo(() => parseRoute(hash), [hash]);
}

/** A tiny event hub: pages listen to live updates while they are shown. */
function hub() {
  const listeners = new Set();
  return {
    on(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    emit(value) {
      for (const fn of listeners) fn(value);
    },
  };
}

/** What a customer reads when Herald stops accepting the session (`why` is Herald's own wording). */
function endedBecause(why) {
  // "…have expired" from the live connection; "revoked or expired" from HTTP says neither.
  return why === 'expired' || /\bhave expired\b/i.test(why)
    ? 'Your session has expired. Open a new portal link to continue.'
    : 'Your session has ended. Open a new portal link to continue.';
}

/** How long a confirmation stays on screen. */
const NOTICE_MS = 12_000;

const STATUS_TEXT = { connecting: 'Connecting…', connected: 'Live', reconnecting: 'Reconnecting…' };

function SignedIn({ session, onEnded }) {
  const route = useRoute();
  const [status, setStatus] = useState('connecting');
  const [catalog, setCatalog] = useState([]);
  // The delivery profiles offered, and the one endpoints that name none follow (the tenant's, else the platform's).
  const [profiles, setProfiles] = useState({ list: [], defaultProfile: null });
  const [webhooks, setWebhooks] = useState(null);
  const [notice, setNotice] = useState(null);
  const main = useRef(null);

  const portal = useMemo(() => {
    const deliveries = hub();
    const reconnected = hub();
    const api = createApi(session.token, (why) => onEnded(endedBecause(why)));
    // Reads and changes of the endpoints, numbered: a read answered after a later read began, or
    // after a change (a Pause, a live status), is older than what the page shows and is dropped.
    let step = 0;
    let changedAt = 0;
    const reloadWebhooks = async () => {
      const began = ++step;
      try {
        const all = [];
        let after = null;
        do {
          const data = await api.request(WEBHOOKS, { after });
          all.push(...data.webhooks.edges.map((e) => e.node));
          after = data.webhooks.pageInfo.hasNextPage ? data.webhooks.pageInfo.endCursor : null;
        } while (after);
        if (began === step && changedAt < began) setWebhooks(all);
      } catch (error) {
        if (error.code !== 'UNAUTHORIZED') setNotice({ text: error.message, kind: 'error' });
      }
    };
    const updateWebhook = (webhook) => {
      changedAt = ++step;
      setWebhooks((list) => {
        if (list === null) return null;
        if (webhook.deletedAt) return list.filter((w) => w.id !== webhook.id);
        return list.map((w) => (w.id === webhook.id ? { ...w, ...webhook } : w));
      });
    };
    return {
      api,
      readOnly: session.readOnly,
      reloadWebhooks,
      updateWebhook,
      notify: (text, kind = 'info') => setNotice(typeof text === 'string' ? { text, kind } : { ...text, kind }),
      live: { onDeliveries: deliveries.on, onReconnected: reconnected.on },
      deliveries,
      reconnected,
    };
  }, [session]);

  useEffect(() => {
    portal.reloadWebhooks();
    portal.api
      .request(CATALOG)
      .then((data) => setCatalog(data.eventTypes))
      .catch(() => {});
    portal.api
      .request(PROFILES)
      .then((data) => setProfiles({ list: data.deliveryProfiles, defaultProfile: data.tenant?.deliveryProfile ?? null }))
      .catch(() => {});
    let reloadSoon = null;
    const live = startLive({
      token: session.token,
      onStatus: setStatus,
      onDeliveries: (updates) => {
        // An endpoint added elsewhere (by the platform, another tab) is read when its first delivery shows.
        if (known.current && updates.some((u) => !known.current.has(u.delivery.webhookId))) {
          reloadSoon ??= setTimeout(() => {
            reloadSoon = null;
            portal.reloadWebhooks();
          }, 1000);
        }
        portal.deliveries.emit(updates);
      },
      onWebhook: portal.updateWebhook,
      onReconnected: () => {
        portal.reloadWebhooks();
        portal.reconnected.emit();
      },
      onEnded: (why) => onEnded(endedBecause(why)),
    });
    // A session ends when it expires, whether or not the page is in use.
    const expiry = session.expiresAt ? setTimeout(() => onEnded(endedBecause('expired')), new Date(session.expiresAt) - Date.now()) : null;
    return () => {
      live.stop();
      clearTimeout(expiry);
      clearTimeout(reloadSoon);
    };
  }, [session]);

  useEffect(() => {
    document.title = `${session.tenant.name} · Webhooks`;
  }, [session]);

  // Confirmations go away by themselves; errors stay until dismissed.
  useEffect(() => {
    if (notice?.kind !== 'info') return;
    const timer = setTimeout(() => setNotice(null), NOTICE_MS);
    return () => clearTimeout(timer);
  }, [notice]);

  // Moving between pages puts the keyboard focus on the new page's content.
  useEffect(() => main.current?.focus(), [route.page, route.id]);

  const webhookById = useMemo(() => new Map((webhooks ?? []).map((w) => [w.id, w])), [webhooks]);
  const known = useRef(webhookById);
  // Until the first read, nothing is known and nothing needs reading again.
  known.current = webhooks === null ? null : webhookById;
  const value = { ...portal, catalog, profiles, webhooks, webhookById };
  const tab = (page, label) =>
    html`<a href=${`#/${page}`} aria-current=${route.page === page || (page === 'deliveries' && route.page === 'delivery') ? 'page' : undefined}>${label}</a>`;

  return html`<${Portal.Provider} value=${value}>
    <header class="top">
      <div class="brand">
        <strong>${session.tenant.name}</strong>
        <span class="muted">Webhooks</span>
        ${session.readOnly && html`<span class="badge badge-readonly">Read-only</span>`}
      </div>
      <nav aria-label="Portal">${tab('endpoints', 'Endpoints')} ${tab('deliveries', 'Deliveries')}</nav>
      <p role="status" class=${`live live-${status}`} aria-label=${`Live updates: ${STATUS_TEXT[status]}`}>
        <span class="dot" aria-hidden="true"></span>${STATUS_TEXT[status]}
      </p>
    </header>
    ${session.readOnly && html`<p class="readonly-note">Read-only access: you can look at everything and change nothing.</p>`}
    <div class="notice-area">
      ${[
        ['status', 'info'],
        ['alert', 'error'],
      ].map(
        ([role, kind]) => html`<div role=${role}>
          ${
            notice?.kind === kind &&
            html`<p class=${`notice notice-${kind}`}>
              ${notice.text} ${notice.link && html`<a href=${notice.link.href}>${notice.link.text}</a>`}
              <button type="button" class="small" aria-label="Dismiss" onClick=${() => setNotice(null)}>×</button>
            </p>`
          }
        </div>`,
      )}
    </div>
    <main ref=${main} tabindex="-1">
      ${route.page === 'endpoints' && html`<${EndpointsPage} />`}
      ${route.page === 'deliveries' && html`<${DeliveriesPage} params=${route.params} />`}
      ${route.page === 'delivery' && html`<${DeliveryPage} id=${route.id} />`}
    </main>
  <//>`;
}

render(html`<${App} />`, document.getElementById('app'));
