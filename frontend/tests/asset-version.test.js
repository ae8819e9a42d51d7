// frontend/asset-version.mjs: the content hash of the assets and the layout the nginx image serves.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { assetVersion, layout, pageFiles, versionedIndex } from '../asset-version.mjs';
import { FRONTEND, PUBLIC, tempDir } from './helpers.js';

const SCRIPT = join(FRONTEND, 'asset-version.mjs');

/** A small public/ folder: index.html, a root file, two modules and a stylesheet. */
function fixture() {
  const root = tempDir();
  const files = {
    'index.html': '<link rel="stylesheet" href="/static/css/app.css">\n<script type="module" src="/static/js/main.js"></script>\n<p>/static/ in text stays</p>\n',
    'favicon.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    'static/js/main.js': 'import "./game.js";\n',
    'static/js/game.js': 'export const x = 1;\n',
    'static/css/app.css': 'body { color: black; }\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  }
  return root;
}

function run(...args) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('the version is 10 hex digits and follows every byte of every asset', () => {
  const root = fixture();
  const before = assetVersion(root);
  assert.match(before, /^[0-9a-f]{10}$/);
  assert.equal(assetVersion(root), before, 'the same files give the same version');
  writeFileSync(join(root, 'static', 'js', 'game.js'), 'export const x = 2;\n');
  assert.notEqual(assetVersion(root), before);
});

test('the version covers file names, not only contents', () => {
  const a = fixture();
  const b = fixture();
  rmSync(join(b, 'static', 'js', 'game.js'));
  writeFileSync(join(b, 'static', 'js', 'other.js'), 'export const x = 1;\n');
  assert.notEqual(assetVersion(a), assetVersion(b));
});

test('index.html and root files are not part of the version: index.html names it', () => {
  const root = fixture();
  const before = assetVersion(root);
  writeFileSync(join(root, 'index.html'), '<script type="module" src="/static/js/main.js"></script>\n');
  writeFileSync(join(root, 'favicon.svg'), '<svg/>');
  assert.equal(assetVersion(root), before);
});

test('dotfiles are no part of the page: not hashed, not laid out', () => {
  const root = fixture();
  const before = assetVersion(root);
  writeFileSync(join(root, 'static', 'js', '.main.js.swp'), 'editor state');
  mkdirSync(join(root, 'static', '.cache'));
  writeFileSync(join(root, 'static', '.cache', 'x'), 'x');
  writeFileSync(join(root, '.gitkeep'), '');
  assert.equal(assetVersion(root), before);
  const out = join(tempDir(), 'html');
  assert.ok(layout(root, out).files.every((f) => !f.split('/').some((part) => part.startsWith('.'))));
});

test('files are listed in bytewise order of their path, the order the server hashes them in', () => {
  const root = tempDir();
  for (const rel of ['b/a.js', 'a-b.js', 'a/z.js', 'B.js']) {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), rel);
  }
  // '-' (0x2d) sorts before '/' (0x2f), and capitals before small letters.
  assert.deepEqual(pageFiles(root), ['B.js', 'a-b.js', 'a/z.js', 'b/a.js']);
});

test('index.html as served: every quoted /static/ reference gains the version, nothing else changes', () => {
  const html = '<link href="/static/css/app.css"><script src="/static/js/main.js"></script><p>/static/ text</p>';
  assert.equal(versionedIndex(html, '0123456789'),
    '<link href="/static/0123456789/css/app.css"><script src="/static/0123456789/js/main.js"></script><p>/static/ text</p>');
});

test('the layout puts the assets under static/<version>/ with their bytes, and index.html names them', () => {
  const root = fixture();
  const out = join(tempDir(), 'html');
  const { version, files } = layout(root, out);
  assert.equal(version, assetVersion(root));
  assert.deepEqual([...files].sort(), ['favicon.svg', 'index.html', `static/${version}/css/app.css`,
    `static/${version}/js/game.js`, `static/${version}/js/main.js`].sort());
  for (const rel of ['js/main.js', 'js/game.js', 'css/app.css']) {
    assert.ok(readFileSync(join(out, 'static', version, rel)).equals(readFileSync(join(root, 'static', rel))), rel);
  }
  assert.ok(readFileSync(join(out, 'favicon.svg')).equals(readFileSync(join(root, 'favicon.svg'))));
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  assert.equal(html, versionedIndex(readFileSync(join(root, 'index.html'), 'utf8'), version));
  for (const m of html.matchAll(/"(\/static\/[^"]+)"/g)) {
    assert.ok(files.includes(m[1].slice(1)), `${m[1]} is in the layout`);
  }
});

test('the committed page lays out with every index.html reference resolving', () => {
  const out = join(tempDir(), 'html');
  const { version, files } = layout(PUBLIC, out);
  const html = readFileSync(join(out, 'index.html'), 'utf8');
  const refs = [...html.matchAll(/"(\/static\/[^"]+)"/g)].map((m) => m[1]);
  assert.ok(refs.length >= 5, refs.join(', '));
  for (const ref of refs) {
    assert.ok(ref.startsWith(`/static/${version}/`), ref);
    assert.ok(files.includes(ref.slice(1)), `${ref} is laid out`);
  }
});

test('the layout refuses a folder that is not empty, and a page without assets or index.html', () => {
  const root = fixture();
  const out = tempDir();
  writeFileSync(join(out, 'old.html'), 'x');
  assert.throws(() => layout(root, out), /is not empty/);
  const bare = tempDir();
  writeFileSync(join(bare, 'index.html'), '');
  assert.throws(() => assetVersion(bare), /holds no files/);
  const noIndex = fixture();
  rmSync(join(noIndex, 'index.html'));
  assert.throws(() => layout(noIndex, join(tempDir(), 'html')), /no index\.html/);
});

test('the command line prints the version and writes the layout; bad arguments get the usage', () => {
  const root = fixture();
  const printed = run('print', root);
  assert.equal(printed.code, 0, printed.out);
  assert.equal(printed.out.trim(), assetVersion(root));
  const out = join(tempDir(), 'html');
  const written = run('layout', root, out);
  assert.equal(written.code, 0, written.out);
  assert.match(written.out, new RegExp(`laid out 5 files .* under static/${assetVersion(root)}/`));
  assert.equal(run('layout', root, out).code, 1, 'a second layout into the same folder is refused');
  const bad = run('frobnicate');
  assert.equal(bad.code, 2);
  assert.match(bad.out, /usage:/);
});
