// Pure state and rules of the page: values in, values out. No DOM, no fetch, no clock
// (callers pass `now`), so every function here runs under `node --test`.

export const DIFFICULTIES = ['easy', 'medium', 'hard', 'expert'];

const DIFFICULTY_EMOJI = { easy: '😊', medium: '🤔', hard: '😤', expert: '🤯' };

// Decoration only: the server owns the category list; an unknown one simply has no emoji.
const CATEGORY_EMOJI = {
  classic: '😂', love: '😍', thoughtful: '🤔', silly: '🤪', sassy: '🙄', tech: '🤖', spooky: '👻',
  space: '🚀', fantasy: '🦄', food: '🍕', nature: '🌈', music: '🎸', cool: '😎', celebration: '🎉',
  mystery: '🕵️', action: '🥷', adventure: '🏴‍☠️', hot: '🔥', energy: '⚡', luxury: '💎', achievement: '🏆',
};

// How long a missed pair stays visible before the page turns it face down on its own.
export const MISS_VISIBLE_MS = 1200;

export function capitalize(word) {
  const s = String(word ?? '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function difficultyLabel(id) {
  return capitalize(id);
}

export function difficultyEmoji(id) {
  return DIFFICULTY_EMOJI[id] ?? '';
}

export function categoryEmoji(name) {
  return CATEGORY_EMOJI[name] ?? '';
}

// ---------------------------------------------------------------------------------------------
// Player names and the tokens remembered on this device

const USERNAME_RE = /^[A-Za-z0-9_-]+$/;

/** Checks a player name the way the server does; returns {ok, username} or {ok:false, message}. */
export function validateUsername(raw) {
  const username = String(raw ?? '').trim();
  if (username === '') return { ok: false, message: 'Please enter a player name.' };
  if (username.length < 3 || username.length > 20) {
    return { ok: false, message: 'Use 3 to 20 characters.' };
  }
  if (!USERNAME_RE.test(username)) {
    return { ok: false, message: 'Use only letters, digits, _ or -.' };
  }
  return { ok: true, username };
}

/** Reads the stored players ({last, players:{lowercase:{username, token}}}); garbage gives an empty store. */
export function parsePlayers(json) {
  const empty = { last: '', players: {} };
  if (typeof json !== 'string' || json === '') return empty;
  let data;
  try {
    data = JSON.parse(json);
  } catch {
    return empty;
  }
  if (!data || typeof data !== 'object' || !data.players || typeof data.players !== 'object') return empty;
  const players = {};
  for (const [key, value] of Object.entries(data.players)) {
    if (value && typeof value.username === 'string' && typeof value.token === 'string' &&
        value.username.toLowerCase() === key) {
      players[key] = { username: value.username, token: value.token };
    }
  }
  const last = typeof data.last === 'string' ? data.last : '';
  return { last, players };
}

export function serializePlayers(store) {
  return JSON.stringify(store);
}

/** The token this device holds for `username` (names compare case-insensitively), or null. */
export function tokenFor(store, username) {
  return store.players[String(username).toLowerCase()]?.token ?? null;
}

/** Remembers the name last played and, when the server just issued one, its token. */
export function rememberPlayer(store, username, token) {
  const key = username.toLowerCase();
  const players = { ...store.players };
  if (token) players[key] = { username, token };
  return { last: username, players };
}

export function forgetPlayer(store, username) {
  const players = { ...store.players };
  delete players[String(username).toLowerCase()];
  return { ...store, players };
}

/** An Idempotency-Key from random bytes (visible ASCII, well under the 128-character limit). */
export function keyFromBytes(bytes) {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `web-${hex}`;
}

// ---------------------------------------------------------------------------------------------
// Setup screen

export function difficultySummary(d) {
  return `${d.columns}×${d.rows} grid · ${d.pairs} pairs · ${formatMinutes(d.timeLimitMs)}`;
}

export function formatMinutes(ms) {
  const minutes = Math.round(ms / 60000);
  return `${minutes} min`;
}

/** The body of POST /api/game/start; no ticked category means "any" (null). */
export function startRequest({ username, difficulty, categories, daily }) {
  if (daily) return { username, daily: true };
  return {
    username,
    difficulty: DIFFICULTIES.includes(difficulty) ? difficulty : 'easy',
    categories: categories && categories.length > 0 ? [...categories] : null,
  };
}

export function dailySummary(challenge) {
  const cats = challenge.categories && challenge.categories.length > 0
    ? challenge.categories.map(capitalize).join(', ')
    : 'any category';
  return `${difficultyLabel(challenge.difficulty)} · ${challenge.totalPairs} pairs · ` +
    `${formatMinutes(challenge.timeLimitMs)} · ${cats}`;
}

/** "ends in 5 h 12 min" from the challenge's endsAt and now (ms since the epoch). */
export function timeUntil(endsAtIso, now) {
  const ms = Date.parse(endsAtIso) - now;
  if (!Number.isFinite(ms) || ms <= 0) return 'ends soon';
  const totalMinutes = Math.ceil(ms / 60000);
  const h = Math.floor(totalMinutes / 60);
  const m = totalMinutes % 60;
  return h > 0 ? `ends in ${h} h ${m} min` : `ends in ${m} min`;
}

// ---------------------------------------------------------------------------------------------
// The board

/** The page's copy of a game, from the server's GameView and the moment it was received. */
export function gameFromView(view, receivedAt) {
  const cards = [...view.cards]
    .sort((a, b) => a.position - b.position)
    .map((c) => ({
      id: c.id,
      position: c.position,
      state: c.state,
      face: c.face ? { emoji: c.face.emoji, name: c.face.name, category: c.face.category } : null,
    }));
  const up = cards.filter((c) => c.state === 'up');
  return {
    id: view.gameId,
    username: view.username,
    difficulty: view.difficulty,
    daily: view.daily ?? null,
    status: view.status,
    columns: view.grid.columns,
    rows: view.grid.rows,
    totalPairs: view.totalPairs,
    timeLimitMs: view.timeLimitMs,
    remainingMs: view.remainingMs,
    receivedAt,
    score: view.score,
    moves: view.moves,
    pairsFound: view.pairsFound,
    misses: view.misses,
    streak: view.streak,
    pausesLeft: view.pausesLeft,
    cards,
    // Two unmatched cards face up can only be a miss waiting for the next flip.
    missed: up.length === 2 ? up.map((c) => c.id) : [],
    hidden: [],
  };
}

/** Applies a flip response; the server's GameView is the truth, the outcome says what just happened. */
export function applyFlip(game, response, receivedAt) {
  const next = gameFromView(response.game, receivedAt);
  const outcome = response.outcome ?? null;
  next.missed = outcome && outcome.result === 'miss' ? [...outcome.cards] : [];
  return next;
}

/** Turns the missed pair face down on the page (the server turns it down with the next flip). */
export function hideMissed(game) {
  if (game.missed.length === 0) return game;
  return { ...game, hidden: [...game.missed] };
}

export function cardLabel(card) {
  const n = card.position + 1;
  if (card.state === 'down' || !card.face) return `card ${n}, face down`;
  if (card.state === 'matched') return `card ${n}, ${card.face.name}, matched`;
  return `card ${n}, ${card.face.name}, face up`;
}

/** What the page shows for each card: its state after the local miss hiding, its face and label. */
export function displayCards(game) {
  return game.cards.map((c) => {
    const hidden = c.state === 'up' && game.hidden.includes(c.id);
    const state = hidden ? 'down' : c.state;
    const face = state === 'down' ? null : c.face;
    const card = { id: c.id, position: c.position, number: c.position + 1, state, face };
    return { ...card, label: cardLabel(card) };
  });
}

/** Face-down cards can be flipped, and so can a visible missed card: the server turns it down first. */
export function canFlip(game, cardId) {
  if (!game || game.status !== 'active') return false;
  const card = displayCards(game).find((c) => c.id === cardId);
  if (!card) return false;
  return card.state === 'down' || (card.state === 'up' && game.missed.includes(cardId));
}

export function isLive(game) {
  return Boolean(game) && (game.status === 'active' || game.status === 'paused');
}

/** Time left as the server counted it at the last response, run down locally while active. */
export function remainingAt(game, now) {
  if (game.status !== 'active') return Math.max(0, game.remainingMs);
  return Math.max(0, game.remainingMs - Math.max(0, now - game.receivedAt));
}

export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}

/** Elapsed play time: "42.3 s" below a minute, else "1:35". */
export function formatElapsed(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 60000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const total = Math.floor(ms / 1000);
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
}

const WARNINGS = [
  [60000, 'One minute left!'],
  [30000, '30 seconds left!'],
  [10000, '10 seconds left!'],
];

/** A spoken warning when the clock crosses a threshold between two readings, else null. */
export function timeWarning(previousMs, currentMs) {
  for (const [at, text] of WARNINGS) {
    if (previousMs > at && currentMs <= at) return text;
  }
  return null;
}

/**
 * Where focus goes from card `index` on a key press in a `columns`-wide grid of `count` cards,
 * or null when the key is not a grid key. Right/Left follow reading order; Up/Down stay in the column.
 */
export function moveIndex(index, key, columns, count, ctrl = false) {
  const row = Math.floor(index / columns);
  const rowStart = row * columns;
  const rowEnd = Math.min(rowStart + columns, count) - 1;
  switch (key) {
    case 'ArrowRight': return Math.min(index + 1, count - 1);
    case 'ArrowLeft': return Math.max(index - 1, 0);
    case 'ArrowDown': return index + columns < count ? index + columns : index;
    case 'ArrowUp': return index - columns >= 0 ? index - columns : index;
    case 'Home': return ctrl ? 0 : rowStart;
    case 'End': return ctrl ? count - 1 : rowEnd;
    default: return null;
  }
}

export function pauseButtonText(game) {
  if (game.status === 'paused') return 'Resume';
  return game.pausesLeft > 0 ? `Pause (${game.pausesLeft} left)` : 'No pauses left';
}

// ---------------------------------------------------------------------------------------------
// Results

export function breakdownRows(result) {
  const b = result.scoreBreakdown;
  return [
    ['Pairs found', b.baseScore],
    ['Quick pair bonuses', b.pairBonus],
    ['Game speed bonus', b.speedBonus],
    ['Perfect game bonus', b.perfectGameBonus],
    ['Streak bonus', b.streakBonus],
    ['Penalties', b.penalties > 0 ? -b.penalties : 0],
  ].map(([label, value]) => ({ label, value: formatSigned(value) }));
}

function formatSigned(n) {
  return n < 0 ? `−${Math.abs(n)}` : String(n);
}

export function performanceText(result) {
  const p = result.performance;
  return `${p.emoji} ${p.level}: ${p.percent}% of the best possible ${result.maxScore}`;
}

export function boardName(difficulty, daily) {
  if (daily) return "the daily challenge board";
  return `the all-time ${difficultyLabel(difficulty)} board`;
}

export function rankText(result) {
  const r = result.rank;
  if (!r) return 'Not ranked.';
  return `You are #${r.position} of ${r.totalPlayers} on ${boardName(r.difficulty, result.daily)}.`;
}

export function resultStats(result) {
  return [
    { label: 'Time', value: formatElapsed(result.timeElapsedMs) },
    { label: 'Moves', value: String(result.totalMoves) },
    { label: 'Misses', value: String(result.misses) },
    { label: 'Accuracy', value: `${result.accuracy}%` },
  ];
}

// ---------------------------------------------------------------------------------------------
// Leaderboard and stats

/** Query parameters for GET /api/leaderboard from the page's filters. */
export function leaderboardQuery({ board, difficulty, limit = 25 }) {
  const q = new URLSearchParams();
  q.set('limit', String(limit));
  if (board === 'daily') {
    q.set('daily', 'today');
  } else {
    q.set('timeframe', ['all', 'week', 'month'].includes(board) ? board : 'all');
    if (DIFFICULTIES.includes(difficulty)) q.set('difficulty', difficulty);
  }
  return q;
}

export function leaderboardCaption({ board, difficulty }) {
  const when = { all: 'All time', week: 'This week', month: 'This month', daily: "Today's challenge" }[board] ?? 'All time';
  if (board === 'daily') return when;
  return `${when} · ${DIFFICULTIES.includes(difficulty) ? difficultyLabel(difficulty) : 'all difficulties'}`;
}

/** "1 ranked player", "3 ranked players". */
export function countOf(n, noun) {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function isMe(row, username) {
  return Boolean(username) && String(row.username).toLowerCase() === String(username).toLowerCase();
}

export function statsCards(s) {
  return [
    { label: 'Games played', value: String(s.gamesStarted) },
    { label: 'Games completed', value: String(s.gamesCompleted) },
    { label: 'Best score', value: String(s.bestScore ?? 0) },
    { label: 'Average score', value: String(Math.round(s.averageScore ?? 0)) },
    { label: 'Fastest time', value: s.fastestTimeMs == null ? '–' : formatElapsed(s.fastestTimeMs) },
    { label: 'Perfect games', value: String(s.perfectGames ?? 0) },
    { label: 'Global rank', value: s.globalRank == null ? '–' : `#${s.globalRank}` },
    { label: 'Total score', value: String(s.totalScore ?? 0) },
  ];
}

export function formatDate(iso) {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '–';
  return d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

// ---------------------------------------------------------------------------------------------
// Errors a person can act on

/**
 * Turns an API error ({status, code, message, details, retryAfterSeconds, requestId}) into what the page
 * says: a title, a sentence, and the one action that helps ('retry', 'new-game', 'rename' or none).
 */
export function describeError(err, context = {}) {
  const code = err?.code ?? 'unknown';
  const name = context.username ? `“${context.username}”` : 'That name';
  const wait = Math.max(1, Math.ceil(Number(err?.retryAfterSeconds) || 5));
  switch (code) {
    case 'network':
    case 'bad_gateway':
      return {
        title: "Can't reach the game server",
        text: 'Check your connection, then try again. A retry never counts a move twice.',
        action: 'retry',
      };
    case 'rate_limited':
      return {
        title: 'Whoa, slow down!',
        text: `Too many requests from this device. Try again in ${wait} seconds.`,
        action: 'retry',
        retryAfterSeconds: wait,
      };
    case 'dependency_unavailable':
    case 'starting':
      return {
        title: 'The game server is busy',
        text: `It is reconnecting to its storage. Try again in ${wait} seconds.`,
        action: 'retry',
        retryAfterSeconds: wait,
      };
    case 'game_expired':
      return {
        title: "Time's up!",
        text: 'The clock ran out on this game, so it is not ranked. Start a new game and beat the clock!',
        action: 'new-game',
      };
    case 'token_required':
    case 'not_owner':
    case 'username_taken':
      return {
        title: 'That name is taken',
        text: `${name} already belongs to another player. Pick a different name. ` +
          'If it is yours, play on the device where you first used it.',
        action: 'rename',
      };
    case 'invalid_token':
      return {
        title: 'Your saved player key was not accepted',
        text: `This device's key for ${name} no longer works. Pick a different name to keep playing.`,
        action: 'rename',
      };
    case 'daily_already_played':
      return {
        title: 'Already played today',
        text: "You have already started today's daily challenge. A new one starts at midnight UTC; " +
          'a regular game is always open.',
        action: null,
      };
    case 'game_completed':
    case 'game_abandoned':
    case 'game_not_found':
      return { title: 'This game is over', text: 'Start a new game to keep playing.', action: 'new-game' };
    case 'pause_limit_reached':
      return { title: 'No pauses left', text: 'Each game allows 3 pauses.', action: null };
    case 'validation_failed': {
      const fields = (err.details ?? []).map((d) => `${d.field} ${d.message}`);
      return {
        title: 'Please check your input',
        text: fields.length > 0 ? fields.join('; ') + '.' : (err.message || 'Some fields are invalid.'),
        action: null,
      };
    }
    default: {
      const ref = err?.requestId ? ` (reference ${err.requestId})` : '';
      return {
        title: 'Something went wrong',
        text: `${err?.message || 'The server could not do that.'}${ref} Please try again.`,
        action: 'retry',
      };
    }
  }
}

/** Errors that mean the game has ended on the server (nothing left to pause, flip or abandon). */
export function isGameOver(err) {
  return ['game_expired', 'game_completed', 'game_abandoned', 'game_not_found'].includes(err?.code);
}

/** Errors that mean the page's copy of the game is out of date: reload it instead of showing an error. */
export function isOutOfSync(err) {
  return ['card_face_up', 'card_matched', 'attempt_in_progress', 'game_paused', 'game_not_paused']
    .includes(err?.code);
}
