import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gameView, importGame } from './helpers.js';

const G = await importGame();

describe('player names', () => {
  test('a valid name is accepted and trimmed', () => {
    assert.deepEqual(G.validateUsername('  Alice_01 '), { ok: true, username: 'Alice_01' });
    assert.equal(G.validateUsername('a-b').ok, true);
  });

  test('names the server would reject are refused with a reason', () => {
    assert.match(G.validateUsername('').message, /enter a player name/);
    assert.match(G.validateUsername('ab').message, /3 to 20/);
    assert.match(G.validateUsername('x'.repeat(21)).message, /3 to 20/);
    assert.match(G.validateUsername('bob smith').message, /letters, digits/);
    assert.match(G.validateUsername('<b>bob</b>').message, /letters, digits/);
    assert.match(G.validateUsername('zoë123').message, /letters, digits/);
  });
});

describe('remembered players', () => {
  test('a token is kept per name and found case-insensitively', () => {
    let store = G.parsePlayers(null);
    store = G.rememberPlayer(store, 'Alice', 'pt1.aaa');
    store = G.rememberPlayer(store, 'bob', 'pt1.bbb');
    const again = G.parsePlayers(G.serializePlayers(store));
    assert.equal(G.tokenFor(again, 'ALICE'), 'pt1.aaa');
    assert.equal(G.tokenFor(again, 'bob'), 'pt1.bbb');
    assert.equal(again.last, 'bob');
  });

  test('playing again without a new token keeps the old one', () => {
    let store = G.rememberPlayer(G.parsePlayers(''), 'alice', 'pt1.aaa');
    store = G.rememberPlayer(store, 'alice', undefined);
    assert.equal(G.tokenFor(store, 'alice'), 'pt1.aaa');
  });

  test('forgetting a player drops only that token', () => {
    let store = G.rememberPlayer(G.parsePlayers(''), 'alice', 'a');
    store = G.rememberPlayer(store, 'bob', 'b');
    store = G.forgetPlayer(store, 'ALICE');
    assert.equal(G.tokenFor(store, 'alice'), null);
    assert.equal(G.tokenFor(store, 'bob'), 'b');
  });

  test('corrupt or tampered storage gives an empty store instead of a crash', () => {
    for (const junk of ['{', '[]', 'null', '"x"', '{"players":5}']) {
      assert.deepEqual(G.parsePlayers(junk), { last: '', players: {} }, junk);
    }
    const mismatched = JSON.stringify({ last: 'x', players: { eve: { username: 'alice', token: 't' } } });
    assert.equal(G.tokenFor(G.parsePlayers(mismatched), 'eve'), null);
  });
});

test('idempotency keys are visible ASCII, unique per random input and short enough', () => {
  const a = G.keyFromBytes(new Uint8Array(16).fill(0xab));
  const b = G.keyFromBytes(Uint8Array.from({ length: 16 }, (_, i) => i));
  assert.match(a, /^[\x21-\x7e]{1,128}$/);
  assert.notEqual(a, b);
  assert.equal(b, 'web-000102030405060708090a0b0c0d0e0f');
});

describe('starting a game', () => {
  test('no ticked category means any (null), as the server expects', () => {
    assert.deepEqual(G.startRequest({ username: 'al', difficulty: 'hard', categories: [] }),
      { username: 'al', difficulty: 'hard', categories: null });
    assert.deepEqual(G.startRequest({ username: 'al', difficulty: 'easy', categories: ['food'] }).categories, ['food']);
  });

  test('the daily challenge sends neither difficulty nor categories', () => {
    assert.deepEqual(G.startRequest({ username: 'al', difficulty: 'hard', categories: ['food'], daily: true }),
      { username: 'al', daily: true });
  });

  test('an unknown difficulty falls back to easy', () => {
    assert.equal(G.startRequest({ username: 'al', difficulty: 'insane', categories: [] }).difficulty, 'easy');
  });

  test('setup texts describe the grid, pairs and time', () => {
    assert.equal(G.difficultySummary({ columns: 6, rows: 5, pairs: 15, timeLimitMs: 900000 }),
      '6×5 grid · 15 pairs · 15 min');
    assert.equal(G.dailySummary({ difficulty: 'medium', totalPairs: 10, timeLimitMs: 480000, categories: ['food', 'space'] }),
      'Medium · 10 pairs · 8 min · Food, Space');
    assert.match(G.dailySummary({ difficulty: 'easy', totalPairs: 8, timeLimitMs: 300000, categories: [] }), /any category/);
    const now = Date.parse('2026-11-26T18:30:00Z');
    assert.equal(G.timeUntil('2026-11-27T00:00:00Z', now), 'ends in 5 h 30 min');
    assert.equal(G.timeUntil('2026-11-26T18:00:00Z', now), 'ends soon');
  });
});

describe('the board', () => {
  test('cards are ordered by position and hidden faces stay unknown', () => {
    const game = G.gameFromView(gameView(), 1000);
    assert.deepEqual(game.cards.map((c) => c.position), [...Array(16).keys()]);
    assert.ok(game.cards.every((c) => c.face === null));
    assert.equal(game.columns, 4);
  });

  test('labels name the card, its face and its state', () => {
    const game = G.gameFromView(gameView({ 0: 'matched', 1: 'up' }), 0);
    const cards = G.displayCards(game);
    assert.equal(cards[0].label, 'card 1, Pizza Slice, matched');
    assert.equal(cards[1].label, 'card 2, Blast Off, face up');
    assert.equal(cards[4].label, 'card 5, face down');
  });

  test('only face-down cards of an active game can be flipped', () => {
    const game = G.gameFromView(gameView({ 0: 'matched', 1: 'up' }), 0);
    assert.equal(G.canFlip(game, 'id0'), false);
    assert.equal(G.canFlip(game, 'id1'), false, 'the first card of the attempt in progress');
    assert.equal(G.canFlip(game, 'id2'), true);
    assert.equal(G.canFlip(game, 'nope'), false);
    const paused = G.gameFromView(gameView({}, { status: 'paused' }), 0);
    assert.equal(G.canFlip(paused, 'id2'), false);
  });

  test('a miss stays visible and flippable, then the page turns it face down', () => {
    const before = G.gameFromView(gameView({ 2: 'up' }), 0);
    const response = {
      card: { id: 'id3', position: 3, face: { emoji: '🚀', name: 'Blast Off', category: 'space' } },
      turnedDown: [],
      outcome: { result: 'miss', cards: ['id2', 'id3'], points: 0, pairBonus: 0, message: 'Nope!' },
      game: gameView({ 2: 'up', 3: 'up' }, { moves: 1, misses: 1 }),
      result: null,
    };
    const after = G.applyFlip(before, response, 500);
    assert.deepEqual(after.missed, ['id2', 'id3']);
    assert.equal(G.displayCards(after)[3].state, 'up');
    assert.equal(G.canFlip(after, 'id3'), true, 'the server turns a missed card down before flipping it');
    assert.equal(G.canFlip(after, 'id0'), true);
    const hidden = G.hideMissed(after);
    assert.equal(G.displayCards(hidden)[3].state, 'down');
    assert.equal(G.displayCards(hidden)[3].face, null);
    assert.equal(G.canFlip(hidden, 'id3'), true);
  });

  test('a hit leaves nothing to hide', () => {
    const before = G.gameFromView(gameView({ 0: 'up' }), 0);
    const after = G.applyFlip(before, {
      card: { id: 'id2' }, turnedDown: [],
      outcome: { result: 'hit', cards: ['id0', 'id2'], points: 10, pairBonus: 5, message: 'Yes!' },
      game: gameView({ 0: 'matched', 2: 'matched' }, { score: 15, pairsFound: 1 }),
    }, 0);
    assert.deepEqual(after.missed, []);
    assert.equal(G.hideMissed(after), after);
    assert.equal(after.score, 15);
  });

  test('a reloaded game with two unmatched cards up knows they are a miss', () => {
    const game = G.gameFromView(gameView({ 5: 'up', 6: 'up', 0: 'matched', 2: 'matched' }), 0);
    assert.deepEqual(game.missed.sort(), ['id5', 'id6']);
    assert.deepEqual(G.gameFromView(gameView({ 5: 'up' }), 0).missed, []);
  });
});

describe('keyboard movement on the grid', () => {
  const count = 30; const cols = 6;
  test('arrows move in reading order and by columns, stopping at the edges', () => {
    assert.equal(G.moveIndex(0, 'ArrowLeft', cols, count), 0);
    assert.equal(G.moveIndex(5, 'ArrowRight', cols, count), 6);
    assert.equal(G.moveIndex(29, 'ArrowRight', cols, count), 29);
    assert.equal(G.moveIndex(2, 'ArrowDown', cols, count), 8);
    assert.equal(G.moveIndex(26, 'ArrowDown', cols, count), 26);
    assert.equal(G.moveIndex(2, 'ArrowUp', cols, count), 2);
    assert.equal(G.moveIndex(14, 'ArrowUp', cols, count), 8);
  });

  test('Home and End go to the row ends, with Ctrl to the board ends', () => {
    assert.equal(G.moveIndex(9, 'Home', cols, count), 6);
    assert.equal(G.moveIndex(9, 'End', cols, count), 11);
    assert.equal(G.moveIndex(9, 'Home', cols, count, true), 0);
    assert.equal(G.moveIndex(9, 'End', cols, count, true), 29);
  });

  test('other keys are not grid keys', () => {
    assert.equal(G.moveIndex(3, 'Enter', cols, count), null);
    assert.equal(G.moveIndex(3, 'a', cols, count), null);
  });
});

describe('time', () => {
  test('the clock runs down from the server figure only while active', () => {
    const game = G.gameFromView(gameView({}, { remainingMs: 10000 }), 1000);
    assert.equal(G.remainingAt(game, 4000), 7000);
    assert.equal(G.remainingAt(game, 99999), 0);
    assert.equal(G.remainingAt(game, 0), 10000, 'a clock that goes backwards does not add time');
    const paused = G.gameFromView(gameView({}, { remainingMs: 10000, status: 'paused' }), 1000);
    assert.equal(G.remainingAt(paused, 60000), 10000);
  });

  test('clock and elapsed formats', () => {
    assert.equal(G.formatClock(300000), '5:00');
    assert.equal(G.formatClock(61001), '1:02');
    assert.equal(G.formatClock(-5), '0:00');
    assert.equal(G.formatElapsed(42345), '42.3 s');
    assert.equal(G.formatElapsed(95000), '1:35');
    assert.equal(G.formatElapsed(undefined), '–');
  });

  test('warnings are spoken once when a threshold is crossed', () => {
    assert.equal(G.timeWarning(61000, 59000), 'One minute left!');
    assert.equal(G.timeWarning(59000, 58000), null);
    assert.equal(G.timeWarning(31000, 30000), '30 seconds left!');
    assert.equal(G.timeWarning(Infinity, 200000), null);
  });

  test('the pause button says what it will do', () => {
    const g = G.gameFromView(gameView({}, { pausesLeft: 2 }), 0);
    assert.equal(G.pauseButtonText(g), 'Pause (2 left)');
    assert.equal(G.pauseButtonText({ ...g, status: 'paused' }), 'Resume');
    assert.equal(G.pauseButtonText({ ...g, pausesLeft: 0 }), 'No pauses left');
  });
});

describe('results', () => {
  const result = {
    finalScore: 224, daily: null, difficulty: 'easy',
    scoreBreakdown: { baseScore: 80, pairBonus: 25, speedBonus: 120, perfectGameBonus: 0, streakBonus: 0, penalties: 1 },
    maxScore: 314,
    performance: { level: 'Excellent', emoji: '⭐', percent: 71.3, message: 'Nice' },
    timeElapsedMs: 95000, totalMoves: 9, matchesFound: 8, misses: 1, accuracy: 88.9, achievements: [],
    rank: { position: 3, totalPlayers: 41, timeframe: 'all', difficulty: 'easy' },
  };

  test('the breakdown lists every part, penalties as a minus', () => {
    const rows = G.breakdownRows(result);
    assert.deepEqual(rows.map((r) => r.value), ['80', '25', '120', '0', '0', '−1']);
    assert.equal(rows.length, 6);
  });

  test('performance, rank and stats texts', () => {
    assert.equal(G.performanceText(result), '⭐ Excellent: 71.3% of the best possible 314');
    assert.equal(G.rankText(result), 'You are #3 of 41 on the all-time Easy board.');
    assert.equal(G.rankText({ ...result, daily: '2026-11-26' }), 'You are #3 of 41 on the daily challenge board.');
    assert.equal(G.rankText({ ...result, rank: null }), 'Not ranked.');
    assert.deepEqual(G.resultStats(result).map((s) => s.value), ['1:35', '9', '1', '88.9%']);
  });
});

describe('leaderboard', () => {
  test('filters become the documented query', () => {
    assert.equal(String(G.leaderboardQuery({ board: 'week', difficulty: 'hard' })), 'limit=25&timeframe=week&difficulty=hard');
    assert.equal(String(G.leaderboardQuery({ board: 'all', difficulty: '' })), 'limit=25&timeframe=all');
    assert.equal(String(G.leaderboardQuery({ board: 'daily', difficulty: 'hard' })), 'limit=25&daily=today');
    assert.equal(String(G.leaderboardQuery({ board: 'bogus', difficulty: 'bogus' })), 'limit=25&timeframe=all');
  });

  test('counts agree with their number', () => {
    assert.equal(G.countOf(1, 'ranked player'), '1 ranked player');
    assert.equal(G.countOf(0, 'ranked player'), '0 ranked players');
    assert.equal(G.countOf(41, 'ranked player'), '41 ranked players');
  });

  test('captions and the own row', () => {
    assert.equal(G.leaderboardCaption({ board: 'month', difficulty: 'easy' }), 'This month · Easy');
    assert.equal(G.leaderboardCaption({ board: 'daily', difficulty: 'easy' }), "Today's challenge");
    assert.equal(G.isMe({ username: 'Alice' }, 'alice'), true);
    assert.equal(G.isMe({ username: 'Alice' }, ''), false);
  });

  test('stats cards show dashes for missing figures', () => {
    const cards = G.statsCards({ gamesStarted: 2, gamesCompleted: 0, totalScore: 0, bestScore: null,
      averageScore: null, fastestTimeMs: null, perfectGames: 0, globalRank: null });
    const byLabel = Object.fromEntries(cards.map((c) => [c.label, c.value]));
    assert.equal(byLabel['Fastest time'], '–');
    assert.equal(byLabel['Global rank'], '–');
    assert.equal(byLabel['Games played'], '2');
  });
});

describe('errors a person can act on', () => {
  test('unreachable server: retry', () => {
    const d = G.describeError({ code: 'network', status: 0 });
    assert.equal(d.action, 'retry');
    assert.match(d.title, /reach the game server/);
  });

  test('rate limited: says when to try again', () => {
    const d = G.describeError({ code: 'rate_limited', status: 429, retryAfterSeconds: 17 });
    assert.equal(d.retryAfterSeconds, 17);
    assert.match(d.text, /Try again in 17 seconds/);
    assert.equal(G.describeError({ code: 'rate_limited' }).retryAfterSeconds, 5);
  });

  test('name taken: what to do, naming the name', () => {
    for (const code of ['token_required', 'not_owner', 'username_taken']) {
      const d = G.describeError({ code }, { username: 'alice' });
      assert.equal(d.action, 'rename', code);
      assert.match(d.text, /“alice” already belongs to another player\. Pick a different name/);
    }
  });

  test('expired game: start a new one', () => {
    const d = G.describeError({ code: 'game_expired', status: 409 });
    assert.equal(d.action, 'new-game');
    assert.match(d.text, /not ranked/);
  });

  test('validation errors list the fields', () => {
    const d = G.describeError({ code: 'validation_failed', details: [{ field: 'username', message: 'must be 3-20' }] });
    assert.equal(d.text, 'username must be 3-20.');
  });

  test('unknown errors keep the server sentence and the request id', () => {
    const d = G.describeError({ code: 'internal_error', message: 'Oops.', requestId: 'r-1' });
    assert.match(d.text, /Oops\. \(reference r-1\)/);
    assert.equal(d.action, 'retry');
  });

  test('a game that ended on the server is recognised', () => {
    for (const code of ['game_expired', 'game_completed', 'game_abandoned', 'game_not_found']) {
      assert.equal(G.isGameOver({ code }), true, code);
    }
    assert.equal(G.isGameOver({ code: 'rate_limited' }), false);
    assert.equal(G.isGameOver(undefined), false);
  });

  test('conflicts that mean the page is behind are resynchronised, not shown', () => {
    assert.equal(G.isOutOfSync({ code: 'card_face_up' }), true);
    assert.equal(G.isOutOfSync({ code: 'game_expired' }), false);
  });
});
