// The live demo page (GET /demo) in a real browser, on every target of $BROWSER_TARGETS:
// the picker, a chat turn, View prompt, the handoff round trip, reset on close, friendly
// failures, and the 375 px layout. Pages run in parallel, one browser context each.
//
//   node --test contract/browser/demo.test.mjs            (after npm ci in contract/browser)
//   BROWSER_TARGETS=server,worker ...                      also the Worker (adapter-cloudflare/build)
//   SCREENSHOTS_DIR=docs/screenshots ...                   also write the screenshots of docs/dashboard.md
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { HANDOFF_REPLY, HANDOFF_TRIGGER, HOLDING_REPLY, MODEL_REPLY } from '../http/fakes.mjs';
import { launchBrowser, openDemo, screenshotsDir, showEnglishStrings, sleep, startApp, targets } from './harness.mjs';

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(() => browser?.close());

// ---------- what a visitor does ----------
const pick = async (page, slug) => {
  await page.click(`.persona-pick[data-slug="${slug}"]`);
  await page.locator('#demo-chat[open]').waitFor();
};
const say = async (page, text) => {
  await page.fill('#chat-input', text);
  await page.press('#chat-input', 'Enter');
};
/** The text of the `n`-th assistant message (1-based; the greeting is the first), once shown. */
const reply = async (page, n) => {
  const message = page.locator('#chat-log .msg-assistant .msg-text').nth(n - 1);
  await message.waitFor();
  return message.textContent();
};
const visible = (page, selector) => page.locator(selector).isVisible();
const messages = (page) => page.locator('#chat-log .msg').count();
/** Whether the document (and the dialog, when open) is no wider than the viewport. */
const noHorizontalScroll = (page) =>
  page.evaluate(() => {
    const doc = document.documentElement;
    const dialog = document.getElementById('demo-chat');
    const fits = (el) => el.scrollWidth <= el.clientWidth;
    return fits(doc) && doc.scrollWidth <= window.innerWidth && (!dialog.open || fits(dialog));
  });
/** The string the page renders for the script, e.g. `errorRateLimited` from data-error-rate-limited. */
const pageString = (page, name) => page.$eval('#demo-chat', (d, n) => d.dataset[n], name);

for (const target of targets) {
  describe(`the demo page on the ${target}`, { concurrency: true }, () => {
    let app;
    let personas;
    let failed = false;
    before(async () => {
      app = await startApp(target);
      personas = (await (await fetch(`${app.base}/demo/personas`)).json()).personas;
    });
    after(() => app?.stop({ keep: failed }));

    /** Runs `body` with a fresh page and checks the page logged no error (a CSP violation included). */
    const withPage = (options, body) => async () => {
      const demo = await openDemo(browser, app.base, options);
      try {
        await body(demo);
        assert.deepEqual(demo.problems, [], 'the page logged errors');
      } catch (e) {
        failed = true;
        throw e;
      } finally {
        await demo.context.close();
      }
    };
    const persona = (slug) => personas.find((p) => p.slug === slug);

    test('lists the approved personas as cards: the sample business and what it is', withPage({}, async ({ page }) => {
      assert.ok(personas.length >= 2, 'the API lists personas');
      assert.deepEqual(await page.locator('.persona-name').allTextContents(), personas.map((p) => p.label));
      assert.deepEqual(await page.locator('.persona-what').allTextContents(), personas.map((p) => p.description));
      assert.equal(await page.locator('.persona-pick:disabled').count(), 0, 'every card can be picked');
      assert.equal(await page.locator('#demo-chat[open]').count(), 0, 'no dialog until one is picked');
    }));

    test('a chat turn shows a typing indicator, then the reply; the next turn posts the history', withPage({}, async ({ page, chats }) => {
      // Hold the turn a moment so the indicator can be seen.
      await page.route('**/demo/chat', async (route) => {
        await sleep(300);
        await route.continue();
      });
      const bakery = persona('bakery');
      await pick(page, 'bakery');
      assert.equal(await page.textContent('#chat-title'), bakery.label);
      assert.equal(await reply(page, 1), bakery.greeting, 'the greeting');
      const question = 'Do you have <b>eggless</b> cakes?';
      await say(page, question);
      await page.locator('#chat-typing').waitFor({ state: 'visible' });
      assert.equal(await reply(page, 2), MODEL_REPLY);
      assert.equal(await visible(page, '#chat-typing'), false, 'the indicator is gone');
      assert.equal(await page.locator('#chat-log .msg-user .msg-text').textContent(), question, 'shown as text');
      assert.equal(await page.locator('#chat-log b').count(), 0, 'never parsed as HTML');
      assert.equal(await page.inputValue('#chat-input'), '', 'the input is cleared');
      assert.deepEqual(chats[0], {
        persona: 'bakery',
        history: [{ role: 'assistant', content: bakery.greeting }],
        message: question,
        handoff: false,
      });
      await say(page, 'Great, thanks!');
      await reply(page, 3);
      assert.deepEqual(chats[1].history, [
        { role: 'assistant', content: bakery.greeting },
        { role: 'user', content: question },
        { role: 'assistant', content: MODEL_REPLY },
      ]);
      assert.equal(chats[1].handoff, false);
    }));

    test('View prompt shows the exact envelope from the API', withPage({}, async ({ page }) => {
      await pick(page, 'dental-clinic');
      assert.equal(await visible(page, '#chat-prompt-text'), false, 'collapsed at first');
      await page.click('#chat-prompt summary');
      await page.locator('#chat-prompt-text').waitFor({ state: 'visible' });
      const shown = await page.textContent('#chat-prompt-text');
      assert.equal(shown, persona('dental-clinic').prompt);
      assert.match(shown, /BEGIN BUSINESS PERSONA/);
    }));

    test('a handoff reply shows the notice and the next turn sends handoff: true', withPage({}, async ({ page, chats }) => {
      await pick(page, 'bakery');
      assert.equal(await visible(page, '#chat-handoff'), false);
      await say(page, `My order was wrong, I want to ${HANDOFF_TRIGGER}.`);
      const answer = await reply(page, 2);
      assert.equal(answer, HANDOFF_REPLY, 'the sentinel is stripped');
      await page.locator('#chat-handoff').waitFor({ state: 'visible' });
      assert.equal(chats[0].handoff, false);
      await say(page, 'Hello? Is anyone there?');
      assert.equal(await reply(page, 3), HOLDING_REPLY, 'the holding pattern answers');
      assert.equal(chats[1].handoff, true, 'the flag round-trips');
      assert.equal(await visible(page, '#chat-handoff'), true, 'the notice stays');
    }));

    test('closing the dialog or switching persona resets the history and the handoff flag', withPage({}, async ({ page, chats }) => {
      const bakery = persona('bakery');
      await pick(page, 'bakery');
      await say(page, `Please let me ${HANDOFF_TRIGGER}`);
      await page.locator('#chat-handoff').waitFor({ state: 'visible' });
      await page.click('#chat-prompt summary');
      await page.click('#chat-close');
      await page.locator('#demo-chat').waitFor({ state: 'hidden' });

      await pick(page, 'bakery');
      assert.equal(await messages(page), 1, 'only the greeting');
      assert.equal(await visible(page, '#chat-handoff'), false, 'no handoff notice');
      assert.equal(await page.$eval('#chat-prompt', (d) => d.open), false, 'the prompt panel is closed');
      await say(page, 'Do you deliver?');
      assert.equal(await reply(page, 2), MODEL_REPLY);
      assert.deepEqual(chats[1], {
        persona: 'bakery',
        history: [{ role: 'assistant', content: bakery.greeting }],
        message: 'Do you deliver?',
        handoff: false,
      });

      // Escape closes it too; another persona starts from its own greeting.
      await page.keyboard.press('Escape');
      await page.locator('#demo-chat').waitFor({ state: 'hidden' });
      const dental = persona('dental-clinic');
      await pick(page, 'dental-clinic');
      assert.equal(await page.textContent('#chat-title'), dental.label);
      assert.equal(await messages(page), 1);
      assert.equal(await reply(page, 1), dental.greeting);
      await say(page, 'Can I book a cleaning?');
      await reply(page, 2);
      assert.deepEqual(chats[2].history, [{ role: 'assistant', content: dental.greeting }]);
      assert.equal(chats[2].persona, 'dental-clinic');
      assert.equal(chats[2].handoff, false);
    }));

    test('a rate limit, a missing model, a failed model and a lost connection read as friendly sentences', withPage({}, async ({ page }) => {
      const answers = [
        [429, { error: 'too many demo messages: try again in a moment' }, 'errorRateLimited'],
        [503, { error: 'no AI provider: set CONCIERGE_AI_URL' }, 'errorUnavailable'],
        [502, { error: 'the model did not answer: try again' }, 'errorModel'],
        ['abort', null, 'errorNetwork'],
      ];
      let next = 0;
      await page.route('**/demo/chat', (route) => {
        const [status, body] = answers[next++];
        if (status === 'abort') return route.abort('connectionrefused');
        return route.fulfill({ status, contentType: 'application/json', headers: { 'retry-after': '6' }, body: JSON.stringify(body) });
      });
      await pick(page, 'bakery');
      for (const [status, body, key] of answers) {
        await say(page, 'Are you open on Sunday?');
        await page.locator('#chat-error').waitFor({ state: 'visible' });
        const shown = await page.textContent('#chat-error');
        assert.equal(shown, await pageString(page, key), `${status}`);
        assert.doesNotMatch(shown, /[{}"]|CONCIERGE_/, `${status}: no JSON, no internals`);
        if (body) assert.ok(!shown.includes(body.error), `${status}: not the server's text`);
        assert.equal(await page.inputValue('#chat-input'), 'Are you open on Sunday?', `${status}: the message is kept to retry`);
        assert.equal(await messages(page), 1, `${status}: the failed message left the log`);
        assert.equal(await visible(page, '#chat-typing'), false);
      }
      // And a turn that works clears the error.
      await page.unroute('**/demo/chat');
      await page.press('#chat-input', 'Enter');
      assert.equal(await reply(page, 2), MODEL_REPLY);
      assert.equal(await visible(page, '#chat-error'), false);
    }));

    test('at 375 px wide nothing scrolls sideways, picker or chat', withPage({ width: 375, height: 740 }, async ({ page }) => {
      assert.ok(await noHorizontalScroll(page), 'the picker');
      await pick(page, 'concierge');
      await page.click('#chat-prompt summary');
      await say(page, `What does it cost? ${'x'.repeat(300)} ${HANDOFF_TRIGGER}`);
      await page.locator('#chat-handoff').waitFor({ state: 'visible' });
      assert.ok(await noHorizontalScroll(page), 'the chat, with a long unbroken word, the prompt and the notice');
      const box = await page.locator('#demo-chat').boundingBox();
      assert.ok(box.x >= 0 && box.x + box.width <= 375, `the dialog fits: ${JSON.stringify(box)}`);
    }));

    if (screenshotsDir && target === targets[0]) {
      test('screenshots of every state at 1280 and 375 px', async () => {
        await Promise.all([[1280, 800], [375, 740]].map(([width, height]) =>
          withPage({ width, height, beforeLoad: showEnglishStrings }, async ({ page }) => {
            const shot = (state, fullPage = false) =>
              page.screenshot({ path: path.join(screenshotsDir, `demo-${state}-${width}.png`), fullPage, animations: 'disabled' });
            await shot('picker', true);
            await pick(page, 'bakery');
            let release;
            const held = new Promise((r) => (release = r));
            await page.route('**/demo/chat', async (route) => {
              await held;
              await route.continue();
            });
            await say(page, 'Do you have eggless cakes?');
            await page.locator('#chat-typing').waitFor({ state: 'visible' });
            await shot('typing');
            release();
            await reply(page, 2);
            await page.unroute('**/demo/chat');
            await shot('chat');
            await page.click('#chat-prompt summary');
            await shot('prompt');
            await page.click('#chat-prompt summary');
            await say(page, `The cake was wrong, I want to ${HANDOFF_TRIGGER}.`);
            await page.locator('#chat-handoff').waitFor({ state: 'visible' });
            await shot('handoff');
            await page.route('**/demo/chat', (route) =>
              route.fulfill({ status: 429, contentType: 'application/json', body: '{"error":"too many demo messages"}' }));
            await say(page, 'Hello?');
            await page.locator('#chat-error').waitFor({ state: 'visible' });
            await shot('rate-limited');
          })()));
      });
    }
  });
}
