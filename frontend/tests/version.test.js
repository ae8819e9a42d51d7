// scripts/frontend-version.mjs: the versioned folder follows the content, and --check catches staleness.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { FRONTEND, PUBLIC } from './helpers.js';

const SCRIPT = join(FRONTEND, '..', 'scripts', 'frontend-version.mjs');
const temps = [];
after(() => { for (const t of temps) rmSync(t, { recursive: true, force: true }); });

function run(...args) {
  const r = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

function fixture(folder = 'old') {
  const root = mkdtempSync(join(tmpdir(), 'hmg-version-'));
  temps.push(root);
  mkdirSync(join(root, 'static', folder, 'js'), { recursive: true });
  writeFileSync(join(root, 'static', folder, 'js', 'main.js'), 'import "./game.js";\n');
  writeFileSync(join(root, 'static', folder, 'js', 'game.js'), 'export const x = 1;\n');
  writeFileSync(join(root, 'index.html'),
    `<link rel="stylesheet" href="/static/${folder}/css/app.css">\n<script type="module" src="/static/${folder}/js/main.js"></script>\n`);
  return root;
}

const folderOf = (root) => readdirSync(join(root, 'static'))[0];

test('the committed frontend is current', () => {
  const r = run('--check', '--root', PUBLIC);
  assert.equal(r.code, 0, r.out);
});

test('a stale folder fails the check and says how to fix it', () => {
  const root = fixture();
  const r = run('--check', '--root', root);
  assert.equal(r.code, 1);
  assert.match(r.out, /stale: folder static\/old should be static\/[0-9a-f]{10}/);
  assert.match(r.out, /run: node scripts\/frontend-version\.mjs/);
});

test('writing renames the folder to the content hash and rewrites every reference', () => {
  const root = fixture();
  const r = run('--root', root);
  assert.equal(r.code, 0, r.out);
  const v = folderOf(root);
  assert.match(v, /^[0-9a-f]{10}$/);
  const html = readFileSync(join(root, 'index.html'), 'utf8');
  assert.equal(html.match(new RegExp(`/static/${v}/`, 'g')).length, 2);
  assert.doesNotMatch(html, /\/static\/old\//);
  assert.equal(run('--check', '--root', root).code, 0);
  assert.match(run('--root', root).out, /is current/, 'a second run changes nothing');
});

test('changing one byte of an asset changes the version', () => {
  const root = fixture();
  run('--root', root);
  const before = folderOf(root);
  writeFileSync(join(root, 'static', before, 'js', 'game.js'), 'export const x = 2;\n');
  assert.equal(run('--check', '--root', root).code, 1);
  run('--root', root);
  assert.notEqual(folderOf(root), before);
});

test('the hash covers file names, not only contents', () => {
  const a = fixture();
  const b = fixture();
  cpSync(join(b, 'static', 'old', 'js', 'game.js'), join(b, 'static', 'old', 'js', 'other.js'));
  rmSync(join(b, 'static', 'old', 'js', 'game.js'));
  run('--root', a);
  run('--root', b);
  assert.notEqual(folderOf(a), folderOf(b));
});

test('index.html pointing at another version fails the check', () => {
  const root = fixture();
  run('--root', root);
  const html = readFileSync(join(root, 'index.html'), 'utf8');
  writeFileSync(join(root, 'index.html'), html.replace(/\/static\/[0-9a-f]+\/js/, '/static/0123456789/js'));
  const r = run('--check', '--root', root);
  assert.equal(r.code, 1);
  assert.match(r.out, /index\.html references \/static\/0123456789\//);
});

test('two version folders are an error, not a guess', () => {
  const root = fixture();
  mkdirSync(join(root, 'static', 'another'));
  writeFileSync(join(root, 'static', 'another', 'x.js'), '');
  const r = run('--root', root);
  assert.equal(r.code, 1);
  assert.match(r.out, /expected exactly one version folder/);
  assert.ok(existsSync(join(root, 'static', 'old')), 'nothing was renamed');
});

test('bad arguments are refused with the usage', () => {
  const r = run('--frobnicate');
  assert.equal(r.code, 2);
  assert.match(r.out, /usage:/);
});
