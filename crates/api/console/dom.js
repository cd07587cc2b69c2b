// Building the page: every value from the API becomes a text node or an attribute set with setAttribute, never
// markup, so an event payload or a platform's error message cannot inject script (and the CSP forbids inline
// script anyway).

/** `h('td', {class: 'x', on: {click}}, 'text', child)`: an element; strings and numbers become text nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name === 'class') {
      el.className = value;
    } else if (['value', 'checked', 'disabled', 'hidden', 'selected'].includes(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A time in ms since the epoch, in the browser's zone; `—` for none. */
export function time(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? String(ms) : d.toLocaleString();
}

/** Longest JSON shown in one block: a huge payload must not freeze the tab. */
const MAX_JSON_CHARS = 20000;

/** A value as indented JSON, cut at a bound. */
export function json(value) {
  let text = JSON.stringify(value, null, 2) ?? 'null';
  if (text.length > MAX_JSON_CHARS) text = text.slice(0, MAX_JSON_CHARS) + `\n… (${text.length} characters in all)`;
  return h('pre', {}, text);
}

/** A short one-line rendering of a list or value. */
export function brief(value) {
  if (value === null || value === undefined) return '—';
  if (Array.isArray(value)) return value.length ? value.map(v => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ') : '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const GOOD = ['loaded', 'verified', 'enabled', 'succeeded', 'delivered', 'matched', 'done', 'completed', 'approved', 'true', 'open'];
const BAD = ['failed', 'unsigned', 'unverified', 'dead', 'error', 'stale', 'rejected', 'false'];
const WARN = ['retrying', 'queued', 'running', 'pending', 'planned', 'skipped', 'connecting', 'backing_off'];

/** A state as a coloured badge. */
export function badge(state) {
  const text = String(state ?? '—');
  const kind = GOOD.includes(text) ? 'good' : BAD.includes(text) ? 'bad' : WARN.includes(text) ? 'warn' : '';
  return h('span', { class: `badge ${kind}`, 'data-state': text }, text);
}

/**
 * A table. `columns`: `[{title, cell: row => node or text, class?}]`; `key(row)` names each row (`data-id`);
 * `onSelect(row, tr)` makes rows clickable.
 */
export function table(columns, rows, { key, onSelect, empty = 'Nothing here.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  const body = rows.map(row => {
    const tr = h('tr', { 'data-id': key ? key(row) : undefined, class: onSelect ? 'clickable' : undefined },
      columns.map(c => h('td', { class: c.class }, c.cell(row))));
    if (onSelect) {
      tr.addEventListener('click', event => {
        // A button inside the row does its own thing.
        if (event.target.closest('button')) return;
        for (const other of tr.parentNode.children) other.classList.remove('selected');
        tr.classList.add('selected');
        onSelect(row, tr);
      });
    }
    return tr;
  });
  return h('table', {}, h('thead', {}, h('tr', {}, columns.map(c => h('th', {}, c.title)))), h('tbody', {}, body));
}

/** A definition list of `[label, value]` pairs; `data-field` names each value for tests and styles. */
export function fields(pairs) {
  return h('dl', {}, pairs.map(([label, value, name]) => [
    h('dt', {}, label),
    h('dd', { 'data-field': name }, value instanceof Node ? value : brief(value)),
  ]));
}

/** A `<select>` of options (`[value, label]` or a plain value), with `selected` chosen. */
export function select(id, options, selected, onChange) {
  return h('select', { id, on: { change: e => onChange(e.target.value) } }, options.map(o => {
    const [value, label] = Array.isArray(o) ? o : [o, o];
    return h('option', { value, selected: value === selected }, label);
  }));
}

/** An error from the API (or the network) as a banner. */
export function failure(error) {
  const code = error?.code ? `${error.code}: ` : '';
  return h('div', { class: 'banner', role: 'alert' }, code + (error?.message ?? String(error)));
}

/** What the API cannot tell yet, said once at the bottom of a pane. */
export function gap(text) {
  return h('p', { class: 'gap' }, text);
}

/** The connection filter: a choice among `names` when they are known, else a name to type (at most 64 chars). */
export function connectionFilter(names, selected, onChange, { any = true } = {}) {
  if (names) {
    const options = [...(any ? [['', 'all connections']] : []), ...names];
    return select('filter-connection', options, selected ?? '', onChange);
  }
  return h('input', {
    id: 'filter-connection', placeholder: 'connection', maxlength: 64, value: selected ?? '',
    on: { change: e => onChange(e.target.value.trim()) },
  });
}
