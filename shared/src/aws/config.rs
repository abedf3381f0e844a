//! The one `SdkConfig` every function builds its clients from.
//!
//! Time-outs and the retry budget are set on purpose (conventions, item 10): with nothing
//! listening, the SDK's defaults kept one invocation busy for seconds. With these, throttling is
//! ridden out with backoff, while a dead endpoint fails fast and visibly.
//!
//! Endpoints are not special-cased: the SDK itself reads `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` (that is how the local bench points clients at its emulators).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// Time allowed to establish a connection (TCP + TLS). A dead endpoint fails after this.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Time allowed for one attempt of an operation, from sending the request to reading the whole
/// response. A retry gets its own attempt budget.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed for a whole operation, retries and backoff included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// Attempts per operation, the first one included (standard retry mode: exponential backoff with
/// jitter on throttling and transient errors).
pub const MAX_ATTEMPTS: u32 = 4;

/// The time-outs applied to every client built from [`load`].
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The retry policy applied to every client built from [`load`].
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS)
}

/// Loads region and credentials from the environment (the Lambda runtime's variables) with the
/// latest behaviour version, [`timeout_config`] and [`retry_config`], over HTTPS with hyper and
/// rustls on ring (trusting the system's root certificates).
pub async fn load() -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .timeout_config(timeout_config())
        .retry_config(retry_config())
        .load()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn time_outs_are_explicit_and_nested() {
        let t = timeout_config();
        assert_eq!(t.connect_timeout(), Some(CONNECT_TIMEOUT));
        assert_eq!(t.operation_attempt_timeout(), Some(ATTEMPT_TIMEOUT));
        assert_eq!(t.operation_timeout(), Some(OPERATION_TIMEOUT));
        assert!(CONNECT_TIMEOUT < ATTEMPT_TIMEOUT && ATTEMPT_TIMEOUT < OPERATION_TIMEOUT);
    }

    #[test]
    fn retries_are_standard_with_four_attempts() {
        let r = retry_config();
        assert_eq!(r.mode(), RetryMode::Standard);
        assert_eq!(r.max_attempts(), MAX_ATTEMPTS);
    }
}
