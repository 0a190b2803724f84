// Small DOM helpers shared by the chat and admin pages: element building (text is always
// set as text, never parsed as HTML), modal dialogs (confirm, token prompt) and toasts.

/**
 * Creates an element. `props` sets properties (className, textContent, href, ...);
 * keys starting with "aria-", "data-" or "role" become attributes; "on*" functions become
 * listeners. Children are nodes or strings (strings become text nodes).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key.startsWith('aria-') || key.startsWith('data-') || key === 'role' ||
               key === 'for' || key === 'tabindex') {
      el.setAttribute(key, value === true ? '' : String(value));
    } else {
      el[key] = value;
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return el;
}

/** A stable hue (0..359) for a user id, for avatars. */
export function hueFor(id) {
  let hash = 0;
  for (const ch of String(id)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

/** Up to two initials of a display name. */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/).filter(Boolean);
  const letters = words.slice(0, 2).map((w) => [...w][0].toUpperCase());
  return letters.join('') || '?';
}

export function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function formatDateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** "just now", "5 min ago", "3 h ago", else a date. */
export function formatRelative(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  if (s < 7 * 86400) return `${Math.round(s / 86400)} d ago`;
  return new Date(t).toLocaleDateString([], { dateStyle: 'medium' });
}

export function formatDay(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', month: 'long', day: 'numeric' });
}

// Opens `dialog` modally and resolves with its returnValue once closed.
function runDialog(dialog, focusEl) {
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue;
      dialog.remove();
      resolve(value);
    }, { once: true });
    dialog.showModal();
    (focusEl || dialog.querySelector('input, button')).focus();
  });
}

/**
 * A modal yes/no question. Resolves true when the user confirms. Esc or Cancel resolve false.
 */
export function confirmDialog({ title, message, confirmLabel = 'OK', danger = false }) {
  const cancel = h('button', { type: 'submit', value: 'cancel', className: 'btn' }, 'Cancel');
  const ok = h('button', {
    type: 'submit',
    value: 'ok',
    className: danger ? 'btn btn-danger' : 'btn btn-primary',
  }, confirmLabel);
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog', { className: 'dialog', 'aria-labelledby': titleId, role: 'alertdialog' },
    h('form', { method: 'dialog' },
      h('h2', { id: titleId }, title),
      h('p', { className: 'dialog-message' }, message),
      h('div', { className: 'dialog-actions' }, cancel, ok)));
  return runDialog(dialog, cancel).then((value) => value === 'ok');
}

/**
 * Asks for an access token (the server answered 401 / unauthorized). Resolves with the
 * trimmed token, or null if the user cancelled.
 */
export function promptToken(reason = 'This server requires an access token.') {
  const input = h('input', {
    type: 'password',
    name: 'token',
    id: 'token-input',
    autocomplete: 'off',
    required: true,
    className: 'input',
  });
  const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
  const dialog = h('dialog', { className: 'dialog token-dialog', 'aria-labelledby': titleId },
    h('form', { method: 'dialog' },
      h('h2', { id: titleId }, 'Access token required'),
      h('p', { className: 'dialog-message' }, reason),
      h('label', { className: 'field', for: 'token-input' }, h('span', {}, 'Token'), input),
      h('div', { className: 'dialog-actions' },
        h('button', { type: 'submit', value: 'cancel', className: 'btn', formNoValidate: true },
          'Cancel'),
        h('button', { type: 'submit', value: 'ok', className: 'btn btn-primary' }, 'Continue'))));
  return runDialog(dialog, input).then((value) =>
    value === 'ok' && input.value.trim() ? input.value.trim() : null);
}

let toastRegion = null;

/** Shows a short status message in a polite live region. */
export function toast(message, { error = false, timeout = 4000 } = {}) {
  if (!toastRegion) {
    toastRegion = h('div', { className: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastRegion);
  }
  const el = h('div', { className: error ? 'toast toast-error' : 'toast' }, message);
  toastRegion.append(el);
  setTimeout(() => el.remove(), timeout);
}
