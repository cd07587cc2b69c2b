// The connectors pane (`GET /v1/connectors`) and the connections pane (`GET /v1/connections`, with each
// connection's outbox read from `/v1/operations`).

import * as api from './api.js';
import { h, table, badge, brief, gap } from './dom.js';

export async function connectors(root) {
  const body = await api.get('/v1/connectors');
  root.append(
    h('h2', {}, 'Connectors'),
    h('p', { class: 'muted' }, `Directory: ${body.connectors_dir}`),
    table([
      { title: 'File', cell: c => h('span', { class: 'mono' }, c.file) },
      { title: 'Connector', cell: c => [c.name ?? '—', h('br'), h('span', { class: 'muted mono' }, c.id ?? '')] },
      { title: 'Version', cell: c => c.version ?? '—' },
      { title: 'Contract', cell: c => c.contract ?? '—' },
      { title: 'State', cell: c => badge(c.state) },
      { title: 'Trust', cell: c => trust(c.trust) },
      { title: 'Capabilities', cell: c => brief(c.capabilities), class: 'wrap' },
      { title: 'Hosts', cell: c => brief(c.hosts), class: 'wrap' },
      { title: 'Last load error', cell: c => c.error ? h('span', { class: 'error' }, c.error) : '—', class: 'wrap' },
    ], body.connectors, { key: c => c.file, empty: 'No connector files in the directory.' }),
  );
}

function trust(verdict) {
  if (!verdict) return '—';
  if (verdict.verified) return [badge('verified'), ' ', verdict.publisher ?? ''];
  return [badge(verdict.signed ? 'unverified' : 'unsigned'), ' ', h('span', { class: 'muted' }, verdict.problem ?? '')];
}

/** Rows counted per connection and status; a count at the page limit reads "1000+". */
const COUNT_LIMIT = 1000;

async function count(connection, status) {
  const body = await api.get('/v1/operations', { connection, status, limit: COUNT_LIMIT });
  const n = body.operations.length;
  return n >= COUNT_LIMIT ? `${COUNT_LIMIT}+` : String(n);
}

export async function connections(root, ctx) {
  const body = await api.get('/v1/connections');
  const list = body.connections;
  const outbox = new Map();
  if (ctx.can('operations:read')) {
    await Promise.all(list.map(async c => {
      const [queued, retrying, dead] = await Promise.all(['queued', 'retrying', 'dead'].map(s => count(c.name, s)));
      outbox.set(c.name, { queued, retrying, dead });
    }));
  }
  const link = (pane, params, text) => h('button', { type: 'button', on: { click: () => ctx.navigate(pane, params) } }, text);
  root.append(
    h('h2', {}, 'Connections'),
    table([
      { title: 'Name', cell: c => h('b', {}, c.name) },
      { title: 'Connector', cell: c => [c.connector, ' ', c.connector_version ?? ''] },
      { title: 'Status', cell: c => badge(c.connector_loaded ? 'loaded' : 'failed') },
      { title: 'Hosts missing', cell: c => c.hosts?.missing?.length ? h('span', { class: 'error' }, brief(c.hosts.missing)) : '—', class: 'wrap' },
      { title: 'Hosts granted', cell: c => brief(c.hosts?.granted), class: 'wrap' },
      { title: 'Pace', cell: c => c.pacing ? `${c.pacing.per_second}/s (${c.pacing.from})` : '—' },
      { title: 'kv', cell: c => `${c.kv.keys} keys, ${c.kv.bytes} B` },
      { title: 'Event stream', cell: c => streamCell(c.stream), class: 'wrap' },
      { title: 'Outbox', cell: c => outboxCell(outbox.get(c.name)) },
      { title: '', cell: c => [
        ctx.can('operations:read') ? link('outbox', { connection: c.name }, 'Outbox') : null, ' ',
        ctx.can('events:read') ? link('events', { connection: c.name }, 'Events') : null,
      ] },
    ], list, { key: c => c.name, empty: 'No connections configured.' }),
    gap('Not in the API yet: a connection\'s health from recent calls, error rate, rate-limit hits and last ' +
      'platform error; the outbox columns are read from /v1/operations per connection.'),
  );
}

// A connection's event stream (a connector exporting event-stream): its state, how many connects and events, and
// why it last failed or is off.
function streamCell(s) {
  if (!s) return '—';
  const when = s.last_frame_ms ? `, last frame ${new Date(s.last_frame_ms).toLocaleTimeString()}` : '';
  return [
    badge(s.state), ` ${s.connects} connects, ${s.events_stored} events${when}`,
    s.last_error ? h('div', { class: s.state === 'open' ? '' : 'error' }, s.last_error) : null,
  ];
}

function outboxCell(o) {
  if (!o) return '—';
  return [
    `${o.queued} queued, ${o.retrying} retrying, `,
    o.dead === '0' ? '0 dead' : h('span', { class: 'error' }, `${o.dead} dead`),
  ];
}
