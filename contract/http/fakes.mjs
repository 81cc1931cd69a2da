// Local fakes of the third-party APIs Concierge calls, speaking their real wire formats: the
// Graph API (WhatsApp Cloud API sends, Instagram Messaging sends), the Discord REST API and an
// OpenAI-compatible model. Shared by the HTTP contract suite (run.mjs) and the Worker's
// end-to-end tests (adapter-cloudflare/tests/e2e.mjs). Every request is recorded.
import crypto from 'node:crypto';
import http from 'node:http';

/// An HTTP server on a free port of 127.0.0.1; `handler(req, res, body)` gets the whole body.
export function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => handler(req, res, body));
    });
    // Node closes an idle keep-alive connection after 5 s by default; a client that sends on it
    // at that moment sees "Network connection lost" (workerd's queue retries come about then),
    // so the fakes keep idle connections open for longer than any test waits.
    server.keepAliveTimeout = 120_000;
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

export const json = (res, status, value) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(value));
};

/// A free TCP port of 127.0.0.1 (closed again, for a child process to bind).
export function freePort() {
  return new Promise((resolve) => {
    const s = http.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/// What the fake model answers a customer turn.
export const MODEL_REPLY = 'Happy to help! Our eggless cakes are baked fresh every morning.';
/// A customer message containing this makes the model hand off: it answers HANDOFF_REPLY
/// followed by the `[[HANDOFF]]` sentinel.
export const HANDOFF_TRIGGER = 'talk to a person';
export const HANDOFF_REPLY = 'Of course: I am asking someone from the team to take over.';
/// What the model answers under the holding pattern (the system prompt after a handoff).
export const HOLDING_REPLY = 'Thank you, your message has been passed on: someone will get back to you soon.';

const parse = (body) => {
  try {
    return JSON.parse(body || '{}');
  } catch {
    return { unparsed: body };
  }
};

/// Starts the three fakes. Returns their recordings and base URLs:
///   graph:   [{ path, auth, body, status, id }]  (POST /vX/{phone id}/messages, /vX/me/messages)
///   discord: [{ path, auth, body }]              (POST /api/v10/channels/{id}/messages)
///   model:   [{ path, body }]                    (/v1/chat/completions, /v1/embeddings)
/// `graphFaults` scripts WhatsApp send faults per recipient: `{ at, mode }` fails the `at`-th
/// send to them (0-based) once, with a 503 (`mode: 503`), a permanent 400 (`mode: 400`,
/// "message undeliverable") or, for `mode: 'cut'`, by calling
/// `onCut(entry, phoneId, to)` (e.g. to post the `sent` status webhook) and then cutting the
/// connection before answering. A customer message containing FAILONCE makes the model fail
/// once (HTTP 500) for that text; one containing HANDOFF_TRIGGER makes it hand off.
/// The persona classifier (the safety review) approves every persona with the strict verdict;
/// `holdReviews(marker)` makes it wait, for personas containing `marker`, until the function it
/// returns is called (so a test can see *Pending review* before the verdict lands).
export async function startFakes({ onCut } = {}) {
  const identity = identityProviders();
  const graph = [];
  const discord = [];
  const model = [];
  const graphFaults = new Map();
  const graphSends = new Map();
  let outId = 0;

  const graphServer = await listen(async (req, res, body) => {
    const entry = { path: req.url, auth: req.headers.authorization, body: parse(body), status: 200 };
    graph.push(entry);
    if (req.method === 'GET' && /^\/v[\d.]+\/(oauth\/access_token|me)\?/.test(req.url)) {
      entry.body = {}; // Facebook Login; the query holds the secrets: not kept.
      entry.path = req.url.split('?')[0];
      return identity.facebook(req, res);
    }
    if (req.method === 'POST' && /^\/v[\d.]+\/me\/messages$/.test(req.url)) {
      // Instagram Messaging: POST /{version}/me/messages {recipient: {id}, message: {text}}.
      entry.id = `aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOUT${++outId}`;
      return json(res, 200, { recipient_id: entry.body.recipient?.id, message_id: entry.id });
    }
    const m = req.url.match(/^\/v[\d.]+\/(\d+)\/messages$/);
    if (req.method === 'POST' && m) {
      const to = entry.body.to;
      const n = graphSends.get(to) ?? 0;
      graphSends.set(to, n + 1);
      const fault = graphFaults.get(to);
      if (fault && fault.at === n) {
        graphFaults.delete(to);
        if (fault.mode === 503) {
          entry.status = 503;
          return json(res, 503, { error: { message: 'Service temporarily unavailable', type: 'OAuthException', code: 2, is_transient: true } });
        }
        if (fault.mode === 400) {
          entry.status = 400;
          return json(res, 400, { error: { message: '(#131026) Message undeliverable', type: 'OAuthException', code: 131026 } });
        }
        entry.status = 'cut';
        entry.id = `wamid.OUT${++outId}`;
        if (onCut) await onCut(entry, m[1], to);
        return req.socket.destroy();
      }
      entry.id = `wamid.OUT${++outId}`;
      return json(res, 200, {
        messaging_product: 'whatsapp',
        contacts: [{ input: to, wa_id: to }],
        messages: [{ id: entry.id }],
      });
    }
    entry.status = 404;
    json(res, 404, { error: { message: 'unknown path', type: 'OAuthException', code: 803 } });
  });

  const discordServer = await listen((req, res, body) => {
    const b = parse(body);
    discord.push({ path: req.url, auth: req.headers.authorization, body: b });
    const m = req.url.match(/^\/api\/v10\/channels\/(\d+)\/messages$/);
    if (req.method === 'POST' && m) {
      return json(res, 200, {
        id: String(1300000000000000000n + BigInt(++outId)),
        channel_id: m[1],
        type: 0,
        content: b.content ?? '',
        author: { id: '1170000000000000000', username: 'Concierge', bot: true },
        timestamp: new Date().toISOString(),
      });
    }
    json(res, 404, { message: 'Unknown Channel', code: 10003 });
  });

  const failedOnce = new Set();
  const reviewHolds = new Map(); // marker -> promise
  const modelServer = await listen(async (req, res, body) => {
    const b = parse(body);
    model.push({ path: req.url, body: b });
    if (req.url === '/v1/embeddings') {
      const data = (b.input ?? []).map((t, index) => ({
        object: 'embedding',
        index,
        embedding: /celebration|birthday/i.test(t) ? [1, 0, 0] : [0, 1, 0],
      }));
      return json(res, 200, { object: 'list', data, model: b.model });
    }
    if (req.url === '/v1/chat/completions') {
      const system = b.messages?.[0]?.content ?? '';
      const user = b.messages?.at(-1)?.content ?? '';
      if (user.includes('FAILONCE') && !system.includes('security filter') && !failedOnce.has(user)) {
        failedOnce.add(user);
        return json(res, 500, { error: { message: 'model overloaded', type: 'server_error' } });
      }
      let content = MODEL_REPLY;
      if (system.includes('security filter')) content = '{"verdict":"allow"}';
      else if (system.includes('You review the persona text')) {
        for (const [marker, held] of reviewHolds) if (user.includes(marker)) await held;
        content = '{"verdict":"approve"}';
      }
      else if (system.includes('has been asked to take over this conversation')) content = HOLDING_REPLY;
      else if (user.toLowerCase().includes(HANDOFF_TRIGGER)) content = `${HANDOFF_REPLY} [[HANDOFF]]`;
      return json(res, 200, {
        id: `chatcmpl-${model.length}`,
        object: 'chat.completion',
        model: b.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      });
    }
    json(res, 404, { error: { message: 'not found' } });
  });

  const idpServer = await listen((req, res, body) => identity.google(req, res, body));
  const url = (s) => `http://127.0.0.1:${s.address().port}`;
  return {
    identityUrl: url(idpServer),
    identity: identity.requests,
    graph,
    discord,
    model,
    graphFaults,
    graphUrl: url(graphServer),
    discordUrl: url(discordServer),
    modelUrl: `${url(modelServer)}/v1`,
    holdReviews(marker) {
      let release;
      reviewHolds.set(marker, new Promise((r) => (release = r)));
      return () => {
        reviewHolds.delete(marker);
        release();
      };
    },
    close() {
      for (const s of [graphServer, discordServer, modelServer, idpServer]) {
        s.closeAllConnections?.();
        s.close();
      }
    },
  };
}

/// The identity providers' client registrations both targets run with.
export const OAUTH = {
  googleClientId: '1234-contract.apps.googleusercontent.com',
  googleClientSecret: 'GOCSPX-contract-secret',
  facebookAppId: '987650001',
  facebookAppSecret: 'contract-facebook-app-secret',
};

/// Google's OAuth endpoints (the consent page `/o/oauth2/v2/auth`, `POST /token`,
/// `GET /v1/userinfo`) and Facebook Login's (the dialog `/dialog/oauth` here; the token and
/// `/me` on the Graph fake), in their wire formats. Consent is automatic: the page redirects
/// to `redirect_uri` with a single-use code for the address in `login_hint` (Google's
/// parameter; the fake takes it for Facebook too), verified unless it starts with
/// `unverified`. `requests` records each call as `{ provider, step, ok }`.
function identityProviders() {
  const codes = new Map(); // code -> email
  const requests = [];
  let n = 0;
  const query = (req) => new URL(req.url, 'http://fake').searchParams;
  const consent = (req, res) => {
    const q = query(req);
    const code = `4/0Ab-contract-${++n}`;
    codes.set(code, q.get('login_hint') ?? 'nobody@contract.test');
    const back = new URL(q.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', q.get('state') ?? '');
    res.writeHead(302, { location: back.toString() });
    res.end();
  };
  const take = (code) => {
    const email = codes.get(code);
    codes.delete(code);
    return email;
  };
  return {
    requests,
    google(req, res, body) {
      const path = req.url.split('?')[0];
      if (req.method === 'GET' && (path === '/o/oauth2/v2/auth' || path === '/dialog/oauth')) return consent(req, res);
      if (req.method === 'POST' && path === '/token') {
        const f = new URLSearchParams(body);
        const email = take(f.get('code'));
        const ok = Boolean(email) && f.get('grant_type') === 'authorization_code'
          && f.get('client_id') === OAUTH.googleClientId && f.get('client_secret') === OAUTH.googleClientSecret
          && (f.get('redirect_uri') ?? '').endsWith('/auth/callback')
          && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
        requests.push({ provider: 'google', step: 'token', ok });
        if (!ok) return json(res, 400, { error: 'invalid_grant', error_description: 'Bad Request' });
        return json(res, 200, {
          access_token: `ya29.${Buffer.from(email).toString('base64url')}`,
          expires_in: 3599,
          scope: 'openid https://www.googleapis.com/auth/userinfo.email',
          token_type: 'Bearer',
          id_token: 'eyJhbGciOiJSUzI1NiJ9.e30.signature',
        });
      }
      if (req.method === 'GET' && path === '/v1/userinfo') {
        const token = (req.headers.authorization ?? '').match(/^Bearer ya29\.(.+)$/)?.[1];
        requests.push({ provider: 'google', step: 'userinfo', ok: Boolean(token) });
        if (!token) return json(res, 401, { error: 'invalid_token', error_description: 'Invalid Credentials' });
        const email = Buffer.from(token, 'base64url').toString();
        return json(res, 200, { sub: '110169484474386270001', email, email_verified: !email.startsWith('unverified') });
      }
      json(res, 404, { error: 'not_found' });
    },
    facebook(req, res) {
      const q = query(req);
      if (req.url.includes('/oauth/access_token?')) {
        const email = take(q.get('code'));
        const ok = Boolean(email) && q.get('client_id') === OAUTH.facebookAppId
          && q.get('client_secret') === OAUTH.facebookAppSecret
          && (q.get('redirect_uri') ?? '').endsWith('/auth/facebook/callback');
        requests.push({ provider: 'facebook', step: 'token', ok });
        if (!ok) {
          return json(res, 400, { error: { message: 'This authorization code has been used.', type: 'OAuthException', code: 100, fbtrace_id: 'AbCd' } });
        }
        return json(res, 200, { access_token: `EAAB${Buffer.from(email).toString('base64url')}`, token_type: 'bearer', expires_in: 5183944 });
      }
      const token = (req.headers.authorization ?? '').match(/^Bearer (EAAB.+)$/)?.[1];
      const proof = token && crypto.createHmac('sha256', OAUTH.facebookAppSecret).update(token).digest('hex');
      const ok = Boolean(token) && q.get('appsecret_proof') === proof && q.get('fields') === 'id,email';
      requests.push({ provider: 'facebook', step: 'me', ok });
      if (!ok) return json(res, 400, { error: { message: 'Invalid appsecret_proof provided in the API argument', type: 'GraphMethodException', code: 100 } });
      const email = Buffer.from(token.slice(4), 'base64url').toString();
      // Facebook shares only a confirmed address, and none at all otherwise.
      return json(res, 200, email.startsWith('unverified') ? { id: '10160000000000001' } : { id: '10160000000000001', email });
    },
  };
}
