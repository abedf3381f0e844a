//! The one `SdkConfig` every function builds its clients from, read from the Lambda
//! environment.
//!
//! Time-outs and the retry budget are set on purpose (conventions, item 10): with nothing
//! listening, the SDK's defaults kept one invocation busy for seconds. With these, throttling is
//! ridden out with backoff, while a dead endpoint fails fast and visibly.
//!
//! The settings come from the variables Lambda sets, read the way the SDK's own loader reads
//! them: `AWS_REGION` (or `AWS_DEFAULT_REGION`); credentials from `AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`; `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_<SERVICE>` (unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`);
//! `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT`. The local bench points clients at
//! its emulators with the endpoint variables, as the SDK documents; nothing is special-cased.
//!
//! `aws-config`'s loader is not used: its default credential chain (profiles, SSO, web
//! identity, IMDS, ECS) brings the STS client and its XML stack into every binary, and none of
//! it applies inside Lambda, whose credentials are in the environment (README, Performance).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_credential_types::provider::{
    error::CredentialsError, future, ProvideCredentials, SharedCredentialsProvider,
};
use aws_credential_types::Credentials;
use aws_smithy_async::rt::sleep::default_async_sleep;
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::region::Region;
use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};
use aws_types::SdkConfig;

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

/// Credentials from the environment, read on each call (the SDK's identity cache keeps them).
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvironmentCredentials;

impl EnvironmentCredentials {
    fn read(lookup: impl Fn(&str) -> Option<String>) -> Result<Credentials, CredentialsError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let key = get("AWS_ACCESS_KEY_ID").ok_or_else(|| {
            CredentialsError::not_loaded("AWS_ACCESS_KEY_ID is not set in the environment")
        })?;
        let secret = get("AWS_SECRET_ACCESS_KEY").ok_or_else(|| {
            CredentialsError::not_loaded("AWS_SECRET_ACCESS_KEY is not set in the environment")
        })?;
        Ok(Credentials::new(
            key.trim(),
            secret.trim(),
            get("AWS_SESSION_TOKEN").map(|t| t.trim().to_string()),
            None,
            "Environment",
        ))
    }
}

impl ProvideCredentials for EnvironmentCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Self::read(|name| std::env::var(name).ok()))
    }
}

/// `AWS_ENDPOINT_URL_<SERVICE>`, as the SDK's clients ask for it: the service id upper-cased,
/// spaces turned into underscores (`SSM Incidents` → `AWS_ENDPOINT_URL_SSM_INCIDENTS`).
#[derive(Debug, Clone, Default)]
struct ServiceEndpoints {
    /// Variables starting `AWS_ENDPOINT_URL_`, read once at start-up.
    vars: BTreeMap<String, String>,
}

impl LoadServiceConfig for ServiceEndpoints {
    fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
        let service = key.service_id().to_uppercase().replace(' ', "_");
        self.vars.get(&format!("{}_{service}", key.env())).cloned()
    }
}

fn flag(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> Option<bool> {
    lookup(name).and_then(|v| match v.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    })
}

/// The configuration the variables given by `lookup` describe; `endpoint_vars` are the
/// variables whose names start with `AWS_ENDPOINT_URL_`.
pub fn from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
    endpoint_vars: impl IntoIterator<Item = (String, String)>,
) -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let region = lookup("AWS_REGION")
        .or_else(|| lookup("AWS_DEFAULT_REGION"))
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .map(Region::new);
    let ignore_endpoints = flag(&lookup, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").unwrap_or(false);
    let endpoints = ServiceEndpoints {
        vars: if ignore_endpoints {
            BTreeMap::new()
        } else {
            endpoint_vars
                .into_iter()
                .filter(|(k, v)| k.starts_with("AWS_ENDPOINT_URL_") && !v.trim().is_empty())
                .map(|(k, v)| (k, v.trim().to_string()))
                .collect()
        },
    };
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .credentials_provider(SharedCredentialsProvider::new(EnvironmentCredentials))
        .http_client(https)
        .timeout_config(timeout_config())
        .retry_config(retry_config())
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .service_config(endpoints);
    builder.set_region(region);
    builder.set_sleep_impl(default_async_sleep());
    builder.set_use_fips(flag(&lookup, "AWS_USE_FIPS_ENDPOINT"));
    builder.set_use_dual_stack(flag(&lookup, "AWS_USE_DUALSTACK_ENDPOINT"));
    if !ignore_endpoints {
        builder.set_endpoint_url(
            lookup("AWS_ENDPOINT_URL")
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty()),
        );
    }
    builder.build()
}

/// Loads region, credentials and endpoints from the process environment with the latest
/// behaviour version, [`timeout_config`] and [`retry_config`], over HTTPS with hyper and rustls
/// on ring (trusting the system's root certificates).
pub async fn load() -> SdkConfig {
    from_lookup(|name| std::env::var(name).ok(), std::env::vars())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::retry::RetryMode;

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

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> SdkConfig {
        let vars = env(pairs);
        let lookup = {
            let vars = vars.clone();
            move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        };
        from_lookup(lookup, vars)
    }

    fn service_endpoint(c: &SdkConfig, service_id: &str) -> Option<String> {
        let key = ServiceConfigKey::builder()
            .service_id(service_id)
            .env("AWS_ENDPOINT_URL")
            .profile("endpoint_url")
            .build()
            .ok()?;
        c.service_config()?.load_config(key)
    }

    #[test]
    fn reads_region_endpoints_and_flags_like_the_sdk() {
        let c = config(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_SSM_INCIDENTS", "http://127.0.0.1:6000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", " http://127.0.0.1:7000 "),
            ("AWS_USE_FIPS_ENDPOINT", "true"),
        ]);
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:5000"));
        assert_eq!(
            service_endpoint(&c, "SSM Incidents").as_deref(),
            Some("http://127.0.0.1:6000")
        );
        assert_eq!(
            service_endpoint(&c, "DynamoDB").as_deref(),
            Some("http://127.0.0.1:7000")
        );
        assert_eq!(service_endpoint(&c, "EventBridge"), None);
        assert_eq!(c.use_fips(), Some(true));
        assert_eq!(c.use_dual_stack(), None);
        assert!(c.credentials_provider().is_some());
        assert!(c.sleep_impl().is_some());
        assert!(c.http_client().is_some());
    }

    #[test]
    fn configured_endpoints_can_be_ignored() {
        let c = config(&[
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
            ("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:7000"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ]);
        assert_eq!(c.region().map(|r| r.as_ref()), Some("us-east-1"));
        assert_eq!(c.endpoint_url(), None);
        assert_eq!(service_endpoint(&c, "DynamoDB"), None);
    }

    #[test]
    fn credentials_come_from_the_environment_or_fail_clearly() {
        let vars = env(&[
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]);
        let lookup = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let creds = EnvironmentCredentials::read(lookup);
        let creds = creds.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(creds.access_key_id(), "AKIDEXAMPLE");
        assert_eq!(creds.session_token(), Some("token"));

        let err = EnvironmentCredentials::read(|_| None).err();
        let text = err.map(|e| format!("{e:?}")).unwrap();
        assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
    }
}
