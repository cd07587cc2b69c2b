// The directory sync pane: a connection's runs with their progress, and one run's report, refreshed while it
// is still going.

import * as api from './api.js';
import { h, fill, table, badge, fields, json, connectionFilter, failure, time } from './dom.js';

const RUNS = 20;
const REFRESH_MS = 2000;
const FINAL = ['done', 'completed', 'failed', 'canceled', 'cancelled', 'planned'];

export async function mount(root, ctx) {
  const names = await ctx.connections().catch(() => null);
  let connection = ctx.params.get('connection') ?? '';
  if (!connection && names?.length) connection = names[0];
  const go = c => ctx.navigate('directory', { connection: c });
  const list = h('div', { id: 'run-list' });
  const detail = h('section', { id: 'run-detail', class: 'detail', hidden: true });
  root.append(
    h('h2', {}, 'Directory sync runs'),
    h('div', { class: 'bar' },
      h('label', { for: 'filter-connection' }, 'Connection'),
      connectionFilter(names, connection, go, { any: false }),
    ),
    list, detail,
  );
  if (!connection) {
    fill(list, h('p', { class: 'empty' }, 'Name a connection to see its runs.'));
    return null;
  }
  let timer = null;
  let stopped = false;
  const base = `/v1/connections/${encodeURIComponent(connection)}/directory/runs`;

  try {
    const body = await api.get(base, { limit: RUNS });
    fill(list, table([
      { title: 'Run', cell: r => String(r.id) },
      { title: 'Status', cell: r => badge(r.status) },
      { title: 'Dry run', cell: r => (r.dry_run ? 'yes' : 'no') },
      { title: 'Progress', cell: r => progress(r.progress) },
      { title: 'Started', cell: r => time(r.created_ms) },
      { title: 'Finished', cell: r => time(r.finished_ms) },
      { title: 'By', cell: r => r.actor ?? '—' },
    ], body.runs, { key: r => r.id, onSelect: r => open(r.id), empty: 'No runs on this connection.' }));
  } catch (e) {
    fill(list, failure(e));
    return null;
  }

  async function open(id) {
    clearTimeout(timer);
    ctx.remember('run', id);
    detail.hidden = false;
    try {
      const run = await api.get(`${base}/${encodeURIComponent(id)}`, { plan: false });
      fill(detail,
        h('h3', {}, `Run ${run.id}`),
        fields([
          ['Status', badge(run.status), 'status'],
          ['Progress', progress(run.progress), 'progress'],
          ['Options', json(run.options)],
        ]),
        run.report ? [h('h3', {}, 'Report'), json(run.report)] : null,
      );
      // A run still going is read again until it ends: its progress as it happens.
      if (!stopped && !run.finished_ms && !FINAL.includes(run.status)) timer = setTimeout(() => open(id), REFRESH_MS);
    } catch (e) {
      fill(detail, failure(e));
    }
  }

  const chosen = Number(ctx.params.get('run'));
  if (Number.isSafeInteger(chosen) && chosen > 0) await open(chosen);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function progress(p) {
  if (!p) return '—';
  return `${p.done} done, ${p.failed} failed, ${p.skipped} skipped of ${p.total ?? '?'}`;
}
