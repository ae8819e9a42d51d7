// The HTTP client for docs/api.md. `fetch` and `sleep` are passed in, so tests drive it without a network
// or a clock.
// Every POST carries the Idempotency-Key its caller chose; a retry of the same action reuses that key,
// so the server answers it from its stored response instead of doing the action twice.

export class ApiError extends Error {
  constructor({ status, code, message, details, retryAfterSeconds, requestId }) {
    super(message || code);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details ?? [];
    this.retryAfterSeconds = retryAfterSeconds ?? null;
    this.requestId = requestId ?? null;
  }
}

// Worth one quiet retry with the same key: the request may never have reached the server,
// or the server asked us to come back in a moment.
function isTransient(err) {
  if (err.code === 'network' || err.code === 'bad_gateway' || err.code === 'idempotency_in_progress') return true;
  return err.status === 503 && (err.retryAfterSeconds ?? 99) <= 2;
}

function retryAfter(res, body) {
  const fromBody = Number(body?.retryAfterSeconds);
  if (Number.isFinite(fromBody) && fromBody > 0) return fromBody;
  const fromHeader = Number(res.headers.get('Retry-After'));
  return Number.isFinite(fromHeader) && fromHeader > 0 ? fromHeader : null;
}

export function createApi({ fetch, sleep, base = '/api', retries = 1, retryDelayMs = 400 }) {
  if (typeof fetch !== 'function' || typeof sleep !== 'function') throw new TypeError('createApi needs fetch and sleep');
  async function once(method, path, { body, token, key, query, fresh } = {}) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, credentials: 'same-origin' };
    if (fresh) init.cache = 'no-store';
    if (method === 'POST') {
      headers['Content-Type'] = 'application/json';
      if (key) headers['Idempotency-Key'] = key;
      init.body = JSON.stringify(body ?? {});
    }
    const url = base + path + (query && String(query) ? `?${query}` : '');
    let res;
    try {
      res = await fetch(url, init);
    } catch (cause) {
      throw new ApiError({ status: 0, code: 'network', message: `The request failed: ${cause?.message ?? cause}` });
    }
    const text = await res.text().catch(() => '');
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (res.ok && data && typeof data === 'object') return data;
    if (res.ok) {
      throw new ApiError({ status: res.status, code: 'bad_response', message: 'The server sent an unreadable answer.' });
    }
    if (data && typeof data.error === 'string') {
      throw new ApiError({
        status: res.status,
        code: data.error,
        message: data.message,
        details: data.details,
        retryAfterSeconds: retryAfter(res, data),
        requestId: data.requestId,
      });
    }
    // Not our JSON: a proxy in between answered (e.g. nginx's 502 page while the server restarts).
    const code = [502, 503, 504].includes(res.status) ? 'bad_gateway' : res.status === 429 ? 'rate_limited' : `http_${res.status}`;
    throw new ApiError({ status: res.status, code, message: `The server answered ${res.status}.`, retryAfterSeconds: retryAfter(res, null) });
  }

  async function request(method, path, options = {}) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await once(method, path, options);
      } catch (err) {
        if (!(err instanceof ApiError) || attempt >= retries || !isTransient(err)) throw err;
        const delay = err.retryAfterSeconds ? err.retryAfterSeconds * 1000 : retryDelayMs * (attempt + 1);
        await sleep(delay);
      }
    }
  }

  const game = (id) => `/game/${encodeURIComponent(id)}`;

  return {
    config: () => request('GET', '/game/config'),
    dailyChallenge: ({ token } = {}) => request('GET', '/game/daily-challenge', { token, fresh: true }),
    start: (body, { token, key }) => request('POST', '/game/start', { body, token, key }),
    game: (id, { token }) => request('GET', game(id), { token, fresh: true }),
    flip: (id, cardId, { token, key }) => request('POST', `${game(id)}/flip`, { body: { cardId }, token, key }),
    pause: (id, { token, key }) => request('POST', `${game(id)}/pause`, { token, key }),
    resume: (id, { token, key }) => request('POST', `${game(id)}/resume`, { token, key }),
    abandon: (id, { token, key }) => request('POST', `${game(id)}/abandon`, { token, key }),
    leaderboard: (query, { fresh } = {}) =>
      request('GET', fresh ? '/leaderboard/fresh' : '/leaderboard', { query, fresh }),
    rank: (username, query) =>
      request('GET', `/leaderboard/rank/${encodeURIComponent(username)}`, { query, fresh: true }),
    player: (username, { limit = 10 } = {}) =>
      request('GET', `/scores/${encodeURIComponent(username)}`, { query: new URLSearchParams({ limit: String(limit) }), fresh: true }),
  };
}
