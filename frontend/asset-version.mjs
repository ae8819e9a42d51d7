#!/usr/bin/env node
// The page's content-hashed asset URLs. In git the assets stay at fixed paths (public/static/js/main.js) and
// index.html names them so (/static/js/main.js); what is served puts them under /static/<version>/, cached for a
// year, and index.html (never cached) names that version. The server computes the same at start
// (backend/server/src/static_files.rs); this module does it for the nginx image (frontend/Dockerfile) and the
// tests, which check that both agree.
//
//   node asset-version.mjs print  [PUBLIC]        the version of PUBLIC (default: ./public)
//   node asset-version.mjs layout PUBLIC OUT      write the served layout of PUBLIC into the empty folder OUT
//
// <version> = the first 10 hex digits of SHA-256 over every file under static/ in sorted order of its path
// relative to static/: the path, a zero byte, the bytes, a zero byte. Names starting with a dot are no part of
// the page (editor leftovers, .gitkeep). index.html is not hashed: it names the version.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VERSION_LENGTH = 10;

/** Every file under `dir` as a '/'-separated path relative to it, dotfiles left out, sorted bytewise. */
export function pageFiles(dir, prefix = '') {
  const out = [];
  for (const name of readdirSync(dir)) {
    if (name.startsWith('.')) continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...pageFiles(full, `${prefix}${name}/`));
    else out.push(`${prefix}${name}`);
  }
  return out.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** The version of a public/ folder: the content hash of its static/ files. */
export function assetVersion(publicDir) {
  const staticDir = join(publicDir, 'static');
  const files = existsSync(staticDir) ? pageFiles(staticDir) : [];
  if (files.length === 0) throw new Error(`${staticDir} holds no files`);
  const hash = createHash('sha256');
  for (const rel of files) {
    hash.update(rel);
    hash.update('\0');
    hash.update(readFileSync(join(staticDir, rel)));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, VERSION_LENGTH);
}

/** index.html as served: every quoted "/static/ reference gains the version. */
export function versionedIndex(html, version) {
  return html.replaceAll('"/static/', `"/static/${version}/`);
}

/**
 * The served layout of a public/ folder: index.html naming the version, static/<version>/… holding the assets,
 * every other file where it is. Returns the version and the list of files written (relative to `out`).
 */
export function layout(publicDir, out) {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`${out} is not empty`);
  const version = assetVersion(publicDir);
  const written = [];
  for (const rel of pageFiles(publicDir)) {
    let target = rel;
    let bytes = readFileSync(join(publicDir, rel));
    // latin1 maps each byte to one character and back, so only the matched ASCII changes.
    if (rel === 'index.html') bytes = Buffer.from(versionedIndex(bytes.toString('latin1'), version), 'latin1');
    else if (rel.startsWith('static/')) target = `static/${version}/${rel.slice('static/'.length)}`;
    mkdirSync(dirname(join(out, target)), { recursive: true });
    writeFileSync(join(out, target), bytes);
    written.push(target);
  }
  if (!written.includes('index.html')) throw new Error(`${publicDir} holds no index.html`);
  return { version, files: written };
}

const USAGE = 'usage: asset-version.mjs print [PUBLIC] | layout PUBLIC OUT';

function main([command, ...args]) {
  try {
    if (command === 'print' && args.length <= 1) {
      console.log(assetVersion(resolve(args[0] ?? 'public')));
      return 0;
    }
    if (command === 'layout' && args.length === 2) {
      const { version, files } = layout(resolve(args[0]), resolve(args[1]));
      console.log(`laid out ${files.length} files of ${args[0]} in ${args[1]} under static/${version}/`);
      return 0;
    }
    console.error(USAGE);
    return 2;
  } catch (err) {
    console.error(`asset-version: ${err.message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
