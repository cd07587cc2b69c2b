// The events pane: the stored event log, newest page first, filtered by connection on the server and by type on
// the rows read, with a live tail that polls for what came after the last one shown.

import * as api from './api.js';
import { h, fill, table, json, connectionFilter, failure, time, gap } from './dom.js';

const PAGE = 50;
const TAIL_EVERY_MS = 2000;
/** Rows kept on screen while tailing; older ones scroll away. */
const MAX_ROWS = 500;
const MAX_TYPE_CHARS = 128;

export async function mount(root, ctx) {
  const names = await ctx.connections().catch(() => null);
  let connection = ctx.params.get('connection') ?? '';
  if (ctx.limited && !connection) connection = ctx.me.connections[0];
  const type = (ctx.params.get('type') ?? '').slice(0, MAX_TYPE_CHARS);
  const tailing = ctx.params.get('tail') !== 'off';
  const go = changes => ctx.navigate('events', { connection, type, tail: tailing ? '' : 'off', ...changes });

  const list = h('div', { id: 'event-list' });
  const detail = h('section', { id: 'event-detail', class: 'detail', hidden: true });
  const state = h('span', { class: 'muted', id: 'tail-state' });
  root.append(
    h('h2', {}, 'Events'),
    h('div', { class: 'bar' },
      h('label', { for: 'filter-connection' }, 'Connection'),
      connectionFilter(names, connection, c => go({ connection: c }), { any: !ctx.limited }),
      h('label', { for: 'filter-type' }, 'Type starts with'),
      h('input', { id: 'filter-type', value: type, maxlength: MAX_TYPE_CHARS, placeholder: 'approval.', on: { change: e => go({ type: e.target.value.trim() }) } }),
      h('label', {}, h('input', { type: 'checkbox', id: 'tail', checked: tailing, on: { change: e => go({ tail: e.target.checked ? '' : 'off' }) } }), ' live tail'),
      state,
    ),
    list, detail,
    gap('The API filters events by connection; the type filter applies to the events read (the API has no type ' +
      'filter yet).'),
  );

  const query = { connection };
  let rows = [];
  let last = 0;
  let timer = null;
  let stopped = false;

  const render = () => fill(list, table([
    { title: 'Seq', cell: e => String(e.seq) },
    { title: 'Received', cell: e => time(e.received_ms) },
    { title: 'Connection', cell: e => e.connection },
    { title: 'Type', cell: e => e.type },
    { title: 'Subject', cell: e => e.subject ?? '—', class: 'wrap' },
    { title: 'Event id', cell: e => h('span', { class: 'mono' }, e.id ?? '—') },
  ], rows.filter(e => !type || String(e.type).startsWith(type)).slice().reverse(), {
    key: e => e.seq,
    onSelect: e => fill(detail, h('h3', {}, `Event ${e.seq}: ${e.type}`), json(e)).removeAttribute('hidden'),
    empty: type ? `No events of type ${type}… in the ${rows.length} read.` : 'No events yet.',
  }));

  async function tail() {
    if (stopped) return;
    try {
      const page = await api.get('/v1/events', { ...query, after: last, limit: PAGE });
      if (page.events.length) {
        rows = rows.concat(page.events).slice(-MAX_ROWS);
        last = page.next_after;
        render();
      }
      state.textContent = `tailing after ${last} · ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      state.textContent = `tail stopped: ${e.message}`;
      return;
    }
    if (!stopped) timer = setTimeout(tail, TAIL_EVERY_MS);
  }

  try {
    const after = await api.newestAfter('/v1/events', query, PAGE, b => b.events);
    const page = await api.get('/v1/events', { ...query, after, limit: PAGE });
    rows = page.events;
    last = page.next_after;
    render();
  } catch (e) {
    fill(list, failure(e));
    return null;
  }
  if (tailing) timer = setTimeout(tail, TAIL_EVERY_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
