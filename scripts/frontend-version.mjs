#!/usr/bin/env node
// Keeps the web assets under one content-addressed folder, frontend/public/static/<version>/, so that a
// deploy never serves old HTML with new scripts or the reverse (the assets are cached for a year).
//
//   node scripts/frontend-version.mjs            rename the folder to the current hash, rewrite index.html
//   node scripts/frontend-version.mjs --check    exit 1 if the folder name or index.html is stale (CI)
//   node scripts/frontend-version.mjs --print    print the version in use
//   --root DIR                                   another public/ folder (the tests use a temp copy)
//
// <version> = the first 10 hex digits of SHA-256 over every file under the folder (relative path and bytes,
// in sorted order). index.html is not hashed: it is the one unversioned file and names the version.

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION_RE = /\/static\/([^/"'\s]+)\//g;

export function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...listFiles(full));
    else out.push(full);
  }
  return out;
}

export function contentVersion(versionDir) {
  const hash = createHash('sha256');
  const files = listFiles(versionDir)
    .map((f) => ({ rel: relative(versionDir, f).split(sep).join('/'), full: f }))
    .sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  if (files.length === 0) throw new Error(`${versionDir} holds no files`);
  for (const { rel, full } of files) {
    hash.update(rel);
    hash.update('\0');
    hash.update(readFileSync(full));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 10);
}

/** The state of a public/ folder: the one version folder, its content hash and what index.html names. */
export function inspect(root) {
  const staticDir = join(root, 'static');
  const indexPath = join(root, 'index.html');
  if (!existsSync(staticDir)) throw new Error(`${staticDir} does not exist`);
  if (!existsSync(indexPath)) throw new Error(`${indexPath} does not exist`);
  const folders = readdirSync(staticDir).filter((n) => statSync(join(staticDir, n)).isDirectory());
  if (folders.length !== 1) {
    throw new Error(`expected exactly one version folder in ${staticDir}, found ${folders.length}: ${folders.join(', ') || 'none'}`);
  }
  const folder = folders[0];
  const html = readFileSync(indexPath, 'utf8');
  const referenced = [...new Set([...html.matchAll(VERSION_RE)].map((m) => m[1]))];
  return { staticDir, indexPath, folder, hash: contentVersion(join(staticDir, folder)), html, referenced };
}

export function problems(state) {
  const out = [];
  if (state.folder !== state.hash) out.push(`folder static/${state.folder} should be static/${state.hash} (its content changed)`);
  if (state.referenced.length === 0) out.push('index.html references no /static/<version>/ asset');
  for (const v of state.referenced) {
    if (v !== state.hash) out.push(`index.html references /static/${v}/ instead of /static/${state.hash}/`);
  }
  return out;
}

export function write(root) {
  const state = inspect(root);
  const { staticDir, indexPath, folder, hash, html } = state;
  if (folder !== hash) renameSync(join(staticDir, folder), join(staticDir, hash));
  const rewritten = html.replace(VERSION_RE, `/static/${hash}/`);
  if (rewritten !== html) writeFileSync(indexPath, rewritten);
  return { from: folder, to: hash, changed: folder !== hash || rewritten !== html };
}

function main(argv) {
  const args = argv.slice(2);
  const here = dirname(fileURLToPath(import.meta.url));
  let root = resolve(here, '..', 'frontend', 'public');
  let mode = 'write';
  for (let i = 0; i < args.length; i += 1) {
    const a = args[i];
    if (a === '--check') mode = 'check';
    else if (a === '--print') mode = 'print';
    else if (a === '--root' && args[i + 1]) root = resolve(args[++i]);
    else {
      console.error(`unknown argument: ${a}\nusage: frontend-version.mjs [--check|--print] [--root DIR]`);
      return 2;
    }
  }
  try {
    if (mode === 'write') {
      const r = write(root);
      console.log(r.changed ? `frontend version ${r.from} -> ${r.to}` : `frontend version ${r.to} is current`);
      return 0;
    }
    const state = inspect(root);
    if (mode === 'print') {
      console.log(state.folder);
      return 0;
    }
    const found = problems(state);
    if (found.length > 0) {
      for (const p of found) console.error(`stale: ${p}`);
      console.error('run: node scripts/frontend-version.mjs   (then commit the renamed folder and index.html)');
      return 1;
    }
    console.log(`frontend version ${state.hash} is current`);
    return 0;
  } catch (err) {
    console.error(`frontend-version: ${err.message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv);
}
