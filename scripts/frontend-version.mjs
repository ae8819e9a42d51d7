#!/usr/bin/env node
// What depends on the web page's asset version, kept in sync. The assets stay at fixed paths in git; the
// server (at start) and the nginx image (at build) serve them under /static/<version>/, a content hash
// (frontend/asset-version.mjs), so nothing has to be renamed or rewritten after an edit. What can still drift:
//   - index.html must name assets by their fixed paths ("/static/js/main.js"), each an existing file, so the
//     version is filled in when it is served and a stale version can never be committed;
//   - the README's screenshots (docs/images/) must have been taken with the current page.
//
//   node scripts/frontend-version.mjs                   print the version the server and the image will serve
//   node scripts/frontend-version.mjs --check           exit 1 when something is out of sync (CI)
//   node scripts/frontend-version.mjs --update-screenshots DIR
//                                                       compress DIR's README screenshots into docs/images/ and
//                                                       record the page they show (.ci/steps/20-web.sh does this
//                                                       with UPDATE_SCREENSHOTS=1)
//   --public DIR, --images DIR                          other folders (the tests use temp copies)

import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION_LENGTH, assetVersion } from '../frontend/asset-version.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REFRESH_COMMAND = 'UPDATE_SCREENSHOTS=1 HMG_BIN=target/release/humor-memory-game bash .ci/steps/20-web.sh';
/** The README's screenshots, as frontend/e2e/readme.e2e.test.js names them. */
export const SCREENSHOTS = ['game.png', 'result.png'];
export const STAMP = 'screenshots.json';
const MAX_IMAGE_BYTES = 150 * 1024;

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** What a screenshot shows of the page: the asset version and the hash of index.html as committed. */
export function pageIdentity(publicDir) {
  return {
    assetVersion: assetVersion(publicDir),
    indexHtml: sha256(readFileSync(join(publicDir, 'index.html'))),
  };
}

/** Problems with index.html's asset references: each must be a fixed path under static/ that exists. */
export function indexProblems(publicDir) {
  const html = readFileSync(join(publicDir, 'index.html'), 'utf8');
  const out = [];
  const refs = [...html.matchAll(/\/static\/[^"'\s)]*/g)].map((m) => ({ path: m[0], at: m.index }));
  if (refs.length === 0) out.push('index.html references nothing under /static/');
  for (const { path, at } of refs) {
    if (html[at - 1] !== '"') out.push(`index.html: ${path} is not a double-quoted attribute value, so it would not be versioned`);
    const first = path.split('/')[2];
    if (new RegExp(`^[0-9a-f]{${VERSION_LENGTH}}$`).test(first)) {
      out.push(`index.html names ${path}: name the fixed path /static/${path.split('/').slice(3).join('/')} (the version is added when served)`);
    } else if (!existsSync(join(publicDir, path)) || statSync(join(publicDir, path)).isDirectory()) {
      out.push(`index.html names ${path}, which is not a file under public/static/`);
    }
  }
  return out;
}

/** Problems with the README's screenshots: missing, too big, or taken with another page than the current one. */
export function screenshotProblems(publicDir, imagesDir) {
  const stampPath = join(imagesDir, STAMP);
  if (!existsSync(stampPath)) return [`${STAMP} is missing in ${imagesDir}`];
  const stamp = JSON.parse(readFileSync(stampPath, 'utf8'));
  const now = pageIdentity(publicDir);
  const out = [];
  if (stamp.assetVersion !== now.assetVersion) {
    out.push(`the screenshots show assets ${stamp.assetVersion}, the page now has ${now.assetVersion}`);
  }
  if (stamp.indexHtml !== now.indexHtml) out.push('the screenshots were taken with another index.html');
  for (const name of SCREENSHOTS) {
    const path = join(imagesDir, name);
    if (!existsSync(path)) {
      out.push(`${name} is missing`);
      continue;
    }
    const bytes = readFileSync(path);
    if (stamp.images?.[name] !== sha256(bytes)) out.push(`${name} is not the image ${STAMP} records`);
    if (bytes.length > MAX_IMAGE_BYTES) out.push(`${name} is ${bytes.length} bytes (at most ${MAX_IMAGE_BYTES})`);
  }
  return out;
}

function compress(source, target) {
  // pngquant: 256-colour palette (the page's flat colours survive it); optipng: lossless recompression.
  const steps = [
    ['pngquant', ['--force', '--skip-if-larger', '--quality=70-95', '--speed=1', '--strip', '--output', target, source]],
    ['optipng', ['-quiet', '-o5', '-strip', 'all', target]],
  ];
  for (const [tool, args] of steps) {
    const r = spawnSync(tool, args, { encoding: 'utf8' });
    // pngquant exits 98/99 when it keeps the original (larger or below quality): then copy it as it is.
    if (tool === 'pngquant' && (r.status === 98 || r.status === 99)) copyFileSync(source, target);
    else if (r.error || r.status !== 0) throw new Error(`${tool} failed: ${r.error?.message ?? r.stderr}`);
  }
}

/**
 * Takes the README screenshots the e2e run left in `shotDir` (with its record of the page it was served,
 * readme.json), compresses them into `imagesDir` and writes the stamp the check compares.
 */
export function updateScreenshots(publicDir, imagesDir, shotDir) {
  const taken = JSON.parse(readFileSync(join(shotDir, 'readme.json'), 'utf8'));
  const now = pageIdentity(publicDir);
  if (taken.assetVersion !== now.assetVersion || taken.indexHtml !== now.indexHtml) {
    throw new Error(`the screenshots in ${shotDir} show another page (${taken.assetVersion}) than public/ (${now.assetVersion}): run the e2e tests again`);
  }
  const images = {};
  for (const name of SCREENSHOTS) {
    const target = join(imagesDir, name);
    compress(join(shotDir, `readme-${name}`), target);
    images[name] = sha256(readFileSync(target));
  }
  const stamp = { ...now, viewport: taken.viewport, images, refresh: REFRESH_COMMAND };
  writeFileSync(join(imagesDir, STAMP), `${JSON.stringify(stamp, null, 2)}\n`);
  return stamp;
}

function main(argv) {
  let publicDir = resolve(HERE, '..', 'frontend', 'public');
  let imagesDir = resolve(HERE, '..', 'docs', 'images');
  let mode = 'print';
  let shotDir = null;
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--check') mode = 'check';
    else if (a === '--update-screenshots' && argv[i + 1]) [mode, shotDir] = ['update', resolve(argv[++i])];
    else if (a === '--public' && argv[i + 1]) publicDir = resolve(argv[++i]);
    else if (a === '--images' && argv[i + 1]) imagesDir = resolve(argv[++i]);
    else {
      console.error(`unknown argument: ${a}\nusage: frontend-version.mjs [--check | --update-screenshots DIR] [--public DIR] [--images DIR]`);
      return 2;
    }
  }
  try {
    if (mode === 'print') {
      console.log(assetVersion(publicDir));
      return 0;
    }
    if (mode === 'update') {
      const stamp = updateScreenshots(publicDir, imagesDir, shotDir);
      for (const name of SCREENSHOTS) console.log(`${name}: ${statSync(join(imagesDir, name)).size} bytes`);
      console.log(`screenshots of assets ${stamp.assetVersion} written to ${imagesDir}`);
      return 0;
    }
    const index = indexProblems(publicDir);
    const shots = screenshotProblems(publicDir, imagesDir);
    for (const p of [...index, ...shots]) console.error(`out of sync: ${p}`);
    if (shots.length > 0) console.error(`refresh the screenshots: ${REFRESH_COMMAND}`);
    if (index.length + shots.length > 0) return 1;
    console.log(`assets ${assetVersion(publicDir)}: index.html and the README screenshots are in sync`);
    return 0;
  } catch (err) {
    console.error(`frontend-version: ${err.message}`);
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
