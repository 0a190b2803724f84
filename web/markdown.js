// Markdown-style formatting for chat messages, rendered SAFELY.
//
// parse(text) turns a message into a small tree of plain objects (no HTML involved);
// render(tree) / renderMarkdown(text) build DOM nodes from it with createElement and text
// nodes only, so user text can never become markup, attributes or script. Links are kept
// only for http(s) and mailto URLs.
//
// Supported: paragraphs (single newlines kept as line breaks), **bold** / __bold__,
// *italic* / _italic_, ~~strike~~, `inline code`, ``` fenced code blocks ```, bullet lists
// (-, *, +), numbered lists (1. or 1)), > quotes, [text](https://link) and bare URLs.

const FENCE = /^\s*```\s*([\w+#.-]*)\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const ORDERED = /^\s*(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s*>\s?(.*)$/;
const URL_START = /^(https?:\/\/|mailto:)/i;

/** Returns the href if it is safe to link to, else null. */
export function safeHref(url) {
  const trimmed = String(url).trim();
  if (/^(https?:\/\/|mailto:)[^\s<>"]+$/i.test(trimmed)) return trimmed;
  return null;
}

/**
 * Parses `text` into block nodes:
 *   {type:'p', children}, {type:'pre', lang, value}, {type:'ul'|'ol', start?, items:[children]},
 *   {type:'quote', children:[blocks]}
 * Inline nodes: {type:'text', value}, {type:'br'}, {type:'strong'|'em'|'del', children},
 *   {type:'code', value}, {type:'link', href, children}
 */
export function parse(text) {
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  return parseBlocks(lines);
}

function parseBlocks(lines) {
  const blocks = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i])) body.push(lines[i++]);
      i++;  // closing fence (or end of text)
      blocks.push({ type: 'pre', lang: fence[1] || '', value: body.join('\n') });
      continue;
    }
    if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(QUOTE.exec(lines[i++])[1]);
      blocks.push({ type: 'quote', children: parseBlocks(inner) });
      continue;
    }
    if (BULLET.test(line) || ORDERED.test(line)) {
      const ordered = !BULLET.test(line);
      const pattern = ordered ? ORDERED : BULLET;
      const items = [];
      const start = ordered ? Number(ORDERED.exec(line)[1]) : undefined;
      while (i < lines.length && pattern.test(lines[i])) {
        const match = pattern.exec(lines[i++]);
        let itemText = ordered ? match[2] : match[1];
        // Indented continuation lines belong to the item.
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !pattern.test(lines[i])) {
          itemText += '\n' + lines[i++].trim();
        }
        items.push(parseInline(itemText));
      }
      const block = { type: ordered ? 'ol' : 'ul', items };
      if (ordered && start !== 1) block.start = start;
      blocks.push(block);
      continue;
    }
    const para = [];
    while (
      i < lines.length &&
      lines[i].trim() !== '' &&
      !FENCE.test(lines[i]) &&
      !QUOTE.test(lines[i]) &&
      !BULLET.test(lines[i]) &&
      !ORDERED.test(lines[i])
    ) {
      para.push(lines[i++]);
    }
    blocks.push({ type: 'p', children: parseInline(para.join('\n')) });
  }
  return blocks;
}

const isSpace = (c) => c === undefined || /\s/.test(c);
const isWordChar = (c) => c !== undefined && /[\p{L}\p{N}]/u.test(c);

// Index of the backtick run closing a code span opened by `ticks` at `from`, or -1.
function findCodeClose(s, from, ticks) {
  let k = from;
  while ((k = s.indexOf(ticks, k)) !== -1) {
    const before = s[k - 1];
    const after = s[k + ticks.length];
    if (before !== '`' && after !== '`') return k;
    while (s[k] === '`') k++;
  }
  return -1;
}

// Index of the delimiter closing an emphasis opened at `from` (first char after the opener),
// skipping code spans, escapes and (for single delimiters) nested double delimiters.
function findClose(s, from, delim) {
  let k = from;
  while (k < s.length) {
    const c = s[k];
    if (c === '\\') {
      k += 2;
      continue;
    }
    if (c === '`') {
      let run = 0;
      while (s[k + run] === '`') run++;
      const end = findCodeClose(s, k + run, '`'.repeat(run));
      k = end === -1 ? k + run : end + run;
      continue;
    }
    if (delim.length === 1 && s.startsWith(delim + delim, k)) {
      const end = findClose(s, k + 2, delim + delim);
      if (end !== -1) {
        k = end + 2;
        continue;
      }
    }
    if (s.startsWith(delim, k) && k > from && !isSpace(s[k - 1])) {
      if (delim[0] === '_' && isWordChar(s[k + delim.length])) {
        k += delim.length;
        continue;
      }
      if (delim.length === 1 && s[k + 1] === delim) {
        k += 2;
        continue;
      }
      return k;
    }
    k++;
  }
  return -1;
}

const EMPHASIS = [
  ['**', 'strong'],
  ['__', 'strong'],
  ['~~', 'del'],
  ['*', 'em'],
  ['_', 'em'],
];

/** Parses inline formatting of one block into inline nodes. */
export function parseInline(s) {
  const out = [];
  let text = '';
  const flush = () => {
    if (text) out.push({ type: 'text', value: text });
    text = '';
  };
  const pushTextWithBreaks = (value) => {
    const parts = value.split('\n');
    parts.forEach((part, idx) => {
      if (idx > 0) {
        flush();
        out.push({ type: 'br' });
      }
      text += part;
    });
  };

  let i = 0;
  outer: while (i < s.length) {
    const c = s[i];
    if (c === '\\' && i + 1 < s.length && /[\\`*_~[\]()#+\-.!>]/.test(s[i + 1])) {
      text += s[i + 1];
      i += 2;
      continue;
    }
    if (c === '\n') {
      flush();
      out.push({ type: 'br' });
      i++;
      continue;
    }
    if (c === '`') {
      let run = 0;
      while (s[i + run] === '`') run++;
      const end = findCodeClose(s, i + run, '`'.repeat(run));
      if (end !== -1) {
        flush();
        let value = s.slice(i + run, end).replace(/\n/g, ' ');
        if (/^ .*[^ ].* $/.test(value)) value = value.slice(1, -1);
        out.push({ type: 'code', value });
        i = end + run;
        continue;
      }
      text += '`'.repeat(run);
      i += run;
      continue;
    }
    for (const [delim, type] of EMPHASIS) {
      if (!s.startsWith(delim, i)) continue;
      const after = s[i + delim.length];
      if (isSpace(after)) continue;
      if (delim[0] === '_' && isWordChar(s[i - 1])) continue;  // snake_case stays text
      const end = findClose(s, i + delim.length, delim);
      if (end === -1) continue;
      flush();
      out.push({ type, children: parseInline(s.slice(i + delim.length, end)) });
      i = end + delim.length;
      continue outer;
    }
    if (c === '[') {
      const close = s.indexOf('](', i + 1);
      if (close !== -1) {
        const end = s.indexOf(')', close + 2);
        const label = s.slice(i + 1, close);
        const href = end === -1 ? null : safeHref(s.slice(close + 2, end));
        if (href && label && !label.includes('\n')) {
          flush();
          out.push({ type: 'link', href, children: parseInline(label) });
          i = end + 1;
          continue;
        }
      }
    }
    if ((c === 'h' || c === 'm' || c === 'H' || c === 'M') && !isWordChar(s[i - 1])) {
      const rest = s.slice(i);
      if (URL_START.test(rest)) {
        let url = /^[^\s<>"]+/.exec(rest)[0];
        // Trailing punctuation usually ends the sentence, not the URL.
        while (/[.,;:!?'"]$/.test(url) || (url.endsWith(')') && !url.includes('('))) {
          url = url.slice(0, -1);
        }
        const href = safeHref(url);
        if (href && url.length > 8) {
          flush();
          out.push({ type: 'link', href, children: [{ type: 'text', value: url }] });
          i += url.length;
          continue;
        }
      }
    }
    pushTextWithBreaks(c);
    i++;
  }
  flush();
  return out;
}

function renderInline(nodes, doc, parent) {
  for (const node of nodes) {
    switch (node.type) {
      case 'text':
        parent.append(doc.createTextNode(node.value));
        break;
      case 'br':
        parent.append(doc.createElement('br'));
        break;
      case 'code': {
        const el = doc.createElement('code');
        el.textContent = node.value;
        parent.append(el);
        break;
      }
      case 'strong':
      case 'em':
      case 'del': {
        const el = doc.createElement(node.type);
        renderInline(node.children, doc, el);
        parent.append(el);
        break;
      }
      case 'link': {
        const el = doc.createElement('a');
        el.href = node.href;
        el.rel = 'noopener noreferrer nofollow';
        el.target = '_blank';
        renderInline(node.children, doc, el);
        parent.append(el);
        break;
      }
      default:
        break;
    }
  }
}

function renderBlocks(blocks, doc, parent) {
  for (const block of blocks) {
    switch (block.type) {
      case 'p': {
        const el = doc.createElement('p');
        renderInline(block.children, doc, el);
        parent.append(el);
        break;
      }
      case 'pre': {
        const pre = doc.createElement('pre');
        const code = doc.createElement('code');
        if (block.lang) code.dataset.lang = block.lang;
        code.textContent = block.value;
        pre.append(code);
        parent.append(pre);
        break;
      }
      case 'ul':
      case 'ol': {
        const list = doc.createElement(block.type);
        if (block.start !== undefined) list.start = block.start;
        for (const item of block.items) {
          const li = doc.createElement('li');
          renderInline(item, doc, li);
          list.append(li);
        }
        parent.append(list);
        break;
      }
      case 'quote': {
        const el = doc.createElement('blockquote');
        renderBlocks(block.children, doc, el);
        parent.append(el);
        break;
      }
      default:
        break;
    }
  }
}

/** Builds a DocumentFragment for parsed blocks. */
export function render(blocks, doc = globalThis.document) {
  const fragment = doc.createDocumentFragment();
  renderBlocks(blocks, doc, fragment);
  return fragment;
}

/** Parses and renders `text`; the result holds only elements built here and text nodes. */
export function renderMarkdown(text, doc = globalThis.document) {
  return render(parse(text), doc);
}

/** Plain-text preview of a message (formatting markers dropped), for lists and titles. */
export function toPlainText(text) {
  const parts = [];
  const walkInline = (nodes) => {
    for (const n of nodes) {
      if (n.type === 'text' || n.type === 'code') parts.push(n.value);
      else if (n.type === 'br') parts.push(' ');
      else if (n.children) walkInline(n.children);
    }
  };
  const walk = (blocks) => {
    for (const b of blocks) {
      if (b.type === 'p') walkInline(b.children);
      else if (b.type === 'pre') parts.push(b.value);
      else if (b.type === 'quote') walk(b.children);
      else if (b.items) {
        b.items.forEach((item) => {
          walkInline(item);
          parts.push(' ');
        });
      }
      parts.push(' ');
    }
  };
  walk(parse(text));
  return parts.join('').replace(/\s+/g, ' ').trim();
}
