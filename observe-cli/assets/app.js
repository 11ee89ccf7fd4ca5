// observe ui: the pages over the JSON endpoints in docs/UI.md.
//
// Safety: everything shown comes from the application (prompts included). The DOM is built
// with createElement and text nodes only: no innerHTML, no HTML strings, no inline handlers.
// Links carry ids through encodeURIComponent into the hash.
'use strict';

const main = document.getElementById('main');
const POLL_MS = 2000;

// ---- DOM helpers ------------------------------------------------------------------------

/** An element with properties and children; strings become text nodes. */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'style') Object.assign(e.style, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  add(e, children);
  return e;
}

function add(parent, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const link = (hash, ...children) => el('a', { href: hash }, ...children);
const muted = (text) => el('span', { class: 'muted' }, text);
const enc = encodeURIComponent;

// ---- formatting -------------------------------------------------------------------------

function fmtMs(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 1) return `${ms.toFixed(2)}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)}s`;
  const m = Math.floor(ms / 60000);
  return `${m}m ${Math.round((ms % 60000) / 1000)}s`;
}

// Money by the one rule of observe_model::money::format_usd (docs/UI.md): nothing without a
// cost or for zero, cents from a dollar up, three significant digits below (never fewer than
// two decimals, trailing zeros dropped). The browser tests compare it with the Rust function.
function fmtCost(c) {
  if (typeof c !== 'number' || !Number.isFinite(c) || c === 0) return '';
  const amount = Math.abs(c);
  const decimals = amount >= 1 ? 2 : Math.max(2, 2 - Math.floor(Math.log10(amount)));
  let text = amount.toFixed(decimals);
  const keep = text.indexOf('.') + 3;
  text = text.replace(/0+$/, '');
  if (text.length < keep) text = amount.toFixed(decimals).slice(0, keep);
  return `${c < 0 ? '-' : ''}$${text}`;
}

// The money columns of a query's result, by name as the command's tables find them.
const isCostColumn = (name) => (name === 'cost' || name.endsWith('_cost') || name.startsWith('cost_'))
  && !name.endsWith('_computed');

const fmtInt = (n) => (n == null ? '—' : Math.round(n).toLocaleString('en-US'));

function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
    `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function levelBadge(level, errors, warnings) {
  const out = [];
  if (level === 'ERROR' || errors > 0) {
    out.push(el('span', { class: 'badge error', title: 'error' }, errors > 1 ? `${errors} errors` : 'error'));
  }
  if (level === 'WARNING' || warnings > 0) {
    out.push(el('span', { class: 'badge warning', title: 'warning' }, warnings > 1 ? `${warnings} warnings` : 'warning'));
  }
  return out;
}

function scoreChips(scores) {
  return (scores || []).map((s) => el('span', { class: 'chip score', title: s.comment || '' },
    `${s.name}: `, s.string_value != null ? s.string_value : (s.value != null ? String(+s.value.toFixed(4)) : '—')));
}

const tagChips = (tags) => (Array.isArray(tags) ? tags : []).map((t) => el('span', { class: 'chip tag' }, String(t)));

function stat(label, value) {
  return el('div', { class: 'stat' }, el('div', { class: 'stat-label' }, label), el('div', { class: 'stat-value' }, value));
}

// ---- values: text, chat messages, JSON ---------------------------------------------------

function isMessage(m) {
  return m && typeof m === 'object' && !Array.isArray(m) && typeof m.role === 'string' && 'content' in m;
}

/** A value from the application, shown as chat messages, wrapped text or a JSON tree. */
function renderValue(v) {
  if (v == null) return muted('—');
  if (typeof v === 'string') return el('pre', { class: 'text' }, v);
  const messages = Array.isArray(v) ? v : (v && Array.isArray(v.messages) ? v.messages : null);
  if (messages && messages.length > 0 && messages.every(isMessage)) {
    return el('div', { class: 'messages' }, messages.map((m) => el('div', { class: `msg role-${String(m.role).replace(/[^a-z_]/gi, '')}` },
      el('div', { class: 'msg-role' }, m.role),
      typeof m.content === 'string' ? el('pre', { class: 'text' }, m.content) : renderJson(m.content, null, 1))));
  }
  return el('div', { class: 'json' }, renderJson(v, null, 0));
}

function renderJson(v, key, depth) {
  const keyNode = key == null ? null : el('span', { class: 'j-key' }, `${key}: `);
  if (v !== null && typeof v === 'object') {
    const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    const summary = Array.isArray(v) ? `[${entries.length}]` : `{${entries.length}}`;
    if (entries.length === 0) return el('div', { class: 'j-line' }, keyNode, el('span', { class: 'j-punct' }, Array.isArray(v) ? '[]' : '{}'));
    return el('details', { class: 'j-node', open: depth < 3 },
      el('summary', null, keyNode, el('span', { class: 'j-punct' }, summary)),
      el('div', { class: 'j-children' }, entries.map(([k, x]) => renderJson(x, k, depth + 1))));
  }
  const type = v === null ? 'null' : typeof v;
  return el('div', { class: 'j-line' }, keyNode, el('span', { class: `j-${type}` },
    // Strings as they are (quoted, not escaped): long text wraps and reads as text.
    type === 'string' ? `"${v}"` : type === 'number' ? String(Number(v.toPrecision(12))) : String(v)));
}

function section(title, body) {
  return el('section', { class: 'block' }, el('h3', null, title), body);
}

// ---- data -------------------------------------------------------------------------------

async function api(path) {
  const r = await fetch(`/api/${path}`, { headers: { Accept: 'application/json' } });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

/** decodeURIComponent that leaves a malformed escape as it is. */
function dec(text) {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return text;
  }
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = (path || 'sessions').split('/').map(dec);
  return { parts, params: new URLSearchParams(query || '') };
}

function hashFor(page, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v != null && v !== '' && v !== false) q.set(k, v);
  const s = q.toString();
  return `#/${page}${s ? `?${s}` : ''}`;
}

// ---- pages ------------------------------------------------------------------------------

/** An ISO time as a datetime-local input's value (local time, to the minute). */
function toLocalInput(iso) {
  const d = iso ? new Date(iso) : null;
  if (!d || Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

async function sessionsPage(params) {
  const filters = {};
  for (const k of ['q', 'user', 'tag', 'from', 'to', 'errors']) if (params.get(k)) filters[k] = params.get(k);
  const page = Number(params.get('page') || 0);
  const query = new URLSearchParams({ ...filters, page: String(page) });
  const data = await api(`sessions?${query}`);

  const input = (name, placeholder, type) => el('input', { name, placeholder, type: type || 'text',
    value: type === 'datetime-local' ? toLocalInput(filters[name]) : filters[name] || '' });
  const form = el('form', { class: 'filters', id: 'session-filters' },
    input('q', 'search session or trace id'), input('user', 'user'), input('tag', 'tag'),
    el('label', null, 'from ', input('from', '', 'datetime-local')),
    el('label', null, 'to ', input('to', '', 'datetime-local')),
    el('label', null, el('input', { type: 'checkbox', name: 'errors', checked: !!filters.errors }), ' errors only'),
    el('button', { type: 'submit' }, 'Filter'),
    Object.keys(filters).length ? link('#/sessions', 'clear') : null);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const next = {};
    for (const k of ['q', 'user', 'tag']) next[k] = String(f.get(k) || '').trim();
    // The store's times are UTC; the inputs show local time.
    for (const k of ['from', 'to']) next[k] = f.get(k) ? new Date(String(f.get(k))).toISOString() : '';
    next.errors = f.get('errors') ? '1' : '';
    location.hash = hashFor('sessions', next);
  });

  const rows = data.sessions.map((s) => el('tr', { class: s.errors > 0 ? 'has-error' : '' },
    el('td', null, link(`#/session/${enc(s.id)}`, s.id)),
    el('td', { class: 'num' }, fmtInt(s.traces)),
    el('td', { class: 'num' }, fmtMs(s.duration_ms)),
    el('td', { class: 'num' }, fmtCost(s.cost)),
    el('td', { class: 'num' }, fmtInt(s.tokens)),
    el('td', null, (s.users || []).map((u, i) => [i ? ', ' : '', link(hashFor('sessions', { user: u }), u)])),
    el('td', null, s.errors > 0 ? el('span', { class: 'badge error' }, String(s.errors)) : muted('0'),
      s.warnings > 0 ? el('span', { class: 'badge warning' }, String(s.warnings)) : null),
    el('td', null, fmtTime(s.last_seen))));
  const table = el('table', { class: 'grid', id: 'sessions-table' },
    el('thead', null, el('tr', null, ['Session', 'Traces', 'Duration', 'Cost', 'Tokens', 'Users', 'Failed traces', 'Last seen']
      .map((h, i) => el('th', { class: i >= 1 && i <= 4 ? 'num' : '' }, h)))),
    el('tbody', null, rows));
  const pager = el('div', { class: 'pager' },
    page > 0 ? link(hashFor('sessions', { ...filters, page: page - 1 }), '← newer') : null,
    el('span', { class: 'muted' }, `page ${page + 1}`),
    data.has_more ? link(hashFor('sessions', { ...filters, page: page + 1 }), 'older →') : null);
  return [el('h1', null, 'Sessions'), form,
    data.sessions.length ? table : el('p', { class: 'empty' }, Object.keys(filters).length
      ? 'No session matches these filters.'
      : 'No sessions yet: set a session id on your traces (TraceUpdate::session_id).'),
    pager];
}

function turnCard(t, i) {
  return el('article', { class: `turn${t.errors > 0 ? ' has-error' : ''}`, dataset: { trace: t.id } },
    el('header', null,
      el('span', { class: 'turn-n' }, `#${i + 1}`),
      link(`#/trace/${enc(t.id)}`, el('strong', null, t.name || t.id.slice(0, 12))),
      el('span', { class: 'muted' }, fmtTime(t.start)),
      el('span', { class: 'pill' }, fmtMs(t.latency_ms)),
      fmtCost(t.cost) ? el('span', { class: 'pill' }, fmtCost(t.cost)) : null,
      el('span', { class: 'pill' }, `${fmtInt(t.tokens)} tokens`),
      levelBadge(null, t.errors, t.warnings),
      t.failed_observations > 0 ? el('a', { href: `#/trace/${enc(t.id)}`, class: 'muted failed-count' },
        `${fmtInt(t.failed_observations)} failed observation${t.failed_observations === 1 ? '' : 's'}`) : null,
      scoreChips(t.scores)),
    el('div', { class: 'turn-io' },
      el('div', { class: 'io input' }, el('div', { class: 'io-label' }, 'Input'), renderValue(t.input)),
      el('div', { class: 'io output' }, el('div', { class: 'io-label' }, 'Output'), renderValue(t.output))));
}

async function sessionPage(id) {
  const s = await api(`session/${enc(id)}`);
  return [
    el('p', { class: 'crumbs' }, link('#/sessions', 'Sessions'), ' / ', s.id),
    el('h1', { id: 'session-title' }, `Session: ${s.id} (${[fmtMs(s.duration_ms), fmtCost(s.cost)].filter(Boolean).join(', ')})`),
    el('div', { class: 'stats' },
      stat('Traces', fmtInt(s.traces.length)), stat('Duration', fmtMs(s.duration_ms)), stat('Cost', fmtCost(s.cost)),
      stat('Tokens', fmtInt(s.tokens)), stat('Latency p50', fmtMs(s.latency_p50_ms)), stat('Latency p95', fmtMs(s.latency_p95_ms)),
      stat('Users', (s.users || []).join(', ') || '—'), stat('Traces with errors', fmtInt(s.errors))),
    el('div', { class: 'turns', id: 'turns' }, s.traces.map(turnCard)),
  ];
}

/** Observations as a depth-first list of [observation, depth, has children]. */
function flattenTree(observations, collapsed) {
  const byId = new Map(observations.map((o) => [o.id, o]));
  const children = new Map();
  const roots = [];
  for (const o of observations) {
    if (o.parent_id && byId.has(o.parent_id) && o.parent_id !== o.id) {
      if (!children.has(o.parent_id)) children.set(o.parent_id, []);
      children.get(o.parent_id).push(o);
    } else roots.push(o);
  }
  const out = [];
  const seen = new Set();
  const stack = roots.slice().reverse().map((o) => [o, 0]);
  while (stack.length) {
    const [o, depth] = stack.pop();
    if (seen.has(o.id)) continue;
    seen.add(o.id);
    const kids = children.get(o.id) || [];
    out.push([o, depth, kids.length > 0]);
    if (!collapsed.has(o.id)) for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
  }
  return out;
}

const collapsedByTrace = new Map();

async function tracePage(id, params) {
  const t = await api(`trace/${enc(id)}`);
  const selected = params.get('obs');
  const collapsed = collapsedByTrace.get(t.id) || new Set();
  collapsedByTrace.set(t.id, collapsed);
  const total = Math.max(t.latency_ms, ...t.observations.map((o) => o.offset_ms + o.latency_ms), 0.001);

  const rows = flattenTree(t.observations, collapsed).map(([o, depth, hasKids]) => {
    const left = (100 * Math.max(o.offset_ms, 0)) / total;
    const width = Math.max((100 * o.latency_ms) / total, 0.3);
    const toggle = hasKids
      ? el('button', { class: 'toggle', title: 'collapse / expand', onclick: (ev) => {
        ev.preventDefault(); ev.stopPropagation();
        if (collapsed.has(o.id)) collapsed.delete(o.id); else collapsed.add(o.id);
        render();
      } }, collapsed.has(o.id) ? '▸' : '▾')
      : el('span', { class: 'toggle' }, '');
    const bar = el('div', { class: `bar type-${o.type.toLowerCase()} level-${o.level.toLowerCase()}`, style: { left: `${left}%`, width: `${width}%` } });
    const ttft = o.ttft_ms != null && o.latency_ms > 0
      ? el('div', { class: 'ttft', title: `time to first token ${fmtMs(o.ttft_ms)}`, style: { left: `${left + (100 * o.ttft_ms) / total}%` } })
      : null;
    return el('a', {
      class: `obs-row level-${o.level.toLowerCase()}${o.id === selected ? ' selected' : ''}`,
      href: hashFor(`trace/${enc(t.id)}`, { obs: o.id }),
      dataset: { obs: o.id, level: o.level, name: o.name },
    },
    el('div', { class: 'tree-cell', style: { paddingLeft: `${depth * 16 + 4}px` } },
      toggle, el('span', { class: `type type-${o.type.toLowerCase()}` }, o.type.toLowerCase()),
      el('span', { class: 'obs-name' }, o.name), levelBadge(o.level, 0, 0)),
    el('div', { class: 'time-cell' }, el('div', { class: 'track' }, bar, ttft),
      el('span', { class: 'dur' }, fmtMs(o.latency_ms),
        o.ttft_ms != null ? el('span', { class: 'muted' }, ` · ttft ${fmtMs(o.ttft_ms)}`) : null)));
  });

  const detail = selected ? await observationDetail(t.id, selected) : el('p', { class: 'muted hint' }, 'Select an observation to see its input, output and details.');
  const facts = [];
  if (t.user_id) facts.push(['User', link(hashFor('sessions', { user: t.user_id }), t.user_id)]);
  if (t.session_id) facts.push(['Session', link(`#/session/${enc(t.session_id)}`, t.session_id)]);
  facts.push(['Started', fmtTime(t.start)], ['Latency', fmtMs(t.latency_ms)]);
  if (fmtCost(t.cost)) facts.push(['Cost', fmtCost(t.cost)]);
  facts.push(['Observations', fmtInt(t.observations.length)]);
  if (t.release) facts.push(['Release', t.release]);
  if (t.environment) facts.push(['Environment', t.environment]);
  return [
    el('p', { class: 'crumbs' }, link('#/sessions', 'Sessions'), ' / ',
      t.session_id ? [link(`#/session/${enc(t.session_id)}`, t.session_id), ' / '] : null, t.name || t.id),
    el('h1', { id: 'trace-title' }, t.name || 'trace', ' ', el('small', { class: 'muted mono' }, t.id),
      levelBadge(null, t.errors, t.warnings)),
    el('div', { class: 'facts' }, facts.map(([k, v]) => el('span', { class: 'fact' }, el('b', null, `${k} `), v)),
      tagChips(t.tags), scoreChips(t.scores)),
    failedList(t),
    el('div', { class: 'trace-layout' },
      el('div', { class: 'tree', id: 'observation-tree' },
        el('div', { class: 'tree-head' }, el('div', { class: 'tree-cell' }, 'Observation'),
          el('div', { class: 'time-cell' }, `Timeline (${fmtMs(total)})`)),
        rows),
      el('aside', { class: 'detail', id: 'observation-detail' }, detail)),
    el('details', { class: 'block trace-io' }, el('summary', null, 'Trace input, output and metadata'),
      section('Input', renderValue(t.input)), section('Output', renderValue(t.output)),
      section('Metadata', renderValue(t.metadata))),
  ];
}

// One failure marks every `?` level it passed and often a framework event: the trace counts
// once as failed, and this list says which observations were at ERROR, each a link to it.
function failedList(t) {
  const failed = t.observations.filter((o) => o.level === 'ERROR');
  if (!failed.length) return null;
  return el('div', { class: 'error-box failed-list', id: 'failed-observations' },
    el('b', null, `Failed observations (${failed.length})`),
    el('ul', null, failed.map((o) => el('li', null,
      link(hashFor(`trace/${enc(t.id)}`, { obs: o.id }), o.name), ' ',
      muted(o.type.toLowerCase()), o.status_message ? `: ${o.status_message}` : ''))));
}

async function observationDetail(traceId, obsId) {
  let o;
  try {
    o = await api(`trace/${enc(traceId)}/observation/${enc(obsId)}`);
  } catch (e) {
    return el('p', { class: 'error-box' }, e.message);
  }
  const kv = [['Type', o.type.toLowerCase()], ['Level', o.level]];
  if (o.status_message) kv.push(['Status', o.status_message]);
  if (o.model) kv.push(['Model', el('span', { class: 'model' }, o.model)]);
  kv.push(['Start', fmtTime(o.start)], ['Latency', fmtMs(o.latency_ms)]);
  if (o.ttft_ms != null) kv.push(['Time to first token', fmtMs(o.ttft_ms)]);
  if (fmtCost(o.cost)) kv.push(['Cost', o.cost_computed ? `${fmtCost(o.cost)} (computed from usage)` : fmtCost(o.cost)]);
  if (o.prompt_name) kv.push(['Prompt', `${o.prompt_name}${o.prompt_version != null ? ` v${o.prompt_version}` : ''}`]);
  if (o.version) kv.push(['Version', o.version]);
  const usage = o.usage && typeof o.usage === 'object'
    ? el('table', { class: 'kv usage' }, Object.entries(o.usage).map(([k, v]) => el('tr', null, el('th', null, k), el('td', { class: 'num' }, typeof v === 'number' ? fmtInt(v) : String(v)))))
    : null;
  return el('div', { class: `obs-detail level-${o.level.toLowerCase()}` },
    el('h2', null, o.name, ' ', levelBadge(o.level, 0, 0)),
    el('table', { class: 'kv' }, kv.map(([k, v]) => el('tr', null, el('th', null, k), el('td', null, v)))),
    usage ? section('Usage', usage) : null,
    o.cost_details ? section('Cost details', renderValue(o.cost_details)) : null,
    o.model_parameters ? section('Parameters', renderValue(o.model_parameters)) : null,
    section('Input', renderValue(o.input)),
    section('Output', renderValue(o.output)),
    o.metadata && Object.keys(o.metadata).length ? section('Metadata', renderValue(o.metadata)) : null,
    o.scores.length ? section('Scores', el('div', null, scoreChips(o.scores))) : null);
}

async function usersPage() {
  const { users } = await api('users');
  const rows = users.map((u) => el('tr', null,
    el('td', null, link(hashFor('sessions', { user: u.user_id }), u.user_id)),
    el('td', { class: 'num' }, fmtInt(u.traces)), el('td', { class: 'num' }, fmtInt(u.sessions)),
    el('td', { class: 'num' }, fmtCost(u.cost)), el('td', { class: 'num' }, fmtMs(u.avg_latency_ms)),
    el('td', { class: 'num' }, fmtMs(u.max_latency_ms)), el('td', null, fmtTime(u.last_seen))));
  return [el('h1', null, 'Users'),
    users.length ? el('table', { class: 'grid', id: 'users-table' },
      el('thead', null, el('tr', null, ['User', 'Traces', 'Sessions', 'Cost', 'Avg latency', 'Max latency', 'Last seen']
        .map((h, i) => el('th', { class: i >= 1 && i <= 5 ? 'num' : '' }, h)))),
      el('tbody', null, rows)) : el('p', { class: 'empty' }, 'No users yet: set a user id on your traces.')];
}

let reportsCache = null;

async function queryPage(params) {
  const sql = params.get('sql') || '';
  if (!reportsCache) reportsCache = await api('reports');
  const area = el('textarea', { id: 'sql', spellcheck: false, rows: 8, placeholder: 'SELECT user_id, COUNT(*) FROM traces GROUP BY 1' });
  area.value = sql;
  const run = (text) => {
    const next = hashFor('query', { sql: text, run: String(Date.now()) });
    location.hash = next;
  };
  const form = el('form', { class: 'query-form', onsubmit: (ev) => { ev.preventDefault(); run(area.value); } },
    area,
    el('div', { class: 'query-actions' },
      el('button', { type: 'submit', id: 'run-query' }, 'Run'),
      el('span', { class: 'muted' }, 'PostgreSQL dialect over traces, observations, scores; read-only. Seeds:'),
      reportsCache.map((r) => el('button', { type: 'button', class: 'seed', title: r.title, dataset: { report: r.name },
        onclick: () => run(r.sql) }, r.name))));
  area.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) run(area.value); });
  let result = null;
  if (sql.trim()) {
    try {
      const r = await api(`query?${new URLSearchParams({ sql })}`);
      result = el('div', { id: 'query-result' },
        el('p', { class: 'muted' }, `${r.rows.length} row${r.rows.length === 1 ? '' : 's'} in ${fmtMs(r.elapsed_ms)}`,
          !r.truncated ? '' : r.truncated_by === 'bytes'
            ? ` — stopped at the size limit (${fmtInt(r.byte_limit / 1048576)} MiB of rows)`
            : ` — stopped at the row limit (${r.row_limit})`),
        el('div', { class: 'scroll' }, el('table', { class: 'grid' },
          el('thead', null, el('tr', null, r.columns.map((c, i) => el('th', { class: r.rows.length && typeof r.rows[0][i] === 'number' ? 'num' : '' }, c)))),
          el('tbody', null, r.rows.map((row) => el('tr', null, row.map((v, i) => el('td', { class: typeof v === 'number' ? 'num' : '' },
            v == null ? muted('null') : typeof v === 'number' && isCostColumn(r.columns[i]) ? fmtCost(v)
              : typeof v === 'number' ? String(+v.toFixed(6)) : String(v)))))))));
    } catch (e) {
      result = el('pre', { class: 'error-box', id: 'query-error' }, e.message);
    }
  }
  return [el('h1', null, 'Query'), form, result];
}

// ---- dashboard ----------------------------------------------------------------------------

// The filter bar's parameters, as the dashboard endpoints take them (docs/UI.md); `tag`,
// `exclude_tag` and `compare` repeat.
const DASH_KEYS = ['range', 'from', 'to', 'bucket', 'environment', 'user', 'name', 'meta_key', 'meta_value', 'breakdown', 'breakdown_key'];
const DASH_LISTS = ['tag', 'exclude_tag', 'compare'];
const BREAKDOWNS = ['model', 'user', 'session', 'name', 'tag', 'environment', 'release', 'version', 'metadata'];

/** The dashboard's filter from the page's URL, as query text for the endpoints and the hash. */
function dashQuery(params) {
  const q = new URLSearchParams();
  for (const k of DASH_KEYS) if (params.get(k)) q.set(k, params.get(k));
  for (const k of DASH_LISTS) for (const v of params.getAll(k)) if (v) q.append(k, v);
  return q;
}

/** A value as a widget shows it: costs in dollars, durations, counts. */
function fmtWidgetValue(column, v) {
  if (v == null) return muted('—');
  if (typeof v !== 'number') return String(v);
  if (/cost/.test(column)) return fmtCost(v);
  if (/_ms$|^p\d+$/.test(column)) return fmtMs(v);
  return Number.isInteger(v) ? fmtInt(v) : String(+v.toFixed(4));
}

/** The server's SVG as DOM: parsed as XML (no script runs), then adopted. */
function svgNode(text) {
  const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  const root = doc.documentElement;
  if (!root || root.nodeName !== 'svg') return el('p', { class: 'error-box' }, 'the chart could not be read');
  return document.importNode(root, true);
}

function widgetBody(w) {
  if (w.error) return el('pre', { class: 'error-box widget-error' }, w.error);
  if (w.chart === 'number') {
    const column = (w.y && w.y[0]) || w.columns[0];
    const at = Math.max(0, w.columns.indexOf(column));
    const v = w.rows.length ? w.rows[0][at] : null;
    return el('div', { class: 'widget-number' }, fmtWidgetValue(column, v));
  }
  if (w.svg) return el('div', { class: 'chart' }, svgNode(w.svg));
  if (!w.rows.length) return el('p', { class: 'muted' }, 'no rows in this range');
  return el('div', { class: 'scroll' }, el('table', { class: 'grid' },
    el('thead', null, el('tr', null, w.columns.map((c) => el('th', null, c)))),
    el('tbody', null, w.rows.map((row) => el('tr', null, row.map((v, i) =>
      el('td', { class: typeof v === 'number' ? 'num' : '' }, fmtWidgetValue(w.columns[i], v))))))));
}

function widgetCard(w) {
  const sql = el('div', { class: 'widget-sql', hidden: true },
    el('pre', { class: 'mono' }, w.sql || ''),
    link(hashFor('query', { sql: w.sql || '' }), 'Open in Query →'));
  const toggle = el('button', { type: 'button', class: 'seed sql-toggle', title: 'The PostgreSQL behind this widget',
    onclick: () => { sql.hidden = !sql.hidden; } }, 'SQL');
  return el('section', { class: `widget widget-${w.chart}${w.error ? ' has-error' : ''}`, dataset: { widget: String(w.index) } },
    el('header', null, el('h2', null, w.title), toggle), sql, widgetBody(w));
}

async function dashboardPage(params) {
  const query = dashQuery(params);
  const outline = await api(`dashboard?${query}`);
  const go = (next) => { location.hash = `#/dashboard${next.toString() ? `?${next}` : ''}`; };
  const value = (k) => params.get(k) || '';
  const input = (name, placeholder, v) => el('input', { name, placeholder, type: 'text', value: v != null ? v : value(name) });
  const select = (name, options, current) => el('select', { name },
    options.map(([v, label]) => el('option', { value: v, selected: v === current }, label)));
  const range = value('range') || '7d';
  const form = el('form', { class: 'filters', id: 'dashboard-filters' },
    select('range', [['1h', 'last hour'], ['24h', 'last day'], ['7d', 'last 7 days'], ['30d', 'last 30 days'], ['custom', 'custom']], range),
    el('label', { class: 'custom-range', hidden: range !== 'custom' }, 'from ', el('input', { name: 'from', type: 'datetime-local', value: toLocalInput(value('from')) })),
    el('label', { class: 'custom-range', hidden: range !== 'custom' }, 'to ', el('input', { name: 'to', type: 'datetime-local', value: toLocalInput(value('to')) })),
    select('bucket', [['', `by ${outline.bucket}`], ['minute', 'by minute'], ['hour', 'by hour'], ['day', 'by day'], ['week', 'by week']], value('bucket')),
    input('tag', 'tags (a, b)', params.getAll('tag').join(', ')),
    input('exclude_tag', 'without tags', params.getAll('exclude_tag').join(', ')),
    input('environment', 'environment'), input('user', 'user'), input('name', 'trace name'),
    input('meta_key', 'metadata key'), input('meta_value', 'value'),
    select('breakdown', [['', 'no breakdown'], ...BREAKDOWNS.map((b) => [b, `by ${b}`])], value('breakdown')),
    input('breakdown_key', 'metadata key to split by'),
    input('compare_a', 'compare A', params.getAll('compare')[0] || ''),
    input('compare_b', 'vs B', params.getAll('compare')[1] || ''),
    el('button', { type: 'submit' }, 'Apply'),
    query.toString() ? link('#/dashboard', 'clear') : null);
  form.elements.range.addEventListener('change', () => {
    for (const l of form.querySelectorAll('.custom-range')) l.hidden = form.elements.range.value !== 'custom';
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const next = new URLSearchParams();
    for (const k of DASH_KEYS) {
      let v = String(f.get(k) || '').trim();
      // The store's times are UTC; the inputs show local time.
      if ((k === 'from' || k === 'to') && v) v = new Date(v).toISOString().slice(0, 19);
      if ((k === 'from' || k === 'to') && f.get('range') !== 'custom') v = '';
      if (v) next.set(k, v);
    }
    for (const k of ['tag', 'exclude_tag']) for (const t of String(f.get(k) || '').split(',')) if (t.trim()) next.append(k, t.trim());
    for (const k of ['compare_a', 'compare_b']) if (String(f.get(k) || '').trim()) next.append('compare', String(f.get(k)).trim());
    go(next);
  });

  const widgets = await Promise.all(outline.widgets.map((w) =>
    api(`dashboard/widget/${w.index}?${query}`).catch((e) => ({ ...w, error: e.message }))));
  // Comparing two values is one click: the two largest of the breakdown, side by side.
  const split = widgets.find((w) => !w.error && w.columns && w.columns[0] === 'series' && w.chart === 'table');
  const top = split ? split.rows.map((r) => r[0]).filter((v) => v != null).slice(0, 2) : [];
  const compare = params.get('breakdown') && top.length === 2 && !params.getAll('compare').length
    ? el('button', { type: 'button', id: 'compare-top', class: 'seed', onclick: () => {
      const next = dashQuery(params);
      for (const v of top) next.append('compare', String(v));
      go(next);
    } }, `Compare ${top[0]} vs ${top[1]}`)
    : null;
  const numbers = widgets.filter((w) => w.chart === 'number');
  const others = widgets.filter((w) => w.chart !== 'number');
  return [el('h1', null, outline.title, el('small', { class: 'muted' }, `${outline.range}, by ${outline.bucket}`)),
    form, compare,
    el('div', { class: 'widget-numbers' }, numbers.map(widgetCard)),
    el('div', { class: 'widgets' }, others.map(widgetCard))];
}

// ---- routing and live updates -------------------------------------------------------------

let rendering = 0;

async function render() {
  const ticket = ++rendering;
  const { parts, params } = parseHash();
  const page = parts[0];
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === page || (page === 'session' || page === 'trace') && a.dataset.page === 'sessions');
  let content;
  try {
    if (page === 'session' && parts[1] != null) content = await sessionPage(parts.slice(1).join('/'));
    else if (page === 'trace' && parts[1]) content = await tracePage(parts[1], params);
    else if (page === 'users') content = await usersPage();
    else if (page === 'dashboard') content = await dashboardPage(params);
    else if (page === 'query') content = await queryPage(params);
    else content = await sessionsPage(params);
  } catch (e) {
    content = [el('h1', null, 'Not available'), el('p', { class: 'error-box' }, e.message), link('#/sessions', '← Sessions')];
  }
  if (ticket !== rendering) return; // a newer navigation won
  const scroll = [window.scrollX, window.scrollY];
  main.replaceChildren(...[content].flat(Infinity).filter((c) => c != null && c !== false));
  window.scrollTo(...scroll);
  document.title = `observe · ${page}`;
  document.body.dataset.ready = String(ticket);
}

let token = null;
const live = document.getElementById('live');

async function poll() {
  try {
    const r = await api('changes');
    live.classList.remove('off');
    if (token !== null && r.token !== token) {
      const { parts } = parseHash();
      // The query and dashboard pages rerun only when asked, and a form being typed in is left alone;
      // otherwise the page shows the store as it is now.
      const typing = main.contains(document.activeElement) && /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      // The dashboard runs every widget's query: it reloads when asked (Apply), not on
      // every commit.
      if (parts[0] !== 'query' && parts[0] !== 'dashboard' && !typing) await render();
    }
    token = r.token;
  } catch (e) {
    live.classList.add('off');
  }
  setTimeout(poll, POLL_MS);
}

window.addEventListener('hashchange', render);
render();
poll();
