// scripts/frontend-version.mjs: what depends on the asset version is in sync (index.html's references, the
// README's screenshots), and the screenshot refresh records the page it shows.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import {
  REFRESH_COMMAND, SCREENSHOTS, indexProblems, pageIdentity, screenshotProblems, updateScreenshots,
} from '../../scripts/frontend-version.mjs';
import { FRONTEND, PUBLIC, tempDir } from './helpers.js';

const SCRIPT = join(FRONTEND, '..', 'scripts', 'frontend-version.mjs');

function run(...args) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** A copy of the committed public/ folder to edit. */
function publicCopy() {
  const dir = join(tempDir(), 'public');
  cpSync(PUBLIC, dir, { recursive: true });
  return dir;
}

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k += 1) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A real PNG of w x h pixels in a few colours, as a browser screenshot is (RGB, 8 bits). */
function png(w, h) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(8 + data.length + 4);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < h; y += 1) {
    const row = Buffer.alloc(1 + 3 * w);
    for (let x = 0; x < w; x += 1) row.set(x < w / 2 ? [240, 200, 40] : [30, 60, 200 - (y % 7)], 1 + 3 * x);
    rows.push(row);
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** What the e2e run leaves: the README screenshots and its record of the page it was served. */
function e2eShots(publicDir, page = pageIdentity(publicDir)) {
  const dir = tempDir();
  for (const name of SCREENSHOTS) writeFileSync(join(dir, `readme-${name}`), png(120, 80));
  writeFileSync(join(dir, 'readme.json'), JSON.stringify({ ...page, viewport: { width: 960, height: 640 } }));
  return dir;
}

test('printing gives the version the server and the image serve', () => {
  const r = run('--public', publicCopy());
  assert.equal(r.code, 0, r.out);
  assert.equal(r.out.trim(), pageIdentity(PUBLIC).assetVersion);
});

test('index.html naming a versioned path fails, with the fixed path to use instead', () => {
  const dir = publicCopy();
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  writeFileSync(join(dir, 'index.html'), html.replace('"/static/js/main.js"', '"/static/0123456789/js/main.js"'));
  assert.deepEqual(indexProblems(dir),
    ['index.html names /static/0123456789/js/main.js: name the fixed path /static/js/main.js (the version is added when served)']);
});

test('index.html naming a file that does not exist, or a reference the versioning would miss, fails', () => {
  const dir = publicCopy();
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  writeFileSync(join(dir, 'index.html'), html
    .replace('"/static/js/api.js"', '"/static/js/apy.js"')
    .replace('href="/static/css/app.css"', "href='/static/css/app.css'"));
  const problems = indexProblems(dir);
  assert.equal(problems.length, 2, problems.join('\n'));
  assert.match(problems[0], /\/static\/css\/app\.css is not a double-quoted attribute value/);
  assert.match(problems[1], /names \/static\/js\/apy\.js, which is not a file/);
});

test('refreshing the screenshots compresses them and records the page they show; the check then passes', () => {
  const dir = publicCopy();
  const images = tempDir();
  const stamp = updateScreenshots(dir, images, e2eShots(dir));
  assert.equal(stamp.assetVersion, pageIdentity(dir).assetVersion);
  assert.equal(stamp.refresh, REFRESH_COMMAND);
  assert.deepEqual(Object.keys(stamp.images), SCREENSHOTS);
  for (const name of SCREENSHOTS) {
    const bytes = readFileSync(join(images, name));
    assert.ok(bytes.subarray(1, 4).equals(Buffer.from('PNG')), `${name} is a PNG`);
  }
  assert.deepEqual(screenshotProblems(dir, images), []);
  const r = run('--check', '--public', dir, '--images', images);
  assert.equal(r.code, 0, r.out);
});

test('screenshots older than an asset fail the check, which names the refresh command', () => {
  const dir = publicCopy();
  const images = tempDir();
  updateScreenshots(dir, images, e2eShots(dir));
  const css = join(dir, 'static', 'css', 'app.css');
  writeFileSync(css, `${readFileSync(css, 'utf8')}\n.new-rule { color: red; }\n`);
  const r = run('--check', '--public', dir, '--images', images);
  assert.equal(r.code, 1);
  assert.match(r.out, /out of sync: the screenshots show assets [0-9a-f]{10}, the page now has [0-9a-f]{10}/);
  assert.ok(r.out.includes(`refresh the screenshots: ${REFRESH_COMMAND}`), r.out);
});

test('screenshots taken with another index.html fail the check', () => {
  const dir = publicCopy();
  const images = tempDir();
  updateScreenshots(dir, images, e2eShots(dir));
  writeFileSync(join(dir, 'index.html'), readFileSync(join(dir, 'index.html'), 'utf8').replace('Humor Memory Game</title>', 'Other</title>'));
  assert.deepEqual(screenshotProblems(dir, images), ['the screenshots were taken with another index.html']);
});

test('an image replaced without a refresh, a missing one and an oversized one fail the check', () => {
  const dir = publicCopy();
  const images = tempDir();
  updateScreenshots(dir, images, e2eShots(dir));
  writeFileSync(join(images, 'game.png'), png(30, 30));
  rmSync(join(images, 'result.png'));
  assert.deepEqual(screenshotProblems(dir, images), ['game.png is not the image screenshots.json records', 'result.png is missing']);
  writeFileSync(join(images, 'result.png'), Buffer.alloc(151 * 1024));
  assert.ok(screenshotProblems(dir, images).includes(`result.png is ${151 * 1024} bytes (at most ${150 * 1024})`));
});

test('a refresh from screenshots of another page is refused', () => {
  const dir = publicCopy();
  const stale = e2eShots(dir, { ...pageIdentity(dir), assetVersion: '0000000000' });
  assert.throws(() => updateScreenshots(dir, tempDir(), stale), /show another page \(0000000000\)/);
});

test('bad arguments are refused with the usage', () => {
  const r = run('--frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.out, /usage:/);
});
