// Shared by the unit tests: where the page's files are, and a GameView factory shaped like docs/api.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FRONTEND = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PUBLIC = join(FRONTEND, 'public');

const temps = [];
process.on('exit', () => { for (const t of temps) rmSync(t, { recursive: true, force: true }); });

/** A fresh temporary folder, removed when the test file's process ends. */
export function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'hmg-web-'));
  temps.push(dir);
  return dir;
}

/** The assets, at their fixed paths (served under /static/<content hash>/). */
export const STATIC = join(PUBLIC, 'static');

export async function importGame() {
  return import(join(STATIC, 'js', 'game.js'));
}

export async function importApi() {
  return import(join(STATIC, 'js', 'api.js'));
}

const FACES = [
  { emoji: '🍕', name: 'Pizza Slice', category: 'food' },
  { emoji: '🚀', name: 'Blast Off', category: 'space' },
];

/** A 4x4 easy GameView; `states` maps position -> 'up'|'matched' (faces shown only for those). */
export function gameView(states = {}, extra = {}) {
  const cards = Array.from({ length: 16 }, (_, i) => {
    const state = states[i] ?? 'down';
    return {
      id: `id${i}`,
      position: i,
      state,
      face: state === 'down' ? null : FACES[i % 2],
    };
  }).reverse(); // the page must not rely on the server's order
  return {
    gameId: 'g1',
    username: 'alice',
    difficulty: 'easy',
    daily: null,
    status: 'active',
    grid: { columns: 4, rows: 4 },
    totalPairs: 8,
    timeLimitMs: 300000,
    remainingMs: 290000,
    elapsedMs: 10000,
    score: 0,
    moves: 0,
    pairsFound: 0,
    misses: 0,
    streak: 0,
    pausesLeft: 3,
    startedAt: '2026-11-26T10:00:00.000Z',
    cards,
    ...extra,
  };
}
