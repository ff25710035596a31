//! Logging: tracing to a daily-rotated file under the data dir's `logs/`, never to stdout.
//!
//! The level comes from `CHINWAG_LOG` (tracing's filter syntax), else `log_level` in the
//! config, else `info`. Whatever the filter says, other crates are held to `warn`: jsonrpsee
//! traces raw requests (passwords and keys among them) and HTTP crates trace headers.

use std::path::Path;

use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// How many daily log files are kept.
const KEEP_LOG_FILES: usize = 7;

/// The environment variable that sets the log filter.
pub const LOG_ENV: &str = "CHINWAG_LOG";

/// Start logging to `log_dir`. Keep the guard alive for as long as logs should be written; it
/// flushes on drop. Fails only if the log folder cannot be used.
pub fn init(log_dir: &Path, config_level: Option<&str>) -> std::io::Result<WorkerGuard> {
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("chinwag")
        .filename_suffix("log")
        .max_log_files(KEEP_LOG_FILES)
        .build(log_dir)
        .map_err(std::io::Error::other)?;
    let (writer, guard) = tracing_appender::non_blocking(appender);

    let directives = std::env::var(LOG_ENV)
        .ok()
        .or_else(|| config_level.map(str::to_string))
        .unwrap_or_else(|| "info".to_string());
    let level = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .parse(&directives)
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let ours_only_below_warn = filter_fn(|metadata| {
        metadata.target().starts_with("chinwag") || *metadata.level() <= tracing::Level::WARN
    });

    let layer = fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .with_filter(level.and(ours_only_below_warn));
    // A second init (in tests) keeps the first subscriber; that is fine.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(guard)
}
