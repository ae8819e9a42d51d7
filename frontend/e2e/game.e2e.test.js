// The web game in headless Chromium against the real Rust server with a fresh database.
// Started by .ci/steps/20-web.sh, which runs the server(s) and passes BASE_URL (and LIMITED_URL, a second
// server with a tiny rate limit).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  BASE_URL, DESKTOP, PHONE, ZOOM_200, axe, board, card, cardLabels, faceOf, horizontalOverflow, keyboardFlipper,
  launch, openPage, playWholeGame, pointerFlipper, screenshot, storedToken,
} from './lib.js';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

function assertClean(problems, where) {
  assert.deepEqual(problems.pageErrors, [], `${where}: uncaught errors`);
  assert.deepEqual(problems.console, [], `${where}: console errors`);
  assert.deepEqual(problems.foreign, [], `${where}: requests to another origin`);
}

async function assertAccessible(page, where) {
  const violations = await axe(page);
  for (const v of violations) console.log(`axe ${where}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(', ')}`);
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${where}: serious or critical accessibility violations`);
}

/** The navigation's DOMContentLoaded and the versioned assets it loaded (any served from a cache listed). */
async function loadTimes(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const assets = performance.getEntriesByType('resource').filter((r) => r.name.includes('/static/'));
    return {
      dcl: Math.round(nav.domContentLoadedEventEnd - nav.startTime),
      assets: assets.length,
      cached: assets.filter((r) => r.transferSize === 0).map((r) => r.name),
    };
  });
}

async function startGame(page, username, difficulty = 'Easy') {
  await page.getByLabel('Player name').fill(username);
  await page.getByRole('radio', { name: new RegExp(`^${difficulty}`) }).check();
  await page.getByRole('button', { name: 'Start game' }).click();
  await board(page).waitFor();
}

async function readDialogScore(page) {
  const dialog = page.getByRole('dialog', { name: /Game complete/ });
  await dialog.waitFor();
  const text = await dialog.getByText(/^\d+ points$/).textContent();
  return { dialog, score: Number(text.replace(/\D+/g, '')) };
}

const played = {};

describe('the web game against the real server', () => {
  test('the page loads fast, with the header policy, and DOMContentLoaded is measured', async () => {
    // A fresh context first: the load a new visitor gets, including the browser starting a renderer for
    // the site. That start is the browser's cost, not the page's, and swings with the machine's load
    // (110-310 ms on 2 cores), so it is printed, not asserted.
    const { context, page, problems } = await openPage(browser, DESKTOP);
    const response = await page.goto(BASE_URL + '/');
    assert.equal(response.status(), 200);
    const headers = response.headers();
    assert.match(headers['content-security-policy'], /script-src 'self'/);
    assert.equal(headers['cache-control'], 'no-cache');
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();
    console.log(`DOMContentLoaded in a fresh browser context: ${(await loadTimes(page)).dcl} ms`);

    // Then the page's own cost: reloads with the HTTP cache disabled, so the HTML, the stylesheet and
    // every module come over loopback again and are compiled afresh on each load.
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    const figures = [];
    for (let i = 0; i < 5; i += 1) {
      await page.reload({ waitUntil: 'load' });
      await page.getByRole('radio', { name: /^Easy/ }).waitFor();
      const t = await loadTimes(page);
      assert.deepEqual(t.cached, [], 'a cold load fetched every asset from the server');
      assert.ok(t.assets >= 5, `the stylesheet and the four modules were loaded: ${t.assets}`);
      figures.push(t.dcl);
    }
    assertClean(problems, 'first load');
    await screenshot(page, 'desktop-setup');
    await assertAccessible(page, 'setup');
    await context.close();
    const median = [...figures].sort((a, b) => a - b)[2];
    console.log(`DOMContentLoaded on loopback, cold cache: median ${median} ms of ${figures.join(', ')} ms`);
    assert.ok(median < 300, `DOMContentLoaded median ${median} ms`);
  });

  test('a whole easy game with the mouse: the dialog shows the server\'s score, the leaderboard the player', async () => {
    const { context, page, problems } = await openPage(browser, DESKTOP);
    await page.goto(BASE_URL + '/');
    await startGame(page, 'mouse_player');
    const labels = await cardLabels(page);
    assert.equal(labels.length, 16);
    assert.ok(labels.every((l, i) => l === `card ${i + 1}, face down`), 'no face is shown before a flip');
    const boardText = await board(page).textContent();
    assert.match(boardText, /^[\d\s]*$/, 'the board holds no face names or emoji before a flip');
    assert.equal(await page.getByRole('button', { name: /^card 1,/ }).evaluate((e) => e === document.activeElement), true,
      'focus starts on the first card');

    const flipAt = pointerFlipper(page);
    let checkedMidGame = false;
    const responses = await playWholeGame(16, async (p) => {
      const r = await flipAt(p);
      if (r.response.outcome && !checkedMidGame) {
        checkedMidGame = true;
        // The funny message arrives in the polite live region, exactly as the server wrote it.
        const status = page.getByRole('status').filter({ hasText: r.response.outcome.message });
        await status.first().waitFor();
        const shownTime = await page.locator('#info-time').textContent();
        const [m, s] = shownTime.split(':').map(Number);
        const diff = Math.abs((m * 60 + s) * 1000 - r.response.game.remainingMs);
        assert.ok(diff <= 2000, `time left ${shownTime} vs server ${r.response.game.remainingMs} ms`);
        await screenshot(page, 'desktop-game');
        await assertAccessible(page, 'board');
        // Pause: the server hides every unmatched face and stops the clock.
        await page.getByRole('button', { name: /^Pause/ }).click();
        await page.getByText(/Paused\. The clock is stopped and the faces are hidden/).waitFor();
        const pausedLabels = await cardLabels(page);
        assert.ok(pausedLabels.every((l) => /face down|matched/.test(l)), 'faces hidden while paused');
        const t1 = await page.locator('#info-time').textContent();
        await page.waitForTimeout(1300);
        assert.equal(await page.locator('#info-time').textContent(), t1, 'the clock stands still while paused');
        await page.getByRole('button', { name: 'Resume' }).click();
        await page.getByRole('button', { name: 'Pause (2 left)' }).waitFor();
      }
      return r;
    });
    const last = responses.at(-1);
    assert.ok(last.result, 'the last flip carries the result');
    const { dialog, score } = await readDialogScore(page);
    assert.equal(score, last.result.finalScore, 'the dialog shows the server\'s final score');
    await dialog.getByText(last.result.performance.level).first().waitFor();
    await dialog.getByText(/You are #\d+ of \d+ on the all-time Easy board/).waitFor();

    // Read the stored result independently: same score, and the token in localStorage owns the game.
    const token = await storedToken(page, 'mouse_player');
    assert.match(token ?? '', /\S{10,}/, 'the player token is remembered on this device');
    const stored = await page.request.get(`${BASE_URL}/api/game/${last.game.gameId}`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal((await stored.json()).result.finalScore, score);
    played.mouse = { score, gameId: last.game.gameId };

    await screenshot(page, 'desktop-complete');
    await assertAccessible(page, 'completion dialog');
    await dialog.getByRole('button', { name: 'See leaderboard' }).click();
    const mine = page.getByRole('row', { name: /mouse_player \(you\)/ });
    await mine.waitFor();
    assert.match(await mine.getAttribute('class'), /is-me/, 'the player\'s own row is highlighted');
    assert.match(await mine.textContent(), new RegExp(`${score}`));
    await screenshot(page, 'desktop-leaderboard');
    await assertAccessible(page, 'leaderboard');

    await page.getByRole('link', { name: 'My stats' }).click();
    await page.getByText('mouse_player, here is how you are doing.').waitFor();
    await page.getByRole('cell', { name: 'Completed' }).first().waitFor();
    const best = page.getByRole('definition').filter({ hasText: String(score) });
    assert.ok(await best.count() > 0, 'my stats show the best score');
    await screenshot(page, 'desktop-stats');
    await assertAccessible(page, 'my stats');
    await page.getByRole('link', { name: 'About' }).click();
    await page.getByRole('heading', { name: 'How to play' }).waitFor();
    await page.getByRole('cell', { name: '314' }).waitFor();
    await screenshot(page, 'desktop-about');
    await assertAccessible(page, 'about');
    assertClean(problems, 'mouse game');
    await context.close();
  });

  test('a whole easy game with the keyboard only', async () => {
    const { context, page, problems } = await openPage(browser, DESKTOP);
    await page.goto(BASE_URL + '/');
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();
    // Tab to the name field, type, and press Enter: no mouse anywhere.
    for (let i = 0; i < 12; i += 1) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.id === 'username')) break;
    }
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username', 'Tab reaches the name field');
    await page.keyboard.type('kb_player');
    await page.keyboard.press('Enter');
    await board(page).waitFor();
    await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'card 1, face down');
    const responses = await playWholeGame(16, keyboardFlipper(page, 4));
    const last = responses.at(-1);
    const { dialog, score } = await readDialogScore(page);
    assert.equal(score, last.result.finalScore);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'result-title', 'focus moves to the dialog title');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Play again');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('row', { name: /kb_player \(you\)/ }).waitFor();
    assert.equal(await dialog.isVisible(), false);
    assertClean(problems, 'keyboard game');
    await context.close();
  });

  test('today\'s challenge: played once, on its own board', async () => {
    const { context, page, problems } = await openPage(browser, DESKTOP);
    await page.goto(BASE_URL + '/');
    await page.getByLabel('Player name').fill('daily_player');
    const challenge = await (await page.request.get(`${BASE_URL}/api/game/daily-challenge`)).json();
    await page.getByRole('button', { name: "Play today's challenge" }).click();
    await page.getByRole('heading', { name: new RegExp(`^Daily challenge ${challenge.challenge.date}`) }).waitFor();
    const count = challenge.challenge.totalPairs * 2;
    assert.equal((await cardLabels(page)).length, count);
    const responses = await playWholeGame(count, pointerFlipper(page));
    const { dialog, score } = await readDialogScore(page);
    assert.equal(score, responses.at(-1).result.finalScore);
    await dialog.getByText(/on the daily challenge board/).waitFor();
    await dialog.getByRole('button', { name: 'See leaderboard' }).click();
    assert.equal(await page.getByLabel('Board', { exact: true }).inputValue(), 'daily');
    await page.getByRole('row', { name: /daily_player \(you\)/ }).waitFor();
    await page.getByRole('link', { name: 'Play' }).click();
    const played = page.getByRole('button', { name: /played today's challenge/ });
    await played.waitFor();
    assert.equal(await played.isDisabled(), true, 'one try per day');
    assertClean(problems, 'daily challenge');
    await context.close();
  });

  test('a flip whose answer was lost is retried with the same Idempotency-Key and counted once', async () => {
    const { context, page, problems } = await openPage(browser, DESKTOP);
    await page.goto(BASE_URL + '/');
    await startGame(page, 'retry_player');
    // The first flip reaches the real server, which does it; the browser then loses the answer.
    let firstKey = null;
    await page.route('**/api/game/*/flip', async (route) => {
      firstKey = route.request().headers()['idempotency-key'];
      await route.fetch();
      await route.abort('connectionreset');
    }, { times: 1 });
    const replay = page.waitForResponse((r) => /\/flip$/.test(r.url()) && r.status() === 200);
    await card(page, 0).click();
    const retried = await replay;
    assert.match(firstKey ?? '', /^web-[0-9a-f]{32}$/);
    assert.equal(retried.request().headers()['idempotency-key'], firstKey, 'the retry sends the same key');
    assert.equal(retried.headers()['idempotent-replayed'], 'true', 'the server answered from its stored response');
    const name = await faceOf(page, 0);
    assert.ok(name.length > 0);
    const r2 = await pointerFlipper(page)(1);
    assert.equal(r2.response.game.moves, 1, 'two flips, one move: the lost-and-retried flip counted once');
    assert.equal(await page.getByRole('alert').isVisible(), false, 'the player never saw an error');
    // The aborted attempt is a network log line, not a page error; nothing else may appear.
    assert.deepEqual(problems.pageErrors, []);
    assert.ok(problems.console.every((m) => /Failed to load resource|ERR_CONNECTION_RESET/.test(m)), problems.console.join('\n'));
    await context.close();
  });

  test('another device cannot take a claimed name without its token', async () => {
    const { context, page } = await openPage(browser, DESKTOP);
    await page.goto(BASE_URL + '/');
    await page.getByLabel('Player name').fill('Mouse_Player');
    await page.getByRole('button', { name: 'Start game' }).click();
    const alert = page.getByRole('alert');
    await alert.getByText('That name is taken').waitFor();
    await alert.getByText(/“Mouse_Player” already belongs to another player\. Pick a different name/).waitFor();
    assert.equal(await board(page).count(), 0, 'no game was started');
    assert.equal(await storedToken(page, 'mouse_player'), null);
    await alert.getByRole('button', { name: 'Choose another name' }).click();
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username', 'focus goes to the name field');
    await context.close();
  });

  test('phone: expert fits without horizontal scrolling, and a whole game by touch', async () => {
    const { context, page, problems } = await openPage(browser, PHONE);
    await page.goto(BASE_URL + '/');
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();
    assert.equal(await horizontalOverflow(page), 0, 'setup');
    await screenshot(page, 'phone-setup');
    await startGame(page, 'phone_player', 'Expert');
    assert.equal((await cardLabels(page)).length, 30);
    assert.equal(await horizontalOverflow(page), 0, 'expert board');
    const boxes = await board(page).getByRole('button').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().right));
    assert.ok(Math.max(...boxes) <= 360, 'every expert card is inside the 360 px width');
    const tap = pointerFlipper(page, { touch: true });
    await tap(0);
    await tap(1);
    await screenshot(page, 'phone-game');
    await assertAccessible(page, 'phone expert board');
    await page.getByRole('button', { name: 'Quit' }).click();
    await page.getByRole('button', { name: 'Start game' }).waitFor();
    await startGame(page, 'phone_player', 'Easy');
    await playWholeGame(16, tap);
    await readDialogScore(page);
    assert.equal(await horizontalOverflow(page), 0, 'dialog');
    await screenshot(page, 'phone-complete');
    await page.getByRole('button', { name: 'See leaderboard' }).tap();
    await page.getByRole('row', { name: /phone_player \(you\)/ }).waitFor();
    assert.equal(await horizontalOverflow(page), 0, 'leaderboard');
    await screenshot(page, 'phone-leaderboard');
    for (const [link, heading] of [['My stats', 'My stats'], ['About', 'About the game']]) {
      await page.getByRole('link', { name: link }).tap();
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.waitForTimeout(200);
      assert.equal(await horizontalOverflow(page), 0, link);
    }
    await screenshot(page, 'phone-about');
    assertClean(problems, 'phone');
    await context.close();
  });

  test('200% zoom (640x370): nothing scrolls sideways and every control is reachable', async () => {
    const { context, page, problems } = await openPage(browser, ZOOM_200);
    await page.goto(BASE_URL + '/');
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();

    async function checkReachable(where) {
      assert.equal(await horizontalOverflow(page), 0, `${where}: horizontal overflow`);
      const controls = page.locator('button:visible, a[href]:visible, input:visible, select:visible');
      const n = await controls.count();
      assert.ok(n > 0, where);
      for (let i = 0; i < n; i += 1) {
        const c = controls.nth(i);
        // Focus scrolls a control into view the way Tab does (the skip link only appears when focused).
        await c.focus();
        await c.scrollIntoViewIfNeeded();
        const ok = await c.evaluate((e) => {
          const r = e.getBoundingClientRect();
          const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
          const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
          const hit = document.elementFromPoint(x, y);
          const target = e.tagName === 'INPUT' && e.labels?.[0] ? [e, e.labels[0]] : [e];
          return r.left >= 0 && r.right <= innerWidth + 0.5 && target.some((t) => t === hit || t.contains(hit));
        });
        assert.ok(ok, `${where}: control ${i} (${await c.evaluate((e) => e.outerHTML.slice(0, 80))}) is reachable`);
      }
    }

    await checkReachable('setup');
    await startGame(page, 'zoom_player', 'Expert');
    await checkReachable('expert game');
    await screenshot(page, 'zoom200-game');
    for (const hash of ['#leaderboard', '#stats', '#about']) {
      await page.getByRole('link', { name: { '#leaderboard': 'Leaderboard', '#stats': 'My stats', '#about': 'About' }[hash] }).click();
      await page.waitForFunction((h) => location.hash === h, hash);
      await checkReachable(hash);
    }
    assertClean(problems, 'zoom');
    await context.close();
  });

  test('reduced motion turns the flip animation off; more contrast changes the palette', async () => {
    const normal = await openPage(browser, DESKTOP);
    const reduced = await openPage(browser, { ...DESKTOP, reducedMotion: 'reduce', contrast: 'more' });
    const read = async ({ page }) => {
      await page.goto(BASE_URL + '/');
      await page.getByRole('radio', { name: /^Easy/ }).waitFor();
      return page.evaluate(() => {
        const probe = document.createElement('span');
        probe.className = 'card-inner';
        document.body.append(probe);
        const duration = getComputedStyle(probe).transitionDuration;
        probe.remove();
        return { duration, background: getComputedStyle(document.body).backgroundImage };
      });
    };
    const a = await read(normal);
    const b = await read(reduced);
    assert.notEqual(a.duration, '0s');
    assert.equal(b.duration, '0s');
    assert.notEqual(a.background, b.background);
    await normal.context.close();
    await reduced.context.close();
  });

  test('server unreachable: the error says so and Try again recovers', async () => {
    const { context, page } = await openPage(browser, DESKTOP);
    await page.route('**/api/game/config', (route) => route.abort('connectionrefused'));
    await page.goto(BASE_URL + '/');
    const alert = page.getByRole('alert');
    await alert.getByText("Can't reach the game server").waitFor();
    await page.unroute('**/api/game/config');
    await alert.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();
    assert.equal(await alert.isVisible(), false);
    await context.close();
  });

  test('rate limited: the error says when to try again and the button waits', async (t) => {
    const limited = process.env.LIMITED_URL;
    assert.ok(limited, 'LIMITED_URL (a server with a tiny rate limit) must be set');
    const { context, page } = await openPage(browser, DESKTOP, limited);
    await page.goto(limited + '/');
    await page.getByRole('radio', { name: /^Easy/ }).waitFor();
    await page.getByLabel('Player name').fill('busy_player');
    const alert = page.getByRole('alert');
    // Start, then New game (abandon + start) until the server's limit answers 429.
    for (let i = 0; i < 8 && !(await alert.isVisible()); i += 1) {
      const onBoard = await board(page).isVisible();
      await page.getByRole('button', { name: onBoard ? 'New game' : 'Start game' }).click();
      await page.waitForTimeout(300);
    }
    await alert.getByText('Whoa, slow down!').waitFor();
    const text = await alert.getByText(/Try again in \d+ seconds/).textContent();
    t.diagnostic(text);
    const retry = alert.getByRole('button', { name: /^Try again in \d+ s$/ });
    assert.equal(await retry.isDisabled(), true, 'the button waits for the server\'s Retry-After');
    await context.close();
  });
});
