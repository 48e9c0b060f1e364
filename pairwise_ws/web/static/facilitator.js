// The facilitator dashboard: presence, every comparison with its votes and
// controls, self-registration, and the live ranking.
import {
  $,
  $$,
  h,
  fill,
  setText,
  setData,
  syncList,
  replay,
  announce,
  toast,
  avatar,
  initials,
  question,
  plural,
  pathIds,
  api,
  wsUrl,
  LiveSocket,
  SessionModel,
  choiceOf,
  showConnection,
  showProgress,
  projectLogin,
  forgetProjectToken,
  snapshotFromResults,
  renderRanking,
  cycleTexts,
  setView,
  showMessage,
  runTimer,
} from './common.js';

const { projectId: pid, sessionId: sid } = pathIds();
const RESULTS_DEBOUNCE_MS = 700;
const BUSY_TIMEOUT_MS = 6000;

let token = null;
let model = null;
let socket = null;
let live = false; // connected to a running session (controls work)
let filter = 'all';
let results = null;
let resultsTimer = 0;
let registration = null;
const busy = new Map(); // comparison id -> timer

async function start() {
  if (!pid || !sid) {
    showMessage('invalid', 'This address is incomplete', 'Open /projects/{project}/sessions/{session}/facilitator.');
    return;
  }
  showMessage('loading', 'Opening the dashboard…', '');
  const login = await projectLogin(pid, () => showMessage('waiting', 'Can’t reach the server', 'Trying again…'));
  token = login.token;
  setText($('#project-name'), login.project?.name ?? 'Workshop');
  const info = login.sessions.find((s) => s.id === sid);
  if (!info) {
    showMessage('invalid', 'Session not found', `Project ${pid} has no session ${sid}.`);
    return;
  }
  document.title = `Facilitator · ${login.project?.name ?? 'Workshop'} · pairwise-ws`;
  $('#projector-link').hidden = false;
  $('#sign-out').hidden = false;
  wireControls();
  loadRegistration();
  if (info.status === 'active') connect();
  else showEnded(info.status);
}

function wireControls() {
  $('#retry-now').addEventListener('click', () => socket?.retryNow());
  for (const button of $$('.filters button')) {
    button.addEventListener('click', () => {
      filter = button.dataset.filter;
      for (const b of $$('.filters button')) b.setAttribute('aria-pressed', String(b === button));
      render();
    });
  }
  const dialog = $('#confirm-close');
  $('#close-session').addEventListener('click', () => dialog.showModal());
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'close') {
      if (socket?.send('facilitator_action', { action: 'close_session' })) toast('Closing the session…');
      else toast('Not connected: the session can’t be closed right now.', 'error');
    }
  });
  $('#reg-toggle').addEventListener('change', toggleRegistration);
  $('#copy-link').addEventListener('click', copyLink);
  const rotate = $('#confirm-rotate');
  $('#rotate-link').addEventListener('click', () => rotate.showModal());
  rotate.addEventListener('close', () => {
    if (rotate.returnValue === 'rotate') rotateLink();
  });
  $('#projector-link').addEventListener('click', openProjector);
  $('#timer-start').addEventListener('click', () => {
    const seconds = Number($('#timer-seconds').value);
    if (!socket?.send('facilitator_action', { action: 'start_timer', seconds })) toast('Not connected.', 'error');
  });
  $('#timer-stop').addEventListener('click', () => {
    if (!socket?.send('facilitator_action', { action: 'stop_timer' })) toast('Not connected.', 'error');
  });
  $('#sign-out').addEventListener('click', signOut);
}

/** The projector gets a read-only token of its own (a new one: an older projector link stops). */
async function openProjector() {
  // Opened now, while the click still counts as the user's: browsers block a
  // window opened after an await.
  const view = window.open('about:blank', '_blank');
  const reply = await api(`/projects/${pid}/projector_token`, { method: 'POST', body: {}, token });
  if (!reply.ok) {
    view?.close();
    toast(`Couldn’t open the projector view: ${reply.error}`, 'error');
    return;
  }
  const url = `/projects/${pid}/sessions/${sid}/projector?projector_token=${encodeURIComponent(reply.data.projector_token)}`;
  if (view) {
    view.opener = null;
    view.location.replace(url);
  } else {
    location.assign(url); // (pop-ups blocked: open it here)
  }
}

function signOut() {
  socket?.stop();
  forgetProjectToken(pid);
  location.replace(location.pathname);
}

async function rotateLink() {
  const reply = await api(`/projects/${pid}/sessions/${sid}/registration`, { method: 'POST', body: { rotate: true }, token });
  if (reply.ok) {
    showRegistration(reply.data);
    toast('New join link: the old one no longer works.', 'ok');
  } else {
    toast(`Couldn’t make a new link: ${reply.error}`, 'error');
  }
}

// --- connection ---------------------------------------------------------------------------

function connect() {
  socket = new LiveSocket({
    url: () => wsUrl(pid, sid, { facilitator_token: token }),
    onMessage,
    onStatus: (status, detail) => {
      live = status === 'connected';
      showConnection(status, detail, model?.session.status === 'closed' ? 'Session closed' : 'Not live');
      $('#close-session').hidden = !live;
      if (status === 'reconnecting' && !model) showMessage('loading', 'Connecting…', 'Trying to reach the session.');
      if (model) render();
    },
    onClose: (event) => {
      if (event.code === 1000 && event.reason === 'session_closed') {
        model && (model.session.status = 'closed');
        return 'stop';
      }
      return model?.session.status === 'closed' ? 'stop' : 'retry';
    },
    checkFailure: async () => {
      const reply = await api(`/projects/${pid}/sessions`, { token });
      if (reply.status === 401) {
        showMessage('invalid', 'The facilitator token is no longer valid', 'Open the dashboard again with the new token.');
        return 'stop';
      }
      const found = reply.ok ? reply.data.sessions.find((s) => s.id === sid) : null;
      if (found && found.status !== 'active') {
        if (model) model.session.status = found.status;
        showEnded(found.status);
        return 'stop';
      }
      return 'retry';
    },
  });
  socket.start();
}

function onMessage(msg) {
  if (msg.type === 'session_state') {
    model = new SessionModel(msg.data);
    if (typeof model.session.self_registration === 'boolean') showRegistration({ open: model.session.self_registration });
    render();
    scheduleResults(0);
    return;
  }
  if (!model) return;
  const change = model.apply(msg);
  if (!change) return;
  switch (change.kind) {
    case 'consensus':
      showMoment(change.comparisonId, change.reached);
      flashCard(change.comparisonId);
      scheduleResults();
      break;
    case 'progress':
      scheduleResults();
      break;
    case 'comparison':
      clearBusy(change.comparisonId);
      scheduleResults();
      break;
    case 'notice':
      if (change.event === 'registration_opened' || change.event === 'registration_closed') {
        showRegistration({ open: change.event === 'registration_opened' });
        loadRegistration(); // (the link may be new: rotated)
      } else if (change.event === 'session_completed') {
        announce('Every pair is decided: the session is complete.');
        toast('Every pair is decided: the session is complete.', 'ok');
        scheduleResults(0);
      } else if (change.event === 'session_closed') {
        toast('The session is closed.', 'ok');
        scheduleResults(0);
      } else if (change.event === 'server_shutdown') {
        toast('The server is shutting down.');
      }
      break;
    case 'error':
      for (const id of Array.from(busy.keys())) clearBusy(id);
      toast(change.code === 'forbidden' ? 'Not allowed.' : `${change.message || change.code}`, 'error');
      break;
    default:
      break;
  }
  if (change.resync) socket.send('join_session', {});
  render();
}

async function showEnded(status) {
  socket?.stop();
  live = false;
  showConnection('stopped', {}, status === 'closed' ? 'Session closed' : 'Session complete');
  $('#close-session').hidden = true;
  const reply = await api(`/projects/${pid}/sessions/${sid}/results`, { token });
  if (reply.ok) {
    results = reply.data;
    const attendees = model ? Array.from(model.attendees.values()).map((a) => ({ ...a, online: false })) : [];
    model = new SessionModel(snapshotFromResults(results, attendees));
    model.session.status = status;
  } else if (!model) {
    showMessage('ended', status === 'closed' ? 'This session is closed' : 'This session is complete',
      `The results could not be loaded (${reply.error}).`);
    return;
  }
  render();
  renderResults();
}

// --- actions ------------------------------------------------------------------------------

function act(c, action, extra = {}) {
  if (!live || !socket.send('facilitator_action', { action, comparison_id: c.id, ...extra })) {
    toast('Not connected: try again in a moment.', 'error');
    return;
  }
  clearBusy(c.id);
  busy.set(c.id, window.setTimeout(() => { clearBusy(c.id); render(); }, BUSY_TIMEOUT_MS));
  render();
}

function clearBusy(id) {
  if (!busy.has(id)) return;
  window.clearTimeout(busy.get(id));
  busy.delete(id);
}

async function loadRegistration() {
  const reply = await api(`/projects/${pid}/sessions/${sid}/registration`, { token });
  if (reply.ok) showRegistration(reply.data);
}

function showRegistration(data) {
  registration = { ...(registration ?? {}), ...data };
  const open = Boolean(registration.open);
  const toggle = $('#reg-toggle');
  toggle.checked = open;
  toggle.setAttribute('aria-checked', String(open));
  const state = $('#reg-state');
  setText(state, open ? 'open' : 'closed');
  state.dataset.tone = open ? 'ok' : '';
  setData($('#join-box'), 'open', open ? 'true' : 'false');
  setText($('#join-hint'), open ? 'Attendees scan the code or type this link:' : 'Open self-registration to let people join with this link:');
  if (registration.join_url) {
    setText($('#join-url'), registration.join_url);
    const code = new URL(registration.join_url).searchParams.get('code') ?? '';
    const qr = `/projects/${pid}/sessions/${sid}/join.svg?code=${encodeURIComponent(code)}`;
    if ($('#join-qr').getAttribute('src') !== qr) $('#join-qr').src = qr;
  }
}

async function toggleRegistration() {
  const toggle = $('#reg-toggle');
  const wanted = toggle.checked;
  toggle.disabled = true;
  const reply = await api(`/projects/${pid}/sessions/${sid}/registration`, { method: 'POST', body: { open: wanted }, token });
  toggle.disabled = Boolean(model) && model.session.status !== 'active';
  if (reply.ok) {
    showRegistration(reply.data);
    toast(wanted ? 'Self-registration is open.' : 'Self-registration is closed.', 'ok');
  } else {
    toggle.checked = !wanted;
    toast(`Couldn’t change self-registration: ${reply.error}`, 'error');
  }
}

async function copyLink() {
  const text = $('#join-url').textContent;
  try {
    await navigator.clipboard.writeText(text);
    toast('Link copied.', 'ok');
  } catch {
    // Not a secure context (a LAN address): select it for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($('#join-url'));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    toast('Link selected: press Ctrl+C (⌘C) to copy.');
  }
}

// --- results ------------------------------------------------------------------------------

function scheduleResults(ms = RESULTS_DEBOUNCE_MS) {
  window.clearTimeout(resultsTimer);
  setText($('#results-state'), 'updating…');
  resultsTimer = window.setTimeout(fetchResults, ms);
}

async function fetchResults() {
  const reply = await api(`/projects/${pid}/sessions/${sid}/results`, { token });
  if (!reply.ok) {
    setText($('#results-state'), reply.status === 0 ? 'offline' : 'unavailable');
    return;
  }
  results = reply.data;
  renderResults();
}

function renderResults() {
  if (!results) return;
  setText($('#results-state'), model && model.session.status !== 'active' ? 'final' : 'live');
  const decided = (results.comparisons ?? []).some((c) => c.status === 'decided');
  $('#ranking-empty').hidden = decided;
  const ranking = $('#ranking');
  ranking.hidden = !decided;
  renderRanking(ranking, decided ? results : { ranking: [] });
  fill($('#cycles'), cycleTexts(results).map((text) => h('li', { class: 'cycles' }, `Preference cycle: ${text}`)));
  const combined = results.combined;
  $('#combined').hidden = !combined || !(combined.rows ?? []).length;
  if (combined) {
    fill($('#combined-rows'), (combined.rows ?? []).map((row) => h('tr', { dataset: { featureId: row.feature_id } },
      h('td', {}, row.rank ?? ''),
      h('td', {}, row.title),
      h('td', { class: 'num' }, fmt(row.value_weight)),
      h('td', { class: 'num' }, fmt(row.complexity_weight)),
      h('td', { class: 'num' }, row.ratio === null || row.ratio === undefined ? '—' : fmt(row.ratio)))));
  }
}

const fmt = (n) => (typeof n === 'number' ? n.toFixed(2) : '—');

// --- rendering ----------------------------------------------------------------------------

function showMoment(comparisonId, reached) {
  const c = model.comparisons.get(comparisonId);
  if (!c) return;
  const el = $('#moment');
  const a = model.title(c.feature_a_id);
  const b = model.title(c.feature_b_id);
  const winner = reached ? (c.is_tie ? 'Tie' : model.title(c.winner_id)) : null;
  el.hidden = false;
  setData(el, 'consensus', reached ? 'reached' : 'lost');
  setData(el, 'comparisonId', c.id);
  setData(el, 'winner', winner);
  setText($('.moment-eyebrow', el), reached ? `Pair ${c.position}: consensus` : `Pair ${c.position}: consensus lost`);
  setText($('.moment-title', el), reached ? winner : `${a} vs ${b}`);
  setText($('.moment-sub', el), !reached ? 'is open again' : c.is_tie ? `${a} and ${b} are even` : `wins against ${winner === a ? b : a}`);
  el.classList.remove('settled');
  replay(el);
  window.clearTimeout(showMoment.timer);
  showMoment.timer = window.setTimeout(() => el.classList.add('settled'), 4000);
  announce(reached ? `Pair ${c.position} decided: ${winner}.` : `Pair ${c.position} is open again.`);
}

function flashCard(id) {
  const card = $(`#comparisons [data-comparison-id="${id}"]`);
  if (card) replay(card, 'flash');
}

const RULES = { unanimous: 'unanimous', majority: 'majority', supermajority: 'supermajority' };

function render() {
  if (!model) return;
  setView('dash');
  const s = model.session;
  setText($('#session-label'), `Session ${s.id} · ${question(s.criterion)}`);
  const consensus = s.consensus ?? {};
  const rule = consensus.rule === 'supermajority' ? `supermajority ≥ ${Math.round((consensus.threshold ?? 0.75) * 100)}%` : RULES[consensus.rule] ?? consensus.rule;
  fill($('#session-meta'),
    h('span', { class: 'tag', dataset: { tone: s.status === 'active' ? 'accent' : s.status === 'completed' ? 'ok' : 'danger' } }, s.status),
    h('span', { class: 'tag' }, s.criterion === 'complexity' ? 'criterion: complexity' : 'criterion: value'),
    rule ? h('span', { class: 'tag' }, `rule: ${rule}`) : null,
    consensus.min_votes ? h('span', { class: 'tag' }, `min ${plural(consensus.min_votes, 'vote')}`) : null,
    consensus.quorum ? h('span', { class: 'tag' }, `quorum: ${consensus.quorum}`) : null);
  document.body.dataset.sessionStatus = s.status;
  $('#reg-toggle').disabled = s.status !== 'active';

  const banner = $('#session-banner');
  banner.hidden = s.status === 'active';
  banner.dataset.tone = s.status === 'completed' ? 'ok' : 'warn';
  setText(banner, s.status === 'completed' ? 'Every pair is decided: the session is complete. The ranking below is final unless you reset a pair.'
    : s.status === 'closed' ? 'This session is closed. The votes and the ranking are kept.' : '');

  showProgress($('#progress'), model.progress, model.adaptive ? 'settled' : 'decided');
  const ordered = model.ordered();
  const open = ordered.filter((c) => c.status === 'open').length;
  setText($('#stat-online'), `${model.onlineCount()}/${model.attendees.size}`);
  setText($('#stat-open'), open);
  const implied = model.impliedCount();
  setText($('#stat-decided'), ordered.filter((c) => c.status === 'decided').length);
  $('#timer-controls').hidden = !live || s.status === 'closed';
  $('#timer-stop').disabled = model.timer.state !== 'running';
  const impliedStat = $('#stat-implied');
  impliedStat.hidden = !model.adaptive;
  setText($('#stat-implied-n'), implied);
  $('[data-filter="implied"]').hidden = !model.adaptive;

  renderPeople();
  renderComparisons(ordered);
  const current = model.current;
  $('#now-empty').hidden = Boolean(current);
  setText($('#now-empty'), s.status === 'active' ? 'No pair is open.' : 'Voting has ended.');
  setText($('#now-note'), current ? `pair ${current.position} of ${ordered.length}` : '');
  syncList($('#now'), current ? [current] : [], (c) => c.id, createCard, updateCard);
}

function renderPeople() {
  const people = model.attendeesSorted();
  setText($('#online-count'), `${model.onlineCount()} online`);
  $('#people-empty').hidden = people.length > 0;
  syncList($('#people'), people, (a) => a.attendee_id,
    (a) => h('li', {}, avatar(a.name, a.attendee_id), h('span', { class: 'who' }), h('span', { class: 'where' })),
    (el, a) => {
      setData(el, 'attendeeId', a.attendee_id);
      setData(el, 'online', a.online ? 'true' : 'false');
      const av = $('.avatar', el);
      setText(av, initials(a.name));
      setText($('.who', el), a.name);
      setText($('.where', el), `${a.online ? 'online' : 'offline'}${a.role === 'observer' ? ' · observer' : ''}`);
    });
}

function renderComparisons(ordered) {
  const shown = ordered.filter((c) => filter === 'all'
    || (filter === 'open' ? c.status === 'open'
      : filter === 'implied' ? c.status === 'implied'
        : c.status !== 'open' && c.status !== 'waiting'));
  $('#cmp-empty').hidden = shown.length > 0;
  syncList($('#comparisons'), shown, (c) => c.id, createCard, updateCard);
}

function createCard(c) {
  const control = (action, label, extra = {}) => {
    const button = h('button', { type: 'button', class: 'btn btn-small btn-quiet', dataset: { action } }, h('span', {}, label));
    button.addEventListener('click', () => {
      const current = model.comparisons.get(c.id);
      if (!current) return;
      if (action === 'decide-a') act(current, 'decide', { winner_id: current.feature_a_id, is_tie: false });
      else if (action === 'decide-b') act(current, 'decide', { winner_id: current.feature_b_id, is_tie: false });
      else if (action === 'decide-tie') act(current, 'decide', { is_tie: true });
      else act(current, action, extra);
    });
    return button;
  };
  return h('li', { class: 'cmp' },
    h('div', { class: 'cmp-top' },
      h('span', { class: 'cmp-pos' }),
      h('p', { class: 'cmp-titles' }, h('span', { class: 'ta' }), h('span', { class: 'vs' }, 'vs'), h('span', { class: 'tb' })),
      h('span', { class: 'tag cmp-status' }),
      h('span', { class: 'tag cmp-outcome', dataset: { tone: 'ok' } })),
    h('p', { class: 'cmp-chain hint' }),
    h('p', { class: 'cmp-note' }),
    h('div', { class: 'cmp-body' },
      h('div', { class: 'tally', 'aria-hidden': 'true' }, h('span', { class: 't-a' }), h('span', { class: 't-tie' }), h('span', { class: 't-b' }), h('span', { class: 't-rest' })),
      h('p', { class: 'cmp-count hint' }),
      h('ul', { class: 'cmp-votes' })),
    h('div', { class: 'cmp-controls' },
      h('span', { class: 'label' }, 'Decide'),
      control('decide-a', 'A'),
      control('decide-b', 'B'),
      control('decide-tie', 'Tie'),
      h('span', { class: 'sep' }),
      control('skip', 'Skip'),
      control('reset_comparison', 'Reset')),
    noteEditor(c));
}

/** A note on the comparison: why it was decided (at most 1,000 characters). */
function noteEditor(c) {
  const field = h('textarea', { class: 'input note-input', maxlength: '1000', rows: '2', 'aria-label': `Note on pair ${c.position}` });
  const save = h('button', { type: 'button', class: 'btn btn-small' }, 'Save note');
  save.addEventListener('click', () => {
    const current = model.comparisons.get(c.id);
    if (current) act(current, 'note', { text: field.value.trim() });
  });
  return h('details', { class: 'note-edit' }, h('summary', {}, 'Note'), field, save);
}

function updateCard(el, c) {
  const a = model.title(c.feature_a_id);
  const b = model.title(c.feature_b_id);
  const isCurrent = c.id === model.currentId;
  setData(el, 'comparisonId', c.id);
  setData(el, 'status', c.status);
  setData(el, 'current', isCurrent ? 'true' : 'false');
  setData(el, 'busy', busy.has(c.id) ? 'true' : null);
  const settled = c.status === 'decided' || c.status === 'implied';
  const winner = settled && !c.is_tie ? c.winner_id : null;
  setText($('.cmp-pos', el), c.position);
  const ta = $('.ta', el);
  const tb = $('.tb', el);
  setText(ta, a);
  setText(tb, b);
  ta.classList.toggle('is-winner', winner === c.feature_a_id);
  tb.classList.toggle('is-winner', winner === c.feature_b_id);
  const status = $('.cmp-status', el);
  setData(status, 'status', c.status);
  setText(status, isCurrent ? 'current' : c.status);
  const outcome = $('.cmp-outcome', el);
  outcome.hidden = !settled;
  setText(outcome, settled ? (c.is_tie ? 'Tie' : `${model.title(c.winner_id)} wins`) : '');
  setData(el, 'outcome', settled ? (c.is_tie ? 'tie' : String(c.winner_id)) : null);
  const noteText = $('.cmp-note', el);
  noteText.hidden = !c.note;
  setText(noteText, c.note ? `Note: ${c.note}` : '');
  const editor = $('.note-edit', el);
  editor.hidden = !live || model.session.status === 'closed';
  const field = $('textarea', editor);
  if (document.activeElement !== field && !editor.open) field.value = c.note ?? '';
  setText($('summary', editor), c.note ? 'Edit note' : 'Add a note');
  const chain = $('.cmp-chain', el);
  chain.hidden = c.status !== 'implied';
  setText(chain, c.status === 'implied' ? `By transitivity: ${model.chain(c)}` : '');

  const tally = model.tally(c);
  $('.t-a', el).style.setProperty('--n', String(tally.a));
  $('.t-tie', el).style.setProperty('--n', String(tally.tie));
  $('.t-b', el).style.setProperty('--n', String(tally.b));
  const received = c.votes.size;
  const expected = model.expectedVoters(c);
  $('.t-rest', el).style.setProperty('--n', String(c.status === 'open' ? Math.max(0, expected - received) : 0));
  setText($('.cmp-count', el), `${c.status === 'open' ? `${received} of ${expected} voted` : plural(received, 'vote')}`
    + (received ? ` · A ${tally.a} · B ${tally.b} · Tie ${tally.tie}` : ''));
  const votes = Array.from(c.votes.values()).sort((x, y) => attendeeName(x.attendee_id).localeCompare(attendeeName(y.attendee_id)));
  syncList($('.cmp-votes', el), votes, (v) => v.attendee_id,
    (v) => h('li', { class: 'vote-chip' }, avatar(attendeeName(v.attendee_id), v.attendee_id),
      h('span', { class: 'vote-chip-name' }), h('span', { class: 'vote-chip-choice' })),
    (chip, v) => {
      const choice = choiceOf(c, v);
      setData(chip, 'attendeeId', v.attendee_id);
      setData(chip, 'choice', choice);
      setText($('.vote-chip-name', chip), attendeeName(v.attendee_id));
      setText($('.vote-chip-choice', chip), `→ ${choice === 'tie' ? 'Tie' : choice === 'a' ? a : b}`);
    });

  const controls = $('.cmp-controls', el);
  controls.hidden = !live || model.session.status === 'closed';
  for (const button of $$('button', controls)) {
    const action = button.dataset.action;
    button.disabled = busy.has(c.id)
      || (action === 'decide-a' && winner === c.feature_a_id)
      || (action === 'decide-b' && winner === c.feature_b_id)
      || (action === 'decide-tie' && c.status === 'decided' && c.is_tie)
      || (action === 'skip' && c.status === 'skipped')
      || (action === 'reset_comparison' && c.status === 'open' && c.votes.size === 0);
  }
  // In an adaptive session a reset of a pair not asked yet, or implied, asks the group.
  const ask = c.status === 'implied' ? 'Ask anyway' : c.status === 'waiting' ? 'Ask now' : 'Reset';
  setText($('[data-action="reset_comparison"] span', controls), ask);
  const [da, db] = [$('[data-action="decide-a"]', controls), $('[data-action="decide-b"]', controls)];
  setText($('span', da), a);
  setText($('span', db), b);
  da.setAttribute('aria-label', `Decide: ${a} wins pair ${c.position}`);
  db.setAttribute('aria-label', `Decide: ${b} wins pair ${c.position}`);
  $('[data-action="decide-tie"]', controls).setAttribute('aria-label', `Decide: tie on pair ${c.position}`);
  $('[data-action="skip"]', controls).setAttribute('aria-label', `Skip pair ${c.position}`);
  $('[data-action="reset_comparison"]', controls).setAttribute('aria-label', ask === 'Reset'
    ? `Reset pair ${c.position}: clear its votes and reopen it`
    : `${ask}: open pair ${c.position} for a vote`);
}

function attendeeName(id) {
  return model.attendees.get(id)?.name ?? `Attendee ${id}`;
}

runTimer(() => model);
start();
