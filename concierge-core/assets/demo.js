// The live demo page (GET /demo): the persona picker and the chat dialog.
//
// Stateless by design: the page keeps the conversation (history and the handoff flag) and
// posts it with every turn to POST /demo/chat; closing the dialog or picking another persona
// forgets it. Every string shown comes from the page (data-* attributes of the dialog) or from
// the API, and is written with textContent: nothing is parsed as HTML.

const MAX_HISTORY = 20; // turns sent back with each message (the engine keeps as many)

const dialog = document.getElementById('demo-chat');
const strings = dialog.dataset;
const $ = (id) => document.getElementById(id);
const title = $('chat-title');
const log = $('chat-log');
const typing = $('chat-typing');
const handoffNotice = $('chat-handoff');
const errorLine = $('chat-error');
const form = $('chat-form');
const input = $('chat-input');
const send = $('chat-send');
const promptPanel = $('chat-prompt');
const promptText = $('chat-prompt-text');

/** The personas of GET /demo/personas, by slug. */
const personas = new Map();

/** The open conversation; replaced (never mutated across personas) on every open. */
let chat = null;

function newChat(persona) {
  return { persona, history: [], handoff: false, pending: null };
}

/** Appends one message bubble; returns it. */
function addMessage(role, who, text) {
  const item = document.createElement('li');
  item.className = `msg msg-${role}`;
  const name = document.createElement('span');
  name.className = 'msg-who';
  name.textContent = who;
  const body = document.createElement('p');
  body.className = 'msg-text';
  body.textContent = text;
  item.append(name, body);
  log.append(item);
  item.scrollIntoView({ block: 'end' });
  return item;
}

function showError(text) {
  errorLine.textContent = text;
  errorLine.hidden = !text;
}

function setWaiting(waiting) {
  typing.hidden = !waiting;
  send.disabled = waiting;
  if (waiting) typing.scrollIntoView({ block: 'end' });
}

/** The friendly sentence for a failed turn: never the server's own text. */
function errorFor(status) {
  if (status === 429) return strings.errorRateLimited;
  if (status === 503) return strings.errorUnavailable;
  if (status === 502 || status === 504) return strings.errorModel;
  if (status === 400 || status === 413 || status === 422) return strings.errorInvalid;
  if (status === 0) return strings.errorNetwork;
  return strings.errorOther;
}

/** Forgets the conversation and empties the dialog. */
function reset() {
  chat?.pending?.abort();
  chat = null;
  log.replaceChildren();
  promptText.textContent = '';
  promptPanel.open = false;
  handoffNotice.hidden = true;
  input.value = '';
  showError('');
  setWaiting(false);
}

function open(slug) {
  const persona = personas.get(slug);
  if (!persona) return;
  reset();
  chat = newChat(persona);
  title.textContent = persona.label;
  promptText.textContent = persona.prompt;
  if (persona.greeting) {
    addMessage('assistant', persona.label, persona.greeting);
    chat.history.push({ role: 'assistant', content: persona.greeting });
  }
  if (!dialog.open) dialog.showModal();
  input.focus();
}

async function sendTurn(message) {
  const current = chat;
  const controller = new AbortController();
  current.pending = controller;
  const bubble = addMessage('user', strings.you, message);
  input.value = '';
  showError('');
  setWaiting(true);
  let status = 0;
  let answer = null;
  try {
    const response = await fetch('/demo/chat', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        persona: current.persona.slug,
        history: current.history.slice(-MAX_HISTORY),
        message,
        handoff: current.handoff,
      }),
      signal: controller.signal,
    });
    status = response.status;
    if (response.ok) answer = await response.json();
  } catch {
    answer = null; // offline, aborted, or not JSON
  }
  if (chat !== current) return; // closed or switched while waiting
  current.pending = null;
  setWaiting(false);
  if (!answer || typeof answer.reply !== 'string') {
    bubble.remove();
    input.value = message;
    showError(errorFor(answer ? -1 : status));
    input.focus();
    return;
  }
  current.history.push({ role: 'user', content: message }, { role: 'assistant', content: answer.reply });
  addMessage('assistant', current.persona.label, answer.reply);
  if (answer.handoff && !current.handoff) {
    current.handoff = true;
    handoffNotice.hidden = false;
    handoffNotice.scrollIntoView({ block: 'end' });
  }
  input.focus();
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const message = input.value.trim();
  if (!chat || !message || chat.pending) return;
  sendTurn(message);
});

// Enter sends; Shift+Enter starts a new line (and nothing fires mid-composition, e.g. an IME).
input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    form.requestSubmit();
  }
});

$('chat-close').addEventListener('click', () => dialog.close());
// Escape closes a modal dialog too; either way the conversation is forgotten.
dialog.addEventListener('close', reset);

async function loadPersonas() {
  try {
    const response = await fetch('/demo/personas', { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(String(response.status));
    const { personas: list } = await response.json();
    for (const p of list) personas.set(p.slug, p);
  } catch {
    $('demo-load-error').hidden = false;
    return;
  }
  for (const button of document.querySelectorAll('.persona-pick')) {
    if (!personas.has(button.dataset.slug)) continue;
    button.disabled = false;
    button.addEventListener('click', () => open(button.dataset.slug));
  }
  document.body.dataset.ready = 'true';
}

loadPersonas();
