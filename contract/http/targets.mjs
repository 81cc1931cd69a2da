// Starts one deploy target with the contract configuration: the `concierge-server` binary
// (server.mjs) or the Worker on local workerd (adapter-cloudflare/tests/workerd.mjs), both
// pointed at the local fakes (fakes.mjs). Shared by the HTTP contract suite (run.mjs) and the
// browser tests (contract/browser/), so both run the targets exactly alike.
import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { OAUTH } from './fakes.mjs';
import { SETTINGS } from './suite.mjs';
import { serverBinary, startServer } from './server.mjs';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TARGETS = ['server', 'worker'];

/// A fresh Discord application keypair: `{ publicKeyHex, privateKey }`.
export function discordKeypair() {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  return { publicKeyHex: Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex'), privateKey };
}

/// Starts `target` ('server' | 'worker') on 127.0.0.1:`port` with its state in `state`, every
/// third-party API pointed at `fakes` (startFakes()). `demoPerMinute` overrides the demo's
/// per-client rate (default 10); `openSignup: true` opens `/dashboard/signup` (server
/// `CONCIERGE_OPEN_SIGNUP=1`, Worker `OPEN_SIGNUP=1`). Resolves once `/healthz` answers;
/// returns `{ base, logPath, stop() }` (the Worker's also has `d1(sql)`).
export async function startTarget({ target, state, port, fakes, discordPublicHex, demoPerMinute, openSignup = false }) {
  const s = SETTINGS;
  if (target === 'server') {
    return startServer({
      bin: serverBinary(root),
      state,
      port,
      env: {
        WHATSAPP_APP_SECRET: s.metaAppSecret,
        WHATSAPP_VERIFY_TOKEN: s.metaVerifyToken,
        INSTAGRAM_APP_SECRET: s.metaAppSecret,
        INSTAGRAM_VERIFY_TOKEN: s.metaVerifyToken,
        DISCORD_PUBLIC_KEY: discordPublicHex,
        DISCORD_BOT_TOKEN: s.discordBotToken,
        DISCORD_BOT_USER_ID: s.discordBotUserId,
        ENCRYPTION_KEY: s.encryptionKey,
        CONCIERGE_SIGNING_KEY: s.signingKey,
        CONCIERGE_ADMIN_TOKEN: s.adminToken,
        CONCIERGE_EMAIL_SECRET: s.emailSecret,
        CONCIERGE_AI_URL: fakes.modelUrl,
        CONCIERGE_AI_KEY: s.aiKey,
        CONCIERGE_GRAPH_API_URL: fakes.graphUrl,
        CONCIERGE_DISCORD_API_URL: fakes.discordUrl,
        CONCIERGE_SHUTDOWN_SECONDS: '2',
        CONCIERGE_RETRY_BASE_MS: '200',
        CONCIERGE_GOOGLE_CLIENT_ID: OAUTH.googleClientId,
        CONCIERGE_GOOGLE_CLIENT_SECRET: OAUTH.googleClientSecret,
        CONCIERGE_GOOGLE_AUTH_URL: `${fakes.identityUrl}/o/oauth2/v2/auth`,
        CONCIERGE_GOOGLE_TOKEN_URL: `${fakes.identityUrl}/token`,
        CONCIERGE_GOOGLE_USERINFO_URL: `${fakes.identityUrl}/v1/userinfo`,
        CONCIERGE_FACEBOOK_APP_ID: OAUTH.facebookAppId,
        CONCIERGE_FACEBOOK_APP_SECRET: OAUTH.facebookAppSecret,
        CONCIERGE_FACEBOOK_DIALOG_URL: `${fakes.identityUrl}/dialog/oauth`,
        ...(demoPerMinute === undefined ? {} : { CONCIERGE_DEMO_PER_MINUTE: String(demoPerMinute) }),
        ...(openSignup ? { CONCIERGE_OPEN_SIGNUP: '1' } : {}),
      },
    });
  }
  if (target !== 'worker') throw new Error(`unknown target ${target}`);
  const { startWorker } = await import('../../adapter-cloudflare/tests/workerd.mjs');
  return startWorker({
    state,
    port,
    vars: {
      WHATSAPP_APP_SECRET: s.metaAppSecret,
      WHATSAPP_VERIFY_TOKEN: s.metaVerifyToken,
      INSTAGRAM_APP_SECRET: s.metaAppSecret,
      INSTAGRAM_VERIFY_TOKEN: s.metaVerifyToken,
      DISCORD_PUBLIC_KEY: discordPublicHex,
      DISCORD_BOT_TOKEN: s.discordBotToken,
      DISCORD_BOT_USER_ID: s.discordBotUserId,
      ENCRYPTION_KEY: s.encryptionKey,
      SIGNING_KEY: s.signingKey,
      CONCIERGE_ADMIN_TOKEN: s.adminToken,
      CONCIERGE_EMAIL_SECRET: s.emailSecret,
      AI_PROVIDER: 'openai',
      OPENAI_BASE_URL: fakes.modelUrl,
      OPENAI_API_KEY: s.aiKey,
      GRAPH_API_BASE: fakes.graphUrl,
      DISCORD_API_BASE: fakes.discordUrl,
      GOOGLE_CLIENT_ID: OAUTH.googleClientId,
      GOOGLE_CLIENT_SECRET: OAUTH.googleClientSecret,
      GOOGLE_AUTH_URL: `${fakes.identityUrl}/o/oauth2/v2/auth`,
      GOOGLE_TOKEN_URL: `${fakes.identityUrl}/token`,
      GOOGLE_USERINFO_URL: `${fakes.identityUrl}/v1/userinfo`,
      FACEBOOK_APP_ID: OAUTH.facebookAppId,
      FACEBOOK_APP_SECRET: OAUTH.facebookAppSecret,
      FACEBOOK_DIALOG_URL: `${fakes.identityUrl}/dialog/oauth`,
      // No META_ACCESS_TOKEN: like the server, the Worker sends with the tenant's own tokens.
      ...(demoPerMinute === undefined ? {} : { DEMO_PER_MINUTE: String(demoPerMinute) }),
      ...(openSignup ? { OPEN_SIGNUP: '1' } : {}),
    },
  });
}
