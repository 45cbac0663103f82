// Small pieces every page uses: the shared context, times, status badges, dialogs, JSON.

import { html } from 'htm/preact';
import { createContext, h } from 'preact';
import { useContext, useEffect, useRef } from 'preact/hooks';

export { html };

/**
 * What every page of a signed-in portal reads:
 * `{ api, readOnly, catalog, profiles, webhooks, webhookById, reloadWebhooks, updateWebhook, notify, live }`
 * (`profiles`: `{ list, defaultProfile }`, the delivery profiles offered and the one endpoints naming none follow).
 */
export const Portal = createContext(null);

/** @returns {any} the signed-in portal's context */
export const usePortal = () => useContext(Portal);

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** A time as people read it: the time alone today, with the date otherwise; the ISO form in `datetime`. */
export function Time({ value }) {
  if (!value) return html`<span class="muted">—</span>`;
  const date = new Date(value);
  const today = date.toDateString() === new Date().toDateString();
  return html`<time datetime=${date.toISOString()} title=${dateTimeFormat.format(date)}>
    ${today ? timeFormat.format(date) : dateTimeFormat.format(date)}
  </time>`;
}

/** A delivery's or endpoint's status, coloured by what it means. */
export function Status({ value }) {
  return html`<span class=${`badge badge-${value.toLowerCase()}`}>${value}</span>`;
}

export function Json({ value, label }) {
  return html`<pre class="code" aria-label=${label} tabindex="0">${JSON.stringify(value, null, 2)}</pre>`;
}

/**
 * A modal dialog (the browser's own `<dialog>`: focus stays inside, Escape closes it).
 * Rendered only while open; `onClose` runs when it is dismissed.
 */
export function Dialog({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    dialog.showModal();
    const cancel = (event) => {
      event.preventDefault();
      onClose();
    };
    dialog.addEventListener('cancel', cancel);
    return () => dialog.removeEventListener('cancel', cancel);
  }, []);
  return html`<dialog ref=${ref} aria-labelledby="dialog-title" class="dialog">
    <h2 id="dialog-title">${title}</h2>
    ${children}
  </dialog>`;
}

/** Asks before something that cannot be undone; `confirm` names the button that does it. */
export function Confirm({ title, confirm, danger, onConfirm, onClose, children }) {
  return html`<${Dialog} title=${title} onClose=${onClose}>
    ${children}
    <div class="actions">
      <button type="button" class=${danger ? 'danger' : 'primary'} onClick=${onConfirm}>${confirm}</button>
      <button type="button" onClick=${onClose} autofocus>Cancel</button>
    </div>
  <//>`;
}

/**
 * A URL that gives way in the middle when it does not fit, not at its end: its path, which tells
 * endpoints on one host apart (`http://127.0.0.1:9…/ok` against `…/fail`), is kept and the
 * scheme and host give way. The text stays whole for screen readers, copying and search; `title`
 * shows it on hover.
 */
export function ShortUrl({ url, className = '' }) {
  const cut = pathStart(url);
  return html`<span class=${`url short-url ${className}`} title=${url}>${cut > 0 && html`<span class="head">${url.slice(0, cut)}</span>`}<span class="tail">${url.slice(cut)}</span></span>`;
}

/** Where a URL's path starts, or its last 24 characters when the path is longer. */
function pathStart(url) {
  const scheme = url.indexOf('://');
  const path = scheme === -1 ? -1 : url.indexOf('/', scheme + 3);
  return Math.max(path === -1 ? 0 : path, url.length - 24);
}

/** Runs a mutation from a button: the button is busy meanwhile, and errors are shown, not thrown. */
export async function act(notify, work, done) {
  try {
    const result = await work();
    if (done) notify(typeof done === 'function' ? done(result) : done);
    return result;
  } catch (error) {
    notify(error.message, 'error');
    return undefined;
  }
}

const differ = (a, b) => Object.keys(a).some((k) => a[k] !== b[k]) || Object.keys(b).some((k) => !(k in a));

/**
 * A component that re-renders only when one of its props changed (what preact/compat's memo
 * does, without compat's global changes to event names).
 */
export function memo(Inner) {
  function Memo(props) {
    this.shouldComponentUpdate = (next) => differ(this.props, next);
    return h(Inner, props);
  }
  return Memo;
}
