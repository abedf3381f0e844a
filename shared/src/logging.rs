//! Logging set-up for every function: `tracing` to stdout, formatted the way Lambda's advanced
//! logging controls ask.
//!
//! - `AWS_LAMBDA_LOG_FORMAT=JSON` (set by the template): one JSON object per line, which
//!   CloudWatch Logs Insights can query; otherwise plain text.
//! - `AWS_LAMBDA_LOG_LEVEL` (or, outside Lambda, `RUST_LOG`): `error`, `warn`, `info` (default),
//!   `debug` or `trace`. A level only: per-module directives (`aws_smithy_runtime=debug`) are
//!   not supported — the filter that parses them would add a regular-expression engine to every
//!   binary (README, Performance).
//!
//! No timestamps: Lambda stamps every line itself.

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;

/// The level named by `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO. An unreadable value
/// falls back to INFO rather than stopping the function.
pub fn level_from(lookup: impl Fn(&str) -> Option<String>) -> LevelFilter {
    lookup("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| lookup("RUST_LOG"))
        .and_then(|v| LevelFilter::from_str(v.trim()).ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Installs the global subscriber; a second call changes nothing.
pub fn init() {
    let lookup = |name: &str| std::env::var(name).ok();
    let json = lookup("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_max_level(level_from(lookup))
        .with_target(false)
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stdout);
    // `try_init` fails only when a subscriber is already installed: keep that one.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_level_wins_and_nonsense_means_info() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(level_from(vars(&[])), LevelFilter::INFO);
        assert_eq!(
            level_from(vars(&[
                ("AWS_LAMBDA_LOG_LEVEL", "DEBUG"),
                ("RUST_LOG", "error")
            ])),
            LevelFilter::DEBUG
        );
        assert_eq!(level_from(vars(&[("RUST_LOG", "warn")])), LevelFilter::WARN);
        assert_eq!(
            level_from(vars(&[("RUST_LOG", "info,aws_smithy_runtime=debug")])),
            LevelFilter::INFO
        );
    }
}
