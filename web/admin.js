// Parley admin page: browse conversations (cursor paging), search messages, open one,
// export it in every format, delete it (after confirmation), and watch server health.
// Every REST call goes through api.js, which asks for a token on 401.

import { api, ApiError, getToken, seg } from './api.js';
import { renderMarkdown, toPlainText } from './markdown.js';
import {
  confirmDialog, formatDateTime, formatRelative, h, hueFor, initials, toast,
} from './ui.js';

const PAGE_SIZE = 50;
const HEALTH_INTERVAL_MS = 10000;
const EXPORT_FORMATS = [
  ['json', 'JSON'],
  ['jsonl', 'JSONL'],
  ['markdown', 'Markdown'],
  ['csv', 'CSV'],
];

const $ = (id) => document.getElementById(id);

const state = {
  conversations: [],
  cursor: null,
  loading: false,
  filter: '',
  selected: null,      // the open conversation (with messages)
  highlightSeq: null,
  listGeneration: 0,
};

window.parleyAdmin = { state };

// ---------------------------------------------------------------------------------------------
// Health

async function loadHealth() {
  const status = $('health-status');
  try {
    const res = await api('/health', { raw: true, accept: [503] });
    const data = await res.json();
    status.dataset.status = data.status || 'unknown';
    $('health-text').textContent = `Server ${data.status || 'unknown'}`;
    const uptime = Number(data.uptime_s);
    const facts = [
      ['Storage', `${data.storage ?? '?'}${data.persistent_storage === false ? ' (not persistent)' : ''}`],
      ['Database', data.database ?? '?'],
      ['Connections', data.connections],
      ['Active rooms', data.active_conversations],
      ['Saved conversations', data.saved_conversations],
      ['Uptime', Number.isFinite(uptime) ? formatUptime(uptime) : '?'],
      ['Version', data.version],
    ];
    $('health-stats').replaceChildren(...facts.map(([k, v]) => h('div', { className: 'stat' },
      h('dt', {}, k), h('dd', {}, v === undefined || v === null ? '?' : String(v)))));
  } catch (err) {
    status.dataset.status = 'unhealthy';
    $('health-text').textContent = `Server unreachable (${err.message})`;
    $('health-stats').replaceChildren();
  }
}

function formatUptime(seconds) {
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${m} min`;
  if (m > 0) return `${m} min`;
  return `${s} s`;
}

// ---------------------------------------------------------------------------------------------
// Conversation list

async function loadConversations({ reset = false } = {}) {
  if (state.loading && !reset) return;
  const generation = reset ? ++state.listGeneration : state.listGeneration;
  if (reset) {
    state.conversations = [];
    state.cursor = null;
  }
  state.loading = true;
  $('list-status').textContent = 'Loading…';
  $('list-more').hidden = true;
  try {
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.cursor) params.set('cursor', state.cursor);
    if (state.filter) params.set('q', state.filter);
    const data = await api(`/api/v1/conversations?${params}`);
    if (generation !== state.listGeneration) return;
    const seen = new Set(state.conversations.map((c) => c.id));
    for (const conv of (data && data.conversations) || []) {
      if (!seen.has(conv.id)) state.conversations.push(conv);
    }
    state.cursor = (data && data.next_cursor) || null;
    renderList();
  } catch (err) {
    if (generation !== state.listGeneration) return;
    $('list-status').textContent = `Could not load conversations: ${err.message}`;
    return;
  } finally {
    if (generation === state.listGeneration) state.loading = false;
  }
}

function renderList() {
  const list = $('conversation-list');
  list.replaceChildren(...state.conversations.map((conv) => {
    const selected = state.selected && state.selected.id === conv.id;
    const title = conv.title || conv.id;
    const count = conv.message_count ?? 0;
    return h('li', {},
      h('button', {
        type: 'button',
        className: 'conv-item',
        'data-id': conv.id,
        'aria-current': selected ? 'true' : undefined,
        onclick: () => openConversation(conv.id),
      },
        h('span', { className: 'avatar avatar-sm', 'aria-hidden': 'true', style: `--hue:${hueFor(conv.id)}` }, initials(title)),
        h('span', { className: 'conv-main' },
          h('span', { className: 'conv-title' }, title),
          h('span', { className: 'conv-id' }, conv.title && conv.title !== conv.id ? conv.id : '')),
        h('span', { className: 'conv-side' },
          h('span', { className: 'conv-count', 'aria-label': `${count} messages` }, `${count} msg`),
          h('time', {
            className: 'conv-time', dateTime: conv.updated_at || '', title: formatDateTime(conv.updated_at),
          }, formatRelative(conv.updated_at)),
          conv.is_active === false ? h('span', { className: 'tag' }, 'inactive') : null)));
  }));
  const n = state.conversations.length;
  $('list-status').textContent = n === 0
    ? (state.filter ? 'No conversation matches the filter.' : 'No conversations yet.')
    : `${n} conversation${n === 1 ? '' : 's'}${state.cursor ? ' shown' : ''}`;
  $('list-more').hidden = !state.cursor;
}

// ---------------------------------------------------------------------------------------------
// Search

async function search(q) {
  const hits = $('hits');
  const list = $('hit-list');
  hits.hidden = false;
  $('hits-title').textContent = `Searching for “${q}”…`;
  list.replaceChildren();
  try {
    const data = await api(`/api/v1/search?${new URLSearchParams({ q, limit: '50' })}`);
    const found = (data && data.hits) || [];
    $('hits-title').textContent = `${found.length} result${found.length === 1 ? '' : 's'} for “${q}”`;
    list.replaceChildren(...found.map((hit) => {
      const snippet = hit.snippet ?? hit.content ?? hit.message?.content ?? '';
      const convId = hit.conversation ?? hit.conversation_id;
      const seq = hit.seq ?? hit.message?.seq;
      const sender = hit.sender?.name ?? hit.sender_name ?? hit.message?.sender?.name;
      return h('li', {},
        h('button', {
          type: 'button', className: 'hit', onclick: () => openConversation(convId, { seq }),
        },
          h('span', { className: 'hit-where' },
            h('span', { className: 'hit-conv' }, hit.conversation_title || hit.title ||
              state.conversations.find((c) => c.id === convId)?.title || convId),
            seq !== undefined ? h('span', { className: 'hit-seq' }, ` #${seq}`) : null,
            sender ? h('span', { className: 'hit-sender' }, ` · ${sender}`) : null),
          h('span', { className: 'hit-snippet' }, highlight(toPlainText(stripMarkers(snippet)), q))));
    }));
  } catch (err) {
    $('hits-title').textContent = `Search failed: ${err.message}`;
  }
}

// Snippets may carry highlight markers from the database; show plain text and highlight the
// query terms ourselves (as DOM nodes, never HTML).
function stripMarkers(text) {
  return String(text).replace(/<\/?(b|mark|em|strong)>/gi, '').replace(/\[\[|\]\]/g, '');
}

function highlight(text, q) {
  const terms = q.split(/\s+/).map((t) => t.replace(/["*]/g, '')).filter((t) => t.length > 1);
  if (terms.length === 0) return [text];
  const pattern = new RegExp(`(${terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'gi');
  return text.split(pattern).map((part, i) => (i % 2 === 1 ? h('mark', {}, part) : part));
}

// ---------------------------------------------------------------------------------------------
// Detail

async function openConversation(id, { seq = null } = {}) {
  if (id === undefined || id === null) return;
  state.highlightSeq = seq;
  const hash = `#c=${encodeURIComponent(id)}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
  document.body.classList.add('detail-open');
  $('detail').hidden = false;
  $('detail-empty').hidden = true;
  $('detail-title').textContent = id;
  $('transcript').replaceChildren(h('li', { className: 'muted' }, 'Loading…'));
  try {
    const conv = await api(`/api/v1/conversations/${seg(id)}`);
    state.selected = conv;
    renderDetail();
    renderList();
  } catch (err) {
    state.selected = null;
    const text = err instanceof ApiError && err.status === 404
      ? 'This conversation does not exist (any more).'
      : `Could not load: ${err.message}`;
    $('transcript').replaceChildren(h('li', { className: 'muted' }, text));
  }
}

function closeDetail() {
  state.selected = null;
  document.body.classList.remove('detail-open');
  $('detail').hidden = true;
  $('detail-empty').hidden = false;
  if (location.hash) history.replaceState(null, '', location.pathname);
  renderList();
}

function renderDetail() {
  const conv = state.selected;
  if (!conv) return;
  const messages = Array.isArray(conv.messages) ? conv.messages : [];
  $('detail-title').textContent = conv.title || conv.id;
  const participants = Array.isArray(conv.participants) && conv.participants.length
    ? conv.participants.join(', ')
    : 'open room';
  const facts = [
    ['Id', conv.id],
    ['Messages', conv.message_count ?? messages.length],
    ['Last seq', conv.last_seq],
    ['Created', formatDateTime(conv.created_at)],
    ['Last activity', `${formatDateTime(conv.updated_at)} (${formatRelative(conv.updated_at)})`],
    ['Participants', participants],
    ['Active', conv.is_active === false ? 'no' : 'yes'],
  ];
  $('detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [
    h('dt', {}, k), h('dd', {}, v === undefined || v === null ? '—' : String(v)),
  ]));

  $('exports').replaceChildren(...EXPORT_FORMATS.map(([format, label]) => {
    const href = `/api/v1/conversations/${seg(conv.id)}/export?format=${format}`;
    return h('a', {
      className: 'btn btn-small',
      href,
      download: '',
      'data-format': format,
      'aria-label': `Export as ${label}`,
      onclick: (e) => {
        // Plain links cannot carry the Authorization header; with a token, fetch instead.
        if (!getToken()) return;
        e.preventDefault();
        downloadWithToken(href, `${conv.id}.${format === 'markdown' ? 'md' : format}`);
      },
    }, label);
  }));

  const extra = { settings: conv.settings ?? {}, meta: conv.meta ?? {} };
  $('detail-json').textContent = JSON.stringify(extra, null, 2);

  const transcript = $('transcript');
  if (messages.length === 0) {
    transcript.replaceChildren(h('li', { className: 'muted' }, 'No messages.'));
    return;
  }
  transcript.replaceChildren(...messages.map((msg) => {
    const sender = msg.sender || {};
    const name = sender.name || sender.id || msg.role || 'unknown';
    const role = sender.role || msg.role || '';
    const item = h('li', {
      className: `line${msg.deleted ? ' deleted' : ''}${msg.seq === state.highlightSeq ? ' highlight' : ''}`,
      'data-seq': msg.seq,
    },
      h('div', { className: 'line-meta' },
        h('span', { className: 'line-seq' }, `#${msg.seq}`),
        h('span', { className: 'avatar avatar-xs', 'aria-hidden': 'true', style: `--hue:${hueFor(sender.id || name)}` }, initials(name)),
        h('span', { className: 'name' }, name),
        role ? h('span', { className: `role-badge role-${String(role).replace(/[^a-z0-9-]/gi, '')}` }, role) : null,
        msg.kind && msg.kind !== 'text' ? h('span', { className: 'tag' }, msg.kind) : null,
        h('time', { dateTime: msg.created_at || '', title: formatDateTime(msg.created_at) }, formatDateTime(msg.created_at)),
        msg.edited_at ? h('span', { className: 'edited' }, '(edited)') : null),
      h('div', { className: 'line-body' },
        msg.deleted ? h('p', { className: 'deleted-text' }, 'This message was deleted.') : renderMarkdown(msg.content || '')));
    return item;
  }));
  if (state.highlightSeq !== null) {
    const target = transcript.querySelector(`[data-seq="${CSS.escape(String(state.highlightSeq))}"]`);
    if (target) target.scrollIntoView({ block: 'center' });
  }
}

async function downloadWithToken(href, fallbackName) {
  try {
    const res = await api(href, { raw: true });
    const blob = await res.blob();
    const disposition = res.headers.get('Content-Disposition') || '';
    const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const name = match ? decodeURIComponent(match[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: name });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    toast(`Export failed: ${err.message}`, { error: true });
  }
}

async function deleteSelected() {
  const conv = state.selected;
  if (!conv) return;
  const count = conv.message_count ?? (conv.messages || []).length;
  const ok = await confirmDialog({
    title: `Delete “${conv.title || conv.id}”?`,
    message: `The conversation and its ${count} message${count === 1 ? '' : 's'} will be removed for everyone. This cannot be undone.`,
    confirmLabel: 'Delete',
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/api/v1/conversations/${seg(conv.id)}`, { method: 'DELETE', accept: [404] });
    state.conversations = state.conversations.filter((c) => c.id !== conv.id);
    toast(`Deleted ${conv.title || conv.id}`);
    closeDetail();
    loadHealth();
  } catch (err) {
    toast(`Delete failed: ${err.message}`, { error: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $('health-refresh').addEventListener('click', loadHealth);
  $('list-refresh').addEventListener('click', () => loadConversations({ reset: true }));
  $('list-more').addEventListener('click', () => loadConversations());
  $('detail-back').addEventListener('click', closeDetail);
  $('delete-btn').addEventListener('click', deleteSelected);
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('search-input').value.trim();
    if (q) search(q);
  });
  $('hits-close').addEventListener('click', () => {
    $('hits').hidden = true;
    $('search-input').value = '';
  });
  let filterTimer = null;
  $('filter-input').addEventListener('input', (e) => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      state.filter = e.target.value.trim();
      loadConversations({ reset: true });
    }, 250);
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && state.selected && !document.querySelector('dialog[open]')) closeDetail();
  });
}

async function main() {
  wire();
  loadHealth();
  setInterval(loadHealth, HEALTH_INTERVAL_MS);
  await loadConversations({ reset: true });
  const m = /^#c=(.+)$/.exec(location.hash);
  if (m) openConversation(decodeURIComponent(m[1]));
}

main();
