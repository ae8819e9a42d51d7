//! With `--features otel`, request spans reach an OTLP/HTTP collector configured by the standard
//! `OTEL_*` variables. Run with: cargo test -p humor-server --features otel --test otel
#![cfg(feature = "otel")]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Requests a collector received: (path, body).
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A minimal OTLP/HTTP collector: accepts POSTs and keeps their paths and bodies.
async fn collector() -> (u16, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Received = Arc::default();
    let store = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = s.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else {
                        continue;
                    };
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                    if let Ok(mut v) = store.lock() {
                        v.push((path, buf[end + 4..end + 4 + length].to_vec()));
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n").await;
                    buf.clear();
                }
            });
        }
    });
    (port, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_are_exported_over_otlp() {
    let (collector_port, received) = collector().await;
    let dir = tempfile::tempdir().expect("dir");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_humor-memory-game"))
        .env("PORT", port.to_string())
        .env("SQLITE_PATH", dir.path().join("otel.sqlite"))
        .env("DRAIN_DELAY_SECONDS", "0")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{collector_port}"),
        )
        .env("OTEL_SERVICE_NAME", "hmg-otel-test")
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/api/leaderboard");
    // Waits for the server to answer or to exit; the time limit is only a backstop against one
    // that does neither, far above any start-up.
    let t = Instant::now();
    let started = loop {
        if let Ok(r) = client.get(&url).send().await {
            if r.status().is_success() {
                break Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!("the server exited: {status}"));
        }
        if t.elapsed() > Duration::from_secs(120) {
            break Err("the server neither answered nor exited in 120 s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("the server answered after {:?}", t.elapsed());
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    started.expect("the server started");
    let bodies = received.lock().expect("lock").clone();
    let traces: Vec<&(String, Vec<u8>)> =
        bodies.iter().filter(|(p, _)| p == "/v1/traces").collect();
    assert!(!traces.is_empty(), "no OTLP export arrived");
    let all: Vec<u8> = traces.iter().flat_map(|(_, b)| b.clone()).collect();
    let has = |needle: &str| all.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(has("hmg-otel-test"), "the service name is exported");
    assert!(
        has("GET /api/leaderboard"),
        "the request span is exported with its route"
    );
}
