//! `spawn_app()`: the real server on port 0 with a fresh database, driven over HTTP.
//!
//! Every test runs on SQLite with in-memory live state, and again on PostgreSQL + Redis when
//! `TEST_DATABASE_URL` and `TEST_REDIS_URL` are set (a fresh database and a fresh Redis key prefix
//! per test). With `REQUIRE_SERVICES=1` their absence is a failure, not a skip.

use humor_server::clock::{Clock, ManualClock};
use humor_server::config::{DatabaseLocation, Secret};
use humor_server::{startup, AppState, Config};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestApp {
    pub backend: Backend,
    pub addr: SocketAddr,
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
    pg: Option<(String, String)>,
    redis_prefix: Option<String>,
}

fn require_services() -> bool {
    std::env::var("REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The backends to run a test on.
pub fn backends() -> Vec<Backend> {
    let pg = std::env::var("TEST_DATABASE_URL").is_ok();
    let redis = std::env::var("TEST_REDIS_URL").is_ok();
    if require_services() {
        assert!(
            pg && redis,
            "REQUIRE_SERVICES=1 but TEST_DATABASE_URL or TEST_REDIS_URL is not set"
        );
    }
    let mut out = vec![Backend::Sqlite];
    if pg && redis {
        out.push(Backend::Postgres);
    }
    out
}

/// Runs `test` once per backend with a fresh app, configured by `tweak`.
pub async fn each_backend<F, Fut>(tweak: impl Fn(&mut Config), test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    for backend in backends() {
        let app = spawn_with(backend, &tweak).await;
        test(app).await;
    }
}

pub fn replace_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[scheme_end..].find('/') {
        Some(i) => format!("{}/{db}{query}", &base[..scheme_end + i]),
        None => format!("{base}/{db}{query}"),
    }
}

pub fn base_config(dir: &std::path::Path) -> Config {
    let mut config = Config::for_sqlite(&dir.join("game.sqlite").display().to_string());
    config.operations.drain_delay = Duration::from_millis(200);
    config.operations.shutdown_timeout = Duration::from_secs(5);
    // Generous: dozens of tests share two cores and one PostgreSQL, so a connection can take seconds to open.
    // The tests of the timeout itself set their own.
    config.operations.dependency_timeout = Duration::from_secs(15);
    config.limits.rate_limit_max = 100_000;
    config.server.cors_origins = vec!["http://localhost:3000".into()];
    config
}

pub async fn spawn_with(backend: Backend, tweak: &impl Fn(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = base_config(dir.path());
    let mut pg = None;
    if backend == Backend::Postgres {
        let admin = std::env::var("TEST_DATABASE_URL").expect("TEST_DATABASE_URL");
        let name = format!("hmg_api_{}", Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .expect("connect TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        config.database.location = DatabaseLocation::Postgres {
            url: Secret::new(replace_db(&admin, &name)),
        };
        config.redis.url = Some(Secret::new(
            std::env::var("TEST_REDIS_URL").expect("TEST_REDIS_URL"),
        ));
        config.redis.key_prefix = format!("hmg_test_{}:", Uuid::new_v4().simple());
        pg = Some((admin, name));
    }
    tweak(&mut config);
    spawn_config(backend, config, dir, pg).await
}

pub async fn spawn_config(
    backend: Backend,
    config: Config,
    dir: tempfile::TempDir,
    pg: Option<(String, String)>,
) -> TestApp {
    // Keys under a test's own prefix are removed when the test that created the database ends.
    let config_prefix = pg
        .as_ref()
        .and(config.redis.url.as_ref())
        .map(|_| config.redis.key_prefix.clone());
    let clock = Arc::new(ManualClock::new(humor_server::clock::SystemClock.now_ms()));
    let state = startup::build(config, clock.clone()).expect("build app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(startup::run_until(state.clone(), listener, async {
        let _ = stop_rx.await;
    }));
    let app = TestApp {
        backend,
        addr,
        base: format!("http://{addr}"),
        client: reqwest::Client::builder().build().expect("client"),
        state,
        clock,
        redis_prefix: config_prefix,
        stop: Some(stop_tx),
        server: Some(server),
        _dir: dir,
        pg,
    };
    app.wait_ready().await;
    app
}

/// A fresh SQLite app with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_with(Backend::Sqlite, &|_| {}).await
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let prefix = self.redis_prefix.take();
        if let Some((admin, name)) = self.pg.take() {
            // Best effort: drop the test database and the test's Redis keys in the background.
            std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async {
                        if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                        if let (Some(prefix), Ok(url)) = (prefix, std::env::var("TEST_REDIS_URL")) {
                            if let Ok(mut c) =
                                redis::Client::open(url).and_then(|c| c.get_connection())
                            {
                                let keys: Vec<String> = redis::cmd("KEYS")
                                    .arg(format!("{prefix}*"))
                                    .query(&mut c)
                                    .unwrap_or_default();
                                if !keys.is_empty() {
                                    let _: redis::RedisResult<i64> =
                                        redis::cmd("DEL").arg(keys).query(&mut c);
                                }
                            }
                        }
                    });
                }
            });
        }
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// True when the server answered a retried operation from its record (`Idempotent-Replayed`).
    pub fn replayed(&self) -> bool {
        self.headers
            .get("idempotent-replayed")
            .and_then(|v| v.to_str().ok())
            == Some("true")
    }

    pub fn code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.client.get(self.url("/health/ready")).send().await {
                if r.status() == StatusCode::OK {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the app never became ready");
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Reply {
        self.call_with(method, path, body, token, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut rb = self.client.request(method, self.url(path));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.expect("request");
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None, None).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        self.call(Method::POST, path, Some(body), token).await
    }

    /// Starts a game for a new player; returns (game id, token, start reply).
    pub async fn start(&self, username: &str, difficulty: &str) -> (String, String, Reply) {
        let r = self
            .post(
                "/api/game/start",
                json!({"username": username, "difficulty": difficulty}),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        let id = r.body["game"]["gameId"]
            .as_str()
            .expect("gameId")
            .to_string();
        let token = r.body["player"]["token"]
            .as_str()
            .expect("token")
            .to_string();
        (id, token, r)
    }

    pub async fn flip(&self, game: &str, card: &str, token: &str) -> Reply {
        self.post(
            &format!("/api/game/{game}/flip"),
            json!({"cardId": card}),
            Some(token),
        )
        .await
    }

    /// The server's secret layout (test-only peek through the library): card ids grouped in pairs.
    pub async fn pairs(&self, game: &str) -> Vec<(String, String)> {
        let id = Uuid::parse_str(game).expect("uuid");
        let v = self
            .state
            .live
            .load_game(id)
            .await
            .expect("live")
            .expect("game");
        let cards = &v.game.cards;
        let mut out = Vec::new();
        for (i, c) in cards.iter().enumerate() {
            if let Some(j) = cards.iter().skip(i + 1).position(|d| d.face == c.face) {
                out.push((c.id.clone(), cards[i + 1 + j].id.clone()));
            }
        }
        out
    }

    /// Plays every pair perfectly; returns the reply of the last flip.
    pub async fn play_perfect(&self, game: &str, token: &str) -> Reply {
        let mut last = None;
        for (a, b) in self.pairs(game).await {
            assert_eq!(self.flip(game, &a, token).await.status, StatusCode::OK);
            last = Some(self.flip(game, &b, token).await);
        }
        last.expect("at least one pair")
    }

    /// Starts and completes a perfect game for a new player; returns (game id, token, final score).
    pub async fn complete_game(&self, username: &str, difficulty: &str) -> (String, String, u64) {
        let (id, token, _) = self.start(username, difficulty).await;
        let last = self.play_perfect(&id, &token).await;
        assert_eq!(last.status, StatusCode::OK, "{:?}", last.body);
        let score = last.body["result"]["finalScore"].as_u64().expect("result");
        (id, token, score)
    }

    /// Stops the server the way SIGTERM does and waits for it to exit.
    pub async fn shutdown(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }

    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A TCP proxy in front of a real service that a test can cut (every connection dropped, new ones
/// closed at once) and restore: an outage without touching the shared service.
pub struct CutProxy {
    pub addr: SocketAddr,
    cut: Arc<std::sync::atomic::AtomicBool>,
    frozen: tokio::sync::watch::Sender<bool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    pub async fn to(upstream: String) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let links: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (c, l) = (cut.clone(), links.clone());
        let frozen = tokio::sync::watch::Sender::new(false);
        let freeze = frozen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let up = upstream.clone();
                let mut frozen_rx = freeze.subscribe();
                let task = tokio::spawn(async move {
                    let frozen_now = *frozen_rx.borrow();
                    if frozen_now {
                        // A partition: the connection opens, then nothing ever comes back.
                        std::future::pending::<()>().await;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(up).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = async { let _ = frozen_rx.wait_for(|f| *f).await; } => std::future::pending::<()>().await,
                        }
                    }
                });
                if let Ok(mut v) = l.lock() {
                    v.push(task);
                }
            }
        });
        CutProxy {
            addr,
            cut,
            frozen,
            links,
            accept,
        }
    }

    /// A network partition: connections stay open but every byte is swallowed.
    pub fn freeze(&self) {
        self.frozen.send_replace(true);
    }

    pub fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut v) = self.links.lock() {
            for t in v.drain(..) {
                t.abort();
            }
        }
    }

    pub fn restore(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
        self.frozen.send_replace(false);
        // Frozen links never recover (like a real partition's dead connections): drop them.
        if let Ok(mut v) = self.links.lock() {
            for t in v.drain(..) {
                t.abort();
            }
        }
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// host:port of a service URL such as redis://127.0.0.1:6379/0 or postgres://u@h:5432/db.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest).to_string()
}

/// Waits until `check` holds (polling), or panics after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let t = std::time::Instant::now();
    while t.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {limit:?}");
}
