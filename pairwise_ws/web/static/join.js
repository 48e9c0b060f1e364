// The self-registration page: type a name, get an attendee, go vote.
import { $, h, fill, setText, pathIds, api, storedAttendee, storeAttendee, local, keys, Backoff } from './common.js';

const { projectId: pid, sessionId: sid } = pathIds();
const code = new URLSearchParams(location.search).get('code') ?? '';
const attendeePage = () => `/projects/${pid}/attendee?session=${sid}`;

function showMessage(kind, title, text, actions = []) {
  $('#view-message').hidden = false;
  $('#view-form').hidden = true;
  $('#view-message').dataset.kind = kind;
  document.body.dataset.view = kind;
  setText($('#message-title'), title);
  setText($('#message-text'), text);
  fill($('#message-actions'), actions);
}

function showForm() {
  $('#view-message').hidden = true;
  $('#view-form').hidden = false;
  document.body.dataset.view = 'form';
  $('#name').focus();
}

const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });

async function start() {
  if (!pid || !sid) {
    showMessage('invalid', 'This join link is incomplete', 'Scan the QR code again or ask the facilitator for the link.');
    return;
  }
  $('#join-form').addEventListener('submit', submit);
  $('#name').addEventListener('input', () => {
    $('#name').removeAttribute('aria-invalid');
    setText($('#name-error'), '');
  });
  const backoff = new Backoff({ baseMs: 2000, maxMs: 15000 });
  let checkedStored = false;
  for (;;) {
    const reg = await api(`/projects/${pid}/sessions/${sid}/registration`, { query: { code } });
    if (reg.status === 403) {
      showMessage('invalid', 'This join link is not valid', 'It may be mistyped, or the facilitator made a new one. Scan the QR code on the big screen again, or ask the facilitator.');
      return;
    }
    if (reg.status === 404) {
      showMessage('invalid', 'This workshop doesn’t exist', 'The link may be mistyped or the session removed. Ask the facilitator.');
      return;
    }
    if (!reg.ok) {
      showMessage('waiting', 'Can’t reach the workshop server', 'Check that you are on the workshop’s Wi-Fi. Trying again…');
      await sleep(backoff.next());
      continue;
    }
    const info = reg.data;
    setText($('#project-name'), info.project_name ?? 'Workshop');
    document.title = `Join ${info.project_name ?? 'the workshop'} · pairwise-ws`;
    setText($('#join-title'), `Join “${info.project_name ?? 'the workshop'}”`);

    if (!checkedStored) {
      checkedStored = true;
      // This browser already joined this project: go straight to voting.
      const stored = storedAttendee(pid);
      if (stored) {
        const check = await api(`/projects/${pid}/sessions`, { attendee: stored });
        if (check.status === 401) local.remove(keys.attendee(pid));
        else {
          document.body.dataset.view = 'redirecting';
          location.replace(attendeePage());
          return;
        }
      }
    }
    if (info.status !== 'active') {
      showMessage('ended', 'This session has ended', 'Thank you for your interest. Voting is over for this session.');
      return;
    }
    if (info.open) {
      showForm();
      return;
    }
    showMessage('closed-reg', 'Registration is closed right now',
      'The facilitator isn’t taking new names at the moment. This page opens the form by itself when they do, or ask them for a personal link.');
    await sleep(backoff.next());
  }
}

async function submit(event) {
  event.preventDefault();
  const input = $('#name');
  const name = input.value.trim();
  const error = $('#name-error');
  if (!name) {
    input.setAttribute('aria-invalid', 'true');
    setText(error, 'Please enter your name.');
    input.focus();
    return;
  }
  const button = $('#join-submit');
  button.disabled = true;
  setText(button, 'Joining…');
  const reply = await api(`/projects/${pid}/sessions/${sid}/join`, { method: 'POST', body: { name }, query: { code } });
  button.disabled = false;
  setText(button, 'Join and start voting');
  if (reply.status === 201 || reply.ok) {
    const d = reply.data;
    storeAttendee(pid, { attendee_id: d.attendee_id, token: d.token, name: d.name });
    document.body.dataset.view = 'redirecting';
    location.replace(d.attendee_url || attendeePage());
    return;
  }
  if (reply.status === 0) {
    setText(error, 'Can’t reach the workshop server. Check the Wi-Fi and try again.');
    return;
  }
  if (reply.status === 403 && /not valid/i.test(reply.error ?? '')) {
    showMessage('invalid', 'This join link is no longer valid', 'The facilitator made a new one. Scan the QR code on the big screen again.');
    return;
  }
  if (reply.status === 403 && /limit/i.test(reply.error ?? '')) {
    showMessage('closed-reg', 'This session is full', 'It has as many self-registered attendees as it takes. Ask the facilitator for a personal link.');
    return;
  }
  if (reply.status === 403 && /closed/i.test(reply.error ?? '')) {
    showMessage('closed-reg', 'Registration just closed', 'The facilitator stopped taking new names. Ask them for a personal link.',
      [h('button', { class: 'btn btn-quiet', type: 'button', onclick: () => location.reload() }, 'Try again')]);
    return;
  }
  input.setAttribute('aria-invalid', 'true');
  setText(error, reply.status === 429 ? 'Too many sign-ups from this network. Wait a minute and try again.'
    : capitalise(reply.error ?? 'Something went wrong.'));
  input.focus();
}

const capitalise = (text) => text.charAt(0).toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? '' : '.');

start();
