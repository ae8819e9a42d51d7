// The only module that touches the DOM. It renders values prepared by game.js and reports what the
// player did through the handlers main.js gives it. Server text goes in with textContent only.

import {
  breakdownRows, canFlip, categoryEmoji, capitalize, countOf, dailySummary, difficultyEmoji, difficultyLabel,
  difficultySummary, displayCards, formatClock, formatDate, formatElapsed, formatMinutes, isMe, leaderboardCaption,
  moveIndex, pauseButtonText, performanceText, rankText, remainingAt, resultStats, statsCards, timeUntil,
} from './game.js';

const SCREENS = ['setup', 'game', 'leaderboard', 'stats', 'about'];

function el(doc, tag, { text, className, attrs } = {}) {
  const node = doc.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, v);
  return node;
}

export function createView(doc, handlers) {
  const $ = (id) => doc.getElementById(id);
  const board = $('board');
  const dialog = $('result-dialog');
  let cardButtons = [];
  let focusIndex = 0;
  let boardGameId = null;
  let currentGame = null;
  let retryTimer = null;

  // --- navigation ---------------------------------------------------------------------------
  function showScreen(name, { focus = false } = {}) {
    for (const s of SCREENS) $(`screen-${s}`).hidden = s !== name;
    const nav = name === 'game' || name === 'setup' ? 'play' : name;
    for (const a of doc.querySelectorAll('[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    if (focus) {
      const heading = doc.querySelector(`#screen-${name} h1`);
      heading?.focus();
    }
  }

  // --- alerts -------------------------------------------------------------------------------
  const ACTION_TEXT = { retry: 'Try again', 'new-game': 'New game', rename: 'Choose another name' };

  function showError(desc, onAction) {
    clearTimeout(retryTimer);
    const box = $('alert');
    $('alert-title').textContent = desc.title;
    $('alert-text').textContent = desc.text;
    const button = $('alert-action');
    button.hidden = !desc.action;
    button.textContent = ACTION_TEXT[desc.action] ?? '';
    button.disabled = false;
    button.onclick = () => {
      clearError();
      onAction?.(desc.action);
    };
    box.hidden = false;
    // A rate limit or a busy server says when to come back: the button waits and counts down.
    if (desc.action === 'retry' && desc.retryAfterSeconds) {
      let left = desc.retryAfterSeconds;
      button.disabled = true;
      const tick = () => {
        if (left <= 0) {
          button.disabled = false;
          button.textContent = ACTION_TEXT.retry;
          return;
        }
        button.textContent = `Try again in ${left} s`;
        left -= 1;
        retryTimer = setTimeout(tick, 1000);
      };
      tick();
    }
  }

  function clearError() {
    clearTimeout(retryTimer);
    $('alert').hidden = true;
  }

  $('alert-dismiss').addEventListener('click', clearError);

  // --- setup --------------------------------------------------------------------------------
  function setUsername(name) {
    $('username').value = name ?? '';
  }

  function showUsernameError(message) {
    const p = $('username-error');
    const input = $('username');
    if (message) {
      p.textContent = message;
      p.hidden = false;
      input.setAttribute('aria-invalid', 'true');
    } else {
      p.textContent = '';
      p.hidden = true;
      input.removeAttribute('aria-invalid');
    }
  }

  function focusUsername() {
    showScreen('setup');
    const input = $('username');
    input.focus();
    input.select();
  }

  function renderConfig(config, selected) {
    const options = $('difficulty-options');
    options.replaceChildren();
    for (const d of config.difficulties) {
      const id = `difficulty-${d.id}`;
      const wrap = el(doc, 'div', { className: 'option' });
      const input = el(doc, 'input', { attrs: { type: 'radio', name: 'difficulty', id, value: d.id } });
      input.checked = d.id === selected.difficulty;
      const label = el(doc, 'label', { attrs: { for: id } });
      label.append(
        el(doc, 'span', { className: 'option-emoji', text: difficultyEmoji(d.id), attrs: { 'aria-hidden': 'true' } }),
        el(doc, 'span', { className: 'option-name', text: difficultyLabel(d.id) }),
        el(doc, 'span', { className: 'option-detail', text: difficultySummary(d) }),
      );
      wrap.append(input, label);
      options.append(wrap);
    }
    const cats = $('category-options');
    cats.replaceChildren();
    for (const c of config.categories) {
      const id = `category-${c}`;
      const input = el(doc, 'input', { attrs: { type: 'checkbox', name: 'category', id, value: c } });
      input.checked = selected.categories.includes(c);
      const label = el(doc, 'label', { className: 'chip', attrs: { for: id } });
      const emoji = categoryEmoji(c);
      if (emoji) label.append(el(doc, 'span', { text: emoji, attrs: { 'aria-hidden': 'true' } }), ' ');
      label.append(capitalize(c));
      const wrap = el(doc, 'div', { className: 'chip-wrap' });
      wrap.append(input, label);
      cats.append(wrap);
    }
    renderRules(config);
  }

  function renderRules(config) {
    const body = $('rules-body');
    body.replaceChildren();
    for (const d of config.difficulties) {
      const tr = el(doc, 'tr');
      tr.append(
        el(doc, 'th', { text: difficultyLabel(d.id), attrs: { scope: 'row' } }),
        el(doc, 'td', { text: `${d.columns}×${d.rows}` }),
        el(doc, 'td', { text: String(d.pointsPerPair), className: 'num' }),
        el(doc, 'td', { text: `+${d.pairSpeedBonus} within ${d.pairSpeedWindowMs / 1000} s`, className: 'num' }),
        el(doc, 'td', { text: formatMinutes(d.timeLimitMs), className: 'num' }),
        el(doc, 'td', { text: String(d.maxScore), className: 'num' }),
      );
      body.append(tr);
    }
  }

  function readSetup() {
    const difficulty = doc.querySelector('input[name="difficulty"]:checked')?.value ?? 'easy';
    const categories = [...doc.querySelectorAll('input[name="category"]:checked')].map((i) => i.value);
    return { username: $('username').value, difficulty, categories };
  }

  function renderDaily(challenge, now) {
    const button = $('daily-button');
    if (!challenge) {
      $('daily-text').textContent = "Today's challenge is not available right now.";
      $('daily-ends').textContent = '';
      button.disabled = true;
      return;
    }
    $('daily-text').textContent = dailySummary(challenge);
    $('daily-ends').textContent = `${challenge.date} · ${timeUntil(challenge.endsAt, now)}`;
    button.disabled = Boolean(challenge.played);
    button.textContent = challenge.played ? "✅ You've played today's challenge" : "Play today's challenge";
  }

  function setBusy(busy) {
    $('start-button').disabled = busy;
    $('start-button').setAttribute('aria-busy', String(busy));
  }

  $('setup-form').addEventListener('submit', (event) => {
    event.preventDefault();
    handlers.onStart(readSetup());
  });
  $('daily-button').addEventListener('click', () => handlers.onStart({ ...readSetup(), daily: true }));
  $('username').addEventListener('input', () => showUsernameError(null));

  // --- board --------------------------------------------------------------------------------
  function buildBoard(game) {
    board.replaceChildren();
    board.dataset.columns = String(game.columns);
    board.dataset.rows = String(game.rows);
    board.setAttribute('aria-label', `Cards, ${game.columns} columns by ${game.rows} rows`);
    cardButtons = game.cards.map((c, i) => {
      const button = el(doc, 'button', { className: 'card', attrs: { type: 'button', 'data-position': String(i) } });
      const inner = el(doc, 'span', { className: 'card-inner', attrs: { 'aria-hidden': 'true' } });
      const back = el(doc, 'span', { className: 'card-back' });
      back.append(el(doc, 'span', { className: 'card-number', text: String(i + 1) }));
      const front = el(doc, 'span', { className: 'card-front' });
      front.append(el(doc, 'span', { className: 'card-emoji' }), el(doc, 'span', { className: 'card-name' }));
      inner.append(back, front);
      button.append(inner);
      button.addEventListener('click', () => {
        focusIndex = i;
        syncTabStops();
        if (currentGame && canFlip(currentGame, currentGame.cards[i].id)) handlers.onFlip(currentGame.cards[i].id);
      });
      board.append(button);
      return button;
    });
    focusIndex = 0;
    boardGameId = game.id;
  }

  function syncTabStops() {
    cardButtons.forEach((b, i) => { b.tabIndex = i === focusIndex ? 0 : -1; });
  }

  board.addEventListener('keydown', (event) => {
    if (!currentGame) return;
    const next = moveIndex(focusIndex, event.key, currentGame.columns, cardButtons.length, event.ctrlKey);
    if (next === null) return;
    event.preventDefault();
    focusCard(next);
  });

  function focusCard(index) {
    focusIndex = Math.max(0, Math.min(index, cardButtons.length - 1));
    syncTabStops();
    cardButtons[focusIndex]?.focus();
  }

  function renderGame(game, now) {
    currentGame = game;
    if (boardGameId !== game.id) buildBoard(game);
    const title = game.daily
      ? `Daily challenge ${game.daily} · ${difficultyLabel(game.difficulty)}`
      : `${difficultyLabel(game.difficulty)} game`;
    $('game-title').textContent = title;
    $('info-player').textContent = game.username;
    $('info-score').textContent = String(game.score);
    $('info-moves').textContent = String(game.moves);
    $('info-pairs').textContent = `${game.pairsFound} / ${game.totalPairs}`;
    renderTime(game, now);
    const paused = game.status === 'paused';
    const live = game.status === 'active' || paused;
    board.classList.toggle('is-paused', paused);
    $('paused-overlay').hidden = !paused;
    const pause = $('pause-button');
    pause.textContent = pauseButtonText(game);
    pause.disabled = !live || (!paused && game.pausesLeft <= 0);
    pause.setAttribute('aria-pressed', String(paused));
    $('quit-button').disabled = !live;
    const cards = displayCards(game);
    cards.forEach((card, i) => {
      const button = cardButtons[i];
      button.dataset.state = card.state;
      button.toggleAttribute('data-missed', card.state === 'up' && game.missed.includes(card.id));
      button.setAttribute('aria-label', card.label);
      const playable = canFlip(game, card.id);
      if (playable) button.removeAttribute('aria-disabled');
      else button.setAttribute('aria-disabled', 'true');
      button.querySelector('.card-emoji').textContent = card.face ? card.face.emoji : '';
      button.querySelector('.card-name').textContent = card.face ? card.face.name : '';
    });
    syncTabStops();
  }

  function renderTime(game, now) {
    const ms = remainingAt(game, now);
    const dd = $('info-time');
    dd.textContent = formatClock(ms);
    dd.classList.toggle('is-low', game.status === 'active' && ms <= 30000);
  }

  function setMessage(text) {
    $('game-message').textContent = text ?? '';
  }

  // Screen readers hear the face of each turned card even though focus stays on the button.
  function announce(text) {
    const a = $('announcer');
    a.textContent = '';
    // A fresh text node after clearing makes repeated identical messages audible again.
    setTimeout(() => { a.textContent = text; }, 30);
  }

  $('pause-button').addEventListener('click', () => handlers.onPause());
  $('new-game-button').addEventListener('click', () => handlers.onNewGame());
  $('quit-button').addEventListener('click', () => handlers.onQuit());

  // --- results ------------------------------------------------------------------------------
  function showResult(result) {
    $('result-score').textContent = String(result.finalScore);
    $('result-total').textContent = String(result.finalScore);
    $('result-performance').textContent = performanceText(result);
    $('result-message').textContent = result.performance.message ?? '';
    $('result-rank').textContent = rankText(result);
    const rows = $('result-breakdown');
    rows.replaceChildren();
    for (const r of breakdownRows(result)) {
      const tr = el(doc, 'tr');
      tr.append(el(doc, 'th', { text: r.label, attrs: { scope: 'row' } }), el(doc, 'td', { text: r.value, className: 'num' }));
      rows.append(tr);
    }
    const stats = $('result-stats');
    stats.replaceChildren();
    for (const s of resultStats(result)) {
      const div = el(doc, 'div');
      div.append(el(doc, 'dt', { text: s.label }), el(doc, 'dd', { text: s.value }));
      stats.append(div);
    }
    const list = $('result-achievements');
    list.replaceChildren();
    if (result.achievements.length === 0) {
      list.append(el(doc, 'li', { text: 'None this time. Try a game with no misses!', className: 'none' }));
    }
    for (const a of result.achievements) {
      const li = el(doc, 'li', { className: `achievement rarity-${a.rarity}` });
      li.append(
        el(doc, 'span', { className: 'achievement-icon', text: a.icon, attrs: { 'aria-hidden': 'true' } }),
        el(doc, 'strong', { text: a.title }),
        el(doc, 'span', { text: ` ${a.description}` }),
      );
      list.append(li);
    }
    if (!dialog.open) dialog.showModal();
    // The title, not the last button: the dialog opens at its top and screen readers start with the title.
    $('result-title').focus();
  }

  function closeResult() {
    if (dialog.open) dialog.close();
  }

  $('play-again-button').addEventListener('click', () => { closeResult(); handlers.onPlayAgain(); });
  $('see-leaderboard-button').addEventListener('click', () => { closeResult(); handlers.onSeeLeaderboard(); });

  // --- leaderboard --------------------------------------------------------------------------
  function readLeaderboardFilters() {
    return { board: $('lb-board').value, difficulty: $('lb-difficulty').value };
  }

  function setLeaderboardFilters({ board: b, difficulty }) {
    $('lb-board').value = b;
    $('lb-difficulty').value = difficulty ?? '';
    $('lb-difficulty').disabled = b === 'daily';
  }

  function renderLeaderboard(data, filters, username) {
    $('lb-caption').textContent = leaderboardCaption(filters);
    const m = data.metadata ?? {};
    const bits = [];
    if (m.period) bits.push(`Period ${m.period}`);
    if (m.daily) bits.push(`Challenge of ${m.daily}`);
    bits.push(countOf(m.totalPlayers ?? data.leaderboard.length, 'ranked player'));
    if (m.lastUpdated) bits.push(`updated ${formatDate(m.lastUpdated)}`);
    $('lb-meta').textContent = bits.join(' · ');
    const body = $('lb-body');
    body.replaceChildren();
    for (const row of data.leaderboard) {
      const mine = isMe(row, username);
      const tr = el(doc, 'tr', { className: mine ? 'is-me' : '' });
      const player = el(doc, 'td', { className: 'player' });
      player.append(row.username);
      if (mine) player.append(el(doc, 'span', { className: 'you', text: ' (you)' }));
      const rank = el(doc, 'td', { className: 'rank' });
      const medal = ['🥇', '🥈', '🥉'][row.rank - 1];
      if (medal) rank.append(el(doc, 'span', { text: `${medal} `, attrs: { 'aria-hidden': 'true' } }));
      rank.append(`#${row.rank}`);
      tr.append(
        rank,
        player,
        el(doc, 'td', { text: String(row.bestScore), className: 'num' }),
        el(doc, 'td', { text: formatElapsed(row.bestTimeMs), className: 'num' }),
        el(doc, 'td', { text: difficultyLabel(row.difficulty), className: 'narrow-optional' }),
        el(doc, 'td', { text: String(row.gamesCompleted), className: 'num optional' }),
      );
      body.append(tr);
    }
    $('lb-empty').hidden = data.leaderboard.length > 0;
  }

  function setLeaderboardNote(text) {
    $('lb-mine').textContent = text ?? '';
  }

  $('lb-board').addEventListener('change', () => {
    $('lb-difficulty').disabled = $('lb-board').value === 'daily';
    handlers.onLeaderboard(readLeaderboardFilters(), false);
  });
  $('lb-difficulty').addEventListener('change', () => handlers.onLeaderboard(readLeaderboardFilters(), false));
  $('lb-refresh').addEventListener('click', () => handlers.onLeaderboard(readLeaderboardFilters(), true));

  // --- my stats -----------------------------------------------------------------------------
  function renderStats(data, intro) {
    $('stats-intro').textContent = intro;
    const grid = $('stats-grid');
    grid.replaceChildren();
    const history = $('history-body');
    history.replaceChildren();
    if (!data) {
      $('history-empty').hidden = false;
      return;
    }
    for (const s of statsCards(data.statistics)) {
      const div = el(doc, 'div', { className: 'stat' });
      div.append(el(doc, 'dt', { text: s.label }), el(doc, 'dd', { text: s.value }));
      grid.append(div);
    }
    for (const g of data.history.items) {
      const tr = el(doc, 'tr');
      const game = g.daily ? `Daily · ${difficultyLabel(g.difficulty)}` : difficultyLabel(g.difficulty);
      tr.append(
        el(doc, 'td', { text: formatDate(g.completedAt ?? g.startedAt) }),
        el(doc, 'td', { text: game }),
        el(doc, 'td', { text: capitalize(g.status) }),
        el(doc, 'td', { text: String(g.score ?? 0), className: 'num' }),
        el(doc, 'td', { text: g.timeMs == null ? '–' : formatElapsed(g.timeMs), className: 'num' }),
        el(doc, 'td', { text: String(g.moves ?? 0), className: 'num optional' }),
      );
      history.append(tr);
    }
    $('history-empty').hidden = data.history.items.length > 0;
  }

  return {
    showScreen,
    showError,
    clearError,
    setUsername,
    showUsernameError,
    focusUsername,
    renderConfig,
    readSetup,
    renderDaily,
    setBusy,
    renderGame,
    renderTime,
    focusCard,
    focusBoard: () => focusCard(focusIndex),
    setMessage,
    announce,
    showResult,
    closeResult,
    readLeaderboardFilters,
    setLeaderboardFilters,
    renderLeaderboard,
    setLeaderboardNote,
    renderStats,
  };
}
