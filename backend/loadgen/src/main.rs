//! `hmg-loadgen`: drives a running server and prints throughput and latency.
//!
//! Modes:
//! - `games`: virtual players play whole games honestly through the API (start, flips that discover
//!   faces like a person with perfect memory, until the last pair completes the game).
//! - `get`: one GET path as fast as possible (closed loop) or at `--rate` requests per second
//!   (open loop: latency is measured from the scheduled send time, so a stalled server cannot hide
//!   its queueing delay — no coordinated omission).
//!
//! With `--cpu NAME=PID` (repeatable) it also reads the CPU time those processes spent over the
//! measured seconds and reports it per game and per request (see `cpu`).

mod cpu;

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Mode {
    Games,
    Get,
}

/// How a virtual player turns cards over.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Protocol {
    /// `POST /api/game/{id}/flip`, one card per request.
    Flip,
    /// `POST /api/game/match`, both cards of an attempt in one request (the original's call).
    Match,
}

#[derive(Parser, Debug)]
#[command(about = "Load generator for the Humor Memory Game benchmarks")]
struct Args {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    #[arg(long, value_enum, default_value = "games")]
    mode: Mode,
    /// Path for `get` mode.
    #[arg(long, default_value = "/health/live")]
    path: String,
    /// Concurrent connections (virtual players).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds to run (after a 1 s warm-up that is not counted).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Open loop: requests (get) or games (games) per second in total; 0 = closed loop.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    #[arg(long, default_value = "easy")]
    difficulty: String,
    #[arg(long, value_enum, default_value = "flip")]
    protocol: Protocol,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// A process whose CPU time over the measured seconds is reported, as NAME=PID (repeatable);
    /// its children count with it (a PostgreSQL postmaster stands for its cluster).
    #[arg(long = "cpu", value_name = "NAME=PID")]
    cpu: Vec<cpu::Watched>,
    /// Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`).
    #[arg(long, default_value_t = 100)]
    clock_ticks: u64,
}

#[derive(Default)]
struct Stats {
    latencies_us: Mutex<Vec<u64>>,
    /// Every request sent, the warm-up's included (to divide server-side counters by).
    requests_sent: AtomicU64,
    requests: AtomicU64,
    errors: AtomicU64,
    games: AtomicU64,
}

impl Stats {
    fn record(&self, since: Instant, ok: bool, counting: bool) {
        self.requests_sent.fetch_add(1, Ordering::Relaxed);
        if !counting {
            return;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if let Ok(mut l) = self.latencies_us.lock() {
            l.push(since.elapsed().as_micros() as u64);
        }
    }
}

struct Player {
    /// This virtual player's name and token once claimed (players play many games).
    identity: Option<(String, String)>,
    client: reqwest::Client,
    base: String,
    stats: Arc<Stats>,
    counter: Arc<AtomicU64>,
    difficulty: String,
    protocol: Protocol,
}

impl Player {
    async fn post(
        &self,
        path: &str,
        body: Value,
        token: Option<&str>,
        counting: bool,
    ) -> anyhow::Result<Value> {
        let t = Instant::now();
        let mut rb = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(tok) = token {
            rb = rb.bearer_auth(tok);
        }
        let r = rb.send().await;
        let ok = matches!(&r, Ok(resp) if resp.status().is_success());
        self.stats.record(t, ok, counting);
        let r = r?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {v}");
        }
        Ok(v)
    }

    /// Plays one game like a person with perfect memory; returns whether it completed.
    async fn play(&mut self, counting: bool) -> anyhow::Result<()> {
        let (name, known) = match &self.identity {
            Some((n, t)) => (n.clone(), Some(t.clone())),
            None => {
                let n = self.counter.fetch_add(1, Ordering::Relaxed);
                (format!("lg{}_{n}", std::process::id() % 100_000), None)
            }
        };
        let body = json!({"username": name, "difficulty": self.difficulty});
        let start = self
            .post("/api/game/start", body, known.as_deref(), counting)
            .await?;
        let token = match known {
            Some(t) => t,
            None => start["player"]["token"]
                .as_str()
                .context("token")?
                .to_string(),
        };
        self.identity = Some((name, token.clone()));
        let game = &start["game"];
        let id = game["gameId"].as_str().context("gameId")?.to_string();
        let cards: Vec<String> = game["cards"]
            .as_array()
            .context("cards")?
            .iter()
            .filter_map(|c| c["id"].as_str().map(String::from))
            .collect();
        if self.protocol == Protocol::Match {
            return self.play_with_match(&id, &token, &cards, counting).await;
        }
        let path = format!("/api/game/{id}/flip");
        let mut seen: HashMap<String, String> = HashMap::new(); // card -> emoji
        let mut matched: Vec<String> = Vec::new();
        let mut next_unknown = 0usize;
        loop {
            // A known, unmatched pair?
            let mut by_face: HashMap<&str, &str> = HashMap::new();
            let mut pair = None;
            for (card, face) in &seen {
                if matched.contains(card) {
                    continue;
                }
                if let Some(other) = by_face.get(face.as_str()) {
                    pair = Some((other.to_string(), card.clone()));
                    break;
                }
                by_face.insert(face, card);
            }
            let (first, second_known) = match pair {
                Some((a, b)) => (a, Some(b)),
                None => {
                    let c = cards.get(next_unknown).context("ran out of cards")?.clone();
                    next_unknown += 1;
                    (c, None)
                }
            };
            let r = self
                .post(&path, json!({"cardId": first}), Some(&token), counting)
                .await?;
            let face = r["card"]["face"]["emoji"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seen.insert(first.clone(), face.clone());
            let second = match second_known {
                Some(b) => b,
                None => match seen
                    .iter()
                    .find(|(c, f)| **f == face && **c != first && !matched.contains(c))
                {
                    Some((c, _)) => c.clone(),
                    None => {
                        let c = cards.get(next_unknown).context("ran out of cards")?.clone();
                        next_unknown += 1;
                        c
                    }
                },
            };
            let r = self
                .post(&path, json!({"cardId": second}), Some(&token), counting)
                .await?;
            let face2 = r["card"]["face"]["emoji"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            seen.insert(second.clone(), face2);
            if r["outcome"]["result"] == "hit" {
                matched.push(first);
                matched.push(second);
            }
            if !r["result"].is_null() {
                if counting {
                    self.stats.games.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(());
            }
        }
    }
}

impl Player {
    /// Plays with `POST /api/game/match`: a known pair if there is one, else two unseen cards
    /// (a miss leaves both faces visible in the answer, so the player learns them).
    async fn play_with_match(
        &self,
        id: &str,
        token: &str,
        cards: &[String],
        counting: bool,
    ) -> anyhow::Result<()> {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut matched: Vec<String> = Vec::new();
        loop {
            let mut by_face: HashMap<&str, &str> = HashMap::new();
            let mut pair = None;
            for (card, face) in &seen {
                if matched.contains(card) {
                    continue;
                }
                if let Some(other) = by_face.get(face.as_str()) {
                    pair = Some((other.to_string(), card.clone()));
                    break;
                }
                by_face.insert(face, card);
            }
            let (a, b) = match pair {
                Some(p) => p,
                None => {
                    let mut unseen = cards.iter().filter(|c| !seen.contains_key(*c));
                    let a = unseen.next().context("ran out of cards")?.clone();
                    let b = unseen.next().context("ran out of cards")?.clone();
                    (a, b)
                }
            };
            let r = self
                .post(
                    "/api/game/match",
                    json!({"gameId": id, "card1Id": a, "card2Id": b}),
                    Some(token),
                    counting,
                )
                .await?;
            for c in r["game"]["cards"].as_array().into_iter().flatten() {
                if let (Some(cid), Some(face)) = (c["id"].as_str(), c["face"]["emoji"].as_str()) {
                    seen.insert(cid.to_string(), face.to_string());
                }
            }
            if r["isMatch"] == true {
                matched.push(a);
                matched.push(b);
            }
            if !r["result"].is_null() {
                if counting {
                    self.stats.games.fetch_add(1, Ordering::Relaxed);
                }
                return Ok(());
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

/// When the run starts, when it starts counting, when it ends, and (open loop) how often each
/// worker sends.
#[derive(Clone, Copy)]
struct Schedule {
    begin: Instant,
    measure_from: Instant,
    end: Instant,
    interval: Option<Duration>,
}

impl Schedule {
    fn new(args: &Args) -> Schedule {
        let begin = Instant::now();
        let measure_from = begin + Duration::from_secs(1);
        Schedule {
            begin,
            measure_from,
            end: measure_from + Duration::from_secs(args.duration),
            // Open loop: each worker owns every `concurrency`-th slot of one global schedule.
            interval: (args.rate > 0.0)
                .then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate)),
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let stats = Arc::new(Stats::default());
    let schedule = Schedule::new(&args);
    let counter = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(10))
        .build()?;
    // CPU of the watched processes from the end of the warm-up to the end of the measured seconds.
    let cpu_window = (!args.cpu.is_empty()).then(|| {
        let watched = args.cpu.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(schedule.measure_from.into()).await;
            let before = cpu::sample(&watched)?;
            tokio::time::sleep_until(schedule.end.into()).await;
            let after = cpu::sample(&watched)?;
            anyhow::Ok((before, after))
        })
    });
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let player = Player {
                identity: None,
                client: client.clone(),
                base: args.url.trim_end_matches('/').to_string(),
                stats: stats.clone(),
                counter: counter.clone(),
                difficulty: args.difficulty.clone(),
                protocol: args.protocol,
            };
            let offset = schedule
                .interval
                .map(|i| i.mul_f64(w as f64 / player_count(args.concurrency)));
            tokio::spawn(worker(
                player,
                args.mode,
                args.path.clone(),
                schedule,
                offset,
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = args.duration as f64;
    let cpu = match cpu_window {
        Some(window) => {
            let (before, after) = window.await.context("CPU sampler")??;
            cpu::report(
                &args.cpu,
                &before,
                &after,
                args.clock_ticks,
                elapsed,
                stats.games.load(Ordering::Relaxed),
                stats.requests.load(Ordering::Relaxed),
            )
        }
        None => Value::Null,
    };
    let out = summary(&args, &stats, elapsed, cpu);
    if args.json {
        println!("{out}");
    } else {
        print_summary(&args, &out);
    }
    Ok(())
}

/// One worker: requests (or whole games) on its slots of the schedule until the end.
async fn worker(
    mut player: Player,
    mode: Mode,
    path: String,
    schedule: Schedule,
    offset: Option<Duration>,
) {
    let mut slot = 0u32;
    loop {
        let scheduled = match (schedule.interval, offset) {
            (Some(i), Some(o)) => {
                let at = schedule.begin + o + i * slot;
                slot += 1;
                if at > Instant::now() {
                    tokio::time::sleep_until(at.into()).await;
                }
                at
            }
            _ => Instant::now(),
        };
        if scheduled >= schedule.end {
            break;
        }
        let counting = scheduled >= schedule.measure_from;
        match mode {
            Mode::Get => {
                let r = player
                    .client
                    .get(format!("{}{path}", player.base))
                    .send()
                    .await;
                let ok = match r {
                    Ok(resp) => {
                        let s = resp.status().is_success();
                        let _ = resp.bytes().await;
                        s
                    }
                    Err(_) => false,
                };
                player.stats.record(scheduled, ok, counting);
            }
            Mode::Games => {
                if let Err(e) = player.play(counting).await {
                    if counting {
                        eprintln!("game failed: {e}");
                    }
                }
            }
        }
    }
}

/// The run's figures as JSON (what `--json` prints and scripts/bench.sh reads).
fn summary(args: &Args, stats: &Stats, elapsed: f64, cpu: Value) -> Value {
    let mut lat = stats
        .latencies_us
        .lock()
        .map(|l| l.clone())
        .unwrap_or_default();
    lat.sort_unstable();
    let requests = stats.requests.load(Ordering::Relaxed);
    let games = stats.games.load(Ordering::Relaxed);
    json!({
        "mode": format!("{:?}", args.mode).to_lowercase(),
        "url": args.url,
        "path": if args.mode == Mode::Get { Some(args.path.clone()) } else { None },
        "concurrency": args.concurrency,
        "rate": args.rate,
        "seconds": elapsed,
        "requests": requests,
        "requests_sent": stats.requests_sent.load(Ordering::Relaxed),
        "errors": stats.errors.load(Ordering::Relaxed),
        "requests_per_second": requests as f64 / elapsed,
        "games": games,
        "games_per_second": games as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&lat, 0.50),
            "p90": percentile(&lat, 0.90),
            "p99": percentile(&lat, 0.99),
            "max": percentile(&lat, 1.0),
        },
        "cpu": cpu,
    })
}

fn print_summary(args: &Args, out: &Value) {
    println!(
        "{} {}: {:.0} req/s, {:.1} games/s, p50 {:.2} ms, p99 {:.2} ms, errors {}",
        out["mode"],
        args.url,
        out["requests_per_second"].as_f64().unwrap_or(0.0),
        out["games_per_second"].as_f64().unwrap_or(0.0),
        out["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        out["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        out["errors"]
    );
    for w in &args.cpu {
        let c = &out["cpu"][&w.name];
        println!(
            "  {}: {:.0} ms CPU, {:.2} ms per game, {:.0} µs per request",
            w.name,
            c["cpu_ms"].as_f64().unwrap_or(0.0),
            c["cpu_ms_per_game"].as_f64().unwrap_or(0.0),
            c["cpu_us_per_request"].as_f64().unwrap_or(0.0)
        );
    }
}

fn player_count(n: usize) -> f64 {
    n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_its_defaults_parse() {
        Args::command().debug_assert();
        let args = Args::try_parse_from(["hmg-loadgen"]).expect("defaults parse");
        assert_eq!((args.mode, args.protocol), (Mode::Games, Protocol::Flip));
        assert!(Args::try_parse_from(["hmg-loadgen", "--mode", "post"]).is_err());
    }

    #[test]
    fn percentiles_read_microseconds_as_milliseconds() {
        let sorted: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(percentile(&sorted, 0.0), 1.0);
        assert_eq!(percentile(&sorted, 0.5), 51.0);
        assert_eq!(percentile(&sorted, 1.0), 100.0);
        assert_eq!(percentile(&[], 0.99), 0.0);
    }
}
