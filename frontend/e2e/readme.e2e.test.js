// The README's pictures of the game, taken from the real server: a game in progress and the result dialog.
// They go to artifacts/screenshots/ with a record of the page they show (readme.json); with
// UPDATE_SCREENSHOTS=1, .ci/steps/20-web.sh compresses them into docs/images/, and
// `node scripts/frontend-version.mjs --check` fails once the page changes without a refresh.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pageIdentity } from '../../scripts/frontend-version.mjs';
import {
  BASE_URL, PUBLIC, SCREENSHOTS, VERSION, board, cardLabels, launch, openPage, player, pointerFlipper, screenshot,
} from './lib.js';

// Small enough for a README, wide enough for the desktop layout.
const README = { viewport: { width: 960, height: 640 }, deviceScaleFactor: 1 };

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

test('README screenshots: a game in progress and the result dialog', async () => {
  const { context, page, problems } = await openPage(browser, README);
  const response = await page.goto(BASE_URL + '/');
  const html = await response.text();
  const versions = [...new Set([...html.matchAll(/"\/static\/([^/"]+)\//g)].map((m) => m[1]))];
  assert.deepEqual(versions, [VERSION], 'the server serves the assets of the committed page');

  await page.getByLabel('Player name').fill('Ada');
  await page.getByRole('radio', { name: /^Easy/ }).check();
  await page.getByRole('button', { name: 'Start game' }).click();
  await board(page).waitFor();
  const game = player(16, pointerFlipper(page));
  await game.play(3);
  await game.flipOne();
  const labels = await cardLabels(page);
  assert.equal(labels.filter((l) => l.endsWith(', matched')).length, 6, 'three pairs found');
  assert.equal(labels.filter((l) => l.endsWith(', face up')).length, 1, 'one card waits for its partner');
  await screenshot(page, 'readme-game');

  await game.play();
  const dialog = page.getByRole('dialog', { name: /Game complete/ });
  await dialog.getByText(/^\d+ points$/).waitFor();
  await dialog.getByText(/You are #\d+ of \d+ on the all-time Easy board/).waitFor();
  await screenshot(page, 'readme-result');
  assert.deepEqual([...problems.pageErrors, ...problems.console, ...problems.foreign], []);
  await context.close();

  writeFileSync(join(SCREENSHOTS, 'readme.json'),
    `${JSON.stringify({ ...pageIdentity(PUBLIC), viewport: README.viewport }, null, 2)}\n`);
});
