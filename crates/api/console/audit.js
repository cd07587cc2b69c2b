// The audit log pane: every change made through the API (and `qiao keys` on the server), newest page first,
// filtered by connection and actor on the server.

import * as api from './api.js';
import { h, table, connectionFilter, time } from './dom.js';

const PAGE = 50;
const MAX_ACTOR_CHARS = 64;

export async function mount(root, ctx) {
  const names = await ctx.connections().catch(() => null);
  let connection = ctx.params.get('connection') ?? '';
  if (ctx.limited && !connection) connection = ctx.me.connections[0];
  const actor = (ctx.params.get('actor') ?? '').slice(0, MAX_ACTOR_CHARS);
  const from = ctx.params.get('from') ?? 'newest';
  const go = changes => ctx.navigate('audit', { connection, actor, ...changes });
  const query = { connection, actor };
  const after = from === 'newest' ? await api.newestAfter('/v1/audit', query, PAGE, b => b.entries) : Number(from) || 0;
  const page = await api.get('/v1/audit', { ...query, after, limit: PAGE });
  root.append(
    h('h2', {}, 'Audit log'),
    h('div', { class: 'bar' },
      h('label', { for: 'filter-connection' }, 'Connection'),
      connectionFilter(names, connection, c => go({ connection: c, from: 'newest' }), { any: !ctx.limited }),
      h('label', { for: 'filter-actor' }, 'Actor'),
      h('input', { id: 'filter-actor', value: actor, maxlength: MAX_ACTOR_CHARS, placeholder: 'key id or cli', on: { change: e => go({ actor: e.target.value.trim(), from: 'newest' }) } }),
      h('button', { type: 'button', on: { click: () => go({ from: '0' }) } }, 'Oldest'),
      h('button', { type: 'button', on: { click: () => go({ from: 'newest' }) } }, 'Newest'),
      page.entries.length === PAGE ? h('button', { type: 'button', on: { click: () => go({ from: String(page.next_after) }) } }, 'Next page') : null,
    ),
    table([
      { title: 'Seq', cell: e => String(e.seq) },
      { title: 'Time', cell: e => time(e.time_ms) },
      { title: 'Actor', cell: e => [e.actor_name ?? '', ' ', h('span', { class: 'muted mono' }, e.actor)] },
      { title: 'Action', cell: e => h('span', { class: 'mono' }, e.action), class: 'wrap' },
      { title: 'Target', cell: e => h('span', { class: 'mono' }, e.target), class: 'wrap' },
      { title: 'Connection', cell: e => e.connection ?? '—' },
      { title: 'Status', cell: e => String(e.status) },
      { title: 'Error', cell: e => e.error ?? '—' },
      { title: 'Operation', cell: e => e.operation_id
        ? h('a', { href: `#outbox?op=${encodeURIComponent(e.operation_id)}` }, String(e.operation_id)) : '—' },
    ], page.entries.slice().reverse(), { key: e => e.seq, empty: 'No entries match.' }),
  );
}
