// The outbox pane: counts by status, operations filtered by status and connection on the server, one
// operation's attempts and last error, and retry or discard where the key has operations:write.

import * as api from './api.js';
import { h, fill, table, badge, fields, json, select, connectionFilter, failure, time, gap } from './dom.js';

const PAGE = 50;
const STATUSES = ['queued', 'running', 'retrying', 'succeeded', 'failed', 'dead', 'discarded'];
const RETRYABLE = ['failed', 'dead'];
const DISCARDABLE = ['queued', 'retrying', 'failed', 'dead'];
/** Seconds to wait for a retried operation's outcome (the API allows up to 60). */
const RETRY_WAIT_S = 30;

export async function mount(root, ctx) {
  const names = await ctx.connections().catch(() => null);
  const status = ctx.params.get('status') ?? '';
  let connection = ctx.params.get('connection') ?? '';
  if (ctx.limited && !connection) connection = ctx.me.connections[0];
  const from = ctx.params.get('from') ?? 'newest';
  const go = changes => ctx.navigate('outbox', { status, connection, ...changes });

  const list = h('div', { id: 'op-list' });
  const detail = h('section', { id: 'op-detail', class: 'detail', hidden: true });
  const countsBox = h('div');
  root.append(
    h('h2', {}, 'Outbox'),
    countsBox,
    h('div', { class: 'bar' },
      h('label', { for: 'filter-status' }, 'Status'),
      select('filter-status', [['', 'any status'], ...STATUSES], status, s => go({ status: s, from: 'newest' })),
      h('label', { for: 'filter-connection' }, 'Connection'),
      connectionFilter(names, connection, c => go({ connection: c, from: 'newest' }), { any: !ctx.limited }),
      h('button', { type: 'button', on: { click: () => go({ from: '0' }) } }, 'Oldest'),
      h('button', { type: 'button', on: { click: () => go({ from: 'newest' }) } }, 'Newest'),
      h('button', { type: 'button', id: 'refresh', on: { click: () => load() } }, 'Refresh'),
    ),
    list, detail,
    gap('Not in the API yet: each attempt of an operation with its own error (the API keeps the attempt count and ' +
      'the last error).'),
  );

  const filter = { status, connection };
  let after = from === 'newest' ? null : Number(from) || 0;

  async function load() {
    // Counts span every connection: a key limited to some is refused them.
    if (!ctx.limited) fill(countsBox, await counts(status, s => go({ status: s, from: 'newest' })));
    try {
      if (after === null) after = await api.newestAfter('/v1/operations', filter, PAGE, b => b.operations);
      const page = await api.get('/v1/operations', { ...filter, after, limit: PAGE });
      fill(list,
        table([
          { title: 'Id', cell: o => String(o.id) },
          { title: 'Connection', cell: o => o.connection },
          { title: 'Operation', cell: o => o.operation },
          { title: 'Status', cell: o => badge(o.status) },
          { title: 'Attempts', cell: o => String(o.attempts) },
          { title: 'Last error', cell: o => o.last_error ? `${o.last_error.code ?? ''}: ${o.last_error.message ?? ''}` : '—', class: 'wrap' },
          { title: 'Updated', cell: o => time(o.updated_ms) },
        ], page.operations, {
          key: o => o.id,
          onSelect: o => show(o.id),
          empty: 'No operations match.',
        }),
        page.operations.length === PAGE
          ? h('div', { class: 'bar' }, h('button', { type: 'button', on: { click: () => go({ from: String(page.next_after) }) } }, 'Next page'))
          : null,
      );
    } catch (e) {
      fill(list, failure(e));
    }
  }

  async function show(id, notice) {
    ctx.remember('op', id);
    detail.hidden = false;
    try {
      render(await api.get(`/v1/operations/${encodeURIComponent(id)}`), notice);
    } catch (e) {
      fill(detail, failure(e));
    }
  }

  function render(op, notice) {
    const actions = [];
    if (ctx.can('operations:write') && RETRYABLE.includes(op.status)) {
      actions.push(h('button', { type: 'button', class: 'primary', 'data-action': 'retry', on: { click: () => retry(op.id) } }, 'Retry'));
    }
    if (ctx.can('operations:write') && DISCARDABLE.includes(op.status)) {
      actions.push(h('button', { type: 'button', class: 'danger', 'data-action': 'discard', on: { click: e => discard(op.id, e.target) } }, 'Discard'));
    }
    const error = op.last_error;
    fill(detail,
      h('h3', {}, `Operation ${op.id}`),
      notice ? h('p', { class: notice.error ? 'error' : 'notice', id: 'op-notice' }, notice.text) : null,
      fields([
        ['Status', badge(op.status), 'status'],
        ['Connection', op.connection, 'connection'],
        ['Operation', op.operation, 'operation'],
        ['Attempts', String(op.attempts), 'attempts'],
        ['Next attempt', time(op.next_attempt_ms), 'next_attempt'],
        ['Created', time(op.created_ms), 'created'],
        ['Updated', time(op.updated_ms), 'updated'],
        ['Made by', op.actor ?? '—', 'actor'],
        ['Idempotency key', op.idempotency_key ?? '—', 'idempotency_key'],
        ['Last failure', error ? `${error.code ?? ''}: ${error.message ?? ''}` : '—', 'last_error'],
      ]),
      actions.length ? h('div', { class: 'bar' }, actions) : null,
      error?.details ? [h('h3', {}, 'Error details'), json(error.details)] : null,
      h('h3', {}, 'Request'), json(op.request),
      op.result ? [h('h3', {}, 'Result'), json(op.result)] : null,
      op.cause ? [h('h3', {}, 'Made by a rule for'), json(op.cause)] : null,
    );
  }

  async function retry(id) {
    for (const b of detail.querySelectorAll('button')) b.disabled = true;
    try {
      const queued = await api.post(`/v1/operations/${id}/retry`);
      render(queued, { text: `Re-queued with a fresh budget of attempts; waiting for the outcome…` });
      const done = await api.get(`/v1/operations/${id}`, { wait: RETRY_WAIT_S });
      render(done, { text: `Retried: ${done.status}.`, error: done.status !== 'succeeded' });
      await load();
    } catch (e) {
      await show(id, { text: `Retry refused: ${e.message}`, error: true });
    }
  }

  async function discard(id, button) {
    // Two clicks, no dialog: giving up on a write cannot be undone.
    if (button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes';
      button.textContent = 'Discard: click again to confirm';
      return;
    }
    try {
      await api.del(`/v1/operations/${id}`);
      await show(id, { text: 'Discarded.' });
      await load();
    } catch (e) {
      await show(id, { text: `Discard refused: ${e.message}`, error: true });
    }
  }

  await load();
  const selected = Number(ctx.params.get('op'));
  if (Number.isSafeInteger(selected) && selected > 0) await show(selected);
}

async function counts(current, choose) {
  try {
    const counts = await api.get('/v1/operations/counts');
    return h('div', { class: 'counts', id: 'op-counts' }, STATUSES.map(s =>
      h('button', { type: 'button', 'data-status': s, class: s === current ? 'primary' : undefined, on: { click: () => choose(s) } },
        s, h('b', {}, String(counts[s] ?? 0)))));
  } catch (e) {
    return failure(e);
  }
}
