// Deliveries: the log (filtered, newest first, paginated, live), Retry and Replay failed.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { DELIVERIES, endpointDeleted, REPLAY_FAILED, RETRY } from './queries.js';
import { act, Confirm, html, memo, ShortUrl, Status, Time, usePortal } from './ui.js';

const PAGE = 50;
const STATUSES = ['PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'];

/** The filters as the URL carries them (`#/deliveries?webhook=…&status=…`) and as the API takes them. */
export function filterOf(params) {
  const at = (name) => {
    const value = params.get(name);
    const date = value ? new Date(value) : null;
    return date && !Number.isNaN(date.getTime()) ? date.toISOString() : null;
  };
  return {
    webhookId: params.get('webhook') || null,
    status: STATUSES.includes(params.get('status')) ? params.get('status') : null,
    eventType: params.get('type') || null,
    since: at('since'),
    until: at('until'),
  };
}

/** Whether a delivery first seen live belongs in a log filtered this way. */
function matches(d, f) {
  return (
    (!f.webhookId || d.webhookId === f.webhookId) &&
    (!f.status || d.status === f.status) &&
    (!f.eventType || d.eventType === f.eventType) &&
    (!f.since || d.createdAt >= f.since) &&
    (!f.until || d.createdAt < f.until)
  );
}

const byNewest = (a, b) => (a.d.id < b.d.id ? 1 : a.d.id > b.d.id ? -1 : 0);

/**
 * The log's rows (newest first), each `{ d, cursor }`: rows read from the API carry their cursor,
 * rows that arrived live do not. At most `limit` are kept; "Load more" continues after the last
 * row that has a cursor (rows it brings again are skipped), so nothing between is lost.
 */
function useDeliveryLog(filter) {
  const { api, notify, live } = usePortal();
  const [state, setState] = useState({ rows: null, hasMore: false, limit: PAGE, loading: true });
  const stateRef = useRef(state);
  stateRef.current = state;
  const key = JSON.stringify(filter);
  /** The filter now shown: an answer for an earlier one (they may come back out of order) is dropped. */
  const shownKey = useRef(key);
  shownKey.current = key;

  const load = async (after, limit) => {
    const asked = key;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await api.request(DELIVERIES, { first: PAGE, after, filter });
      if (asked !== shownKey.current) return;
      const fetched = data.deliveries.edges.map((e) => ({ d: e.node, cursor: e.cursor }));
      setState((s) => {
        let rows;
        if (after) {
          const shown = new Set(s.rows.map((r) => r.d.id));
          rows = [...s.rows, ...fetched.filter((r) => !shown.has(r.d.id))];
        } else {
          // A first page read afresh; what arrived live while it was read, newer than it, stays.
          const newest = fetched[0]?.d.id ?? '';
          rows = [...(s.rows ?? []).filter((r) => !r.cursor && r.d.id > newest), ...fetched];
        }
        rows.sort(byNewest);
        return { rows, hasMore: data.deliveries.pageInfo.hasNextPage, limit: Math.max(limit, rows.length), loading: false };
      });
    } catch (error) {
      if (asked !== shownKey.current) return;
      notify(error.message, 'error');
      setState((s) => ({ ...s, rows: s.rows ?? [], loading: false }));
    }
  };

  useEffect(() => {
    setState({ rows: null, hasMore: false, limit: PAGE, loading: true });
    load(null, PAGE);
    // Updates were missed while the connection was down: read the first page again.
    return live.onReconnected(() => load(null, PAGE));
  }, [key]);

  useEffect(
    () =>
      live.onDeliveries((updates) => {
        setState((s) => {
          if (!s.rows) return s;
          const index = new Map(s.rows.map((r, i) => [r.d.id, i]));
          let rows = null;
          for (const { delivery } of updates) {
            const at = index.get(delivery.id);
            rows ??= [...s.rows];
            if (at !== undefined) {
              // Updates of one delivery may arrive out of step with a page read: keep the latest.
              if (delivery.attemptCount >= rows[at].d.attemptCount) rows[at] = { ...rows[at], d: { ...rows[at].d, ...delivery } };
            } else if (matches(delivery, filter)) {
              index.set(delivery.id, rows.length);
              rows.push({ d: delivery, cursor: null });
            }
          }
          if (!rows) return s;
          rows.sort(byNewest);
          const kept = rows.slice(0, s.limit);
          return { ...s, rows: kept, hasMore: s.hasMore || kept.length < rows.length };
        });
      }),
    [key],
  );

  const loadMore = () => {
    const last = stateRef.current.rows?.findLast((r) => r.cursor);
    load(last?.cursor ?? null, stateRef.current.limit + PAGE);
  };
  return { ...state, loadMore };
}

export function DeliveriesPage({ params }) {
  const { webhooks, webhookById, catalog, readOnly, api, notify } = usePortal();
  const filter = useMemo(() => filterOf(params), [params.toString()]);
  const log = useDeliveryLog(filter);
  const [confirmReplay, setConfirmReplay] = useState(false);

  const setFilter = (name, value) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    location.hash = `#/deliveries${next.size ? `?${next}` : ''}`;
  };
  const endpoint = filter.webhookId ? webhookById.get(filter.webhookId) : null;

  const replay = async () => {
    setConfirmReplay(false);
    await act(
      notify,
      () =>
        api.request(REPLAY_FAILED, { webhookId: filter.webhookId, since: filter.since ?? new Date(0).toISOString(), until: filter.until }),
      (data) =>
        `${data.replayFailedDeliveries.count} failed ${data.replayFailedDeliveries.count === 1 ? 'delivery' : 'deliveries'} queued again`,
    );
  };

  return html`<div class="deliveries">
    <div class="page-head">
      <h1>Deliveries</h1>
      <button
        type="button"
        disabled=${readOnly || !filter.webhookId}
        title=${filter.webhookId ? '' : 'Choose an endpoint first'}
        onClick=${() => setConfirmReplay(true)}
      >Replay failed</button>
    </div>
    <form class="filters" role="search" aria-label="Filter deliveries" onSubmit=${(e) => e.preventDefault()}>
      <div class="field">
        <label for="filter-endpoint">Endpoint</label>
        <select id="filter-endpoint" value=${filter.webhookId ?? ''} onChange=${(e) => setFilter('webhook', e.currentTarget.value)}>
          <option value="">All endpoints</option>
          ${(webhooks ?? []).map((w) => html`<option value=${w.id}>${w.url}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="filter-status">Status</label>
        <select id="filter-status" value=${filter.status ?? ''} onChange=${(e) => setFilter('status', e.currentTarget.value)}>
          <option value="">Any status</option>
          ${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select>
      </div>
      <div class="field">
        <label for="filter-type">Event type</label>
        <select id="filter-type" value=${filter.eventType ?? ''} onChange=${(e) => setFilter('type', e.currentTarget.value)}>
          <option value="">Any event type</option>
          ${catalog.map((t) => html`<option value=${t.name}>${t.name}</option>`)}
        </select>
      </div>
      <${TimeFilter} id="filter-since" label="From" value=${filter.since} onCommit=${(iso) => setFilter('since', iso)} />
      <${TimeFilter} id="filter-until" label="Until" value=${filter.until} onCommit=${(iso) => setFilter('until', iso)} />
    </form>
    <section aria-label="Deliveries" class="log">
      ${
        log.rows === null
          ? html`<p class="muted">Loading deliveries…</p>`
          : log.rows.length === 0
            ? html`<p class="empty">No deliveries${params.size ? ' match these filters' : ' yet'}.</p>`
            : html`<ol class="rows">
                ${log.rows.map((r) => html`<${DeliveryRow} key=${r.d.id} d=${r.d} url=${webhookById.get(r.d.webhookId)?.url} />`)}
              </ol>`
      }
      ${log.hasMore && html`<button type="button" class="more" disabled=${log.loading} onClick=${log.loadMore}>Load more</button>`}
    </section>
    ${
      confirmReplay &&
      html`<${Confirm} title="Replay failed deliveries?" confirm="Replay" onConfirm=${replay} onClose=${() => setConfirmReplay(false)}>
        <p>Every delivery to <span class="url">${endpoint?.url ?? filter.webhookId}</span> that ended FAILED${filter.since ? html`, created from <${Time} value=${filter.since} />` : ''}${filter.until ? html` until <${Time} value=${filter.until} />` : ''}, gets one new attempt now.</p>
      <//>`
    }
  </div>`;
}

/** One line of the log; re-rendered only when its delivery changed (the log re-renders often). */
const DeliveryRow = memo(function DeliveryRow({ d, url }) {
  const { api, notify, readOnly } = usePortal();
  const [busy, setBusy] = useState(false);
  const retry = async () => {
    setBusy(true);
    await act(notify, () => api.request(RETRY, { id: d.id }), `Delivery ${d.id} queued for a new attempt`);
    setBusy(false);
  };
  return html`<li class="row" aria-label=${d.id}>
    <a class="mono id" href=${`#/deliveries/${d.id}`}>${d.id}</a>
    <${Status} value=${d.status} />
    <span class="type">${d.eventType}</span>
    ${url ? html`<${ShortUrl} url=${url} className="endpoint" />` : html`<span class="url endpoint">${d.webhookId}</span>`}
    <span class="tries">${d.attemptCount} ${d.attemptCount === 1 ? 'attempt' : 'attempts'}${d.lastResponseStatus ? ` · HTTP ${d.lastResponseStatus}` : d.lastError ? ` · ${d.lastError}` : ''}</span>
    <span class="when"><${Time} value=${d.createdAt} /></span>
    ${
      endpointDeleted(d)
        ? html`<span class="small muted">Endpoint deleted</span>`
        : html`<button type="button" class="small" disabled=${readOnly || busy} onClick=${retry}>Retry</button>`
    }
  </li>`;
});

/**
 * A time bound of the filter. What is typed is kept here until it is complete (change), so that
 * the log's frequent re-renders never reset a date half typed.
 */
function TimeFilter({ id, label, value, onCommit }) {
  const shown = value ? toLocalInput(new Date(value)) : '';
  const [draft, setDraft] = useState(shown);
  useEffect(() => setDraft(shown), [shown]);
  return html`<div class="field">
    <label for=${id}>${label}</label>
    <input
      id=${id}
      type="datetime-local"
      step="1"
      value=${draft}
      onInput=${(e) => setDraft(e.currentTarget.value)}
      onChange=${(e) => onCommit(fromLocalInput(e.currentTarget.value))}
    />
  </div>`;
}

/** `<input type="datetime-local">` speaks local time without a zone. */
function toLocalInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function fromLocalInput(value) {
  return value ? new Date(value).toISOString() : '';
}
