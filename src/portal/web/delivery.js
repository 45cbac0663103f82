// One delivery: the body it sends (byte for byte), its event, and every attempt, what was sent and what came back; Retry.
import { useEffect, useRef, useState } from 'preact/hooks';
import { DELIVERY, endpointDeleted, RETRY } from './queries.js';
import { act, html, Json, Status, Time, usePortal } from './ui.js';

/** While updates of this delivery keep arriving, re-read it at most this often. */
const RELOAD_MS = 500;

export function DeliveryPage({ id }) {
  const { api, notify, live, readOnly } = usePortal();
  const [delivery, setDelivery] = useState(undefined); // undefined: loading; null: not found
  const [busy, setBusy] = useState(false);
  const timer = useRef(null);

  useEffect(() => {
    let current = true;
    // Reads are numbered: one answered after a later one began is older than what is shown.
    let step = 0;
    const load = async () => {
      timer.current = null;
      const began = ++step;
      try {
        const data = await api.request(DELIVERY, { id });
        if (current && began === step) setDelivery(data.delivery);
      } catch (error) {
        if (current && began === step) notify(error.message, 'error');
      }
    };
    const soon = () => {
      timer.current ??= setTimeout(load, RELOAD_MS);
    };
    setDelivery(undefined);
    load();
    const offUpdates = live.onDeliveries((updates) => {
      if (updates.some((u) => u.delivery.id === id)) soon();
    });
    const offReconnected = live.onReconnected(load);
    return () => {
      current = false;
      clearTimeout(timer.current);
      offUpdates();
      offReconnected();
    };
  }, [id]);

  const retry = async () => {
    setBusy(true);
    await act(notify, () => api.request(RETRY, { id }), `Delivery ${id} queued for a new attempt`);
    setBusy(false);
  };

  if (delivery === undefined) return html`<p class="muted">Loading delivery…</p>`;
  if (delivery === null) {
    return html`<div><h1>Delivery not found</h1><p>There is no delivery ${id} here.</p><a href="#/deliveries">All deliveries</a></div>`;
  }
  const d = delivery;
  return html`<div class="delivery">
    <p><a href="#/deliveries">← All deliveries</a></p>
    <div class="page-head">
      <h1>Delivery <span class="mono">${d.id}</span></h1>
      ${
        endpointDeleted(d)
          ? html`<span class="muted">Its endpoint was deleted: it cannot be retried.</span>`
          : html`<button type="button" class="primary" disabled=${readOnly || busy} onClick=${retry}>Retry</button>`
      }
    </div>
    <dl class="facts">
      <div><dt>Status</dt><dd><${Status} value=${d.status} /></dd></div>
      <div><dt>Event type</dt><dd>${d.eventType}</dd></div>
      <div class="wide"><dt>Endpoint</dt><dd class="url">${d.webhook.url}</dd></div>
      <div><dt>Attempts</dt><dd>${d.attemptCount}</dd></div>
      <div><dt>Created</dt><dd><${Time} value=${d.createdAt} /></dd></div>
      <div><dt>Next attempt</dt><dd><${Time} value=${d.nextAttemptAt} /></dd></div>
      <div><dt>Completed</dt><dd><${Time} value=${d.completedAt} /></dd></div>
    </dl>
    <h2>Body as sent</h2>
    <p class="hint">
      Delivery profile <strong>${d.profile}</strong>. Every attempt sends and signs these exact bytes.
    </p>
    ${
      d.body == null
        ? html`<p class="warning">Not sent: the delivery profile could not render this event (see the attempt’s TRANSFORM error).</p>`
        : html`<pre class="code body-as-sent" tabindex="0" aria-label="Body as sent">${d.body}</pre>`
    }
    <details>
      <summary>Event <span class="mono">${d.event.id}</span> as published</summary>
      <${Json} value=${{ id: d.event.id, type: d.event.type, channel: d.event.channel, data: d.event.data }} label="Event payload" />
    </details>
    <h2>Attempts</h2>
    ${
      d.attempts.length === 0
        ? html`<p class="muted">No attempt yet.</p>`
        : html`<ol class="attempts">
            ${[...d.attempts].reverse().map((a) => html`<${AttemptItem} key=${a.id} a=${a} />`)}
          </ol>`
    }
  </div>`;
}

function Headers({ value, label }) {
  const entries = Object.entries(value ?? {});
  if (entries.length === 0) return html`<p class="muted">None</p>`;
  return html`<table class="headers" aria-label=${label}>
    <tbody>
      ${entries.map(([name, v]) => html`<tr><th scope="row">${name}</th><td>${Array.isArray(v) ? v.join(', ') : String(v)}</td></tr>`)}
    </tbody>
  </table>`;
}

function AttemptItem({ a }) {
  const ok = a.responseStatus != null && a.responseStatus >= 200 && a.responseStatus < 300;
  return html`<li class="attempt" aria-label=${`Attempt ${a.number}`}>
    <div class="card-head">
      <strong>Attempt ${a.number}</strong>
      <span class=${`badge ${ok ? 'badge-succeeded' : 'badge-failed'}`}>${a.responseStatus != null ? `HTTP ${a.responseStatus}` : (a.error ?? 'no answer')}</span>
      <span class="muted">${a.trigger} · <${Time} value=${a.startedAt} /> · ${a.durationMs} ms</span>
    </div>
    ${a.error && html`<p class="warning">${a.error}${a.errorMessage ? `: ${a.errorMessage}` : ''}</p>`}
    <details>
      <summary>Request</summary>
      <p class="url">POST ${a.requestUrl}</p>
      <${Headers} value=${a.requestHeaders} label=${`Request headers of attempt ${a.number}`} />
    </details>
    <details open=${!ok}>
      <summary>Response</summary>
      <${Headers} value=${a.responseHeaders} label=${`Response headers of attempt ${a.number}`} />
      ${a.responseBody != null && html`<pre class="code" tabindex="0" aria-label=${`Response body of attempt ${a.number}`}>${a.responseBody}</pre>`}
    </details>
  </li>`;
}
