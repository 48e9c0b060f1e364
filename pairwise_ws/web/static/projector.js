// The projector view: the big screen of the room. No controls.
import {
  $,
  $$,
  h,
  setText,
  setData,
  syncList,
  replay,
  announce,
  question,
  plural,
  pathIds,
  api,
  wsUrl,
  LiveSocket,
  SessionModel,
  showConnection,
  showProgress,
  projectLogin,
  snapshotFromResults,
  renderRanking,
  setView,
  showMessage,
  runTimer,
} from './common.js';

const { projectId: pid, sessionId: sid } = pathIds();
let token = null;
let model = null;
let socket = null;
let results = null;
let resultsTimer = 0;
let joinUrl = null;
let latestNote = null; // the comparison the facilitator wrote a note on last
let latestImplied = []; // the comparisons the last decision settled by transitivity

async function start() {
  if (!pid || !sid) {
    showMessage('invalid', 'This address is incomplete', 'Open /projects/{project}/sessions/{session}/projector.');
    return;
  }
  showMessage('loading', 'Opening the projector view…', '');
  const login = await projectLogin(pid, () => showMessage('waiting', 'Can’t reach the server', 'Trying again…'), 'projector');
  token = login.token;
  setText($('#project-name'), login.project?.name ?? 'Workshop');
  document.title = `${login.project?.name ?? 'Workshop'} · pairwise-ws`;
  const info = login.sessions.find((s) => s.id === sid);
  if (!info) {
    showMessage('invalid', 'Session not found', `Project ${pid} has no session ${sid}.`);
    return;
  }
  $('#moment').addEventListener('animationend', (event) => {
    if (event.target === $('#moment')) $('#moment').hidden = true;
  });
  const reg = await loadJoinLink();
  if (info.status === 'active') connect();
  else showEnded(info.status, reg.ok ? reg.data.open : false);
}

/** The join link and its QR code (with the session's join code, which may change). */
async function loadJoinLink() {
  const reg = await api(`/projects/${pid}/sessions/${sid}/registration`, { token });
  if (reg.ok && reg.data.join_url) {
    joinUrl = reg.data.join_url;
    const code = new URL(joinUrl).searchParams.get('code') ?? '';
    const qr = `/projects/${pid}/sessions/${sid}/join.svg?code=${encodeURIComponent(code)}`;
    if ($('#join-qr').getAttribute('src') !== qr) $('#join-qr').src = qr;
    setText($('#join-url'), joinUrl);
  }
  return reg;
}

function connect() {
  socket = new LiveSocket({
    url: () => wsUrl(pid, sid, { projector_token: token }),
    onMessage,
    onStatus: (status, detail) => {
      showConnection(status, detail, model?.session.status === 'closed' ? 'Session closed' : 'Not live');
      if (status === 'reconnecting' && !model) showMessage('loading', 'Connecting…', 'Trying to reach the session.');
    },
    onClose: (event) => (event.code === 1000 && event.reason === 'session_closed') || model?.session.status === 'closed' ? 'stop' : 'retry',
    checkFailure: async () => {
      const reply = await api(`/projects/${pid}/sessions`, { token });
      if (reply.status === 401) {
        showMessage('invalid', 'This projector link is no longer valid', 'A newer projector view was opened. Open it again from the facilitator’s dashboard.');
        return 'stop';
      }
      const found = reply.ok ? reply.data.sessions.find((s) => s.id === sid) : null;
      if (found && found.status !== 'active') {
        showEnded(found.status, false);
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
    if (model.session.status !== 'active') fetchResults();
    render();
    return;
  }
  if (!model) return;
  const change = model.apply(msg);
  if (!change) return;
  if (change.kind === 'consensus') showMoment(change.comparisonId, change.reached);
  if (change.kind === 'comparison' && msg.data.action === 'note') latestNote = change.comparisonId;
  if (change.kind === 'implied') latestImplied = (msg.data.comparisons ?? []).map((c) => c.id);
  if (change.kind === 'notice' && (change.event === 'session_completed' || change.event === 'session_closed')) {
    window.clearTimeout(resultsTimer);
    resultsTimer = window.setTimeout(fetchResults, 300);
  }
  if (change.kind === 'notice' && change.event === 'registration_opened') loadJoinLink(); // (maybe a new code)
  if (change.resync) socket.send('join_session', {});
  render();
}

async function showEnded(status, open) {
  socket?.stop();
  showConnection('stopped', {}, status === 'closed' ? 'Session closed' : 'Session complete');
  await fetchResults();
  if (!model && results) {
    model = new SessionModel(snapshotFromResults(results));
    model.session.self_registration = open;
  }
  if (model) model.session.status = status;
  render();
}

async function fetchResults() {
  const reply = await api(`/projects/${pid}/sessions/${sid}/results`, { token });
  if (reply.ok) {
    results = reply.data;
    render();
  }
}

function showMoment(comparisonId, reached) {
  const c = model.comparisons.get(comparisonId);
  if (!c) return;
  const el = $('#moment');
  const a = model.title(c.feature_a_id);
  const b = model.title(c.feature_b_id);
  const winner = reached ? (c.is_tie ? 'Tie' : model.title(c.winner_id)) : null;
  setData(el, 'consensus', reached ? 'reached' : 'lost');
  setData(el, 'comparisonId', c.id);
  setData(el, 'winner', winner);
  setText($('.moment-eyebrow', el), reached ? 'Consensus' : 'Consensus lost');
  setText($('.moment-title', el), reached ? winner : `${a} vs ${b}`);
  setText($('.moment-sub', el), !reached ? 'is open again' : c.is_tie ? `${a} and ${b} are even` : `wins against ${winner === a ? b : a}`);
  el.hidden = false;
  replay(el);
  announce(reached ? `Consensus: ${winner}.` : `Consensus lost on ${a} versus ${b}.`);
}

function render() {
  if (!model) return;
  setView('stage');
  const s = model.session;
  document.body.dataset.sessionStatus = s.status;
  const online = model.onlineCount();
  $('#presence-chip').hidden = s.status !== 'active';
  setText($('#presence-text'), `${online} online`);
  setData($('#presence-chip'), 'online', online);
  showProgress($('#progress'), model.progress, model.adaptive ? 'settled' : 'decided');
  const implied = model.impliedCount();
  const note = $('#implied-note');
  note.hidden = !model.adaptive || !implied;
  const last = latestImplied.map((id) => model.comparisons.get(id)).filter((c) => c?.status === 'implied');
  setText(note, `${plural(implied, 'pair')} settled by transitivity`
    + (last.length ? ` · just now: ${model.chain(last[0])}${last.length > 1 ? ` and ${last.length - 1} more` : ''}` : ''));

  const join = $('#join');
  join.hidden = !(s.self_registration && s.status === 'active');
  if (joinUrl) setText($('#join-url'), joinUrl);

  const c = model.current;
  const done = s.status !== 'active' || !c;
  $('#stage-pair').hidden = done;
  $('#stage-ranking').hidden = !done || !results;
  $('#stage-idle').hidden = !done || Boolean(results);
  setText($('#stage-idle'), s.status === 'closed' ? 'This session is closed.' : 'Every pair is decided.');
  if (done) {
    setText($('#ranking-title'), s.status === 'closed' ? 'Ranking' : 'Final ranking');
    if (results) renderRanking($('#ranking'), results);
    return;
  }
  setText($('#question'), question(s.criterion));
  const noted = c.note ? c : latestNote !== null ? model.comparisons.get(latestNote) : null;
  const stageNote = $('#stage-note');
  stageNote.hidden = !noted?.note;
  setText(stageNote, !noted?.note ? '' : noted.id === c.id ? `Note: ${noted.note}`
    : `Note on ${model.title(noted.feature_a_id)} vs ${model.title(noted.feature_b_id)}: ${noted.note}`);
  const pair = $('#pair');
  setData(pair, 'comparisonId', c.id);
  setText($('#opt-a'), model.title(c.feature_a_id));
  setText($('#opt-b'), model.title(c.feature_b_id));
  const received = c.votes.size;
  const expected = model.expectedVoters(c);
  const votes = $('#votes-text');
  setData(votes, 'received', received);
  setData(votes, 'expected', expected);
  setText(votes, `${received} of ${plural(expected, 'vote')} · pair ${c.position} of ${model.comparisons.size}`);
  const waiting = model.attendeesSorted()
    .filter((a) => !c.votes.has(a.attendee_id) && (a.online || model.session.consensus?.quorum === 'all'))
    .map((a) => a.name);
  const shown = waiting.length > 5 ? [...waiting.slice(0, 4), `${waiting.length - 4} more`] : waiting;
  setText($('#waiting-for'), received === 0 ? 'Vote on your phone now'
    : waiting.length ? `Waiting for ${listText(shown)}` : 'Everyone has voted');
  const dots = Array.from({ length: Math.max(expected, received) }, (_, i) => i);
  syncList($('#dots'), dots, (i) => i, () => h('span'), (el, i) => setData(el, 'on', i < received ? 'true' : 'false'));
}

function listText(names) {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

runTimer(() => model);
start();
