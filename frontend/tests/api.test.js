import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { importApi } from './helpers.js';

const { createApi, ApiError } = await importApi();

/** A fetch stand-in that records each call and answers from a script of responses (or throws). */
function scripted(...answers) {
  const calls = [];
  const fetch = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    const { status = 200, body, headers = {}, raw } = next;
    return new Response(raw ?? JSON.stringify(body), {
      status,
      headers: { 'Content-Type': raw ? 'text/html' : 'application/json', ...headers },
    });
  };
  return { fetch, calls };
}

const noSleep = async () => {};

describe('requests', () => {
  test('POSTs send JSON, the bearer token and the caller\'s Idempotency-Key', async () => {
    const { fetch, calls } = scripted({ status: 201, body: { success: true, game: {} } });
    const api = createApi({ fetch, sleep: noSleep });
    await api.start({ username: 'alice', difficulty: 'easy', categories: null }, { token: 'pt1.x', key: 'web-1' });
    const [{ url, init }] = calls;
    assert.equal(url, '/api/game/start');
    assert.equal(init.method, 'POST');
    assert.equal(init.headers['Content-Type'], 'application/json');
    assert.equal(init.headers.Authorization, 'Bearer pt1.x');
    assert.equal(init.headers['Idempotency-Key'], 'web-1');
    assert.deepEqual(JSON.parse(init.body), { username: 'alice', difficulty: 'easy', categories: null });
  });

  test('no token, no Authorization header', async () => {
    const { fetch, calls } = scripted({ body: { success: true } });
    await createApi({ fetch, sleep: noSleep }).config();
    assert.equal(calls[0].init.headers.Authorization, undefined);
    assert.equal(calls[0].url, '/api/game/config');
  });

  test('path parts are encoded and queries appended', async () => {
    const { fetch, calls } = scripted({ body: {} }, { body: {} }, { body: {} });
    const api = createApi({ fetch, sleep: noSleep });
    await api.flip('a/b', 'c1', { token: 't', key: 'k' });
    await api.leaderboard(new URLSearchParams({ limit: '5', daily: 'today' }), { fresh: true });
    await api.player('bob_1');
    assert.equal(calls[0].url, '/api/game/a%2Fb/flip');
    assert.deepEqual(JSON.parse(calls[0].init.body), { cardId: 'c1' });
    assert.equal(calls[1].url, '/api/leaderboard/fresh?limit=5&daily=today');
    assert.equal(calls[1].init.cache, 'no-store');
    assert.equal(calls[2].url, '/api/scores/bob_1?limit=10');
  });

  test('pause, resume and abandon post to their routes', async () => {
    const { fetch, calls } = scripted({ body: {} }, { body: {} }, { body: {} });
    const api = createApi({ fetch, sleep: noSleep });
    await api.pause('g', { token: 't', key: 'k1' });
    await api.resume('g', { token: 't', key: 'k2' });
    await api.abandon('g', { token: 't', key: 'k3' });
    assert.deepEqual(calls.map((c) => [c.url, c.init.method, c.init.headers['Idempotency-Key']]), [
      ['/api/game/g/pause', 'POST', 'k1'], ['/api/game/g/resume', 'POST', 'k2'], ['/api/game/g/abandon', 'POST', 'k3'],
    ]);
  });
});

describe('errors', () => {
  test('the server\'s error body becomes an ApiError with its code, details and request id', async () => {
    const { fetch } = scripted({
      status: 400,
      body: { success: false, error: 'validation_failed', message: 'Please check', details: [{ field: 'username', message: 'bad' }], requestId: 'r1' },
    });
    const err = await createApi({ fetch, sleep: noSleep }).start({}, { key: 'k' }).catch((e) => e);
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'validation_failed');
    assert.equal(err.details[0].field, 'username');
    assert.equal(err.requestId, 'r1');
  });

  test('429 carries when to come back, from the body or the Retry-After header', async () => {
    const { fetch } = scripted(
      { status: 429, body: { error: 'rate_limited', message: 'slow', retryAfterSeconds: 12 } },
      { status: 429, body: { error: 'rate_limited', message: 'slow' }, headers: { 'Retry-After': '7' } },
    );
    const api = createApi({ fetch, sleep: noSleep });
    assert.equal((await api.config().catch((e) => e)).retryAfterSeconds, 12);
    assert.equal((await api.config().catch((e) => e)).retryAfterSeconds, 7);
  });

  test('a proxy\'s HTML error page is understood as the server being away', async () => {
    const { fetch } = scripted({ status: 502, raw: '<html>Bad Gateway</html>' }, { status: 502, raw: '<html>Bad Gateway</html>' });
    const err = await createApi({ fetch, sleep: noSleep }).config().catch((e) => e);
    assert.equal(err.code, 'bad_gateway');
  });
});

describe('retries', () => {
  test('a network failure is retried once with the same Idempotency-Key', async () => {
    const slept = [];
    const { fetch, calls } = scripted(new TypeError('Failed to fetch'), { body: { success: true, card: {} } });
    const api = createApi({ fetch, sleep: async (ms) => { slept.push(ms); } });
    const res = await api.flip('g', 'c', { token: 't', key: 'web-same' });
    assert.equal(res.success, true);
    assert.equal(calls.length, 2);
    assert.equal(calls[0].init.headers['Idempotency-Key'], 'web-same');
    assert.equal(calls[1].init.headers['Idempotency-Key'], 'web-same');
    assert.equal(calls[0].init.body, calls[1].init.body);
    assert.equal(slept.length, 1);
  });

  test('when the network stays down the caller gets a network error', async () => {
    const { fetch, calls } = scripted(new TypeError('down'), new TypeError('down'));
    const err = await createApi({ fetch, sleep: noSleep }).config().catch((e) => e);
    assert.equal(err.code, 'network');
    assert.equal(err.status, 0);
    assert.equal(calls.length, 2);
  });

  test('rate limits and game conflicts are not retried behind the player\'s back', async () => {
    for (const body of [{ error: 'rate_limited' }, { error: 'game_expired' }, { error: 'username_taken' }]) {
      const { fetch, calls } = scripted({ status: body.error === 'rate_limited' ? 429 : 409, body });
      await createApi({ fetch, sleep: noSleep }).start({}, { key: 'k' }).catch(() => {});
      assert.equal(calls.length, 1, body.error);
    }
  });

  test('a request still in progress on the server is retried after a pause', async () => {
    const { fetch, calls } = scripted(
      { status: 409, body: { error: 'idempotency_in_progress', message: 'busy' } },
      { body: { success: true } },
    );
    await createApi({ fetch, sleep: noSleep }).flip('g', 'c', { token: 't', key: 'k' });
    assert.equal(calls.length, 2);
  });
});
