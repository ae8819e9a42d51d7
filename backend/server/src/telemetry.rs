//! Logs: JSON lines in production (one per request, with its request id), plain text on a terminal.
//! With the `otel` feature and `OTEL_EXPORTER_OTLP_ENDPOINT` set, request spans are also exported
//! as OpenTelemetry traces over OTLP/HTTP (the SDK reads the standard `OTEL_*` variables).

use crate::config::Config;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Keeps the trace exporter alive; `shutdown` flushes it.
#[derive(Default)]
pub struct Telemetry {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(p) = self.provider {
            let _ = p.shutdown();
        }
    }
}

/// Installs the global subscriber (once; later calls are ignored, which tests rely on).
pub fn init(config: &Config) -> Telemetry {
    let filter = EnvFilter::try_new(format!(
        "{},sqlx=warn,hyper=warn,h2=warn,tower=warn",
        config.telemetry.log_level
    ))
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = if config.telemetry.json_logs {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_target(false).boxed()
    };
    #[allow(unused_mut)]
    let mut telemetry = Telemetry::default();
    #[cfg(feature = "otel")]
    let otel = otel_layer(&mut telemetry);
    #[cfg(not(feature = "otel"))]
    let otel: Option<tracing_subscriber::layer::Identity> = None;
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(otel)
        .try_init();
    telemetry
}

#[cfg(feature = "otel")]
fn otel_layer<S>(telemetry: &mut Telemetry) -> Option<Box<dyn Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a> + Send + Sync,
{
    use opentelemetry::trace::TracerProvider as _;
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
        && std::env::var_os("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
    {
        return None;
    }
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(e) => e,
        Err(e) => {
            eprintln!("warning: OpenTelemetry disabled: {e}");
            return None;
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "humor-memory-game".into()),
        )
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(exporter)
        .build();
    let tracer = provider.tracer("humor-memory-game");
    telemetry.provider = Some(provider);
    Some(tracing_opentelemetry::layer().with_tracer(tracer).boxed())
}
