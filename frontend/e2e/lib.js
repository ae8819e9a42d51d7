// Shared by the end-to-end tests: the running servers, Chromium, and playing the game like a person.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { layout } from '../asset-version.mjs';

export const FRONTEND = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PUBLIC = join(FRONTEND, 'public');
/**
 * The page as the nginx image serves it (frontend/asset-version.mjs, the image's layout step), laid out from
 * the committed files: the server, which computes its layout itself, must serve exactly these bytes.
 */
const servedRoot = mkdtempSync(join(tmpdir(), 'hmg-e2e-'));
process.on('exit', () => rmSync(servedRoot, { recursive: true, force: true }));
export const SERVED = join(servedRoot, 'html');
export const { version: VERSION } = layout(PUBLIC, SERVED);

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: the e2e tests need the real server (run .ci/steps/20-web.sh, which starts it)`);
  }
  return value.replace(/\/$/, '');
}

export const BASE_URL = required('BASE_URL');
export const ARTIFACTS = process.env.ARTIFACTS || join(FRONTEND, '..', 'artifacts');
export const SCREENSHOTS = join(ARTIFACTS, 'screenshots');
mkdirSync(SCREENSHOTS, { recursive: true });

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: CHROMIUM_ARGS,
    chromiumSandbox: false,
  });
}

export const DESKTOP = { viewport: { width: 1280, height: 800 } };
export const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
// A 1280x740 screen at 200% zoom is a 640x370 CSS-pixel viewport.
export const ZOOM_200 = { viewport: { width: 640, height: 370 }, deviceScaleFactor: 2 };

/**
 * A fresh browser context (its own localStorage, like another device) and a page that records console
 * errors, uncaught exceptions and any request to another origin.
 */
export async function openPage(browser, options = {}, base = BASE_URL) {
  const context = await browser.newContext({ ...options });
  const page = await context.newPage();
  const problems = { console: [], pageErrors: [], foreign: [] };
  const origin = new URL(base).origin;
  page.on('console', (m) => { if (m.type() === 'error') problems.console.push(m.text()); });
  page.on('pageerror', (e) => problems.pageErrors.push(String(e)));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith('data:') && new URL(url).origin !== origin) problems.foreign.push(url);
  });
  return { context, page, problems };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Runs axe-core in the page; returns the violations (all impacts). */
export async function axe(page) {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern (no inline script needed).
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(axeSource);
  const { violations, passes } = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      passes: r.passes.length,
      violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5) })),
    };
  });
  // An audit that checked nothing must not pass as clean.
  if (passes < 10) throw new Error(`axe-core ran only ${passes} passing rules: did it run at all?`);
  return violations;
}

export async function screenshot(page, name) {
  const path = join(SCREENSHOTS, `${name}.png`);
  // Let card flips finish, so the picture shows what a person sees once the card has turned.
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'));
  await page.screenshot({ path, fullPage: false, animations: 'disabled' });
  return path;
}

/** Horizontal overflow of the page in CSS pixels (0 when nothing scrolls sideways). */
export function horizontalOverflow(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

export function board(page) {
  return page.getByRole('group', { name: /^Cards,/ });
}

export function card(page, position) {
  return board(page).getByRole('button', { name: new RegExp(`^card ${position + 1},`) });
}

export async function cardLabels(page) {
  return board(page).getByRole('button').evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
}

const FACE_RE = /^card \d+, (.+), (face up|matched)$/;

/** Waits until card `position` shows a face and returns the face's name, read from its accessible name. */
export async function faceOf(page, position) {
  const shown = board(page).getByRole('button', { name: new RegExp(`^card ${position + 1}, (?!face down)`) });
  await shown.waitFor({ timeout: 5000 });
  const label = await shown.getAttribute('aria-label');
  const m = FACE_RE.exec(label);
  if (!m) throw new Error(`card ${position + 1} has no face in its label: ${label}`);
  return m[1];
}

export function waitForFlip(page) {
  return page.waitForResponse((r) => r.request().method() === 'POST' && /\/api\/game\/[^/]+\/flip$/.test(r.url()));
}

/**
 * Plays the way a person does: turn over unknown cards, remember every face seen, and turn over a pair as
 * soon as both of its places are known. `flipAt(position)` turns one card over (by mouse, touch or keyboard)
 * and returns {name, response}. `play(pairs)` goes on until that many pairs are found (all by default);
 * `flipOne()` leaves one unknown card face up. `responses` holds the flip responses in order.
 */
export function player(count, flipAt) {
  const known = new Map();
  const matched = new Set();
  const responses = [];
  let open = null; // a card turned over on its own, waiting for the second of its move
  const flip = async (p) => {
    const r = await flipAt(p);
    responses.push(r.response);
    known.set(p, r.name);
    return r.name;
  };
  const unknown = () => [...Array(count).keys()].filter((p) => !known.has(p) && !matched.has(p));
  const knownPair = () => {
    const byName = new Map();
    for (const [p, n] of known) {
      if (matched.has(p)) continue;
      if (byName.has(n)) return [byName.get(n), p];
      byName.set(n, p);
    }
    return null;
  };
  return {
    responses,
    async play(pairs = count / 2) {
      for (let guard = 0; matched.size < pairs * 2; guard += 1) {
        if (guard > count * 2) throw new Error('the game did not finish: more attempts than a person would need');
        if (open === null) {
          const pair = knownPair();
          if (pair) {
            await flip(pair[0]);
            await flip(pair[1]);
            pair.forEach((p) => matched.add(p));
            continue;
          }
          await this.flipOne();
        }
        const [a, nameA] = [open, known.get(open)];
        const partner = [...known].find(([p, n]) => p !== a && n === nameA && !matched.has(p));
        const b = partner ? partner[0] : unknown()[0];
        if ((await flip(b)) === nameA) {
          matched.add(a);
          matched.add(b);
        }
        open = null;
      }
    },
    async flipOne() {
      open = unknown()[0];
      await flip(open);
    },
  };
}

/** Plays a whole game (see `player`); returns the flip responses in order. */
export async function playWholeGame(count, flipAt) {
  const p = player(count, flipAt);
  await p.play();
  return p.responses;
}

/** Turns a card over with a click (or a tap on a touch device) and waits for the server's answer. */
export function pointerFlipper(page, { touch = false } = {}) {
  return async (position) => {
    const target = card(page, position);
    const [response] = await Promise.all([waitForFlip(page), touch ? target.tap() : target.click()]);
    return { name: await faceOf(page, position), response: await response.json() };
  };
}

/** Turns a card over with the keyboard only: arrow keys to it, then Enter or Space. */
export function keyboardFlipper(page, columns) {
  let cursor = 0;
  let presses = 0;
  return async (position) => {
    const dRow = Math.floor(position / columns) - Math.floor(cursor / columns);
    const dCol = (position % columns) - (cursor % columns);
    for (let i = 0; i < Math.abs(dRow); i += 1) await page.keyboard.press(dRow > 0 ? 'ArrowDown' : 'ArrowUp');
    for (let i = 0; i < Math.abs(dCol); i += 1) await page.keyboard.press(dCol > 0 ? 'ArrowRight' : 'ArrowLeft');
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? '');
    if (!focused.startsWith(`card ${position + 1},`)) {
      throw new Error(`arrow keys should have moved focus to card ${position + 1}, focus is on "${focused}"`);
    }
    cursor = position;
    presses += 1;
    const key = presses % 2 === 0 ? 'Space' : 'Enter';
    const [response] = await Promise.all([waitForFlip(page), page.keyboard.press(key)]);
    return { name: await faceOf(page, position), response: await response.json() };
  };
}

export async function storedToken(page, username) {
  return page.evaluate((name) => {
    const data = JSON.parse(localStorage.getItem('hmg.players.v1') ?? '{}');
    return data.players?.[name.toLowerCase()]?.token ?? null;
  }, username);
}
