// Checks on the files as shipped: the size budget, the CSP-friendly markup, the module boundaries.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { PUBLIC, STATIC } from './helpers.js';

function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]);
}

const html = readFileSync(join(PUBLIC, 'index.html'), 'utf8');
const js = Object.fromEntries(['main', 'game', 'api', 'view'].map((m) =>
  [m, readFileSync(join(STATIC, 'js', `${m}.js`), 'utf8')]));

test('HTML, CSS and JavaScript stay under 60 KB gzip-compressed', () => {
  const files = walk(PUBLIC).filter((f) => /\.(html|css|js)$/.test(f));
  const total = files.reduce((sum, f) => sum + gzipSync(readFileSync(f), { level: 9 }).length, 0);
  console.log(`gzip total of ${files.length} files: ${total} bytes`);
  assert.ok(total < 60 * 1024, `${total} bytes`);
});

test('index.html has no inline script, inline style or third-party origin (the CSP forbids them)', () => {
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    assert.match(m[1], /\bsrc="\//, 'every script has a same-origin src');
    assert.equal(m[2].trim(), '', 'no inline script body');
  }
  assert.doesNotMatch(html, /<style\b/);
  assert.doesNotMatch(html, /\sstyle=/);
  assert.doesNotMatch(html, /\son[a-z]+=/i, 'no inline event handlers');
  assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no other origin');
});

test('every asset index.html names exists, scripts and styles under static/ (served under the version)', () => {
  const refs = [...html.matchAll(/(?:src|href)="(\/[^"#]*)"/g)].map((m) => m[1]);
  assert.ok(refs.some((r) => r === '/static/js/main.js'));
  for (const ref of refs) {
    assert.ok(existsSync(join(PUBLIC, ref)), `${ref} exists`);
    if (ref.endsWith('.js') || ref.endsWith('.css')) assert.ok(ref.startsWith('/static/'), `${ref} is versioned`);
  }
});

test('modules import each other relatively, so imports inherit the version prefix', () => {
  for (const [name, source] of Object.entries(js)) {
    for (const m of source.matchAll(/^\s*import\s[^'"]*['"]([^'"]+)['"]/gm)) {
      assert.match(m[1], /^\.\/[a-z]+\.js$/, `${name}.js imports ${m[1]}`);
    }
  }
});

test('only view.js touches the DOM, and nothing uses innerHTML or eval', () => {
  for (const [name, source] of Object.entries(js)) {
    assert.doesNotMatch(source, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, name);
  }
  for (const name of ['game', 'api']) {
    assert.doesNotMatch(js[name], /\b(document|window|globalThis|localStorage|setTimeout|setInterval|Date\.now)\b/, `${name}.js is pure`);
  }
});

test('the stylesheet loads nothing from another origin and no web font', () => {
  const css = readFileSync(join(STATIC, 'css', 'app.css'), 'utf8');
  assert.doesNotMatch(css, /@import|url\(\s*['"]?(https?:)?\/\//);
  assert.doesNotMatch(css, /@font-face/);
  assert.match(css, /prefers-reduced-motion: reduce/);
  assert.match(css, /prefers-contrast: more/);
});

test('every file under static/ is used: named by index.html or imported by a module', () => {
  const used = new Set();
  for (const m of html.matchAll(/(?:src|href)="\/static\/([^"]+)"/g)) used.add(m[1]);
  for (const source of Object.values(js)) {
    for (const m of source.matchAll(/^\s*import\s[^'"]*['"]\.\/([^'"]+)['"]/gm)) used.add(`js/${m[1]}`);
  }
  const files = walk(STATIC).map((f) => relative(STATIC, f).split('\\').join('/'));
  assert.ok(files.length >= 5);
  for (const f of files) assert.ok(used.has(f), `${f} is shipped but nothing uses it`);
});
