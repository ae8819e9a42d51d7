//! Live state in Redis, shared by every replica. Every call is bounded by a timeout, so a Redis
//! outage gives fast errors (and 503s), never a hang.

use super::{
    window_of, BoardCache, CountedSave, GameLive, Idempotency, IdempotencyBegin, LiveError,
    LiveState, RateDecision, RateHit, RateLimits, Versioned,
};
use async_trait::async_trait;
use humor_game::Game;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// How long a finished game stays readable after its end became durable.
const FINISHED_KEEP_MS: i64 = 3_600_000;

/// Games a replica keeps its last copy of; past this many it starts again from none (a few
/// megabytes at most, and a copy only saves a read).
const RECENT_GAMES: usize = 4096;

pub struct RedisState {
    client: redis::Client,
    manager: OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    create: Script,
    save: Script,
    save_counted: Script,
    settle: Script,
    rate: Script,
    cache_get: Script,
    extend: Script,
    /// The copy of each game this replica saved or read last, so that a move usually costs one
    /// round trip (the save) instead of two: the save's compare-and-set catches a copy that
    /// another replica has moved past, and answers with the game as it is.
    recent: Mutex<HashMap<Uuid, Versioned>>,
}

// KEYS: game hash, due zset, start-operation key. ARGV: json, ttl ms, due_at, id, start answer
// (empty: no operation), its ttl ms.
const CREATE: &str = r"
redis.call('HSET', KEYS[1], 'v', 1, 's', ARGV[1], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[6]) end
return 1";

/// How long a retried start finds the game it dealt.
const START_OP_KEEP_MS: i64 = super::ANSWER_KEEP.as_millis() as i64;

/// A game's compare-and-set. KEYS: game hash, due zset. ARGV: expected version, json, expiry
/// (unix ms), due_at, id. Sets `saved` (1 or 0) and `now` (the game as it is after a failed set,
/// nils when it is gone). The hash keeps its due time (`d`): most moves leave it as it was, and
/// then its expiry and place in the sweep schedule are left too. (A release that does not write
/// `d` leaves it behind on its saves; a due time equal to that stale one again is not a move's.)
macro_rules! save_body {
    () => {
        r"
local saved, now = 0, {false, false}
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
if not cur[1] or tonumber(cur[1]) ~= tonumber(ARGV[1]) then
  now = redis.call('HMGET', KEYS[1], 'v', 's')
elseif cur[2] == ARGV[4] then
  redis.call('HSET', KEYS[1], 'v', tonumber(cur[1]) + 1, 's', ARGV[2])
  saved = 1
else
  redis.call('HSET', KEYS[1], 'v', tonumber(cur[1]) + 1, 's', ARGV[2], 'd', ARGV[4])
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
  if redis.call('ZSCORE', KEYS[2], ARGV[5]) then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5]) end
  saved = 1
end
"
    };
}

// Returns {saved, version, state}.
const SAVE: &str = concat!(save_body!(), "return {saved, now[1], now[2]}");

// SAVE after counting a rate-limit hit. KEYS: as SAVE's, then the rate counter. ARGV: as SAVE's,
// then the rate window in ms and the limit. Returns {count, saved, version, state}; a refused hit
// stores nothing.
const SAVE_COUNTED: &str = concat!(
    r"
local c = redis.call('INCR', KEYS[3])
if c == 1 then redis.call('PEXPIRE', KEYS[3], ARGV[6]) end
if c > tonumber(ARGV[7]) then return {c, 0, false, false} end
",
    save_body!(),
    "return {c, saved, now[1], now[2]}"
);

// KEYS: game hash, due zset. ARGV: id, ttl ms.
const SETTLE: &str = r"
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1";

// KEYS: counter. ARGV: window ms.
const RATE: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c";

// KEYS: idempotency key. ARGV: in-progress marker, lease ms.
const EXTEND: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0";

// KEYS: generation counter. ARGV: key prefix, cache key.
const CACHE_GET: &str = r"
local g = redis.call('GET', KEYS[1]) or '0'
return {g, redis.call('GET', ARGV[1] .. g .. ':' .. ARGV[2])}";

impl RedisState {
    /// Validates the URL; the connection is made on first use and re-made after failures.
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Result<RedisState, LiveError> {
        let client =
            redis::Client::open(url).map_err(|e| LiveError::corrupt_by("invalid Redis URL", e))?;
        Ok(RedisState {
            client,
            manager: OnceCell::new(),
            prefix: prefix.to_string(),
            timeout,
            create: Script::new(CREATE),
            save: Script::new(SAVE),
            save_counted: Script::new(SAVE_COUNTED),
            settle: Script::new(SETTLE),
            rate: Script::new(RATE),
            cache_get: Script::new(CACHE_GET),
            extend: Script::new(EXTEND),
            recent: Mutex::new(HashMap::new()),
        })
    }

    /// host:port (or the socket path) this state connects to, for health reports and logs.
    pub fn address(&self) -> String {
        self.client.get_connection_info().addr.to_string()
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }

    async fn conn(&self) -> Result<ConnectionManager, LiveError> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(self.timeout)
                    .set_response_timeout(self.timeout)
                    .set_number_of_retries(1);
                tokio::time::timeout(
                    self.timeout * 2,
                    ConnectionManager::new_with_config(self.client.clone(), config),
                )
                .await
                .map_err(|_| LiveError::unavailable("timed out connecting to Redis"))?
                .map_err(LiveError::from)
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs one Redis interaction under the timeout, recording its latency and errors.
    async fn run<T, F, Fut>(&self, operation: &'static str, f: F) -> Result<T, LiveError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let start = Instant::now();
        let out = async {
            let conn = self.conn().await?;
            tokio::time::timeout(self.timeout, f(conn))
                .await
                .map_err(|_| LiveError::unavailable("Redis did not answer in time"))?
                .map_err(LiveError::from)
        }
        .await;
        metrics::histogram!("redis_command_duration_seconds", "operation" => operation)
            .record(start.elapsed().as_secs_f64());
        if out.is_err() {
            metrics::counter!("redis_errors_total", "operation" => operation).increment(1);
        }
        out
    }

    fn game_key(&self, id: Uuid) -> String {
        self.key(&["game", &id.to_string()])
    }

    fn due_key(&self) -> String {
        self.key(&["games", "due"])
    }

    /// The counter of `client`'s current window, and the time left in that window.
    fn rate_key(&self, client: &str, window: Duration, now_ms: i64) -> (String, Duration) {
        let (index, reset_after) = window_of(now_ms, window);
        (self.key(&["rl", client, &index.to_string()]), reset_after)
    }

    /// What a save learnt: on success the saved game is the copy; otherwise the game as it is.
    fn saved(&self, game: &Game, expected: u64, stored: bool, now: Option<Versioned>) {
        let copy = if stored {
            Some(Versioned {
                version: expected + 1,
                game: game.clone(),
            })
        } else {
            now
        };
        self.remember(game.id, copy);
    }

    fn recent(&self) -> MutexGuard<'_, HashMap<Uuid, Versioned>> {
        // Nothing panics while holding it; were it poisoned, the copies are still only copies.
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, id: Uuid, copy: Option<Versioned>) {
        let mut recent = self.recent();
        match copy {
            Some(copy) => {
                if recent.len() >= RECENT_GAMES && !recent.contains_key(&id) {
                    recent.clear();
                }
                recent.insert(id, copy);
            }
            None => {
                recent.remove(&id);
            }
        }
    }
}

/// A game as Redis holds it (`HMGET v s`), or none.
fn decode(version: Option<u64>, json: Option<String>) -> Result<Option<Versioned>, LiveError> {
    match (version, json) {
        (Some(version), Some(json)) => {
            let game = serde_json::from_str(&json).map_err(|e| LiveError::corrupt_by("", e))?;
            Ok(Some(Versioned { version, game }))
        }
        _ => Ok(None),
    }
}

/// A live game's JSON is 1-2 KB: written into room for it, not grown from 128 bytes.
const GAME_ROOM: usize = 2048;

fn encode(game: &Game) -> Result<Vec<u8>, LiveError> {
    let mut buf = Vec::with_capacity(GAME_ROOM);
    serde_json::to_writer(&mut buf, game).map_err(|e| LiveError::corrupt_by("", e))?;
    Ok(buf)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Keep a game an hour past its sweep time.
fn ttl_for(due_at: i64) -> i64 {
    (due_at - now_ms()).max(0) + FINISHED_KEEP_MS
}

/// The same, as the unix time in ms the game's key expires.
fn expiry_for(due_at: i64) -> i64 {
    due_at.max(now_ms()) + FINISHED_KEEP_MS
}

#[async_trait]
impl LiveState for RedisState {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), LiveError> {
        self.run("ping", |mut c| async move {
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn ping_fresh(&self) -> Result<(), LiveError> {
        let client = self.client.clone();
        tokio::time::timeout(self.timeout * 2, async move {
            let mut c = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .map_err(LiveError::from)
        })
        .await
        .map_err(|_| LiveError::unavailable("timed out"))?
        .map(|_| ())
    }
}

#[async_trait]
impl GameLive for RedisState {
    async fn create_game(
        &self,
        game: &Game,
        start_op: Option<(&str, &str)>,
    ) -> Result<(), LiveError> {
        let json = encode(game)?;
        let (gk, dk, due) = (self.game_key(game.id), self.due_key(), game.deadline());
        let id = game.id.to_string();
        let (sk, answer) = match start_op {
            Some((op, answer)) => (self.key(&["start", op]), answer.to_string()),
            None => (self.key(&["start", "-"]), String::new()),
        };
        self.run("create_game", |mut c| async move {
            self.create
                .key(gk)
                .key(dk)
                .key(sk)
                .arg(json)
                .arg(ttl_for(due))
                .arg(due)
                .arg(id)
                .arg(answer)
                .arg(START_OP_KEEP_MS)
                .invoke_async::<i64>(&mut c)
                .await
                .map(|_| ())
        })
        .await?;
        self.remember(
            game.id,
            Some(Versioned {
                version: 1,
                game: game.clone(),
            }),
        );
        Ok(())
    }

    async fn recall_start(&self, op: &str) -> Result<Option<String>, LiveError> {
        let k = self.key(&["start", op]);
        self.run("recall_start", |mut c| async move { c.get(k).await })
            .await
    }

    async fn load_game(&self, id: Uuid) -> Result<Option<Versioned>, LiveError> {
        let gk = self.game_key(id);
        let (version, json): (Option<u64>, Option<String>) = self
            .run("load_game", |mut c| async move {
                redis::cmd("HMGET")
                    .arg(gk)
                    .arg("v")
                    .arg("s")
                    .query_async(&mut c)
                    .await
            })
            .await?;
        decode(version, json)
    }

    async fn load_for_update(&self, id: Uuid) -> Result<Option<Versioned>, LiveError> {
        if let Some(copy) = self.recent().get(&id) {
            return Ok(Some(copy.clone()));
        }
        let loaded = self.load_game(id).await?;
        self.remember(id, loaded.clone());
        Ok(loaded)
    }

    async fn save_game(&self, game: &Game, expected: u64, due_at: i64) -> Result<bool, LiveError> {
        let json = encode(game)?;
        let (gk, dk) = (self.game_key(game.id), self.due_key());
        let id = game.id.to_string();
        let (stored, version, state): (i64, Option<u64>, Option<String>) = self
            .run("save_game", |mut c| async move {
                self.save
                    .key(gk)
                    .key(dk)
                    .arg(expected)
                    .arg(json)
                    .arg(expiry_for(due_at))
                    .arg(due_at)
                    .arg(id)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        self.saved(game, expected, stored == 1, decode(version, state)?);
        Ok(stored == 1)
    }

    async fn save_game_counted(
        &self,
        game: &Game,
        expected: u64,
        due_at: i64,
        hit: &RateHit,
    ) -> Result<CountedSave, LiveError> {
        let json = encode(game)?;
        let (gk, dk) = (self.game_key(game.id), self.due_key());
        let (rk, reset_after) = self.rate_key(&hit.client, hit.window, hit.now_ms);
        let (id, window_ms, max) = (game.id.to_string(), hit.window.as_millis() as u64, hit.max);
        let reply: (u64, i64, Option<u64>, Option<String>) = self
            .run("save_game", |mut c| async move {
                self.save_counted
                    .key(gk)
                    .key(dk)
                    .key(rk)
                    .arg(expected)
                    .arg(json)
                    .arg(expiry_for(due_at))
                    .arg(due_at)
                    .arg(id)
                    .arg(window_ms)
                    .arg(max)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let (count, stored, version, state) = reply;
        let rate = RateDecision::of(count, max, reset_after);
        if rate.allowed {
            self.saved(game, expected, stored == 1, decode(version, state)?);
        }
        Ok(CountedSave {
            rate,
            saved: stored == 1,
        })
    }

    async fn settle_game(&self, id: Uuid) -> Result<(), LiveError> {
        let (gk, dk) = (self.game_key(id), self.due_key());
        self.run("settle_game", |mut c| async move {
            self.settle
                .key(gk)
                .key(dk)
                .arg(id.to_string())
                .arg(FINISHED_KEEP_MS)
                .invoke_async::<i64>(&mut c)
                .await
                .map(|_| ())
        })
        .await?;
        // A settled game takes no more moves; its copy would only take room.
        self.remember(id, None);
        Ok(())
    }

    async fn unsettled_games(&self) -> Result<u64, LiveError> {
        let dk = self.due_key();
        self.run("unsettled_games", |mut c| async move { c.zcard(dk).await })
            .await
    }

    async fn due_games(&self, now_ms: i64, limit: usize) -> Result<Vec<Uuid>, LiveError> {
        let dk = self.due_key();
        let ids: Vec<String> = self
            .run("due_games", |mut c| async move {
                c.zrangebyscore_limit(dk, "-inf", now_ms, 0, limit as isize)
                    .await
            })
            .await?;
        Ok(ids.iter().filter_map(|s| Uuid::parse_str(s).ok()).collect())
    }
}

#[async_trait]
impl Idempotency for RedisState {
    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<IdempotencyBegin, LiveError> {
        let k = self.key(&["idem", key]);
        let pending = format!("P{fingerprint}");
        let lock_ms = lock_for.as_millis() as u64;
        let (set, existing): (Option<String>, Option<String>) = self
            .run("idempotency_begin", |mut c| async move {
                redis::pipe()
                    .cmd("SET")
                    .arg(&k)
                    .arg(&pending)
                    .arg("NX")
                    .arg("PX")
                    .arg(lock_ms)
                    .cmd("GET")
                    .arg(&k)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        if set.is_some() {
            return Ok(IdempotencyBegin::New);
        }
        match existing {
            None => Ok(IdempotencyBegin::New),
            Some(v) => match v.split_at_checked(1) {
                Some(("P", fp)) => Ok(IdempotencyBegin::InProgress {
                    fingerprint: fp.to_string(),
                }),
                Some(("D", rest)) => match rest.split_once('\n') {
                    Some((fp, response)) => Ok(IdempotencyBegin::Done {
                        fingerprint: fp.to_string(),
                        response: response.to_string(),
                    }),
                    None => Err(LiveError::corrupt("idempotency record")),
                },
                _ => Err(LiveError::corrupt("idempotency record")),
            },
        }
    }

    async fn idempotency_extend(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<(), LiveError> {
        let k = self.key(&["idem", key]);
        let marker = format!("P{fingerprint}");
        let ms = lock_for.as_millis() as u64;
        self.run("idempotency_extend", |mut c| async move {
            self.extend
                .key(k)
                .arg(marker)
                .arg(ms)
                .invoke_async::<i64>(&mut c)
                .await
                .map(|_| ())
        })
        .await
    }

    async fn idempotency_store(
        &self,
        key: &str,
        fingerprint: &str,
        response: &str,
        keep_for: Duration,
    ) -> Result<(), LiveError> {
        let k = self.key(&["idem", key]);
        let v = format!("D{fingerprint}\n{response}");
        let ms = keep_for.as_millis() as u64;
        self.run("idempotency_store", |mut c| async move {
            c.pset_ex(k, v, ms).await
        })
        .await
    }

    async fn idempotency_release(&self, key: &str) -> Result<(), LiveError> {
        let k = self.key(&["idem", key]);
        self.run("idempotency_release", |mut c| async move { c.del(k).await })
            .await
    }
}

#[async_trait]
impl RateLimits for RedisState {
    async fn rate_hit(
        &self,
        client: &str,
        window: Duration,
        max: u64,
        now_ms: i64,
    ) -> Result<RateDecision, LiveError> {
        let (k, reset_after) = self.rate_key(client, window, now_ms);
        let window_ms = window.as_millis() as u64;
        let count: u64 = self
            .run("rate_limit", |mut c| async move {
                self.rate.key(k).arg(window_ms).invoke_async(&mut c).await
            })
            .await?;
        Ok(RateDecision::of(count, max, reset_after))
    }
}

#[async_trait]
impl BoardCache for RedisState {
    async fn cache_get(&self, key: &str) -> Result<(u64, Option<String>), LiveError> {
        let (gen_key, prefix) = (self.key(&["lb", "gen"]), self.key(&["lb", ""]));
        let key = key.to_string();
        let (generation, value): (String, Option<String>) = self
            .run("cache_get", |mut c| async move {
                self.cache_get
                    .key(gen_key)
                    .arg(prefix)
                    .arg(key)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok((generation.parse().unwrap_or(0), value))
    }

    async fn cache_put(
        &self,
        generation: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), LiveError> {
        let full = format!("{}{generation}:{key}", self.key(&["lb", ""]));
        let (value, ms) = (value.to_string(), ttl.as_millis() as u64);
        self.run("cache_put", |mut c| async move {
            c.pset_ex(full, value, ms).await
        })
        .await
    }

    async fn cache_invalidate(&self) -> Result<(), LiveError> {
        let gen_key = self.key(&["lb", "gen"]);
        self.run("cache_invalidate", |mut c| async move {
            c.incr::<_, _, i64>(gen_key, 1).await.map(|_| ())
        })
        .await
    }
}
