// Endpoints: the list with status and health, the add/edit form, pause/resume/delete, secrets.
import { useEffect, useRef, useState } from 'preact/hooks';
import { CREATE_WEBHOOK, DELETE_WEBHOOK, ROTATE_SECRET, SEND_TEST, UPDATE_WEBHOOK } from './queries.js';
import { act, Confirm, Dialog, html, Json, Status, Time, usePortal } from './ui.js';

/** Health figures are re-read this often while the page is open, and at most this often while deliveries change. */
const HEALTH_REFRESH_MS = 10_000;
const HEALTH_THROTTLE_MS = 2_000;

/** What adaptive throttling set below the endpoint's limits, and why. */
const THROTTLE_REASON_TEXT = {
  HTTP_429: 'it answered 429 Too Many Requests',
  HTTP_503: 'it answered 503 Service Unavailable',
  TIMEOUT: 'requests timed out',
  SLOW: 'it slowed down',
};
/** The throttle of webhook `w`, naming only the limits it lowers (a throttle may lower the rate alone). */
function throttleText(t, w) {
  const lowered = [];
  if (t.concurrency < w.maxInFlight) lowered.push(`${t.concurrency} at once`);
  if (t.rate != null && (w.rateLimit == null || t.rate < w.rateLimit)) lowered.push(`${Math.round(t.rate * 10) / 10}/s`);
  const since = new Date(t.since).toLocaleTimeString();
  return `Throttled to ${lowered.join(', ')} since ${since}: ${THROTTLE_REASON_TEXT[t.reason] ?? t.reason}. Herald raises it again as the endpoint keeps up.`;
}

export function EndpointsPage() {
  const { webhooks, reloadWebhooks, readOnly, live } = usePortal();
  const [editing, setEditing] = useState(null); // null, 'new' or a webhook
  const [secret, setSecret] = useState(null); // { url, secret, rotated } shown once

  useEffect(() => {
    reloadWebhooks();
    const timer = setInterval(reloadWebhooks, HEALTH_REFRESH_MS);
    let soon = null;
    const offUpdates = live.onDeliveries(() => {
      soon ??= setTimeout(() => {
        soon = null;
        reloadWebhooks();
      }, HEALTH_THROTTLE_MS);
    });
    return () => {
      clearInterval(timer);
      clearTimeout(soon);
      offUpdates();
    };
  }, []);

  const saved = (webhook, newSecret, signing) => {
    setEditing(null);
    if (newSecret) setSecret({ url: webhook.url, secret: newSecret, signing });
  };

  return html`<div>
    <div class="page-head">
      <h1>Endpoints</h1>
      <button type="button" class="primary" disabled=${readOnly} onClick=${() => setEditing('new')}>Add endpoint</button>
    </div>
    ${editing && html`<${EndpointForm} webhook=${editing === 'new' ? null : editing} onSaved=${saved} onCancel=${() => setEditing(null)} />`}
    ${
      webhooks === null
        ? html`<p class="muted">Loading endpoints…</p>`
        : webhooks.length === 0
          ? html`<p class="empty">No endpoints yet. Add one to start receiving events.</p>`
          : html`<ul class="cards" aria-label="Endpoints">
              ${webhooks.map((w) => html`<${EndpointItem} key=${w.id} webhook=${w} onEdit=${() => setEditing(w)} onSecret=${setSecret} />`)}
            </ul>`
    }
    ${secret && html`<${SecretDialog} ...${secret} onClose=${() => setSecret(null)} />`}
  </div>`;
}

function EndpointItem({ webhook: w, onEdit, onSecret }) {
  const { api, readOnly, notify, updateWebhook, reloadWebhooks, profiles } = usePortal();
  const signing = signingOf(profiles, w.deliveryProfile);
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(null); // 'delete' | 'rotate'
  const run = async (work, done) => {
    setBusy(true);
    const result = await act(notify, work, done);
    setBusy(false);
    return result;
  };

  const setStatus = (status) =>
    run(
      async () => updateWebhook((await api.request(UPDATE_WEBHOOK, { id: w.id, input: { status } })).updateWebhook),
      `${w.url} ${status === 'PAUSED' ? 'paused' : 'resumed'}`,
    );
  const sendTest = () =>
    run(
      () => api.request(SEND_TEST, { webhookId: w.id }),
      (data) => ({ text: `Test event sent to ${w.url}`, link: { href: `#/deliveries/${data.sendTestEvent.id}`, text: 'View delivery' } }),
    );
  const remove = async () => {
    setConfirming(null);
    await run(() => api.request(DELETE_WEBHOOK, { id: w.id }), `${w.url} deleted`);
    reloadWebhooks();
  };
  const rotate = async () => {
    setConfirming(null);
    const data = await run(() => api.request(ROTATE_SECRET, { id: w.id }));
    if (data) {
      updateWebhook(data.rotateWebhookSecret.webhook);
      if (data.rotateWebhookSecret.secret) onSecret({ url: w.url, secret: data.rotateWebhookSecret.secret, rotated: true, signing });
      else reloadWebhooks();
    }
  };
  const stats = w.stats;
  const off = readOnly || busy;

  return html`<li class="card" aria-label=${w.url}>
    <div class="card-head">
      <span class="url">${w.url}</span>
      <${Status} value=${w.status} />
    </div>
    ${w.description && html`<p class="description">${w.description}</p>`}
    ${w.disabledReason && html`<p class="warning">Disabled: ${w.disabledReason}</p>`}
    ${w.throttle && html`<p class="warning">${throttleText(w.throttle, w)}</p>`}
    <dl class="facts">
      <div><dt>Deliveries (24 h)</dt><dd>${recent(stats)}</dd></div>
      <div><dt>Last success</dt><dd><${Time} value=${stats?.lastSuccessAt} /></dd></div>
      <div><dt>Last failure</dt><dd><${Time} value=${stats?.lastFailureAt} /></dd></div>
      <div><dt>Consecutive failures</dt><dd>${stats?.consecutiveFailures ?? 0}</dd></div>
      <div class="wide"><dt>Events</dt><dd>${w.events.includes('*') ? 'All events' : w.events.join(', ')}</dd></div>
      <div><dt>At once</dt><dd>${w.maxInFlight}</dd></div>
      <div><dt>Rate limit</dt><dd>${w.rateLimit == null ? 'None' : `${w.rateLimit}/s`}</dd></div>
      ${w.adaptiveThrottling === false && html`<div><dt>Adaptive throttling</dt><dd>Off</dd></div>`}
      <div><dt>Ordering</dt><dd>${w.ordering === 'KEYED' ? 'One at a time per key' : 'Any order'}</dd></div>
      <div><dt>Waiting</dt><dd>${stats?.waiting ?? 0}</dd></div>
      <div><dt>Delivery profile</dt><dd>${w.deliveryProfile}</dd></div>
      <div><dt>Signing</dt><dd>${SIGNING_TEXT[signing?.kind] ?? '—'}</dd></div>
    </dl>
    <div class="actions">
      <button type="button" disabled=${off} onClick=${sendTest}>Send test event</button>
      ${
        w.status === 'ACTIVE'
          ? html`<button type="button" disabled=${off} onClick=${() => setStatus('PAUSED')}>Pause</button>`
          : html`<button type="button" disabled=${off} onClick=${() => setStatus('ACTIVE')}>Resume</button>`
      }
      <button type="button" disabled=${off} onClick=${onEdit}>Edit</button>
      ${signing?.kind !== 'none' && html`<button type="button" disabled=${off} onClick=${() => setConfirming('rotate')}>Rotate secret</button>`}
      <button type="button" class="danger" disabled=${off} onClick=${() => setConfirming('delete')}>Delete</button>
      <a href=${`#/deliveries?webhook=${encodeURIComponent(w.id)}`}>Deliveries</a>
    </div>
    ${
      confirming === 'delete' &&
      html`<${Confirm} title="Delete this endpoint?" confirm="Delete endpoint" danger onConfirm=${remove} onClose=${() => setConfirming(null)}>
        <p><span class="url">${w.url}</span> stops receiving events at once; deliveries still waiting for it are cancelled. Its delivery log stays readable.</p>
      <//>`
    }
    ${
      confirming === 'rotate' &&
      html`<${Confirm} title="Rotate the signing secret?" confirm="Rotate" onConfirm=${rotate} onClose=${() => setConfirming(null)}>
        <p>
          A new secret signs deliveries to
          ${
            signing?.kind === 'tenant'
              ? html`<strong>every one of your endpoints under ${w.deliveryProfile}</strong> (they share one secret)`
              : html`<span class="url">${w.url}</span>`
          }
          from now on.
          ${
            signing?.listsEverySecret === false
              ? ' This profile’s signature carries one secret: from now on only the new one signs, so update the receiver at once.'
              : ' The current one keeps signing alongside it for 24 hours, so the receiver can switch without missing a delivery.'
          }
        </p>
      <//>`
    }
  </li>`;
}

/** The signing secret, shown this once: copy it, then it is gone from the page. */
function SecretDialog({ url, secret, rotated, signing, onClose }) {
  const [copied, setCopied] = useState(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied('Copied to the clipboard.');
    } catch {
      // Inside an iframe without allow="clipboard-write" the browser refuses: select it for Ctrl+C.
      document.getElementById('signing-secret')?.select();
      setCopied('Copying was refused here: the secret is selected, press Ctrl+C (⌘C).');
    }
  };
  return html`<${Dialog} title=${rotated ? 'New signing secret' : 'Endpoint created: its signing secret'} onClose=${onClose}>
    <p>
      ${
        signing?.kind === 'tenant'
          ? html`Deliveries to <span class="url">${url}</span> and to your other endpoints under ${signing.profile.name} are signed with this secret.`
          : html`Deliveries to <span class="url">${url}</span> are signed with this secret.`
      }
      <strong> It is shown this once</strong>: copy it into the receiver’s configuration now.
    </p>
    <label for="signing-secret">Signing secret</label>
    <div class="copy-row">
      <input id="signing-secret" readonly value=${secret} class="mono" onFocus=${(e) => e.currentTarget.select()} />
      <button type="button" class="primary" onClick=${copy}>Copy</button>
    </div>
    <p role="status" class="hint">${copied ?? ''}</p>
    <div class="actions"><button type="button" onClick=${onClose}>Done</button></div>
  <//>`;
}

const AUTH_TYPES = [
  ['NONE', 'None'],
  ['BEARER', 'Bearer token'],
  ['BASIC', 'Basic (username and password)'],
  ['API_KEY', 'API key (x-api-key header)'],
  ['CUSTOM_HEADER', 'Custom header'],
];

/**
 * How the delivery profile `name` signs: `kind` 'none' (unsigned), 'webhook' (each endpoint its
 * own secret) or 'tenant' (one secret for all of the tenant's endpoints under it); `format` of
 * its secrets; `listsEverySecret` when its signature carries every live secret during a rotation.
 * Null while the profiles load or for a profile not offered.
 */
function signingOf(profiles, name) {
  const profile = profiles.list.find((p) => p.name === name);
  if (!profile) return null;
  const { signature, secret } = profile.definition;
  if (!signature) return { kind: 'none', profile };
  return {
    kind: secret.scope === 'TENANT' ? 'tenant' : 'webhook',
    format: secret.format,
    listsEverySecret: signature.format === 'v1,{sig}' || signature.format === 't={t},v1={sig}',
    profile,
  };
}

/**
 * The last 24 hours of an endpoint's deliveries, in counts: "3 of 5 succeeded · 1 failed" (the
 * rest are still being tried). Counts and not a rate, so that an endpoint whose deliveries all
 * still retry and one whose deliveries gave up both read 0 succeeded.
 */
function recent(stats) {
  if (!stats || stats.deliveries24h === 0) return 'None';
  const failed = stats.failed24h > 0 ? ` · ${stats.failed24h} failed` : '';
  return `${stats.succeeded24h} of ${stats.deliveries24h} succeeded${failed}`;
}

const SIGNING_TEXT = { none: 'Not signed', webhook: 'Its own secret', tenant: 'Shared secret' };

/** What an imported secret must look like, by the profile's secret format. */
const SECRET_FORMATS = {
  WHSEC: '“whsec_” followed by base64',
  HEX: '64 hexadecimal characters',
  TOKEN: '16 to 256 visible characters, no spaces',
};

const list = (text) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The form's fields from an endpoint (or empty for a new one). */
function initialFields(w) {
  return {
    url: w?.url ?? '',
    description: w?.description ?? '',
    events: new Set(w?.events ?? []),
    channels: w?.channels?.join(', ') ?? '',
    profile: w?.profile ?? '',
    secret: '',
    authType: w?.auth.type ?? 'NONE',
    token: '',
    username: w?.auth.username ?? '',
    password: '',
    headerName: w?.auth.type === 'CUSTOM_HEADER' ? (w.auth.headerName ?? '') : '',
    headerValue: '',
    headers: (w?.headers ?? []).map((h) => `${h.name}: ${h.value}`).join('\n'),
    retrySchedule: w ? w.retrySchedule.join(', ') : '',
    timeoutMs: String(w?.timeoutMs ?? 15000),
  };
}

/** Turns the form into CreateWebhookInput / UpdateWebhookInput (for an edit: only what changed). */
function toInput(fields, original, errors) {
  const before = original ? initialFields(original) : null;
  const changed = (name) => !before || fields[name] !== before[name];
  const input = {};
  input.url = fields.url.trim();
  input.events = [...fields.events];
  if (input.events.length === 0) errors.events = 'Pick at least one event (or All events).';
  if (changed('description')) input.description = fields.description.trim() || null;
  if (changed('channels')) input.channels = fields.channels.trim() ? list(fields.channels) : null;
  // '' follows the tenant's (else the platform's) profile: on an edit, null clears the endpoint's own.
  if (changed('profile') && (fields.profile || before)) input.profile = fields.profile || null;
  if (fields.secret.trim()) input.secret = fields.secret.trim();
  const authSecretGiven = fields.token || fields.password || fields.headerValue;
  if (
    !before ||
    fields.authType !== before.authType ||
    authSecretGiven ||
    fields.username !== before.username ||
    fields.headerName !== before.headerName
  ) {
    if (fields.authType !== 'NONE' || before) {
      const auth = { type: fields.authType };
      if (fields.authType === 'BEARER' || fields.authType === 'API_KEY') auth.token = fields.token;
      if (fields.authType === 'BASIC') Object.assign(auth, { username: fields.username, password: fields.password });
      if (fields.authType === 'CUSTOM_HEADER') Object.assign(auth, { headerName: fields.headerName, headerValue: fields.headerValue });
      input.auth = auth;
    }
  }
  if (changed('headers')) {
    const headers = [];
    for (const line of fields.headers.split('\n').filter((l) => l.trim())) {
      const at = line.indexOf(':');
      if (at < 1) {
        errors.headers = `"${line.trim()}" is not "Name: value".`;
        break;
      }
      headers.push({ name: line.slice(0, at).trim(), value: line.slice(at + 1).trim() });
    }
    input.headers = headers;
  }
  if (changed('retrySchedule')) {
    const parts = list(fields.retrySchedule);
    if (parts.some((p) => !/^\d+$/.test(p))) errors.retrySchedule = 'Whole seconds separated by commas, e.g. 5, 300, 1800.';
    input.retrySchedule = parts.length || !before ? parts.map(Number) : null;
    if (!before && parts.length === 0) delete input.retrySchedule;
  }
  if (changed('timeoutMs')) {
    if (!/^\d+$/.test(fields.timeoutMs.trim())) errors.timeoutMs = 'A number of milliseconds, 1000 to 30000.';
    input.timeoutMs = Number(fields.timeoutMs);
  }
  return input;
}

/**
 * The secret part of the form, as the applied profile signs: nothing for an unsigned one; for a
 * per-endpoint or a shared (per-tenant) secret, what will sign and an optional secret to import,
 * so that a receiver keeps the secret it already has.
 */
function SigningFields({ signing, webhook, field, input }) {
  if (!signing) return null;
  if (signing.kind === 'none') {
    return html`<p class="hint" id="signing-note">Deliveries under ${signing.profile.name} are not signed: there is no secret.</p>`;
  }
  const format = SECRET_FORMATS[signing.format] ?? signing.format;
  const note =
    signing.kind === 'tenant'
      ? html`One secret signs all your endpoints under ${signing.profile.name}. Your first endpoint under it makes that secret (shown once);
          the others use it, and rotating it on any of them changes it for all.`
      : webhook
        ? 'This endpoint has its own signing secret. Rotate it from the list, or import one below to replace it at once.'
        : 'This endpoint gets its own signing secret, shown once after saving.';
  const hint =
    signing.kind === 'tenant'
      ? `Only while you have no endpoint under ${signing.profile.name} yet: ${format}.`
      : webhook
        ? `Leave empty to keep the current secret; to replace it, ${format}.`
        : `Leave empty and Herald makes one. To keep the secret your receiver already uses, paste it: ${format}.`;
  return html`<div class="signing">
    <p class="hint" id="signing-note">${note}</p>
    ${field('secret', 'Existing secret (optional)', input('secret', { type: 'password', autocomplete: 'off', spellcheck: false }), hint)}
  </div>`;
}

/** Which form field shows the message of a server-side VALIDATION_ERROR field. */
const FIELD_OF = { 'auth.token': 'token', 'auth.password': 'password', 'auth.username': 'username', 'auth.headerName': 'headerName' };

/** The confirmation after adding an endpoint, saying whose secret signs its deliveries. */
function addedText(webhook, secret, imported, signing) {
  if (signing?.kind === 'none') return `${webhook.url} added: its deliveries are not signed`;
  if (imported) return `${webhook.url} added: it signs with the secret you gave`;
  if (!secret && signing?.kind === 'tenant') {
    return `${webhook.url} added: it signs with the secret your endpoints under ${webhook.deliveryProfile} share`;
  }
  return `${webhook.url} added`;
}

function EndpointForm({ webhook, onSaved, onCancel }) {
  const { api, catalog, notify, reloadWebhooks, readOnly, profiles } = usePortal();
  const [fields, setFields] = useState(() => initialFields(webhook));
  const [errors, setErrors] = useState({});
  const [saving, setSaving] = useState(false);
  const form = useRef(null);
  // After a refused save, the keyboard goes to the first field that needs attention.
  useEffect(() => {
    form.current?.querySelector('[aria-invalid="true"], .invalid input')?.focus();
  }, [errors]);
  const set = (name) => (event) => setFields({ ...fields, [name]: event.currentTarget.value });
  const toggleEvent = (name) => (event) => {
    const events = new Set(fields.events);
    if (event.currentTarget.checked) events.add(name);
    else events.delete(name);
    setFields({ ...fields, events });
  };

  const submit = async (event) => {
    event.preventDefault();
    const found = {};
    const input = toInput(fields, webhook, found);
    setErrors(found);
    if (Object.keys(found).length) return;
    setSaving(true);
    try {
      if (webhook) {
        const data = await api.request(UPDATE_WEBHOOK, { id: webhook.id, input });
        notify(`${data.updateWebhook.url} saved`);
        onSaved(data.updateWebhook, null);
      } else {
        const { webhook: created, secret } = (await api.request(CREATE_WEBHOOK, { input })).createWebhook;
        notify(addedText(created, secret, input.secret, signingOf(profiles, created.deliveryProfile)));
        // An imported secret is the receiver's already: nothing to show.
        onSaved(created, input.secret ? null : secret, signingOf(profiles, created.deliveryProfile));
      }
      reloadWebhooks();
    } catch (error) {
      const byField = {};
      for (const f of error.fields ?? []) byField[FIELD_OF[f.field] ?? f.field.split('.')[0].replace(/\[\d+\]$/, '')] = f.message;
      setErrors(byField);
      notify(error.message, 'error');
    } finally {
      setSaving(false);
    }
  };

  const field = (name, label, control, hint) => html`<div class=${`field${errors[name] ? ' invalid' : ''}`}>
    <label for=${`f-${name}`}>${label}</label>
    ${control({ id: `f-${name}`, 'aria-invalid': errors[name] ? 'true' : undefined, 'aria-describedby': `f-${name}-note` })}
    <p id=${`f-${name}-note`} class=${errors[name] ? 'error-text' : 'hint'}>${errors[name] ?? hint ?? ''}</p>
  </div>`;
  const input =
    (name, props = {}) =>
    (a) =>
      html`<input ...${a} ...${props} value=${fields[name]} onInput=${set(name)} />`;
  const select = (name, options) => (a) =>
    html`<select ...${a} value=${fields[name]} onChange=${set(name)}>
      ${options.map(([value, label]) => html`<option value=${value}>${label}</option>`)}
    </select>`;
  const secretPlaceholder = webhook && webhook.auth.type === fields.authType && fields.authType !== 'NONE' ? 'unchanged' : '';
  const allEvents = fields.events.has('*');
  // The profile that will apply: the one picked, else the tenant's (else the platform's).
  const applied = fields.profile || profiles.defaultProfile;
  const signing = signingOf(profiles, applied);
  const profileOptions = [
    ['', `Default${profiles.defaultProfile ? ` (${profiles.defaultProfile})` : ''}`],
    ...profiles.list.map((p) => [p.name, p.name]),
  ];

  return html`<form ref=${form} class="panel" onSubmit=${submit} aria-labelledby="endpoint-form-title" novalidate>
    <h2 id="endpoint-form-title">${webhook ? 'Edit endpoint' : 'Add an endpoint'}</h2>
    ${field('url', 'Endpoint URL', input('url', { type: 'url', required: true, placeholder: 'https://example.com/webhooks', autocomplete: 'off' }), 'The HTTPS address Herald POSTs the events to.')}
    ${field('description', 'Description', input('description', { maxlength: 1000 }))}
    <fieldset class=${`field events${errors.events ? ' invalid' : ''}`} aria-describedby="f-events-note">
      <legend>Events</legend>
      <label class="check"><input type="checkbox" checked=${allEvents} onChange=${toggleEvent('*')} /> All events</label>
      <ul class="event-list">
        ${catalog
          .filter((t) => !t.archived)
          .map(
            (t) => html`<li key=${t.name}>
              <label class="check">
                <input type="checkbox" checked=${allEvents || fields.events.has(t.name)} disabled=${allEvents} onChange=${toggleEvent(t.name)} />
                <code>${t.name}</code>
              </label>
              ${t.description && html`<span class="hint">${t.description}</span>`}
              ${t.example != null && html`<details><summary>Example payload</summary><${Json} value=${t.example} label=${`Example payload of ${t.name}`} /></details>`}
            </li>`,
          )}
      </ul>
      <p id="f-events-note" class=${errors.events ? 'error-text' : 'hint'}>${errors.events ?? ''}</p>
    </fieldset>
    ${field('profile', 'Delivery profile', select('profile', profileOptions), signing?.profile.description ?? 'The format of what the endpoint receives: body, headers and signature.')}
    <${SigningFields} signing=${signing} webhook=${webhook} field=${field} input=${input} />
    <details class="advanced" open=${Boolean(webhook)}>
      <summary>Channels, authentication, headers, retries</summary>
      ${field('channels', 'Channels', input('channels', { placeholder: 'sms, whatsapp' }), 'Only events of these channels, comma-separated. Empty: every channel.')}
      ${field('authType', 'Authentication', select('authType', AUTH_TYPES), 'How Herald authenticates to the endpoint, besides the signature.')}
      ${(fields.authType === 'BEARER' || fields.authType === 'API_KEY') && field('token', 'Token', input('token', { type: 'password', autocomplete: 'off', placeholder: secretPlaceholder }))}
      ${fields.authType === 'BASIC' && field('username', 'Username', input('username', { autocomplete: 'off' }))}
      ${fields.authType === 'BASIC' && field('password', 'Password', input('password', { type: 'password', autocomplete: 'new-password', placeholder: secretPlaceholder }))}
      ${fields.authType === 'CUSTOM_HEADER' && field('headerName', 'Header name', input('headerName', { autocomplete: 'off' }))}
      ${fields.authType === 'CUSTOM_HEADER' && field('headerValue', 'Header value', input('headerValue', { type: 'password', autocomplete: 'off', placeholder: secretPlaceholder }))}
      ${field(
        'headers',
        'Custom headers',
        (a) =>
          html`<textarea ...${a} rows="3" value=${fields.headers} onInput=${set('headers')} placeholder="X-Team: payments"></textarea>`,
        'One "Name: value" per line, sent with every delivery.',
      )}
      ${field('retrySchedule', 'Retry schedule (seconds)', input('retrySchedule', { inputmode: 'numeric', placeholder: '5, 300, 1800, 7200' }), 'Waits between attempts, comma-separated. Empty: Herald’s default (10 attempts over about 3 days).')}
      ${field('timeoutMs', 'Timeout (ms)', input('timeoutMs', { type: 'number', min: 1000, max: 30000, step: 1000 }), 'How long Herald waits for a 2xx: 1000 to 30000.')}
    </details>
    <div class="actions">
      <button type="submit" class="primary" disabled=${saving || readOnly}>Save</button>
      <button type="button" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}
