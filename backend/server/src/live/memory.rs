//! In-process live state (one replica, `cargo run`).

use super::{
    window_of, BoardCache, CountedSave, GameLive, Idempotency, IdempotencyBegin, LiveError,
    LiveState, RateDecision, RateHit, RateLimits, Versioned,
};
use async_trait::async_trait;
use humor_game::Game;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a retried start finds the game it dealt.
const START_OP_KEEP: Duration = super::ANSWER_KEEP;

/// How long a finished game stays readable here after its end became durable.
const FINISHED_KEEP: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct Inner {
    games: HashMap<Uuid, (u64, Game, Option<Instant>)>,
    /// (due_at, id) for unsettled games, plus the reverse index.
    due: BTreeSet<(i64, Uuid)>,
    due_at: HashMap<Uuid, i64>,
    idempotency: HashMap<String, (Instant, IdempotencyBegin)>,
    rates: HashMap<(String, i64), u64>,
    cache: HashMap<(u64, String), (Instant, String)>,
    generation: u64,
    /// Start operations and what a retry gets.
    starts: HashMap<String, (Instant, String)>,
}

#[derive(Default)]
pub struct MemoryState {
    inner: Mutex<Inner>,
}

impl MemoryState {
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, LiveError> {
        self.inner
            .lock()
            .map_err(|_| LiveError::corrupt("a thread panicked while holding the live state"))
    }

    /// Drops expired entries (called by the periodic sweep).
    pub fn purge(&self) {
        if let Ok(mut inner) = self.inner.lock() {
            let now = Instant::now();
            inner
                .games
                .retain(|_, (_, _, gone)| gone.is_none_or(|t| t > now));
            inner.idempotency.retain(|_, (until, _)| *until > now);
            inner.cache.retain(|_, (until, _)| *until > now);
            inner.starts.retain(|_, (until, _)| *until > now);
        }
    }
}

impl Inner {
    fn schedule(&mut self, id: Uuid, at: i64) {
        if let Some(old) = self.due_at.insert(id, at) {
            self.due.remove(&(old, id));
        }
        self.due.insert((at, id));
    }
}

#[async_trait]
impl LiveState for MemoryState {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), LiveError> {
        self.lock().map(|_| ())
    }

    async fn ping_fresh(&self) -> Result<(), LiveError> {
        self.ping().await
    }
}

#[async_trait]
impl GameLive for MemoryState {
    async fn create_game(
        &self,
        game: &Game,
        start_op: Option<(&str, &str)>,
    ) -> Result<(), LiveError> {
        let mut inner = self.lock()?;
        inner.games.insert(game.id, (1, game.clone(), None));
        inner.schedule(game.id, game.deadline());
        if let Some((op, answer)) = start_op {
            inner.starts.insert(
                op.to_string(),
                (Instant::now() + START_OP_KEEP, answer.to_string()),
            );
        }
        Ok(())
    }

    async fn recall_start(&self, op: &str) -> Result<Option<String>, LiveError> {
        let inner = self.lock()?;
        Ok(inner
            .starts
            .get(op)
            .filter(|(until, _)| *until > Instant::now())
            .map(|(_, v)| v.clone()))
    }

    async fn load_game(&self, id: Uuid) -> Result<Option<Versioned>, LiveError> {
        let inner = self.lock()?;
        Ok(inner.games.get(&id).map(|(version, game, _)| Versioned {
            version: *version,
            game: game.clone(),
        }))
    }

    async fn save_game(&self, game: &Game, expected: u64, due_at: i64) -> Result<bool, LiveError> {
        let mut inner = self.lock()?;
        match inner.games.get_mut(&game.id) {
            Some((version, stored, _)) if *version == expected => {
                *version += 1;
                *stored = game.clone();
            }
            _ => return Ok(false),
        }
        if inner.due_at.contains_key(&game.id) {
            inner.schedule(game.id, due_at);
        }
        Ok(true)
    }

    async fn save_game_counted(
        &self,
        game: &Game,
        expected: u64,
        due_at: i64,
        hit: &RateHit,
    ) -> Result<CountedSave, LiveError> {
        let rate = self
            .rate_hit(&hit.client, hit.window, hit.max, hit.now_ms)
            .await?;
        let saved = rate.allowed && self.save_game(game, expected, due_at).await?;
        Ok(CountedSave { rate, saved })
    }

    async fn settle_game(&self, id: Uuid) -> Result<(), LiveError> {
        let mut inner = self.lock()?;
        if let Some(at) = inner.due_at.remove(&id) {
            inner.due.remove(&(at, id));
        }
        if let Some(entry) = inner.games.get_mut(&id) {
            entry.2 = Some(Instant::now() + FINISHED_KEEP);
        }
        Ok(())
    }

    async fn unsettled_games(&self) -> Result<u64, LiveError> {
        Ok(self.lock()?.due.len() as u64)
    }

    async fn due_games(&self, now_ms: i64, limit: usize) -> Result<Vec<Uuid>, LiveError> {
        let inner = self.lock()?;
        Ok(inner
            .due
            .iter()
            .take_while(|(at, _)| *at <= now_ms)
            .take(limit)
            .map(|(_, id)| *id)
            .collect())
    }
}

#[async_trait]
impl Idempotency for MemoryState {
    async fn idempotency_begin(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<IdempotencyBegin, LiveError> {
        let mut inner = self.lock()?;
        let now = Instant::now();
        match inner.idempotency.get(key) {
            Some((until, found)) if *until > now => Ok(found.clone()),
            _ => {
                inner.idempotency.insert(
                    key.to_string(),
                    (
                        now + lock_for,
                        IdempotencyBegin::InProgress {
                            fingerprint: fingerprint.to_string(),
                        },
                    ),
                );
                Ok(IdempotencyBegin::New)
            }
        }
    }

    async fn idempotency_extend(
        &self,
        key: &str,
        fingerprint: &str,
        lock_for: Duration,
    ) -> Result<(), LiveError> {
        let mut inner = self.lock()?;
        if let Some((until, IdempotencyBegin::InProgress { fingerprint: fp })) =
            inner.idempotency.get_mut(key)
        {
            if fp == fingerprint {
                *until = Instant::now() + lock_for;
            }
        }
        Ok(())
    }

    async fn idempotency_store(
        &self,
        key: &str,
        fingerprint: &str,
        response: &str,
        keep_for: Duration,
    ) -> Result<(), LiveError> {
        self.lock()?.idempotency.insert(
            key.to_string(),
            (
                Instant::now() + keep_for,
                IdempotencyBegin::Done {
                    fingerprint: fingerprint.to_string(),
                    response: response.to_string(),
                },
            ),
        );
        Ok(())
    }

    async fn idempotency_release(&self, key: &str) -> Result<(), LiveError> {
        self.lock()?.idempotency.remove(key);
        Ok(())
    }
}

#[async_trait]
impl RateLimits for MemoryState {
    async fn rate_hit(
        &self,
        client: &str,
        window: Duration,
        max: u64,
        now_ms: i64,
    ) -> Result<RateDecision, LiveError> {
        let (index, reset_after) = window_of(now_ms, window);
        let mut inner = self.lock()?;
        inner.rates.retain(|(_, w), _| *w >= index - 1);
        let count = inner.rates.entry((client.to_string(), index)).or_insert(0);
        *count += 1;
        Ok(RateDecision::of(*count, max, reset_after))
    }
}

#[async_trait]
impl BoardCache for MemoryState {
    async fn cache_get(&self, key: &str) -> Result<(u64, Option<String>), LiveError> {
        let inner = self.lock()?;
        let g = inner.generation;
        Ok((
            g,
            inner
                .cache
                .get(&(g, key.to_string()))
                .filter(|(until, _)| *until > Instant::now())
                .map(|(_, v)| v.clone()),
        ))
    }

    async fn cache_put(
        &self,
        generation: u64,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<(), LiveError> {
        let mut inner = self.lock()?;
        if inner.generation == generation {
            inner.cache.insert(
                (generation, key.to_string()),
                (Instant::now() + ttl, value.to_string()),
            );
        }
        Ok(())
    }

    async fn cache_invalidate(&self) -> Result<(), LiveError> {
        let mut inner = self.lock()?;
        inner.generation += 1;
        inner.cache.clear();
        Ok(())
    }
}
