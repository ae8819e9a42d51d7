//! The Humor Memory Game server as a library: `main.rs` parses the command line and calls in;
//! tests drive the same code over real HTTP.

pub mod clock;
pub mod config;
pub mod contract;
pub mod health;
pub mod healthcheck;
pub mod http;
pub mod live;
pub mod metrics;
pub mod outage_log;
pub mod service;
pub mod startup;
pub mod state;
pub mod static_files;
pub mod telemetry;
pub mod tokens;
pub mod views;

pub use config::{Cli, Command, Config};
pub use state::AppState;
