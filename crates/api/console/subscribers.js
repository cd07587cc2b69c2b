// The subscribers pane: each subscription to the event log with its delivery state, and its dead letters (retry
// and discard with subscriptions:write).

import * as api from './api.js';
import { h, fill, table, badge, brief, fields, json, failure, time } from './dom.js';

const PAGE = 50;

export async function mount(root, ctx) {
  const body = await api.get('/v1/subscriptions');
  const detail = h('section', { id: 'subscription-detail', class: 'detail', hidden: true });
  root.append(
    h('h2', {}, 'Subscribers'),
    table([
      { title: 'Id', cell: s => String(s.id) },
      { title: 'URL', cell: s => h('span', { class: 'mono' }, s.url), class: 'wrap' },
      { title: 'Types', cell: s => brief(s.types) },
      { title: 'Connections', cell: s => s.connections ? brief(s.connections) : 'all' },
      { title: 'Delivered up to', cell: s => String(s.cursor) },
      { title: 'Retrying', cell: s => s.pending_attempts ? `${s.pending_attempts} attempts, next ${time(s.next_attempt_ms)}` : '—' },
      { title: 'Last error', cell: s => s.last_error ?? '—', class: 'wrap' },
      { title: 'Dead letters', cell: s => s.dead_letters ? badge(String(s.dead_letters)) : '0' },
    ], body.subscriptions, {
      key: s => s.id,
      onSelect: s => open(s, 0),
      empty: 'No subscriptions. Create one with POST /v1/subscriptions.',
    }),
    detail,
  );

  async function open(sub, after, notice) {
    ctx.remember('subscription', sub.id);
    detail.hidden = false;
    try {
      const page = await api.get(`/v1/subscriptions/${sub.id}/dead-letters`, { after, limit: PAGE });
      const write = ctx.can('subscriptions:write');
      fill(detail,
        h('h3', {}, `Subscription ${sub.id}: dead letters`),
        notice ? h('p', { class: notice.error ? 'error' : 'notice' }, notice.text) : null,
        table([
          { title: 'Event', cell: d => String(d.event_seq) },
          { title: 'Type', cell: d => d.event?.type ?? '(no longer in the log)' },
          { title: 'Attempts', cell: d => String(d.attempts) },
          { title: 'Last error', cell: d => d.last_error, class: 'wrap' },
          { title: 'Dead since', cell: d => time(d.dead_ms) },
          { title: '', cell: d => write ? [
            h('button', { type: 'button', 'data-action': 'retry', on: { click: () => act(sub, d, 'retry') } }, 'Retry'), ' ',
            h('button', { type: 'button', class: 'danger', 'data-action': 'discard', on: { click: () => act(sub, d, 'discard') } }, 'Discard'),
          ] : null },
        ], page.dead_letters, {
          key: d => d.event_seq,
          onSelect: d => detail.append(h('h3', {}, `Event ${d.event_seq}`), json(d.event)),
          empty: 'No dead letters.',
        }),
        page.dead_letters.length === PAGE
          ? h('button', { type: 'button', on: { click: () => open(sub, page.next_after) } }, 'Next page') : null,
        fields([['Subscription', json({ ...sub })]]),
      );
    } catch (e) {
      fill(detail, failure(e));
    }
  }

  async function act(sub, dead, what) {
    const path = `/v1/subscriptions/${sub.id}/dead-letters/${dead.event_seq}`;
    try {
      if (what === 'retry') await api.post(`${path}/retry`);
      else await api.del(path);
      await open(sub, 0, { text: what === 'retry' ? `Event ${dead.event_seq} delivered.` : `Event ${dead.event_seq} discarded.` });
    } catch (e) {
      await open(sub, 0, { text: `${what} failed: ${e.message}`, error: true });
    }
  }

  const chosen = body.subscriptions.find(s => String(s.id) === ctx.params.get('subscription'));
  if (chosen) await open(chosen, 0);
}
