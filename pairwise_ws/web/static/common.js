// pairwise-ws: the code every page shares.
//
//  - h(): builds DOM nodes. Untrusted text (attendee names, feature titles,
//    server messages) only ever reaches the page as text nodes or through
//    textContent; nothing here or in the pages uses innerHTML.
//  - api(): JSON over fetch, same origin, bounded by a timeout.
//  - LiveSocket: the session's WebSocket, reconnecting by itself with
//    exponential backoff and jitter, at once when the network or the page
//    comes back, and probing a socket that may have died during phone sleep.
//  - SessionModel: the `session_state` snapshot, with every later server
//    event applied to it, so a page only ever renders from one model.

export const APP = 'pairwise-ws';

// --- DOM ---------------------------------------------------------------------

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** h('button', {class: 'x', dataset: {id: 1}, onclick: fn}, 'text', child) */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) if (v !== undefined && v !== null) el.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  appendChildren(el, children);
  return el;
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children (text is always text, never markup). */
export function fill(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
  return el;
}

/** Show the page's `#view-{view}` section and hide the others. */
export function setView(view) {
  for (const el of $$('.view')) el.hidden = el.id !== `view-${view}`;
  document.body.dataset.view = view;
}

/** The page's message view: `kind` (loading, waiting, invalid, ...) with a title and a text. */
export function showMessage(kind, title, text) {
  setView('message');
  $('#view-message').dataset.kind = kind;
  document.body.dataset.view = kind;
  setText($('#message-title'), title);
  setText($('#message-text'), text);
}

export function setText(el, text) {
  const value = text === null || text === undefined ? '' : String(text);
  if (el.textContent !== value) el.textContent = value;
}

/** Set or remove a data-* attribute (null/undefined removes it). */
export function setData(el, name, value) {
  if (value === null || value === undefined) delete el.dataset[name];
  else if (el.dataset[name] !== String(value)) el.dataset[name] = String(value);
}

/**
 * Keep `container`'s children in step with `items`, reusing the element of
 * each key (so focus and animations survive updates).
 */
export function syncList(container, items, keyOf, create, update) {
  const existing = new Map();
  for (const child of Array.from(container.children)) {
    if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
  }
  const keep = new Set();
  let previous = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let el = existing.get(key);
    if (!el) {
      el = create(item);
      el.dataset.key = key;
    }
    update(el, item);
    keep.add(key);
    const expected = previous ? previous.nextElementSibling : container.firstElementChild;
    if (el !== expected) container.insertBefore(el, expected);
    previous = el;
  }
  for (const [key, el] of existing) if (!keep.has(key)) el.remove();
}

/** Restart a CSS animation on `el` (class `play`). */
export function replay(el, className = 'play') {
  el.classList.remove(className);
  void el.offsetWidth; // reflow, so the animation starts again
  el.classList.add(className);
}

/** Polite screen-reader announcement through the page's aria-live region. */
export function announce(text) {
  const live = $('#live');
  if (!live) return;
  live.textContent = '';
  window.setTimeout(() => { live.textContent = text; }, 60);
}

let toastTimer = 0;
/** A short message at the bottom of the screen (kind: info | error | ok). */
export function toast(message, kind = 'info', ms = 4000) {
  const el = $('#toast');
  if (!el) return;
  el.dataset.kind = kind;
  el.textContent = message;
  el.hidden = false;
  replay(el, 'show');
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => { el.hidden = true; el.classList.remove('show'); }, ms);
}

/** Two-letter initials for an avatar. */
export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) return '?';
  const first = Array.from(words[0])[0] ?? '';
  const second = words.length > 1 ? Array.from(words[words.length - 1])[0] ?? '' : Array.from(words[0])[1] ?? '';
  return (first + second).toUpperCase();
}

/** One of 8 avatar tones, stable per attendee. */
export const toneOf = (id) => String(Math.abs(Number(id) || 0) % 8);

export function avatar(name, id, extraClass = '') {
  return h('span', { class: `avatar ${extraClass}`.trim(), dataset: { tone: toneOf(id) }, 'aria-hidden': 'true' }, initials(name));
}

/** The question a session asks, by its criterion. */
export function question(criterion) {
  return criterion === 'complexity' ? 'Which is more complex to build?' : 'Which brings more value?';
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

// --- location, storage ---------------------------------------------------------

/** The project and session ids in /projects/{pid}[/sessions/{sid}]/... */
export function pathIds() {
  const match = location.pathname.match(/^\/projects\/(\d+)(?:\/sessions\/(\d+))?/);
  return {
    projectId: match ? Number(match[1]) : null,
    sessionId: match && match[2] ? Number(match[2]) : null,
  };
}

/**
 * Read `names` from the fragment (first) or the query, and remove them from
 * the address bar, so secrets don't stay in the history or on screen.
 */
export function takeUrlParams(names) {
  const url = new URL(location.href);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ''));
  const found = {};
  let changed = false;
  for (const name of names) {
    const value = fragment.get(name) ?? url.searchParams.get(name);
    if (value !== null && value !== '') found[name] = value;
    if (fragment.has(name)) { fragment.delete(name); changed = true; }
    if (url.searchParams.has(name)) { url.searchParams.delete(name); changed = true; }
  }
  if (changed) {
    const rest = fragment.toString();
    const search = url.searchParams.toString();
    history.replaceState(history.state, '', `${url.pathname}${search ? `?${search}` : ''}${rest ? `#${rest}` : ''}`);
  }
  return found;
}

export const keys = {
  attendee: (pid) => `${APP}:project:${pid}:attendee`,
  facilitator: (pid) => `${APP}:project:${pid}:facilitator`,
  projector: (pid) => `${APP}:project:${pid}:projector`,
  place: (pid, sid) => `${APP}:project:${pid}:session:${sid}:place`,
  pending: (pid, sid) => `${APP}:project:${pid}:session:${sid}:pending`,
};

function makeStorage(area) {
  return {
    get(key) {
      try {
        const raw = window[area].getItem(key);
        return raw === null ? null : JSON.parse(raw);
      } catch { return null; }
    },
    set(key, value) {
      try { window[area].setItem(key, JSON.stringify(value)); } catch { /* private mode: memory only */ }
    },
    remove(key) {
      try { window[area].removeItem(key); } catch { /* ignore */ }
    },
  };
}
export const local = makeStorage('localStorage');
export const session = makeStorage('sessionStorage');

/** Attendee credentials {attendee_id, token} of a project, if valid-looking. */
export function storedAttendee(pid) {
  const value = local.get(keys.attendee(pid));
  if (value && Number.isInteger(Number(value.attendee_id)) && typeof value.token === 'string' && value.token) {
    return { attendee_id: Number(value.attendee_id), token: value.token, name: value.name ?? null };
  }
  return null;
}

export function storeAttendee(pid, creds) {
  local.set(keys.attendee(pid), { attendee_id: Number(creds.attendee_id), token: creds.token, name: creds.name ?? null });
}

// --- HTTP ----------------------------------------------------------------------

/**
 * fetch() for the daemon's JSON endpoints. Never throws: a network failure
 * comes back as {ok: false, status: 0}.
 */
export async function api(path, { method = 'GET', body, token, attendee, query, timeoutMs = 8000 } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
  const headers = { Accept: 'application/json' };
  // Credentials go in a header, never in the URL (which servers and proxies log):
  // a project token as Bearer, an attendee's id and token as Basic.
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (attendee) headers.Authorization = `Basic ${btoa(`${attendee.attendee_id}:${attendee.token}`)}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const abort = new AbortController();
  const timer = window.setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'same-origin',
      signal: abort.signal,
    });
  } catch {
    return { ok: false, status: 0, data: null, error: 'The server can’t be reached.' };
  } finally {
    window.clearTimeout(timer);
  }
  let data = null;
  try { data = await response.json(); } catch { /* not JSON */ }
  const error = response.ok ? null : (data && typeof data.error === 'string' ? data.error : `HTTP ${response.status}`);
  return { ok: response.ok, status: response.status, data, error };
}

export function wsUrl(pid, sid, query) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) params.set(k, String(v));
  return `${scheme}://${location.host}/projects/${pid}/sessions/${sid}/ws?${params}`;
}

// --- backoff -----------------------------------------------------------------------

/** Exponential backoff with "equal jitter": a delay in [cap/2, cap]. */
export class Backoff {
  constructor({ baseMs = 500, maxMs = 10000, factor = 2 } = {}) {
    Object.assign(this, { baseMs, maxMs, factor });
    this.attempt = 0;
  }

  next() {
    const cap = Math.min(this.maxMs, this.baseMs * this.factor ** this.attempt);
    this.attempt += 1;
    return cap / 2 + Math.random() * (cap / 2);
  }

  reset() { this.attempt = 0; }
}

/** Call `fn` after `ms`, resolving with its result; cancellable with `.cancel()`. */
export function later(fn, ms) {
  let id = 0;
  const promise = new Promise((resolve) => { id = window.setTimeout(() => resolve(fn()), ms); });
  promise.cancel = () => window.clearTimeout(id);
  return promise;
}

// --- the session's WebSocket -------------------------------------------------------

const OPEN_TIMEOUT_MS = 10000; // a handshake that hangs (dead Wi-Fi) is retried
const PROBE_TIMEOUT_MS = 5000; // after waking up: an answer within this, or reconnect

/**
 * The session's WebSocket. Status: connecting -> connected -> reconnecting ->
 * connected ... or stopped. A connection counts as up once its first message
 * (`session_state`) arrives.
 *
 * Callbacks:
 *   url()                      the URL to connect to (read on every attempt)
 *   onMessage(msg)             every server message (a parsed object)
 *   onStatus(status, detail)   status changes; detail.retryAt for reconnecting
 *   onClose(event, {hadState}) return 'stop' to stop reconnecting
 *   checkFailure()             after a connection that never got its
 *                              session_state: resolve 'retry' or 'stop'
 */
export class LiveSocket {
  constructor({ url, onMessage, onStatus = () => {}, onClose = () => 'retry', checkFailure = async () => 'retry' }) {
    Object.assign(this, { url, onMessage, onStatus, onClose, checkFailure });
    this.ws = null;
    this.status = 'idle';
    this.backoff = new Backoff();
    this.timer = 0;
    this.openTimer = 0;
    this.probeTimer = 0;
    this.hadState = false;
    this.everConnected = false;
    this.retryAt = 0;
    this._wake = () => this.wake();
    window.addEventListener('online', this._wake);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.wake();
    });
    window.addEventListener('pageshow', (event) => { if (event.persisted) this.wake(); });
  }

  start() {
    if (this.status !== 'idle' && this.status !== 'stopped') return;
    this._connect();
  }

  stop() {
    this._setStatus('stopped');
    window.clearTimeout(this.timer);
    this._clearConnectionTimers();
    const ws = this.ws;
    this.ws = null;
    if (ws) { try { ws.close(1000, 'bye'); } catch { /* ignore */ } }
  }

  get connected() { return this.status === 'connected'; }

  /** Send one client message; false if there is no open connection now. */
  /** Send a message; `ref` (optional) comes back in the answers to it. */
  send(type, data = {}, ref = undefined) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.hadState) return false;
    try {
      this.ws.send(JSON.stringify(ref === undefined ? { type, data } : { type, data, ref }));
      return true;
    } catch {
      return false;
    }
  }

  /** The network or the page came back: reconnect now, or check the socket still lives. */
  wake() {
    if (this.status === 'stopped' || this.status === 'idle') return;
    if (this.status === 'reconnecting' && !this.ws) {
      window.clearTimeout(this.timer);
      this._connect();
    } else if (this.status === 'connected') {
      this.probe();
    }
  }

  /** Ask for a fresh session_state; no answer in time means the socket is dead. */
  probe() {
    if (!this.send('join_session', {})) return;
    window.clearTimeout(this.probeTimer);
    const ws = this.ws;
    this.probeTimer = window.setTimeout(() => {
      if (this.ws === ws) this._drop(ws, 'no answer');
    }, PROBE_TIMEOUT_MS);
  }

  retryNow() {
    if (this.status === 'reconnecting' && !this.ws) {
      window.clearTimeout(this.timer);
      this.backoff.reset();
      this._connect();
    }
  }

  _setStatus(status, detail = {}) {
    this.status = status;
    this.onStatus(status, detail);
  }

  _clearConnectionTimers() {
    window.clearTimeout(this.openTimer);
    window.clearTimeout(this.probeTimer);
  }

  _connect() {
    window.clearTimeout(this.timer);
    this.hadState = false;
    if (this.status !== 'reconnecting') this._setStatus(this.everConnected ? 'reconnecting' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this._closed(null, { code: 1006, reason: '', wasClean: false });
      return;
    }
    this.ws = ws;
    this.openTimer = window.setTimeout(() => {
      if (this.ws === ws && !this.hadState) this._drop(ws, 'handshake timeout');
    }, OPEN_TIMEOUT_MS);
    ws.addEventListener('message', (event) => {
      if (this.ws !== ws) return;
      window.clearTimeout(this.probeTimer);
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (!msg || typeof msg !== 'object' || typeof msg.type !== 'string') return;
      if (msg.type === 'session_state' && !this.hadState) {
        this.hadState = true;
        this.everConnected = true;
        window.clearTimeout(this.openTimer);
        this.backoff.reset();
        this._setStatus('connected');
      }
      this.onMessage(msg);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this._closed(ws, event);
    });
  }

  /** Give up on a socket that seems dead and reconnect without waiting for its close. */
  _drop(ws, why) {
    if (this.ws !== ws) return;
    try { ws.close(4000, why); } catch { /* ignore */ }
    this._closed(ws, { code: 1006, reason: why, wasClean: false });
  }

  async _closed(ws, event) {
    if (ws && this.ws !== ws) return;
    this.ws = null;
    this._clearConnectionTimers();
    if (this.status === 'stopped') return;
    const hadState = this.hadState;
    this.hadState = false;
    if (this.onClose(event, { hadState }) === 'stop') {
      this._setStatus('stopped');
      return;
    }
    this._setStatus('reconnecting', { retryAt: 0, code: event.code });
    if (!hadState) {
      // A browser WebSocket can't see a 401: ask the HTTP side why.
      const verdict = await this.checkFailure();
      if (this.status === 'stopped') return;
      if (verdict === 'stop') {
        this._setStatus('stopped');
        return;
      }
    }
    this._schedule();
  }

  _schedule() {
    window.clearTimeout(this.timer);
    const delay = this.backoff.next();
    this.retryAt = Date.now() + delay;
    this._setStatus('reconnecting', { retryAt: this.retryAt });
    this.timer = window.setTimeout(() => this._connect(), delay);
  }
}

// --- the session model ----------------------------------------------------------------

/** 'a' | 'b' | 'tie' for a vote on comparison `c`. */
export function choiceOf(c, vote) {
  if (!vote) return null;
  if (vote.is_tie_vote) return 'tie';
  return vote.preferred_feature_id === c.feature_a_id ? 'a' : 'b';
}

/** The vote message for a choice on comparison `c`. */
export function voteData(c, choice) {
  if (choice === 'tie') return { vote: { comparison_id: c.id, is_tie_vote: true } };
  const featureId = choice === 'a' ? c.feature_a_id : c.feature_b_id;
  return { vote: { comparison_id: c.id, preferred_feature_id: featureId, is_tie_vote: false } };
}

/**
 * The session as the server described it in `session_state`, kept current by
 * applying each later event. `apply()` returns what changed, for the page:
 * {kind, comparisonId?, resync?} or null for messages it doesn't know.
 */
export class SessionModel {
  constructor(data) {
    this.session = { ...data.session };
    this.you = { ...data.you };
    this.features = new Map((data.features ?? []).map((f) => [f.id, { ...f }]));
    this.comparisons = new Map();
    for (const c of data.comparisons ?? []) {
      this.comparisons.set(c.id, { ...c, votes: new Map((c.votes ?? []).map((v) => [v.attendee_id, { ...v }])) });
    }
    this.attendees = new Map((data.attendees ?? []).map((a) => [a.attendee_id, { ...a }]));
    this.currentId = data.current_comparison_id ?? null;
    this.progress = { ...data.progress };
    this.timer = { state: 'stopped', seconds: 0, ends_at: null, ...(data.timer ?? {}) };
    this.clockOffsetMs = 0; // the server's clock minus ours, from the messages' timestamps
  }

  /** Seconds left on a running timer, by the server's clock (ends_at), or null. */
  timerLeft() {
    if (this.timer.state !== 'running' || !this.timer.ends_at) return null;
    const left = (Date.parse(this.timer.ends_at) - (Date.now() + this.clockOffsetMs)) / 1000;
    return Math.max(0, left);
  }

  get isAttendee() { return this.you.role === 'attendee'; }
  /** This page's attendee watches: present, never voting. */
  get observing() { return this.myId !== null && this.attendees.get(this.myId)?.role === 'observer'; }
  get myId() { return this.you.attendee_id ?? null; }
  get active() { return this.session.status === 'active'; }

  ordered() {
    return Array.from(this.comparisons.values()).sort((x, y) => x.position - y.position);
  }

  get current() { return this.currentId === null ? null : this.comparisons.get(this.currentId) ?? null; }

  attendeesSorted() {
    return Array.from(this.attendees.values()).sort(
      (x, y) => Number(y.online) - Number(x.online) || x.name.localeCompare(y.name) || x.attendee_id - y.attendee_id,
    );
  }

  onlineCount() {
    let n = 0;
    for (const a of this.attendees.values()) if (a.online) n += 1;
    return n;
  }

  title(featureId) {
    return this.features.get(featureId)?.title ?? `Feature ${featureId}`;
  }

  description(featureId) {
    return this.features.get(featureId)?.description ?? '';
  }

  get adaptive() { return this.session.schedule === 'adaptive'; }

  /** Comparisons settled by transitivity (adaptive sessions). */
  impliedCount() {
    let n = 0;
    for (const c of this.comparisons.values()) if (c.status === 'implied') n += 1;
    return n;
  }

  /**
   * The chain of features that implies an implied comparison, as text:
   * "Offline > Search > Export" (= for a tie), from the decisions behind it.
   */
  chain(c) {
    const steps = (c.implied_by ?? []).map((id) => this.comparisons.get(id)).filter(Boolean);
    if (!steps.length) return '';
    let at = c.is_tie || c.winner_id === null ? c.feature_a_id : c.winner_id;
    const parts = [this.title(at)];
    for (const step of steps) {
      const next = step.feature_a_id === at ? step.feature_b_id : step.feature_a_id;
      parts.push(step.is_tie ? '=' : '>', this.title(next));
      at = next;
    }
    return parts.join(' ');
  }

  /** The title of the outcome of a settled comparison ('Tie' for a tie). */
  outcome(c) {
    if (c.status === 'skipped') return 'Skipped';
    if (c.status !== 'decided' && c.status !== 'implied') return null;
    if (c.is_tie) return 'Tie';
    return c.winner_id === null ? null : this.title(c.winner_id);
  }

  /** How many votes a comparison needs to be complete, as the server counts them. */
  expectedVoters(c) {
    if (this.session.consensus?.quorum === 'all') return Math.max(this.attendees.size, c.votes.size);
    const ids = new Set(c.votes.keys());
    for (const a of this.attendees.values()) if (a.online) ids.add(a.attendee_id);
    return ids.size;
  }

  myVote(c) {
    return this.myId === null ? null : c.votes.get(this.myId) ?? null;
  }

  tally(c) {
    const counts = { a: 0, b: 0, tie: 0 };
    for (const v of c.votes.values()) counts[choiceOf(c, v)] += 1;
    return counts;
  }

  _ensureAttendee(id, name, online) {
    const known = this.attendees.get(id);
    if (known) {
      if (name) known.name = name;
      if (online !== undefined) known.online = online;
      return known;
    }
    const added = { attendee_id: id, name: name ?? `Attendee ${id}`, online: Boolean(online) };
    this.attendees.set(id, added);
    return added;
  }

  apply(msg) {
    const d = msg.data ?? {};
    const sent = Date.parse(msg.timestamp ?? '');
    if (Number.isFinite(sent)) this.clockOffsetMs = sent - Date.now();
    switch (msg.type) {
      case 'timer':
        this.timer = { ...d };
        return { kind: 'timer', state: d.state };
      case 'attendee_joined':
        this._ensureAttendee(d.attendee_id, d.attendee_name, true);
        return { kind: 'presence', attendeeId: d.attendee_id };
      case 'attendee_left':
        this._ensureAttendee(d.attendee_id, d.attendee_name, false);
        return { kind: 'presence', attendeeId: d.attendee_id, reason: d.reason };
      case 'vote_received': {
        const c = this.comparisons.get(d.comparison_id);
        this._ensureAttendee(d.attendee_id, d.attendee_name);
        if (!c) return { kind: 'resync', resync: true };
        if (d.retracted) { // the vote was taken back
          c.votes.delete(d.attendee_id);
          c.lastCount = { received: d.votes_received, expected: d.voters_expected };
          return { kind: 'vote', comparisonId: c.id, attendeeId: d.attendee_id, retracted: true };
        }
        c.votes.set(d.attendee_id, {
          attendee_id: d.attendee_id,
          preferred_feature_id: d.preferred_feature_id ?? null,
          is_tie_vote: Boolean(d.is_tie_vote),
          voted_at: msg.timestamp,
        });
        c.lastCount = { received: d.votes_received, expected: d.voters_expected };
        return { kind: 'vote', comparisonId: c.id, attendeeId: d.attendee_id };
      }
      case 'consensus_reached': {
        const c = this.comparisons.get(d.comparison_id);
        if (!c) return { kind: 'resync', resync: true };
        Object.assign(c, { status: 'decided', winner_id: d.winner_id ?? null, is_tie: Boolean(d.is_tie) });
        return { kind: 'consensus', comparisonId: c.id, reached: true };
      }
      case 'consensus_lost': {
        const c = this.comparisons.get(d.comparison_id);
        if (!c) return { kind: 'resync', resync: true };
        Object.assign(c, { status: 'open', winner_id: null, is_tie: false });
        return { kind: 'consensus', comparisonId: c.id, reached: false };
      }
      case 'comparisons_implied': {
        for (const item of d.comparisons ?? []) {
          const c = this.comparisons.get(item.id);
          if (!c) return { kind: 'resync', resync: true };
          Object.assign(c, { status: 'implied', winner_id: item.winner_id ?? null, is_tie: Boolean(item.is_tie), implied_by: item.implied_by ?? [] });
        }
        return { kind: 'implied', count: (d.comparisons ?? []).length };
      }
      case 'session_progress':
        this.progress = { ...this.progress, ...d };
        return { kind: 'progress' };
      case 'comparison_update': {
        const incoming = d.comparison ?? {};
        let c = this.comparisons.get(incoming.id);
        let resync = false;
        if (c) {
          const { votes, ...fields } = incoming;
          Object.assign(c, fields);
          // A facilitator's reset clears the comparison's votes.
          if (d.action === 'reset_comparison') c.votes = new Map();
        } else if (incoming.id !== undefined) {
          c = { ...incoming, votes: new Map() };
          this.comparisons.set(c.id, c);
          resync = true;
        }
        if ('current_comparison_id' in d) this.currentId = d.current_comparison_id ?? null;
        return { kind: 'comparison', comparisonId: incoming.id, resync };
      }
      case 'system_notice':
        switch (d.event) {
          case 'session_completed': this.session.status = 'completed'; break;
          case 'session_reopened': this.session.status = 'active'; break;
          case 'session_closed':
            this.session.status = 'closed';
            for (const a of this.attendees.values()) a.online = false; // everyone goes at once
            break;
          case 'server_shutdown':
            for (const a of this.attendees.values()) a.online = false;
            break;
          case 'registration_opened': this.session.self_registration = true; break;
          case 'registration_closed': this.session.self_registration = false; break;
          default: break;
        }
        return { kind: 'notice', event: d.event, message: d.message };
      case 'error':
        return { kind: 'error', code: d.code, message: d.message, ref: d.ref };
      default:
        return null; // unknown message types are ignored
    }
  }
}

// --- shared bits of UI ------------------------------------------------------------------

const STATUS_TEXT = {
  idle: 'Starting…',
  connecting: 'Connecting…',
  connected: 'Live',
  reconnecting: 'Reconnecting…',
  stopped: 'Offline',
};

/**
 * Reflect the connection status on the page: body[data-status], the status
 * pill (#conn) and the reconnect banner (#reconnect, with #retry-now).
 */
export function showConnection(status, detail = {}, stoppedText = 'Disconnected') {
  document.body.dataset.status = status;
  const pill = $('#conn');
  if (pill) {
    pill.dataset.status = status;
    setText($('.conn-text', pill), status === 'stopped' ? stoppedText : STATUS_TEXT[status] ?? status);
  }
  const banner = $('#reconnect');
  if (banner) {
    banner.hidden = status !== 'reconnecting';
    const info = $('#reconnect-detail', banner);
    if (info) {
      window.clearInterval(showConnection.ticker);
      const tick = () => {
        const secs = detail.retryAt ? Math.max(0, Math.ceil((detail.retryAt - Date.now()) / 1000)) : 0;
        setText(info, secs > 0 ? `Trying again in ${secs} s.` : 'Trying to reach the facilitator’s server…');
      };
      tick();
      if (status === 'reconnecting' && detail.retryAt) showConnection.ticker = window.setInterval(tick, 500);
    }
  }
}
showConnection.ticker = 0;

/** Fill a progress block: .bar (role=progressbar) + #progress-text. */
export function showProgress(root, progress, noun = 'decided') {
  if (!root || !progress) return;
  const total = progress.total_comparisons ?? 0;
  const done = progress.completed_comparisons ?? 0;
  const pct = total ? Math.round((done / total) * 100) : 0;
  setData(root, 'completed', done);
  setData(root, 'total', total);
  const bar = $('.bar', root);
  if (bar) {
    bar.setAttribute('aria-valuenow', String(done));
    bar.setAttribute('aria-valuemax', String(total));
    bar.setAttribute('aria-valuetext', `${done} of ${total} ${noun}`);
    bar.style.setProperty('--pct', `${pct}%`); // CSSOM, allowed by the page's CSP
  }
  setText($('.progress-text', root), `${done} of ${total} ${noun}`);
  setText($('.progress-pct', root), `${pct}%`);
}

// --- facilitator sign-in (dashboard and projector) ------------------------------------------

const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });

/** Show the page's token form (#view-token) and resolve with what is typed in. */
function askToken(problem, what) {
  return new Promise((resolve) => {
    const form = $('#token-form');
    const input = $('#token-input');
    const error = $('#token-error');
    document.body.dataset.view = 'token';
    for (const view of document.querySelectorAll('.view')) view.hidden = view.id !== 'view-token';
    setText(error, problem ?? '');
    if (problem) input.setAttribute('aria-invalid', 'true');
    input.focus();
    const submit = (event) => {
      event.preventDefault();
      // A whole link pasted in: its token.
      const value = (input.value.match(/(?:facilitator|projector)_token=([^&#\s]+)/)?.[1] ?? input.value).trim();
      if (!value) {
        setText(error, `Paste the ${what} token.`);
        input.setAttribute('aria-invalid', 'true');
        return;
      }
      input.removeAttribute('aria-invalid');
      form.removeEventListener('submit', submit);
      input.value = '';
      resolve(value);
    };
    form.addEventListener('submit', submit);
  });
}

/**
 * The page's project token, checked against the server: the facilitator's
 * (the dashboard; kept in this browser until "Sign out") or the projector's
 * (read-only; kept in this tab only, as a room PC is shared). From the link
 * (?facilitator_token= or ?projector_token=, taken out of the address bar),
 * from storage, or typed in. Resolves with {token, project, sessions}.
 */
export async function projectLogin(pid, onWaiting, role = 'facilitator') {
  const param = `${role}_token`;
  const store = role === 'projector' ? session : local;
  const key = keys[role](pid);
  const taken = takeUrlParams(['facilitator_token', 'projector_token']);
  if (taken[param]) store.set(key, taken[param]);
  let token = store.get(key);
  if (typeof token !== 'string' || !token) token = null;
  let problem = taken.facilitator_token && role === 'projector'
    ? 'This projector link is out of date: open the projector from the dashboard, or paste a projector token.'
    : null;
  if (problem) token = null;
  const backoff = new Backoff({ baseMs: 2000, maxMs: 15000 });
  for (;;) {
    if (!token) token = await askToken(problem, role);
    const reply = await api(`/projects/${pid}/sessions`, { token });
    if (reply.ok && reply.data?.you?.role === role) {
      store.set(key, token);
      return { token, project: reply.data.project, sessions: reply.data.sessions ?? [] };
    }
    if (reply.ok || reply.status === 401 || reply.status === 403) {
      store.remove(key);
      token = null;
      problem = reply.ok
        ? `That is not the ${role} token of this project.`
        : 'That token isn’t valid for this project. Check it and try again.';
      continue;
    }
    onWaiting(reply);
    await sleep(backoff.next());
  }
}

/** The dashboard's "Sign out": this browser forgets the facilitator token. */
export function forgetProjectToken(pid, role = 'facilitator') {
  (role === 'projector' ? session : local).remove(keys[role](pid));
}

/** A SessionModel-shaped snapshot built from the results JSON (for sessions that ended). */
export function snapshotFromResults(results, attendees = []) {
  const comparisons = results.comparisons ?? [];
  const settled = comparisons.filter((c) => c.status !== 'open').length;
  return {
    session: results.session,
    you: { role: 'facilitator' },
    features: (results.ranking ?? []).map((r) => ({ id: r.feature_id, title: r.title, description: '' })),
    comparisons,
    attendees,
    current_comparison_id: null,
    progress: {
      total_comparisons: comparisons.length,
      completed_comparisons: settled,
      progress_percentage: comparisons.length ? (100 * settled) / comparisons.length : 0,
      is_complete: settled === comparisons.length,
    },
  };
}

/** Render the ranking (results JSON) into `root` (.ranking list). */
export function renderRanking(root, results) {
  const ranking = results?.ranking ?? [];
  syncList(root, ranking, (r) => r.feature_id,
    () => h('li', { class: 'rank-row' },
      h('span', { class: 'rank-no' }),
      h('span', { class: 'rank-title' }),
      h('span', { class: 'rank-w' }),
      h('span', { class: 'rank-bar' }, h('span')),
      h('span', { class: 'rank-rec' })),
    (el, r) => {
      setData(el, 'rank', r.rank);
      setData(el, 'featureId', r.feature_id);
      setText($('.rank-no', el), r.rank);
      setText($('.rank-title', el), r.title);
      setText($('.rank-w', el), Number(r.win_count_weight ?? 0).toFixed(2));
      $('.rank-bar span', el).style.setProperty('--pct', `${Math.round(Math.max(0, Math.min(1, r.win_count_weight ?? 0)) * 100)}%`);
      setText($('.rank-rec', el), `${plural(r.wins, 'win')} · ${plural(r.losses, 'loss', 'losses')} · ${plural(r.ties, 'tie')}`);
    });
}

/** "A > B > C > A" (each beat the next) for each preference cycle in the results. */
export function cycleTexts(results) {
  const titles = new Map((results?.ranking ?? []).map((r) => [r.feature_id, r.title]));
  return (results?.cycles ?? []).map((cycle) => {
    const names = cycle.map((id) => titles.get(id) ?? `Feature ${id}`);
    return [...names, names[0]].join(' > ');
  });
}

// --- the facilitator's timer ------------------------------------------------------------------

/**
 * Keep #timer showing the model's countdown: mm:ss while running (from the
 * server's ends_at and clock, not from when the message arrived), "Time's up"
 * once the server says it expired, hidden otherwise.
 */
export function runTimer(getModel) {
  const el = document.getElementById('timer');
  if (!el) return;
  const tick = () => {
    const model = getModel();
    const timer = model?.timer;
    const state = timer?.state ?? 'stopped';
    const left = model?.timerLeft() ?? null;
    el.hidden = state === 'stopped';
    el.dataset.state = state;
    const text = el.querySelector('.timer-text') ?? el;
    if (state === 'running' && left !== null) {
      const whole = Math.ceil(left);
      el.dataset.left = String(whole);
      text.textContent = `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
    } else if (state === 'expired') {
      el.dataset.left = '0';
      text.textContent = 'Time’s up';
    }
  };
  tick();
  window.setInterval(tick, 250);
}
