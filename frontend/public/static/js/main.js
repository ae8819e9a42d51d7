// Composition root: wires the API client, the pure state (game.js) and the view together, and owns the
// few things that are neither pure nor DOM: the clock, timers, localStorage and the action queue.

import { ApiError, createApi } from './api.js';
import * as G from './game.js';
import { createView } from './view.js';

const PLAYERS_KEY = 'hmg.players.v1';
const GAME_KEY = 'hmg.game.v1';

const storage = {
  get(key) {
    try { return window.localStorage.getItem(key); } catch { return null; }
  },
  set(key, value) {
    try { window.localStorage.setItem(key, value); } catch { /* private mode: the page still works */ }
  },
  remove(key) {
    try { window.localStorage.removeItem(key); } catch { /* as above */ }
  },
};

const now = () => Date.now();
// crypto.getRandomValues works on plain http too (randomUUID needs a secure context).
const newKey = () => G.keyFromBytes(crypto.getRandomValues(new Uint8Array(16)));
const api = createApi({
  fetch: (...args) => window.fetch(...args),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
});

let players = G.parsePlayers(storage.get(PLAYERS_KEY));
let config = null;
let daily = null;
let game = null;
let settings = { difficulty: 'easy', categories: [], daily: false };
let flipChain = Promise.resolve();
const queuedFlips = new Set();
let missTimer = null;
let lastTimeShown = Infinity;
let checkingExpiry = false;
let lastExpiryCheck = 0;
let leaderboardFilters = { board: 'all', difficulty: '' };

const view = createView(document, {
  onStart: (form) => startGame(form),
  onFlip: (cardId) => queueFlip(cardId),
  onPause: () => togglePause(),
  onNewGame: () => newGame(),
  onQuit: () => quit(),
  // A daily challenge is played once a day, so "again" means a regular game with the same settings.
  onPlayAgain: () => startGame({ ...settings, daily: false, username: players.last }),
  onSeeLeaderboard: () => {
    const last = game;
    leaderboardFilters = last?.daily
      ? { board: 'daily', difficulty: '' }
      : { board: 'all', difficulty: last?.difficulty ?? '' };
    view.setLeaderboardFilters(leaderboardFilters);
    go('leaderboard', { fresh: true });
  },
  onLeaderboard: (filters, fresh) => {
    leaderboardFilters = filters;
    loadLeaderboard(fresh);
  },
});

function savePlayers() {
  storage.set(PLAYERS_KEY, G.serializePlayers(players));
}

function tokenOf(username) {
  return G.tokenFor(players, username);
}

/**
 * Runs one user action. `attempt` does the requests with keys fixed by the caller, so the Retry button
 * sends the very same Idempotency-Key again and the server never counts the action twice.
 */
async function perform(context, attempt) {
  try {
    await attempt();
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    handleError(err, context, () => perform(context, attempt));
    return false;
  }
}

function handleError(err, context, retry) {
  if (err.code === 'invalid_token' && context.username) {
    players = G.forgetPlayer(players, context.username);
    savePlayers();
  }
  if (G.isGameOver(err)) {
    storage.remove(GAME_KEY);
    if (game && context.gameId === game.id) refreshGame();
  }
  const desc = G.describeError(err, context);
  view.showError(desc, (action) => {
    if (action === 'retry') retry();
    else if (action === 'new-game') { view.closeResult(); go('setup'); }
    else if (action === 'rename') view.focusUsername();
  });
}

// --- routing -------------------------------------------------------------------------------------
function route() {
  const name = (location.hash || '#play').slice(1);
  if (name === 'leaderboard') go('leaderboard');
  else if (name === 'stats') go('stats');
  else if (name === 'about') go('about');
  else go(G.isLive(game) ? 'game' : 'setup');
}

function go(screen, { fresh = false } = {}) {
  const hash = screen === 'setup' || screen === 'game' ? '#play' : `#${screen}`;
  if (location.hash !== hash) history.replaceState(null, '', hash);
  view.showScreen(screen, { focus: booted });
  if (screen === 'leaderboard') loadLeaderboard(fresh);
  if (screen === 'stats') loadStats();
  if (screen === 'game') view.focusBoard();
}

// --- setup ---------------------------------------------------------------------------------------
async function loadSetup() {
  await perform({ action: 'load' }, async () => {
    const [cfg] = await Promise.all([api.config(), loadDaily()]);
    config = cfg;
    view.renderConfig(config, settings);
  });
}

async function loadDaily() {
  try {
    const res = await api.dailyChallenge({ token: players.last ? tokenOf(players.last) : null });
    daily = res.challenge;
  } catch (err) {
    // Another player's or a stale token must not hide the challenge: ask again without it.
    if (err instanceof ApiError && (err.code === 'invalid_token' || err.code === 'not_owner')) {
      daily = (await api.dailyChallenge({})).challenge;
    } else {
      daily = null;
      throw err;
    }
  } finally {
    view.renderDaily(daily, now());
  }
}

async function startGame(form) {
  const checked = G.validateUsername(form.username);
  if (!checked.ok) {
    view.showUsernameError(checked.message);
    view.focusUsername();
    return;
  }
  view.showUsernameError(null);
  const username = checked.username;
  settings = { difficulty: form.difficulty ?? settings.difficulty, categories: form.categories ?? [], daily: Boolean(form.daily) };
  const body = G.startRequest({ username, ...settings });
  const key = newKey();
  view.setBusy(true);
  view.clearError();
  await perform({ action: 'start', username }, async () => {
    if (G.isLive(game)) await abandonCurrent();
    const res = await api.start(body, { token: tokenOf(username), key });
    players = G.rememberPlayer(players, res.player.username, res.player.token);
    savePlayers();
    view.setUsername(res.player.username);
    beginGame(G.gameFromView(res.game, now()), res.message);
  });
  view.setBusy(false);
  if (settings.daily) loadDaily().catch(() => {});
}

function beginGame(next, message) {
  clearTimeout(missTimer);
  game = next;
  queuedFlips.clear();
  lastTimeShown = Infinity;
  storage.set(GAME_KEY, JSON.stringify({ gameId: game.id, username: game.username }));
  view.closeResult();
  view.renderGame(game, now());
  view.setMessage(message ?? '');
  go('game');
  view.focusCard(0);
}

// --- playing -------------------------------------------------------------------------------------
function queueFlip(cardId) {
  if (!game || queuedFlips.has(cardId) || queuedFlips.size >= 2) return;
  queuedFlips.add(cardId);
  flipChain = flipChain
    .then(() => flip(cardId))
    .finally(() => queuedFlips.delete(cardId));
}

async function flip(cardId) {
  if (!game || !G.canFlip(game, cardId)) return;
  const gameId = game.id;
  const key = newKey();
  await perform({ action: 'flip', gameId, username: game.username }, async () => {
    let res;
    try {
      res = await api.flip(gameId, cardId, { token: tokenOf(game.username), key });
    } catch (err) {
      if (err instanceof ApiError && G.isOutOfSync(err)) return refreshGame();
      throw err;
    }
    if (!game || game.id !== gameId) return;
    clearTimeout(missTimer);
    game = G.applyFlip(game, res, now());
    view.renderGame(game, now());
    const card = G.displayCards(game).find((c) => c.id === res.card.id);
    if (card?.face) view.announce(`Card ${card.number}: ${card.face.name}.`);
    if (res.outcome) view.setMessage(res.outcome.message);
    if (game.missed.length > 0) {
      missTimer = setTimeout(() => {
        if (game && game.id === gameId) {
          game = G.hideMissed(game);
          view.renderGame(game, now());
        }
      }, G.MISS_VISIBLE_MS);
    }
    if (res.result) finish(res.result);
  });
}

function finish(result) {
  storage.remove(GAME_KEY);
  view.announce(`Game complete! Final score ${result.finalScore}.`);
  view.showResult(result);
  loadDaily().catch(() => {});
}

async function refreshGame() {
  if (!game) return;
  const gameId = game.id;
  try {
    const res = await api.game(gameId, { token: tokenOf(game.username) });
    if (!game || game.id !== gameId) return;
    game = G.gameFromView(res.game, now());
    view.renderGame(game, now());
    if (res.result && !document.getElementById('result-dialog').open) finish(res.result);
    if (game.status === 'expired') {
      storage.remove(GAME_KEY);
      view.setMessage("⏰ Time's up!");
      view.showError(G.describeError({ code: 'game_expired' }), () => go('setup'));
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
  }
}

async function togglePause() {
  if (!G.isLive(game)) return;
  const gameId = game.id;
  const resume = game.status === 'paused';
  const key = newKey();
  await perform({ action: resume ? 'resume' : 'pause', gameId }, async () => {
    const token = tokenOf(game.username);
    const res = resume ? await api.resume(gameId, { token, key }) : await api.pause(gameId, { token, key });
    if (!game || game.id !== gameId) return;
    clearTimeout(missTimer);
    game = G.gameFromView(res.game, now());
    view.renderGame(game, now());
    view.setMessage(resume ? 'Back to it! The clock is running.' : 'Paused. The clock is stopped.');
  });
}

async function abandonCurrent() {
  if (!G.isLive(game)) return;
  const gameId = game.id;
  try {
    await api.abandon(gameId, { token: tokenOf(game.username), key: newKey() });
  } catch (err) {
    // A game that already ended on the server needs no abandoning.
    if (!(err instanceof ApiError) || !G.isGameOver(err)) throw err;
  }
  storage.remove(GAME_KEY);
  if (game && game.id === gameId) game = { ...game, status: 'abandoned' };
}

function newGame() {
  startGame({ username: players.last || game?.username, difficulty: settings.difficulty, categories: settings.categories });
}

async function quit() {
  const key = newKey();
  if (!G.isLive(game)) return go('setup');
  const gameId = game.id;
  await perform({ action: 'quit', gameId }, async () => {
    await api.abandon(gameId, { token: tokenOf(game.username), key });
    storage.remove(GAME_KEY);
    game = { ...game, status: 'abandoned' };
    view.setMessage('');
    go('setup');
  });
}

function tick() {
  if (!game || !G.isLive(game)) return;
  const ms = G.remainingAt(game, now());
  view.renderTime(game, now());
  const warning = G.timeWarning(lastTimeShown, ms);
  if (warning) view.announce(warning);
  lastTimeShown = ms;
  if (ms <= 0 && game.status === 'active' && !checkingExpiry && now() - lastExpiryCheck > 1000) {
    // The server decides; ask it what happened at the deadline (at most once a second).
    checkingExpiry = true;
    lastExpiryCheck = now();
    refreshGame().finally(() => { checkingExpiry = false; });
  }
}

// --- leaderboard and stats ------------------------------------------------------------------------
async function loadLeaderboard(fresh) {
  const filters = leaderboardFilters;
  view.setLeaderboardFilters(filters);
  await perform({ action: 'leaderboard' }, async () => {
    const query = G.leaderboardQuery(filters);
    const data = await api.leaderboard(query, { fresh });
    view.renderLeaderboard(data, filters, players.last);
    const me = players.last;
    if (!me || data.leaderboard.some((r) => G.isMe(r, me))) {
      view.setLeaderboardNote('');
      return;
    }
    const notRanked = `${me} has no completed game on this board yet.`;
    // A complete list without the player already says they are not ranked; ask for their rank only when
    // the list was cut off (so no needless 404 not_ranked).
    if (data.leaderboard.length < Number(query.get('limit'))) {
      view.setLeaderboardNote(notRanked);
      return;
    }
    try {
      const r = (await api.rank(me, query)).userRank;
      view.setLeaderboardNote(`Your best on this board: #${r.rank} of ${r.totalRankedPlayers} with ${r.bestScore} points.`);
    } catch (err) {
      if (!(err instanceof ApiError) || !['not_ranked', 'player_not_found'].includes(err.code)) throw err;
      view.setLeaderboardNote(notRanked);
    }
  });
}

async function loadStats() {
  const me = players.last;
  if (!me) {
    view.renderStats(null, 'Play a game first: your numbers and recent games appear here.');
    return;
  }
  await perform({ action: 'stats', username: me }, async () => {
    try {
      const data = await api.player(me, { limit: 10 });
      view.renderStats(data, `${data.user.username}, here is how you are doing.`);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'player_not_found') {
        view.renderStats(null, `${me} has not played yet. Start a game!`);
        return;
      }
      throw err;
    }
  });
}

// --- start-up ------------------------------------------------------------------------------------
async function restoreGame() {
  let saved;
  try {
    saved = JSON.parse(storage.get(GAME_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  if (!saved || typeof saved.gameId !== 'string' || !tokenOf(saved.username)) return;
  try {
    const res = await api.game(saved.gameId, { token: tokenOf(saved.username) });
    const restored = G.gameFromView(res.game, now());
    if (G.isLive(restored)) {
      game = restored;
      view.renderGame(game, now());
      view.setMessage('Welcome back! Your game is where you left it.');
    } else {
      storage.remove(GAME_KEY);
    }
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    if (err.code !== 'network') storage.remove(GAME_KEY);
  }
}

let booted = false;

async function boot() {
  view.setUsername(players.last);
  view.setLeaderboardFilters(leaderboardFilters);
  window.addEventListener('hashchange', route);
  await Promise.all([loadSetup(), restoreGame()]);
  route();
  booted = true;
  setInterval(tick, 250);
}

boot();
