//! The engines every store test runs against: SQLite (a fresh temp file) and, when
//! `TEST_DATABASE_URL` is set, a fresh PostgreSQL database created for the test. With
//! `REQUIRE_SERVICES=1` a missing `TEST_DATABASE_URL` is a failure, not a skip.
#![allow(dead_code)] // each test binary uses its own part of it

use humor_store::{connect, PoolOptions, Store};
use sqlx::Connection;
use std::future::Future;
use std::sync::Arc;
use uuid::Uuid;

pub struct Engine {
    pub name: &'static str,
    pub store: Arc<dyn Store>,
    /// Where the database is, for tests that write rows the way an earlier release did.
    pub url: String,
    pub pg_cleanup: Option<(String, String)>,
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Engine {
    let e = sqlite_unmigrated();
    e.store.migrate().await.expect("migrate sqlite");
    e
}

/// A store on a new SQLite file without any schema yet.
pub fn sqlite_unmigrated() -> Engine {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("test.sqlite");
    let url = format!("sqlite://{}", path.display());
    let store = connect(&url, &PoolOptions::default()).expect("open sqlite");
    Engine {
        name: "sqlite",
        store,
        url,
        pg_cleanup: None,
        _dir: Some(dir),
    }
}

pub fn require_services() -> bool {
    std::env::var("REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fresh database on the server `TEST_DATABASE_URL` points at.
pub async fn postgres() -> Option<Engine> {
    let e = postgres_unmigrated().await?;
    e.store.migrate().await.expect("migrate postgres");
    Some(e)
}

/// A store on a new PostgreSQL database without any schema yet.
pub async fn postgres_unmigrated() -> Option<Engine> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        assert!(
            !require_services(),
            "REQUIRE_SERVICES=1 but TEST_DATABASE_URL is not set"
        );
        return None;
    };
    let name = format!("hmg_store_{}", Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let url = replace_db(&admin_url, &name);
    let store = connect(&url, &PoolOptions::default()).expect("open postgres");
    Some(Engine {
        name: "postgres",
        store,
        url,
        pg_cleanup: Some((admin_url, name)),
        _dir: None,
    })
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

pub async fn drop_engine(e: Engine) {
    e.store.close().await;
    if let Some((admin_url, name)) = e.pg_cleanup {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await;
        }
    }
}

pub async fn each_engine<F, Fut>(test: F)
where
    F: Fn(&'static str, Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut engines = vec![sqlite().await];
    engines.extend(postgres().await);
    for e in engines {
        test(e.name, e.store.clone()).await;
        drop_engine(e).await;
    }
}
