// The attendee page: vote on the session's pairs, live.
import {
  $, h, fill, setText, setData, syncList, replay, announce, toast, avatar, question, plural,
  pathIds, takeUrlParams, keys, session as tabStore, storedAttendee, storeAttendee, local,
  api, wsUrl, Backoff, LiveSocket, SessionModel, choiceOf, voteData, showConnection, showProgress,
  runTimer,
} from './common.js';

const { projectId: pid } = pathIds();
const wanted = Number(new URL(location.href).searchParams.get('session')) || null;

let creds = null;
let sid = null;
let model = null;
let socket = null;
let place = { follow: true, id: null }; // the pair the attendee is looking at
const pending = new Map(); // comparison id -> {choice, at}: sent, not yet acknowledged
let reconcileOnState = false; // the next session_state opens a new connection
let resendTimer = 0;
// Pairs that take no vote: skipped, and in an adaptive session not asked yet or implied.
const CLOSED = new Set(['skipped', 'waiting', 'implied']);
let momentTimer = 0;
let lastVoted = null; // {id, at}: my last acknowledged vote, for the Undo
let undoTimer = 0;
const UNDO_MS = 8000; // how long the Undo stays after a vote

const VIEWS = ['message', 'picker', 'vote', 'complete'];

function setView(view, state = view) {
  for (const name of VIEWS) $(`#view-${name}`).hidden = name !== view;
  document.body.dataset.view = state;
}

function showMessage(state, title, text, actions = []) {
  setView('message', state);
  const card = $('#view-message');
  card.dataset.kind = state;
  setText($('#message-title'), title);
  setText($('#message-text'), text);
  fill($('#message-actions'), actions);
  document.title = `${title} · pairwise-ws`;
}

// --- start ---------------------------------------------------------------------------

function start() {
  if (!pid) {
    showMessage('invalid', 'This address is incomplete', 'Open the link you were given by the facilitator.');
    return;
  }
  const taken = takeUrlParams(['attendee_id', 'token']);
  if (taken.attendee_id && taken.token) storeAttendee(pid, taken);
  creds = storedAttendee(pid);
  if (!creds) {
    showMessage('invalid', 'No invitation on this device',
      'Open the personal link the facilitator gave you, or join with the QR code on the big screen.');
    return;
  }
  $('#retry-now').addEventListener('click', () => socket?.retryNow());
  $('#back-to-current').addEventListener('click', () => follow());
  for (const choice of ['a', 'b', 'tie']) $(`#choice-${choice}`).addEventListener('click', () => vote(choice));
  for (const id of ['#undo-vote', '#clear-vote']) {
    $(id).addEventListener('click', () => { const c = viewed(); if (c) retract(c); });
  }
  document.addEventListener('keydown', onKey);
  chooseSession();
}

function credentialQuery() {
  return { attendee_id: creds.attendee_id, token: creds.token };
}

async function checkSessions() {
  return api(`/projects/${pid}/sessions`, { attendee: creds });
}

function showInvalid(reason) {
  socket?.stop();
  showConnection('stopped', {}, 'Link not valid');
  showMessage('invalid', 'This link is no longer valid',
    'Ask the facilitator for a new link. (The server said: ' + (reason || 'authentication failed') + '.)');
}

function showClosed() {
  socket?.stop();
  showConnection('stopped', {}, 'Session closed');
  showMessage('closed', 'This session is closed. Thank you!',
    'The facilitator has closed the session. You can close this page.');
  watchForNextSession();
}

let watching = false;
/** After a session ends: offer the next one when the facilitator starts it. */
async function watchForNextSession() {
  if (watching) return;
  watching = true;
  const backoff = new Backoff({ baseMs: 6000, maxMs: 20000 });
  for (;;) {
    await nap(backoff.next());
    const reply = await checkSessions();
    if (reply.status === 401) return;
    const next = reply.ok ? reply.data.sessions.find((s) => s.status === 'active' && s.id !== sid) : null;
    if (next) {
      const slot = $('#next-session');
      fill(slot,
        h('p', {}, h('strong', {}, 'A new session has started. '), question(next.criterion)),
        h('a', { class: 'btn', href: `${location.pathname}?session=${next.id}` }, 'Join it'));
      slot.hidden = false;
      announce('A new session has started.');
      return;
    }
  }
}

/** Resolves after `ms`, or at once when the network or the page comes back. */
function nap(ms) {
  return new Promise((resolve) => {
    const done = () => {
      window.clearTimeout(timer);
      window.removeEventListener('online', done);
      document.removeEventListener('visibilitychange', visible);
      resolve();
    };
    const visible = () => { if (document.visibilityState === 'visible') done(); };
    const timer = window.setTimeout(done, ms);
    window.addEventListener('online', done);
    document.addEventListener('visibilitychange', visible);
  });
}

async function chooseSession() {
  const backoff = new Backoff({ baseMs: 1000, maxMs: 15000 });
  showMessage('loading', 'Joining the workshop…', '');
  for (;;) {
    const reply = await checkSessions();
    if (reply.status === 401 || reply.status === 403 || reply.status === 404) {
      if (reply.status === 401) local.remove(keys.attendee(pid));
      showInvalid(reply.error);
      return;
    }
    if (!reply.ok) {
      showMessage('waiting', 'Can’t reach the workshop server',
        'Check that you are on the workshop’s Wi-Fi. Trying again…');
      await nap(backoff.next());
      continue;
    }
    const { project, you, sessions } = reply.data;
    setText($('#project-name'), project?.name ?? 'Workshop');
    if (you?.name) {
      setText($('#you-name'), `Voting as ${you.name}`);
      storeAttendee(pid, { ...creds, name: you.name });
    }
    document.body.dataset.attendeeId = String(creds.attendee_id);
    const preselected = wanted ? sessions.find((s) => s.id === wanted) : null;
    if (preselected?.status === 'active') return connect(preselected.id);
    const active = sessions.filter((s) => s.status === 'active');
    if (active.length === 1) return connect(active[0].id);
    if (active.length > 1) return showPicker(active);
    if (preselected) { // it ended, and nothing else runs
      sid = preselected.id;
      if (preselected.status === 'closed') return showClosed();
      showMessage('ended', 'This session is complete. Thank you!',
        'Every pair has been decided. The facilitator has the results.');
      return watchForNextSession();
    }
    showMessage('waiting', 'Waiting for the facilitator',
      'No session is running yet. This page starts by itself as soon as the facilitator starts one.');
    await nap(backoff.next());
  }
}

function showPicker(sessions) {
  setView('picker');
  document.title = 'Choose a session · pairwise-ws';
  fill($('#session-list'), sessions.map((s) => {
    const p = s.progress ?? {};
    return h('li', {},
      h('button', { class: 'session-choice', type: 'button', dataset: { sessionId: s.id }, onclick: () => connect(s.id) },
        h('span', { class: 'session-choice-title' }, `${question(s.criterion)}`),
        h('span', { class: 'session-choice-meta' },
          `Session ${s.id} · ${p.completed_comparisons ?? 0} of ${p.total_comparisons ?? 0} decided`)));
  }));
}

// --- connection -----------------------------------------------------------------------

function connect(sessionId) {
  sid = sessionId;
  const url = new URL(location.href);
  url.searchParams.set('session', String(sid));
  history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
  place = tabStore.get(keys.place(pid, sid)) ?? { follow: true, id: null };
  for (const [id, p] of tabStore.get(keys.pending(pid, sid)) ?? []) pending.set(Number(id), p);
  showMessage('loading', 'Joining the session…', '');
  socket = new LiveSocket({
    url: () => wsUrl(pid, sid, credentialQuery()),
    onMessage,
    onStatus,
    onClose: (event) => {
      if (event.code === 1000 && event.reason === 'session_closed') {
        showClosed();
        return 'stop';
      }
      if (model?.session.status === 'closed') return 'stop';
      return 'retry';
    },
    checkFailure,
  });
  socket.start();
}

async function checkFailure() {
  const reply = await checkSessions();
  if (reply.status === 401) {
    showInvalid(reply.error);
    return 'stop';
  }
  if (reply.ok) {
    const found = reply.data.sessions.find((s) => s.id === sid);
    if (!found) {
      showInvalid('session not found');
      return 'stop';
    }
    if (found.status === 'closed') {
      showClosed();
      return 'stop';
    }
    if (found.status === 'completed') {
      if (model) {
        model.session.status = 'completed';
        render();
        showConnection('stopped', {}, 'Session complete');
      } else {
        showMessage('ended', 'This session is complete. Thank you!', 'Every pair has been decided.');
      }
      return 'stop';
    }
  }
  return 'retry';
}

function onStatus(status, detail) {
  if (status === 'connected') reconcileOnState = true;
  if (status === 'stopped' && document.body.dataset.status === 'stopped') return; // already labelled
  showConnection(status, detail);
  if (status === 'reconnecting' && !model) showMessage('loading', 'Connecting…', 'Trying to reach the session.');
}

function onMessage(msg) {
  if (msg.type === 'session_state') {
    model = new SessionModel(msg.data);
    reconcilePending(reconcileOnState);
    reconcileOnState = false;
    render();
    return;
  }
  if (!model) return;
  const change = model.apply(msg);
  if (!change) return;
  switch (change.kind) {
    case 'vote':
      if (change.attendeeId === model.myId) {
        acknowledge(change.comparisonId);
        if (change.retracted) {
          lastVoted = null;
          announce('Your vote was taken back.');
        } else {
          lastVoted = { id: change.comparisonId, at: Date.now() };
          window.clearTimeout(undoTimer);
          undoTimer = window.setTimeout(render, UNDO_MS + 50); // the Undo goes away
        }
      }
      break;
    case 'consensus':
      showMoment(change.comparisonId, change.reached);
      break;
    case 'timer':
      if (change.state === 'expired') announce('Time’s up.');
      else if (change.state === 'running') announce(`A timer started: ${plural(model.timer.seconds, 'second')}.`);
      break;
    case 'notice':
      if (change.event === 'session_closed') { showClosed(); return; }
      if (change.event === 'session_completed') announce('All pairs are decided. Thank you!');
      if (change.event === 'server_shutdown') toast('The server is restarting. Reconnecting by itself…');
      break;
    case 'error':
      onError(change.code, change.message, change.ref);
      break;
    default:
      break;
  }
  if (change.resync) socket.send('join_session', {});
  render();
}

// --- votes ---------------------------------------------------------------------------

function savePending() {
  tabStore.set(keys.pending(pid, sid), Array.from(pending.entries()));
}

function savePlace() {
  tabStore.set(keys.place(pid, sid), place);
}

/** After a (re)connection: forget what the server has, send again what it hasn't. */
function reconcilePending(resend) {
  for (const [id, p] of Array.from(pending.entries())) {
    const c = model.comparisons.get(id);
    if (!c || CLOSED.has(c.status) || !model.active) {
      pending.delete(id);
      continue;
    }
    if (choiceOf(c, model.myVote(c)) === p.choice) pending.delete(id);
    else if (resend) {
      p.at = Date.now();
      sendVote(c, p.choice);
    }
  }
  savePending();
}

function acknowledge(comparisonId) {
  const p = pending.get(comparisonId);
  if (!p) return;
  const c = model.comparisons.get(comparisonId);
  if (choiceOf(c, model.myVote(c)) === p.choice) {
    pending.delete(comparisonId);
    savePending();
  }
}

function resendPendingSoon(ms) {
  window.clearTimeout(resendTimer);
  resendTimer = window.setTimeout(() => {
    if (!model || !socket?.connected) return;
    for (const [id, p] of pending) {
      const c = model.comparisons.get(id);
      if (c) sendVote(c, p.choice);
    }
  }, ms);
}

/** Take back my vote on an open pair (the Undo after a vote, or "Clear my vote"). */
function retract(c) {
  pending.delete(c.id);
  savePending();
  lastVoted = null;
  if (!socket.send('vote_retracted', { comparison_id: c.id }, `undo:${c.id}`)) {
    toast('Not connected: your vote can’t be taken back right now.', 'error');
  }
  render();
}

/** A vote's ref names its comparison, so that an error clears only that pending vote. */
function sendVote(c, choice) {
  return socket.send('vote_submitted', voteData(c, choice), `vote:${c.id}`);
}

/** The comparison a vote's ref names, or null for an answer to something else. */
function votedComparison(ref) {
  const match = /^vote:(\d+)$/.exec(typeof ref === 'string' ? ref : '');
  return match ? Number(match[1]) : null;
}

function onError(code, message, ref) {
  if (typeof ref === 'string' && ref.startsWith('undo:')) { // answers a "take my vote back"
    toast(`Your vote wasn’t taken back: ${message}`, 'error');
    return;
  }
  switch (code) {
    case 'rate_limited':
      toast('Slow down a little: too many taps at once.', 'error');
      resendPendingSoon(1500);
      break;
    case 'internal_error':
      toast('The vote could not be saved; trying again…', 'error');
      resendPendingSoon(2000);
      break;
    case 'invalid_vote':
    case 'comparison_closed':
    case 'session_not_active': {
      const refused = votedComparison(ref);
      if (refused === null || code === 'session_not_active') pending.clear();
      else pending.delete(refused); // the other pending votes are still on their way
      savePending();
      toast(code === 'comparison_closed' ? 'That pair is closed to votes (skipped, or settled by transitivity).'
        : code === 'session_not_active' ? 'Voting has ended for this session.'
          : `Vote refused: ${message}`, 'error');
      break;
    }
    default:
      toast(message || code, 'error');
  }
}

function viewed() {
  if (!model) return null;
  if (!place.follow && place.id !== null && model.comparisons.has(place.id)) return model.comparisons.get(place.id);
  return model.current;
}

function vote(choice) {
  const c = viewed();
  if (!c || !model.active || CLOSED.has(c.status) || model.observing) return;
  const saved = choiceOf(c, model.myVote(c));
  const waiting = pending.get(c.id);
  if (!waiting && saved === choice) {
    announce('That is already your vote.');
    return;
  }
  if (waiting && waiting.choice === choice) return; // on its way
  pending.set(c.id, { choice, at: Date.now() });
  savePending();
  if (sendVote(c, choice)) {
    window.setTimeout(() => { // no acknowledgement: the socket may be dead
      const p = pending.get(c.id);
      if (p && Date.now() - p.at >= 5900 && socket.connected) socket.probe();
    }, 6000);
  }
  render();
}

// --- navigation ----------------------------------------------------------------------

function follow() {
  place = { follow: true, id: null };
  savePlace();
  render();
  $('#pair').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

function select(id) {
  place = id === model.currentId ? { follow: true, id: null } : { follow: false, id };
  savePlace();
  render();
  $('#pair').scrollIntoView({ block: 'start', behavior: 'smooth' });
  $('#choice-a').focus({ preventScroll: true });
}

function nextOpen() {
  const here = viewed();
  const open = model.ordered().filter((c) => c.status === 'open');
  if (open.length === 0) return;
  const after = open.find((c) => here && c.position > here.position && c.id !== here.id);
  select((after ?? open[0]).id);
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target instanceof Element && event.target.closest('input, textarea, select, [contenteditable="true"]')) return;
  if (document.body.dataset.view !== 'vote') return;
  const key = event.key.toLowerCase();
  const choices = ['a', 'b', 'tie'];
  if (key === 'a' || key === 'b' || key === 't') {
    const choice = key === 't' ? 'tie' : key;
    const button = $(`#choice-${choice}`);
    if (button.disabled) return;
    event.preventDefault();
    button.focus({ preventScroll: true });
    vote(choice);
  } else if (key === 'n') {
    event.preventDefault();
    nextOpen();
  } else if (key === 'c' && !place.follow) {
    event.preventDefault();
    follow();
  } else if (event.key.startsWith('Arrow') && event.target instanceof Element && event.target.matches('.choice-btn')) {
    // Arrow keys move between the three choices (Enter or Space votes).
    const index = choices.indexOf(event.target.dataset.choice);
    const step = event.key === 'ArrowLeft' || event.key === 'ArrowUp' ? -1 : 1;
    event.preventDefault();
    $(`#choice-${choices[(index + step + choices.length) % choices.length]}`).focus();
  }
}

// --- rendering -------------------------------------------------------------------------

function showMoment(comparisonId, reached) {
  const c = model.comparisons.get(comparisonId);
  if (!c) return;
  const el = $('#moment');
  const a = c.feature_a_title ?? model.title(c.feature_a_id);
  const b = c.feature_b_title ?? model.title(c.feature_b_id);
  const winner = reached ? (c.is_tie ? 'Tie' : model.title(c.winner_id)) : null;
  el.hidden = false;
  setData(el, 'consensus', reached ? 'reached' : 'lost');
  setData(el, 'comparisonId', c.id);
  setData(el, 'winner', winner);
  setText($('.moment-eyebrow', el), reached ? 'Consensus reached' : 'Consensus lost');
  setText($('.moment-title', el), reached ? winner : `${a} vs ${b}`);
  const loser = winner === a ? b : a;
  setText($('.moment-sub', el), !reached ? 'The votes no longer agree: this pair is open again.'
    : c.is_tie ? `${a} and ${b} are even` : `wins against ${loser}`);
  el.classList.remove('settled');
  replay(el);
  window.clearTimeout(momentTimer);
  momentTimer = window.setTimeout(() => el.classList.add('settled'), 5000);
  announce(reached
    ? (c.is_tie ? `Consensus: tie between ${a} and ${b}.` : `Consensus: ${winner} wins against ${winner === a ? b : a}.`)
    : `Consensus lost on ${a} versus ${b}.`);
}

function render() {
  if (!model) return;
  document.body.dataset.attendeeId = String(model.myId ?? creds.attendee_id);
  if (model.you.name) setText($('#you-name'), `Voting as ${model.you.name}`);
  if (model.session.status === 'closed') return showClosed();
  showProgress($('#progress'), model.progress, model.adaptive ? 'settled' : 'decided');
  const c = viewed();
  if (model.session.status === 'completed' || !c) {
    renderComplete();
    return;
  }
  setView('vote');
  document.title = `${question(model.session.criterion)} · pairwise-ws`;
  renderPair(c);
  renderPresence(c);
  renderOthers(c);
}

function renderPair(c) {
  const pair = $('#pair');
  setData(pair, 'comparisonId', c.id);
  setData(pair, 'comparisonStatus', c.status);
  setData(pair, 'following', place.follow ? 'true' : 'false');
  const total = model.comparisons.size;
  const isCurrent = c.id === model.currentId;
  const implied = model.impliedCount();
  setText($('#pair-position'), model.adaptive
    ? (implied ? `${plural(implied, 'pair')} settled by transitivity` : 'One pair at a time')
    : `Pair ${c.position} of ${total}${isCurrent ? '' : c.status === 'open' ? ' · not the current pair' : ''}`);
  $('#back-to-current').hidden = place.follow || model.currentId === null || isCurrent;
  setText($('#question'), question(model.session.criterion));

  const mine = choiceOf(c, model.myVote(c));
  const waiting = pending.get(c.id);
  const shown = waiting ? waiting.choice : mine;
  const titles = { a: model.title(c.feature_a_id), b: model.title(c.feature_b_id), tie: 'Tie' };
  const disabled = CLOSED.has(c.status) || !model.active;
  const observing = model.observing;
  setData(pair, 'observing', observing ? 'true' : null);
  const winner = c.status === 'decided' || c.status === 'implied' ? (c.is_tie ? 'tie' : c.winner_id === c.feature_a_id ? 'a' : 'b') : null;
  for (const choice of ['a', 'b', 'tie']) {
    const button = $(`#choice-${choice}`);
    setText(button, titles[choice]);
    // An observer sees the pair's titles, and no way to vote: no Tie, A and B inert.
    button.disabled = disabled || observing;
    button.hidden = observing && choice === 'tie';
    button.setAttribute('aria-pressed', String(shown === choice));
    setData(button, 'voteState', shown === choice ? (waiting ? 'pending' : 'saved') : 'none');
    setData(button, 'winner', winner === choice ? 'true' : null);
    if (choice !== 'tie') {
      const featureId = choice === 'a' ? c.feature_a_id : c.feature_b_id;
      setData(button, 'featureId', featureId);
      const desc = $(`#desc-${choice}`);
      setText(desc, model.description(featureId));
      desc.hidden = !model.description(featureId);
    }
  }

  const outcome = $('#pair-outcome');
  outcome.hidden = c.status === 'open';
  setData(outcome, 'status', c.status);
  setText(outcome, c.status === 'decided'
    ? `Decided: ${model.outcome(c)}${model.active ? '. You can still change your vote.' : ''}`
    : c.status === 'skipped' ? 'The facilitator skipped this pair.'
      : c.status === 'implied' ? `Settled by transitivity: ${model.chain(c)}`
        : c.status === 'waiting' ? 'Not asked yet.' : '');

  const status = $('#vote-status');
  const state = waiting ? 'pending' : mine ? 'saved' : 'none';
  setData(status, 'state', state);
  setText(status, observing ? 'You are observing: you follow the votes, and don’t vote.'
    : waiting ? `Sending your vote: ${titles[waiting.choice]}…`
      : mine ? `Your vote: ${titles[mine]}` : 'You haven’t voted on this pair yet.');
  const canTakeBack = Boolean(mine) && !waiting && c.status === 'open' && model.active;
  const recent = canTakeBack && lastVoted?.id === c.id && Date.now() - lastVoted.at < UNDO_MS;
  $('#undo-vote').hidden = !recent;
  $('#clear-vote').hidden = !canTakeBack || recent;

  const received = c.votes.size;
  const expected = model.expectedVoters(c);
  const count = $('#votes-count');
  setData(count, 'received', received);
  setData(count, 'expected', expected);
  setText(count, c.status === 'open' ? `${received} of ${expected} voted` : plural(received, 'vote'));
}

function renderPresence(c) {
  const online = model.onlineCount();
  setText($('#online-count'), `${online} of ${model.attendees.size} online`);
  syncList($('#presence'), model.attendeesSorted(), (a) => a.attendee_id,
    (a) => h('li', { class: 'person' },
      avatar(a.name, a.attendee_id),
      h('span', { class: 'person-name' }),
      h('span', { class: 'person-state' })),
    (el, a) => {
      const voted = c.votes.has(a.attendee_id);
      setData(el, 'attendeeId', a.attendee_id);
      setData(el, 'online', a.online ? 'true' : 'false');
      setData(el, 'voted', voted ? 'true' : 'false');
      setData(el, 'you', a.attendee_id === model.myId ? 'true' : null);
      setText($('.person-name', el), a.attendee_id === model.myId ? `${a.name} (you)` : a.name);
      setText($('.person-state', el), `${a.online ? 'online' : 'offline'}${a.role === 'observer' ? ', observing' : voted ? ', voted' : ''}`);
    });
}

function renderOthers(c) {
  const others = model.ordered().filter((x) => x.status === 'open' && x.id !== c.id);
  $('#others-empty').hidden = others.length > 0;
  setText($('#others-count'), others.length ? String(others.length) : '');
  syncList($('#other-pairs'), others, (x) => x.id,
    (x) => {
      const button = h('button', { type: 'button', class: 'pair-link', onclick: () => select(x.id) },
        h('span', { class: 'pair-link-pos' }),
        h('span', { class: 'pair-link-titles' }),
        h('span', { class: 'pair-link-mine' }));
      return h('li', {}, button);
    },
    (el, x) => {
      const mine = choiceOf(x, model.myVote(x));
      const waiting = pending.get(x.id);
      const shown = waiting ? waiting.choice : mine;
      setData(el, 'comparisonId', x.id);
      setData(el, 'myVote', shown ?? 'none');
      setData(el, 'current', x.id === model.currentId ? 'true' : null);
      setText($('.pair-link-pos', el), `${x.position}`);
      setText($('.pair-link-titles', el), `${model.title(x.feature_a_id)} vs ${model.title(x.feature_b_id)}`);
      const title = shown === 'tie' ? 'Tie' : shown ? model.title(shown === 'a' ? x.feature_a_id : x.feature_b_id) : null;
      setText($('.pair-link-mine', el), shown ? `Your vote: ${title}${waiting ? ' (sending)' : ''}`
        : x.id === model.currentId ? 'Current pair · not voted' : 'Not voted');
    });
}

function renderComplete() {
  setView('complete');
  watchForNextSession();
  document.title = 'All pairs decided · pairwise-ws';
  const decided = model.ordered().filter((c) => c.status !== 'open' && c.status !== 'waiting');
  syncList($('#decided-list'), decided, (c) => c.id,
    () => h('li', { class: 'decided' },
      h('span', { class: 'decided-winner' }),
      h('span', { class: 'decided-pair' })),
    (el, c) => {
      setData(el, 'comparisonId', c.id);
      setData(el, 'outcome', c.status === 'skipped' ? 'skipped' : c.is_tie ? 'tie' : 'winner');
      setData(el, 'implied', c.status === 'implied' ? 'true' : null);
      setText($('.decided-winner', el), model.outcome(c) ?? '');
      setText($('.decided-pair', el), `${model.title(c.feature_a_id)} vs ${model.title(c.feature_b_id)}${c.status === 'implied' ? ' · by transitivity' : ''}`);
    });
}

runTimer(() => model);
start();
