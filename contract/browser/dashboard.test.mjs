// The owner's dashboard (/dashboard/*) in a real browser, on every target of $BROWSER_TARGETS:
// sign up and log in, the CSRF refusal, a persona going from Pending review to Approved and
// View prompt, the Conversation Timing card's inline error (an htmx swap of a 422), approving a
// draft from the queue and seeing it sent, the 375 px layout of every page, and the operator
// panel's pricing form (a 422, then a saved price in the audit log) at 375 px, and the knowledge
// page (a file upload, a refused file, a tried question with its envelope, a delete). Every test fails
// on a page error or a console error (CSP violations included). Tests run in parallel, one
// browser context each, against one target started with open sign-up.
//
//   node --test contract/browser/dashboard.test.mjs        (after npm ci in contract/browser,
//                                                           scripts/web-assets.sh for htmx)
//   BROWSER_TARGETS=server,worker ...                      also the Worker (adapter-cloudflare/build)
//   SCREENSHOTS_DIR=docs/screenshots ...                   also write the screenshots of docs/dashboard.md
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { MODEL_REPLY } from '../http/fakes.mjs';
import { waBody } from '../http/suite.mjs';
import { launchBrowser, openPage, screenshotsDir, sleep, startApp, targets } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser?.close());

const PASSWORD = 'a long browser passphrase';
const WRONG_LOGIN = 'That email and password do not match an account. Please try again.';

/// A tenant of its own for one test: WhatsApp on `phone` answered by the model, drafts waiting
/// for the owner when `approval`. Its persona is reviewed (approved by the fake) on import.
const tenantToml = (id, name, phone, { approval = false } = {}) => `
id = "${id}"
name = "${name}"
locale = "en-IN"
currency = "INR"
starting_credits = "50"

[persona]
custom = "You are the assistant of ${name}, a bakery in Pune. Answer briefly and kindly."

[conversation]
idle_gap_mins = 240
handoff_cooldown_mins = 30

[approval]
required = ${approval}

[notifications]
discord_channel_id = "1190000000000000601"

[channels.whatsapp]
phone_number_id = "${phone}"

[channels.whatsapp.replies]
default_rule = { kind = "prompt" }
`;

/** Runs `check` every 250 ms until it returns a truthy value (or throws after `ms`). */
async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Whether the document is no wider than the viewport (nothing scrolls sideways). */
const noHorizontalScroll = (page) =>
  page.evaluate(() => {
    const doc = document.documentElement;
    return doc.scrollWidth <= doc.clientWidth && doc.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth;
  });

const signIn = async (page, base, email, password = PASSWORD) => {
  await page.goto(`${base}/dashboard/login`);
  await page.fill('#email', email);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL((u) => u.pathname !== '/dashboard/login'), page.click('#login-submit')]);
};

const graphSendsTo = (app, to) => app.fakes.graph.filter((g) => g.body?.to === to && g.status === 200);

for (const target of targets) {
  describe(`the owner's dashboard on the ${target}`, { concurrency: true }, () => {
    let app;
    let failed = false;
    let phones = 0;
    before(async () => {
      app = await startApp(target, { openSignup: true });
    });
    after(() => app?.stop({ keep: failed }));

    /**
     * Imports tenant `id` (see tenantToml) with its owner `{id}@owner.test` and a WhatsApp
     * token, and waits until the safety review approved its persona. Returns
     * `{ id, email, phone }`.
     */
    const makeTenant = async (id, name, options = {}) => {
      const phone = `1065403522${String(41000 + ++phones)}`;
      const imported = await app.admin('PUT', '/tenants', tenantToml(id, name, phone, options), { 'content-type': 'application/toml' });
      assert.ok([200, 201].includes(imported.status), `import ${id}: ${imported.status} ${imported.text}`);
      const email = `${id}@owner.test`;
      const owner = await app.admin('PUT', `/tenants/${id}/owners`, JSON.stringify({ email, password: PASSWORD }), { 'content-type': 'application/json' });
      assert.equal(owner.status, 201, `owner of ${id}: ${owner.text}`);
      const secret = await app.admin('PUT', `/tenants/${id}/secrets/wa_phone:${phone}`, JSON.stringify({ token: `${id}-wa-token` }), { 'content-type': 'application/json' });
      assert.equal(secret.status, 204, `WhatsApp token of ${id}: ${secret.text}`);
      await until(`the persona of ${id} approved`, async () => (await app.admin('GET', `/tenants/${id}/persona`)).json().status === 'approved');
      return { id, email, phone };
    };

    /** A customer's WhatsApp message to `tenant`'s number. */
    const customerWrites = async (tenant, from, text) => {
      const r = await app.postWhatsApp(waBody(tenant.phone, from, text));
      assert.equal(r.status, 200, `webhook: ${r.text}`);
    };

    /** Runs `body` with a fresh page and checks the page logged no error (a CSP violation included). */
    const withPage = (options, body) => async () => {
      const opened = await openPage(browser, options);
      opened.page.setDefaultTimeout(15_000);
      try {
        await body(opened);
        assert.deepEqual(opened.problems, [], 'the page logged errors');
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        await opened.context.close();
      }
    };

    test('sign up through the form → the wizard; log out; a wrong password → the vague error; log in → /dashboard', withPage({}, async ({ page }) => {
      const email = `signup-${target}@owner.test`;
      await page.goto(`${app.base}/dashboard/login`);
      await page.click('#signup-link');
      await page.waitForURL('**/dashboard/signup');
      await page.fill('#business', 'Sunrise <b>Bakery</b> & Co');
      await page.fill('#email', email);
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL('**/dashboard/welcome'), page.click('#signup-submit')]);
      await page.locator('#welcome-business').waitFor();
      assert.equal(await page.inputValue('#name'), 'Sunrise <b>Bakery</b> & Co', 'the name, as typed');
      assert.equal(await page.locator('main b').count(), 0, 'never parsed as HTML');
      const cookies = await page.context().cookies();
      const session = cookies.find((c) => c.name === '__Host-concierge_session');
      assert.ok(session, `the session cookie is kept: ${cookies.map((c) => c.name)}`);
      assert.equal(session.secure, true);
      assert.equal(session.httpOnly, true);

      await Promise.all([page.waitForURL('**/dashboard/login'), page.click('form.logout button')]);
      assert.equal((await page.context().cookies()).some((c) => c.name === '__Host-concierge_session'), false, 'logged out');
      const back = await page.goto(`${app.base}/dashboard`);
      assert.equal(new URL(back.url()).pathname, '/dashboard/login', 'signed out, the dashboard asks to sign in');

      await page.fill('#email', email);
      await page.fill('#password', 'not the password at all');
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/dashboard/login')),
        page.click('#login-submit'),
      ]);
      assert.equal(refused.status(), 401);
      assert.equal((await page.textContent('#login-error')).trim(), WRONG_LOGIN);
      assert.equal(await page.inputValue('#email'), email, 'the email is kept');

      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL((u) => u.pathname === '/dashboard'), page.click('#login-submit')]);
      assert.match(await page.textContent('h1'), /Sunrise <b>Bakery<\/b> & Co/);
      assert.equal(await page.locator('#continue-setup').isVisible(), true, 'onboarding continues from the overview');
    }));

    test('a state-changing request without the right CSRF token is refused with 403 and changes nothing', withPage({}, async ({ page }) => {
      const tenant = await makeTenant(`csrf-${target}`, 'Csrf Bakery');
      await signIn(page, app.base, tenant.email);
      await page.goto(`${app.base}/dashboard/settings`);
      assert.equal(await page.inputValue('#idle_gap_mins'), '240');
      const put = (headers) => page.evaluate(async (h) => {
        const r = await fetch('/dashboard/settings/conversation', {
          method: 'PUT',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...h },
          body: 'idle_gap_mins=600&handoff_cooldown_mins=30',
        });
        return { status: r.status, body: await r.text() };
      }, headers);
      const none = await put({});
      assert.equal(none.status, 403, 'no token');
      assert.deepEqual(JSON.parse(none.body), { error: 'missing or wrong CSRF token' });
      assert.equal((await put({ 'X-CSRF-Token': 'x'.repeat(43) })).status, 403, 'a wrong token');
      const form = await page.request.post(`${app.base}/dashboard/settings/conversation`, { form: { idle_gap_mins: '600' }, maxRedirects: 0 });
      assert.equal(form.status(), 403, 'a form post without its field');
      const csrf = await page.inputValue('input[name="csrf"]');
      const crossSite = await page.request.post(`${app.base}/dashboard/settings/conversation`, {
        form: { csrf, idle_gap_mins: '600' },
        headers: { origin: 'https://evil.example' },
        maxRedirects: 0,
      });
      assert.equal(crossSite.status(), 403, 'the right token from another origin');
      assert.deepEqual(await crossSite.json(), { error: 'cross-site request refused' });
      await page.reload();
      assert.equal(await page.inputValue('#idle_gap_mins'), '240', 'nothing was saved');
      assert.equal((await app.admin('GET', `/tenants/${tenant.id}`)).text.includes('idle_gap_mins = 600'), false, 'nor in the export');
    }));

    test('a saved persona shows Pending review, then Approved; View prompt shows the new text in the envelope', withPage({}, async ({ page }) => {
      const tenant = await makeTenant(`persona-${target}`, 'Persona Bakery');
      await signIn(page, app.base, tenant.email);
      await page.goto(`${app.base}/dashboard/persona`);
      assert.equal(await page.getAttribute('#persona-review', 'class'), 'badge approved', 'the imported persona was approved');
      const marker = `HOLD-${target}-${Date.now()}`;
      const text = `You are Meera of Persona Bakery <b>&</b> "friends". Mention ${marker} never. Eggless cakes daily.`;
      const release = app.fakes.holdReviews(marker);
      try {
        await page.check('input[name="mode"][value="custom"]');
        await page.fill('#custom', text);
        await Promise.all([page.waitForURL('**/dashboard/persona?saved=1'), page.click('#persona-save')]);
        await page.locator('#persona-saved').waitFor();
        assert.equal(await page.getAttribute('#persona-review', 'class'), 'badge pending');
        assert.equal((await page.textContent('#persona-review')).trim(), 'Pending review');
        assert.equal(await page.inputValue('#custom'), text, 'the stored text, as typed');
      } finally {
        release();
      }
      await until('the badge to say Approved', async () => {
        await page.reload();
        return (await page.getAttribute('#persona-review', 'class')) === 'badge approved';
      });
      assert.equal((await page.textContent('#persona-review')).trim(), 'Approved');
      assert.equal(await page.locator('#prompt-envelope').isVisible(), false, 'View prompt is collapsed');
      await page.click('#view-prompt summary');
      await page.locator('#prompt-envelope').waitFor({ state: 'visible' });
      const envelope = await page.textContent('#prompt-envelope');
      assert.ok(envelope.includes(text), `the new text inside the envelope:\n${envelope}`);
      assert.ok(envelope.indexOf(text) > 0 && envelope.indexOf(text) + text.length < envelope.length, 'inside, not alone');
      assert.equal(await page.locator('#prompt-envelope b').count(), 0, 'shown as text');
    }));

    test('the Timing card: idle gap 30 with cooldown 60 → an inline error swapped in by htmx, nothing saved; a valid value saves', withPage({}, async ({ page }) => {
      const tenant = await makeTenant(`timing-${target}`, 'Timing Bakery');
      await signIn(page, app.base, tenant.email);
      await page.goto(`${app.base}/dashboard/settings`);
      await page.waitForFunction(() => window.htmx !== undefined, null, { timeout: 5_000 }).catch(() => {
        throw new Error('htmx is not on the page: run scripts/web-assets.sh before building');
      });
      await page.evaluate(() => (window.__sameDocument = true));
      await page.fill('#idle_gap_mins', '30');
      await page.fill('#handoff_cooldown_mins', '60');
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'PUT' && r.url().endsWith('/dashboard/settings/conversation')),
        page.click('#timing-card button[type="submit"]'),
      ]);
      assert.equal(answer.status(), 422);
      assert.equal(answer.request().headers()['hx-request'], 'true');
      await page.locator('#idle_gap_mins-error').waitFor({ state: 'visible' });
      assert.equal(await page.locator('#timing-failed').isVisible(), true);
      assert.equal(await page.evaluate(() => window.__sameDocument), true, 'swapped in place, no page load');
      assert.equal(await page.inputValue('#idle_gap_mins'), '30', 'what was typed is kept');
      assert.equal(await page.getAttribute('#idle_gap_mins', 'aria-invalid'), 'true');
      assert.equal(await page.locator('#timing-card').count(), 1, 'one card, not a card inside a card');

      await page.reload();
      assert.equal(await page.inputValue('#idle_gap_mins'), '240', 'the stored idle gap is unchanged');
      assert.equal(await page.inputValue('#handoff_cooldown_mins'), '30', 'the stored cooldown is unchanged');

      await page.evaluate(() => (window.__sameDocument = true));
      await page.fill('#idle_gap_mins', '300');
      await page.fill('#handoff_cooldown_mins', '20');
      await page.click('#timing-card button[type="submit"]');
      await page.locator('#timing-saved').waitFor({ state: 'visible' });
      assert.equal(await page.evaluate(() => window.__sameDocument), true, 'saved in place too');
      assert.equal(await page.locator('#idle_gap_mins-error').count(), 0);
      await page.reload();
      assert.equal(await page.inputValue('#idle_gap_mins'), '300');
      assert.equal(await page.inputValue('#handoff_cooldown_mins'), '20');
    }));

    test('a draft from a WhatsApp customer waits in the queue; Approve sends it, once', withPage({}, async ({ page }) => {
      const tenant = await makeTenant(`approvals-${target}`, 'Approval Bakery', { approval: true });
      const customer = '919800000101';
      await customerWrites(tenant, customer, 'Do you have eggless cakes today?');
      await signIn(page, app.base, tenant.email);
      await until('the draft on /dashboard/approvals', async () => {
        await page.goto(`${app.base}/dashboard/approvals`);
        return (await page.locator('section.draft').count()) > 0;
      });
      assert.equal(await page.locator('section.draft').count(), 1);
      const draft = page.locator('section.draft');
      assert.match(await draft.locator('blockquote').textContent(), /eggless cakes today/);
      assert.equal(await draft.locator('textarea').inputValue(), MODEL_REPLY);
      assert.equal(graphSendsTo(app, customer).length, 0, 'nothing is sent before the approval');
      const action = await draft.locator('form').getAttribute('action');
      const csrf = await draft.locator('input[name="csrf"]').inputValue();

      await Promise.all([page.waitForURL('**/dashboard/approvals?done=sent'), draft.locator('button[value="approve"]').click()]);
      assert.equal((await page.textContent('#approval-outcome')).trim(), 'Approved and sent.');
      assert.equal(await page.locator('section.draft').count(), 0, 'the draft is gone');
      assert.equal(await page.locator('#approvals-empty').isVisible(), true);
      const sent = await until('the reply at the Graph API', () => graphSendsTo(app, customer).length > 0 && graphSendsTo(app, customer));
      assert.equal(sent[0].body.text?.body, MODEL_REPLY);
      assert.equal(sent[0].auth, `Bearer ${tenant.id}-wa-token`);

      // The same form again (a second tab, a double click): nothing more is sent.
      const again = await page.request.post(`${app.base}${action}`, { form: { csrf, action: 'approve', text: MODEL_REPLY } });
      assert.equal(new URL(again.url()).search, '?done=not-found');
      assert.match(await again.text(), /already decided/);
      await sleep(1_000);
      assert.equal(graphSendsTo(app, customer).length, 1, 'sent exactly once');
    }));

    test('at 375 px no dashboard page scrolls sideways; tables scroll inside .table-wrap', withPage({ width: 375, height: 740 }, async ({ page }) => {
      const tenant = await makeTenant(`narrow-${target}`, 'Narrow Bakery With A Rather Long Name');
      const customer = '919800000202';
      await customerWrites(tenant, customer, `Do you deliver to Koregaon Park? ${'x'.repeat(120)}`);
      await until('the AI reply sent', () => graphSendsTo(app, customer).length > 0);
      for (const url of ['/dashboard/login', '/dashboard/signup']) {
        const r = await page.goto(app.base + url);
        assert.equal(r.status(), 200, url);
        assert.ok(await noHorizontalScroll(page), `${url} scrolls sideways`);
      }
      await signIn(page, app.base, tenant.email);
      const pages = ['/dashboard', '/dashboard/welcome', '/dashboard/persona', '/dashboard/rules/whatsapp', '/dashboard/channels',
        '/dashboard/settings', '/dashboard/approvals', '/dashboard/credits', '/dashboard/conversations', '/dashboard/knowledge'];
      for (const url of pages) {
        const r = await page.goto(app.base + url);
        assert.equal(r.status(), 200, url);
        if (url === '/dashboard/persona') await page.click('#view-prompt summary');
        assert.ok(await noHorizontalScroll(page), `${url} scrolls sideways`);
        const loose = await page.$$eval('table', (ts) => ts.filter((t) => !t.parentElement.classList.contains('table-wrap')).length);
        assert.equal(loose, 0, `${url}: every table sits in .table-wrap`);
      }
      await until('the conversation listed', async () => {
        await page.goto(`${app.base}/dashboard/conversations`);
        return (await page.locator('#conversations-table a').count()) > 0;
      });
      assert.ok(await noHorizontalScroll(page), 'the conversations list with a row');
      await page.click('#conversations-table a');
      await page.locator('#conversation-messages').waitFor();
      assert.ok(await noHorizontalScroll(page), 'a conversation');
      await page.goto(`${app.base}/dashboard/credits`);
      await page.locator('#debits-table').waitFor();
      assert.ok(await noHorizontalScroll(page), 'the credits with a debit row');
    }));

    test('the knowledge page: a file chosen in the file input is stored and listed, a tried question shows its passage inside the envelope, delete removes it (the Worker says it has no knowledge base yet)', withPage({ width: 375, height: 740 }, async ({ page }) => {
      const tenant = await makeTenant(`kb-${target}`, 'Knowledge Bakery');
      await signIn(page, app.base, tenant.email);
      await page.goto(`${app.base}/dashboard/knowledge`);
      if (target === 'worker') {
        await page.locator('#knowledge-unsupported').waitFor();
        assert.equal(await page.locator('#upload-form').count(), 0, 'no upload form where uploads are not supported');
        return;
      }
      await page.locator('#documents-empty').waitFor();
      const faq = '# Cakes\n\n## Eggless cakes\n\nEvery cake can be made eggless with two days\' notice: ₹650 for the truffle.\n\n## Delivery\n\nWe deliver within 5 km.\n';
      await page.setInputFiles('#document-file', { name: 'faq.md', mimeType: 'text/markdown', buffer: Buffer.from(faq) });
      const [stored] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/dashboard/knowledge')),
        page.click('#upload-submit'),
      ]);
      assert.equal(stored.status(), 200);
      assert.match(await page.textContent('#knowledge-notice'), /faq\.md: stored as \d+ passages?/);
      await page.locator('tr.document[data-source="faq.md"]').waitFor();
      assert.ok(await noHorizontalScroll(page), 'the list with a row');

      // A file of no supported kind: refused with why, nothing stored.
      await page.setInputFiles('#document-file', { name: 'logo.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]) });
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/dashboard/knowledge')),
        page.click('#upload-submit'),
      ]);
      assert.equal(refused.status(), 422);
      await page.locator('#knowledge-errors').waitFor();
      assert.equal(await page.locator('tr.document').count(), 1, 'only faq.md is stored');

      await page.fill('#try-question', 'do u make eggless cakes');
      await Promise.all([page.waitForURL((u) => u.searchParams.get('q') === 'do u make eggless cakes'), page.click('#try-submit')]);
      assert.match(await page.textContent('#passages-table tr.passage'), /two days' notice: ₹650/, 'the passage, read back as uploaded (UTF-8 kept)');
      await page.click('#knowledge-envelope summary');
      const envelope = await page.textContent('#knowledge-prompt');
      const [begin, at, end] = ['BEGIN KNOWLEDGE', 'two days', 'END KNOWLEDGE'].map((s) => envelope.indexOf(s));
      assert.ok(begin >= 0 && begin < at && at < end, 'the passage sits inside the knowledge section');
      assert.ok(await noHorizontalScroll(page), 'the tried question at 375 px');

      await Promise.all([page.waitForResponse((r) => r.url().endsWith('/dashboard/knowledge/delete')), page.click('tr.document[data-source="faq.md"] button')]);
      assert.match(await page.textContent('#knowledge-notice'), /faq\.md deleted/);
      await page.locator('#documents-empty').waitFor();
      const listed = await app.admin('GET', `/tenants/${tenant.id}/knowledge`);
      assert.deepEqual(listed.json().documents, [], 'gone from the store');
    }));

    /// Gives the deployment the operator account `{who}@browser.test` (admin API) and signs in
    /// with it in `page`. One account per test: a new password ends the account's sessions,
    /// and the tests run side by side.
    const operatorSignIn = async (page, who, { create = true } = {}) => {
      const email = `${who}@browser.test`;
      const password = 'browser operator password';
      if (create) {
        const made = await app.admin('PUT', '/operators', JSON.stringify({ email, password }));
        assert.ok([200, 201].includes(made.status), `operator account: ${made.status} ${made.text}`);
      }
      await page.goto(`${app.base}/manage/login`);
      await page.fill('#email', email);
      await page.fill('#password', password);
      await Promise.all([page.waitForURL((u) => u.pathname === '/manage'), page.click('#manage-login-form button[type=submit]')]);
    };

    test('the operator panel at 375 px: a refused price shows its error (422), a saved one lands in the audit log; sign out everywhere ends every session of the account', withPage({ width: 375, height: 740 }, async ({ page }) => {
      await operatorSignIn(page, 'pricing');
      assert.ok(await noHorizontalScroll(page), '/manage scrolls sideways');
      await page.click('#manage-nav-pricing');
      await page.waitForURL((u) => u.pathname === '/manage/pricing');
      assert.ok(await noHorizontalScroll(page), '/manage/pricing scrolls sideways');
      await page.fill('#new-currency', 'GBP');
      await page.fill('#new-price', '0');
      const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/manage/pricing') && r.request().method() === 'POST'), page.click('#price-new-form button[type=submit]')]);
      assert.equal(refused.status(), 422);
      await page.locator('#price-error').waitFor();
      assert.ok(await noHorizontalScroll(page), 'the 422 page scrolls sideways');
      await page.fill('#new-price', '0.05');
      await Promise.all([page.waitForURL((u) => u.search === '?done=priced'), page.click('#price-new-form button[type=submit]')]);
      await page.locator('#price-GBP').waitFor();
      await page.click('#manage-nav-audit');
      await page.waitForURL((u) => u.pathname === '/manage/audit');
      // This operator's entries (the catalog test acts side by side, as another operator).
      const actions = await page.$$eval('tr.audit-entry', (rows) => rows
        .filter((r) => r.innerText.includes('operator:pricing@browser.test'))
        .map((r) => r.dataset.action));
      assert.equal(actions[0], 'pricing.set', `newest first: ${actions}`);
      assert.ok(actions.includes('operator.login'), `${actions}`);
      assert.ok(await noHorizontalScroll(page), '/manage/audit scrolls sideways');
      const loose = await page.$$eval('table', (ts) => ts.filter((t) => !t.parentElement.classList.contains('table-wrap')).length);
      assert.equal(loose, 0, 'the audit table sits in .table-wrap');
      // Sign out everywhere: this browser and every other session of the account are out.
      const other = await page.context().browser().newContext();
      const second = await other.newPage();
      try {
        await operatorSignIn(second, 'pricing', { create: false });
        await Promise.all([page.waitForURL((u) => u.pathname === '/manage/login'), page.click('#manage-logout-everywhere')]);
        await page.goto(`${app.base}/manage`);
        assert.equal(new URL(page.url()).pathname, '/manage/login', 'signed out here');
        await second.goto(`${app.base}/manage`);
        assert.equal(new URL(second.url()).pathname, '/manage/login', 'and in the other browser');
      } finally {
        await other.close();
      }
    }));

    test('the personas catalog at 375 px: a new persona is a draft the demo does not offer until its review approves it; the system persona has no delete', withPage({ width: 375, height: 740 }, async ({ page }) => {
      await operatorSignIn(page, 'catalog');
      await page.click('#manage-nav-personas');
      await page.waitForURL((u) => u.pathname === '/manage/personas');
      assert.ok(await noHorizontalScroll(page), '/manage/personas scrolls sideways');
      await page.click('#catalog-concierge h2 a');
      await page.locator('#catalog-system-hint').waitFor();
      assert.equal(await page.locator('#catalog-delete').count(), 0, 'the system persona has no delete');
      await page.goto(`${app.base}/manage/personas/new`);
      const slug = `cafe-${target}`;
      await page.fill('#slug', slug);
      await page.fill('#label', 'Corner <Cafe>');
      await Promise.all([page.waitForResponse((r) => r.url().endsWith('/manage/personas') && r.request().method() === 'POST'), page.click('#persona-save')])
        .then(([r]) => assert.equal(r.status(), 422, 'no greeting, no persona'));
      await page.locator('#greeting-error').waitFor();
      assert.ok(await noHorizontalScroll(page), 'the 422 page scrolls sideways');
      const marker = `HOLD-CATALOG-${target}-${Date.now()}`;
      const release = app.fakes.holdReviews(marker);
      try {
        await page.fill('#greeting', 'Hello! Coffee?');
        await page.check('input[name="mode"][value="custom"]');
        await page.fill('#custom', `You answer for Corner Cafe. ${marker}`);
        await Promise.all([page.waitForURL((u) => u.search === '?done=queued'), page.click('#persona-save')]);
        assert.equal(await page.getAttribute('#catalog-review', 'class'), 'badge pending');
        const demo = await page.context().newPage();
        await demo.goto(`${app.base}/demo`);
        assert.equal(await demo.locator(`[data-slug="${slug}"]`).count(), 0, 'a draft is not in the picker');
        await demo.close();
      } finally {
        release();
      }
      await until('the review to approve it', async () => {
        await page.reload();
        return (await page.getAttribute('#catalog-review', 'class')) === 'badge approved';
      });
      assert.equal(await page.textContent('h1 span.hint'), slug);
      assert.ok((await page.textContent('h1')).includes('Corner <Cafe>'), 'the name, as text');
      await page.click('#view-prompt summary');
      assert.ok((await page.textContent('#prompt-envelope')).includes(marker), 'View prompt shows the reviewed text');
      await page.goto(`${app.base}/demo`);
      await page.locator(`[data-slug="${slug}"]`).waitFor();
      await page.goto(`${app.base}/manage/personas/${slug}`);
      await Promise.all([page.waitForURL((u) => u.search === '?done=deleted'), page.click('#catalog-delete')]);
      assert.equal(await page.locator(`#catalog-${slug}`).count(), 0, 'deleted');
    }));

    if (screenshotsDir && target === targets[0]) {
      test('screenshots of every page at 1280 and 375 px', async () => {
        const tenant = await makeTenant(`shots-${target}`, 'Sunrise Bakery', { approval: true });
        await customerWrites(tenant, '919800000303', 'Do you have eggless cakes today? I need one for Saturday.');
        // The knowledge page needs documents of its own (the Worker has no knowledge base yet).
        const faq = await readFile(new URL('../../examples/tenants/sunrise-bakery-kb/faq.md', import.meta.url));
        const kb = target === 'server' && await app.admin('PUT', `/tenants/${tenant.id}/knowledge/faq.md`, faq);
        if (kb) assert.equal(kb.status, 201, 'the FAQ stored');
        await Promise.all([[1280, 800], [375, 740]].map(([width, height]) =>
          withPage({ width, height }, async ({ page }) => {
            const shot = (name) =>
              page.screenshot({ path: path.join(screenshotsDir, `dashboard-${name}-${width}.png`), fullPage: true, animations: 'disabled' });
            await page.goto(`${app.base}/dashboard/login`);
            await shot('login');
            await page.goto(`${app.base}/dashboard/signup`);
            await shot('signup');
            await page.fill('#business', 'Sunrise Bakery');
            await page.fill('#email', `shots-${width}@owner.test`);
            await page.fill('#password', PASSWORD);
            await Promise.all([page.waitForURL('**/dashboard/welcome'), page.click('#signup-submit')]);
            await shot('welcome');
            await page.click('form.logout button');
            await page.waitForURL('**/dashboard/login');

            await signIn(page, app.base, tenant.email);
            await shot('overview');
            await page.goto(`${app.base}/dashboard/persona`);
            await page.click('#view-prompt summary');
            await shot('persona');
            await page.goto(`${app.base}/dashboard/rules/whatsapp`);
            await shot('rules');
            await page.goto(`${app.base}/dashboard/channels`);
            await shot('channels');
            await page.goto(`${app.base}/dashboard/settings`);
            await page.fill('#idle_gap_mins', '30');
            await page.fill('#handoff_cooldown_mins', '60');
            await page.click('#timing-card button[type="submit"]');
            await page.locator('#idle_gap_mins-error').waitFor();
            await shot('settings-error');
            await until('the draft', async () => {
              await page.goto(`${app.base}/dashboard/approvals`);
              return (await page.locator('section.draft').count()) > 0;
            });
            await shot('approvals');
            await page.goto(`${app.base}/dashboard/credits`);
            await shot('credits');
            await page.goto(`${app.base}/dashboard/conversations`);
            await shot('conversations');
            await page.goto(`${app.base}/dashboard/knowledge?q=${encodeURIComponent('do u make eggless cakes')}`);
            await shot('knowledge');
          })()));
      });
    }
  });
}
