// The rules pane: every rule with its counters, and what one rule did with each event that triggered it.

import * as api from './api.js';
import { h, fill, table, badge, brief, json, failure, time } from './dom.js';

const PAGE = 50;

export async function mount(root, ctx) {
  const body = await api.get('/v1/rules');
  const detail = h('section', { id: 'rule-detail', class: 'detail', hidden: true });
  root.append(
    h('h2', {}, 'Rules'),
    table([
      { title: 'Rule', cell: r => h('b', {}, r.id) },
      { title: 'Enabled', cell: r => badge(r.enabled ? 'enabled' : 'disabled') },
      { title: 'From', cell: r => r.origin },
      { title: 'Seen up to event', cell: r => String(r.cursor) },
      { title: 'Runs', cell: r => brief(Object.entries(r.counts ?? {}).map(([k, v]) => `${k} ${v}`)) },
      { title: 'Updated', cell: r => time(r.updated_ms) },
    ], body.rules, { key: r => r.id, onSelect: r => open(r, 0), empty: 'No rules.' }),
    detail,
  );

  async function open(rule, after) {
    ctx.remember('rule', rule.id);
    detail.hidden = false;
    try {
      const page = await api.get(`/v1/rules/${encodeURIComponent(rule.id)}/runs`, { after, limit: PAGE });
      fill(detail,
        h('h3', {}, `Rule ${rule.id}`),
        json(rule.spec),
        h('h3', {}, 'Runs'),
        table([
          { title: 'Event', cell: r => String(r.event_seq) },
          { title: 'Outcome', cell: r => badge(r.outcome) },
          { title: 'At', cell: r => time(r.at_ms) },
          { title: 'Detail', cell: r => json(r.detail), class: 'wrap' },
        ], page.runs, { key: r => r.event_seq, empty: 'No runs yet.' }),
        page.next_after ? h('button', { type: 'button', on: { click: () => open(rule, page.next_after) } }, 'Next page') : null,
      );
    } catch (e) {
      fill(detail, failure(e));
    }
  }

  const chosen = body.rules.find(r => r.id === ctx.params.get('rule'));
  if (chosen) await open(chosen, 0);
}
