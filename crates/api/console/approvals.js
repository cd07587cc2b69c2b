// The approvals pane: per template, pending, overdue and time to decision; and the approvals past their
// deadline, most overdue first.

import * as api from './api.js';
import { h, table, brief, time, gap } from './dom.js';

export async function mount(root) {
  const [stats, overdue] = await Promise.all([api.get('/v1/approvals/stats'), api.get('/v1/approvals/overdue')]);
  root.append(
    h('h2', {}, 'Approvals'),
    h('h3', {}, 'By template'),
    table([
      { title: 'Template', cell: t => t.template ?? '(none)' },
      { title: 'Pending', cell: t => String(t.pending) },
      { title: 'Overdue', cell: t => (t.overdue ? h('span', { class: 'error' }, String(t.overdue)) : '0') },
      { title: 'Decided', cell: t => String(t.decided) },
      { title: 'Median to decision', cell: t => minutes(t.median_minutes) },
      { title: '90th percentile', cell: t => minutes(t.p90_minutes) },
    ], stats.templates, { key: t => t.template ?? '', empty: 'No approvals seen yet.' }),
    h('h3', {}, 'Overdue'),
    table([
      { title: 'Connection', cell: a => a.connection },
      { title: 'Approval', cell: a => [a.title ?? a.id, h('br'), h('span', { class: 'muted mono' }, a.id)] },
      { title: 'Template', cell: a => a.template ?? '—' },
      { title: 'Approvers', cell: a => brief(a.approvers), class: 'wrap' },
      { title: 'Pending since', cell: a => time(a.entered_ms) },
      { title: 'Due', cell: a => time(a.due_ms) },
      { title: 'Overdue by', cell: a => minutes(a.overdue_minutes) },
      { title: 'Reminders', cell: a => String(a.reminders_sent) },
      { title: 'Escalated', cell: a => (a.escalated ? 'yes' : 'no') },
      { title: 'Problems', cell: a => brief(a.problems), class: 'wrap' },
    ], overdue.approvals, { key: a => `${a.connection}/${a.id}`, empty: 'Nothing overdue.' }),
    gap('Minutes are business minutes, as the deadlines count them (see README.md, "Approval deadlines").'),
  );
}

function minutes(m) {
  if (m === null || m === undefined) return '—';
  return m >= 120 ? `${Math.round(m / 6) / 10} h` : `${m} min`;
}
