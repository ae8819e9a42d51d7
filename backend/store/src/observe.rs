//! Latency and error metrics for every store operation.

use crate::{Result, StoreError};
use std::future::Future;
use std::time::Instant;

pub(crate) async fn observe<T>(
    operation: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let start = Instant::now();
    let out = fut.await;
    metrics::histogram!("db_query_duration_seconds", "operation" => operation)
        .record(start.elapsed().as_secs_f64());
    if let Err(e) = &out {
        if !matches!(e, StoreError::Conflict(_)) {
            metrics::counter!("db_errors_total", "operation" => operation).increment(1);
        }
    }
    out
}
