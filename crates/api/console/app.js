// The console's shell: sign-in, the panes the key may see, and the hash route (`#outbox?status=dead`) so that a
// pane with its filters can be linked to and survives a reload.

import * as api from './api.js';
import { h, fill, failure } from './dom.js';
import * as status from './status.js';
import * as outbox from './outbox.js';
import * as events from './events.js';
import * as subscribers from './subscribers.js';
import * as directory from './directory.js';
import * as approvals from './approvals.js';
import * as rules from './rules.js';
import * as audit from './audit.js';

/**
 * Every pane: the scope it reads with, and whether it spans every connection (`all`: a key limited to some
 * connections is refused there, so it is not offered) or names one (`one`: limited keys pick among theirs).
 */
const PANES = [
  { id: 'connectors', title: 'Connectors', scope: 'status:read', reach: 'all', mount: status.connectors },
  { id: 'connections', title: 'Connections', scope: 'status:read', reach: 'all', mount: status.connections },
  { id: 'outbox', title: 'Outbox', scope: 'operations:read', reach: 'one', mount: outbox.mount },
  { id: 'events', title: 'Events', scope: 'events:read', reach: 'one', mount: events.mount },
  { id: 'subscribers', title: 'Subscribers', scope: 'events:read', reach: 'all', mount: subscribers.mount },
  { id: 'directory', title: 'Directory sync', scope: 'identity:read', reach: 'one', mount: directory.mount },
  { id: 'approvals', title: 'Approvals', scope: 'approvals:read', reach: 'all', mount: approvals.mount },
  { id: 'rules', title: 'Rules', scope: 'rules:read', reach: 'all', mount: rules.mount },
  { id: 'audit', title: 'Audit log', scope: 'audit:read', reach: 'one', mount: audit.mount },
];

let me = null;
let unmount = null;
let connectionNames = null;

const $ = id => document.getElementById(id);

function can(scope) {
  return Boolean(me?.scopes?.includes(scope) || me?.scopes?.includes('admin'));
}

function visiblePanes() {
  return PANES.filter(p => can(p.scope) && (p.reach !== 'all' || !me.connections));
}

/** The configured connections' names, for filters: a limited key's own, else the server's list if readable. */
async function connections() {
  if (me.connections) return me.connections;
  if (connectionNames) return connectionNames;
  if (!can('status:read')) return null;
  const body = await api.get('/v1/connections');
  connectionNames = body.connections.map(c => c.name);
  return connectionNames;
}

function route() {
  const [pane, query = ''] = location.hash.replace(/^#/, '').split('?');
  return { pane, params: new URLSearchParams(query) };
}

/** Goes to a pane with these parameters (filters); the pane is mounted afresh. */
function navigate(pane, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const hash = `#${pane}${query.toString() ? `?${query}` : ''}`;
  if (location.hash === hash) show();
  else location.hash = hash;
}

/** Records a selection in the address without mounting the pane again. */
function remember(name, value) {
  const { pane, params } = route();
  if (value === undefined || value === null || value === '') params.delete(name);
  else params.set(name, value);
  history.replaceState(null, '', `#${pane}${params.toString() ? `?${params}` : ''}`);
}

async function show() {
  if (unmount) {
    unmount();
    unmount = null;
  }
  const panes = visiblePanes();
  const { pane, params } = route();
  const current = panes.find(p => p.id === pane) ?? panes[0];
  for (const link of $('nav').children) link.classList.toggle('active', link.dataset.pane === current?.id);
  const root = fill($('pane'));
  if (!current) {
    root.appendChild(h('p', { class: 'empty' }, 'This key has no scope the console can show (see README.md, scopes).'));
    return;
  }
  root.dataset.pane = current.id;
  const ctx = { me, can, params, navigate, remember, connections, limited: Boolean(me.connections) };
  try {
    unmount = (await current.mount(root, ctx)) ?? null;
  } catch (e) {
    root.appendChild(failure(e));
  }
}

function showLogin(message) {
  me = null;
  connectionNames = null;
  if (unmount) unmount();
  unmount = null;
  fill($('pane'));
  $('shell').hidden = true;
  $('login').hidden = false;
  $('login-error').hidden = !message;
  $('login-error').textContent = message ?? '';
  $('login-key').value = '';
  $('login-key').focus();
}

async function signIn(candidate) {
  me = await api.call('GET', '/v1/auth/me', undefined, { as: candidate });
  api.remember(candidate);
  $('login').hidden = true;
  $('shell').hidden = false;
  const limit = me.connections ? ` · connections: ${me.connections.join(', ')}` : '';
  fill($('who'), `${me.name} (${me.id}) · ${me.scopes.join(' ')}${limit}`);
  fill($('nav'), visiblePanes().map(p => h('a', { href: `#${p.id}`, 'data-pane': p.id }, p.title)));
  await show();
}

function start() {
  $('login-form').addEventListener('submit', async event => {
    event.preventDefault();
    const candidate = $('login-key').value.trim();
    if (!candidate || candidate.length > api.MAX_KEY_CHARS) {
      showLogin('That is not a Qiao API key (qiao_…).');
      return;
    }
    try {
      await signIn(candidate);
    } catch (e) {
      showLogin(e.status === 401 ? `Not signed in: ${e.message}` : e.message);
    }
  });
  $('logout').addEventListener('click', () => {
    api.forget();
    showLogin();
  });
  window.addEventListener('hashchange', () => me && show());
  window.addEventListener('qiao:signed-out', e => {
    api.forget();
    showLogin(`Signed out: ${e.detail.message}`);
  });
  const stored = api.key();
  if (stored) signIn(stored).catch(e => { api.forget(); showLogin(e.message); });
  else showLogin();
}

start();
