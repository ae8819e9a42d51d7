//! The API over real HTTP: one test binary, one module per area.

mod boards;
mod deal;
mod game;
mod helpers;
mod identity;
mod operations;
mod resilience;
mod robustness;
