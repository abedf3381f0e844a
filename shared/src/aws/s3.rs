//! [`ReportStore`] on Amazon S3: one `PutObject` per report on the bucket `REPORT_BUCKET`.
//!
//! `PutObject` carries `Bucket`, `Key`, `Body` (the text, UTF-8) and `ContentType`; no
//! server-side-encryption headers, so the bucket's default encryption applies (SSE-S3 unless the
//! bucket says otherwise). Writing the same key again overwrites it, so a retry is harmless.
//! Nothing about addressing is forced: the SDK's endpoint rules pick virtual-hosted or path style
//! (path style for an IP endpoint such as the bench's moto, `AWS_ENDPOINT_URL_S3`).
//!
//! The answer names the object twice: `s3://<bucket>/<key>` and its page in the S3 console,
//! `https://<region>.console.aws.amazon.com/s3/object/<bucket>?region=<region>&prefix=<key>`
//! (the key percent-encoded, `/` kept; the China and GovCloud partitions' own console hosts,
//! from `crate::console`).
//!
//! Limits: a key is 1 to 1,024 bytes of UTF-8 (`object-keys.html`); checked before sending, as
//! `Invalid`, as is an empty bucket name.
//!
//! Errors: S3's codes are mapped here first, then [`from_sdk_error`]: `NoSuchBucket` →
//! `NotFound`; `AccessDenied`, `AllAccessDisabled`, `InvalidAccessKeyId`, `AccountProblem` →
//! `AccessDenied`; `SlowDown` (503) and throttling codes → `Throttled`; `InternalError` / 5xx →
//! `Unavailable`; `InvalidRequest`, `InvalidArgument`, `EntityTooLarge`,
//! `AuthorizationHeaderMalformed` / `PermanentRedirect` (a bucket in another region) → `Invalid`.

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::error::from_sdk_error;
use crate::ports::{PortError, PortErrorKind, ReportStore, StoredReport};

/// An object key: at most 1,024 bytes.
pub const KEY_MAX_BYTES: usize = 1_024;

const OP: &str = "PutObject";

/// The report bucket.
#[derive(Debug, Clone)]
pub struct S3Reports {
    client: Client,
    bucket: String,
    region: String,
}

impl S3Reports {
    pub fn new(client: Client, bucket: String, region: String) -> Self {
        S3Reports {
            client,
            bucket,
            region,
        }
    }

    /// The object's page in the S3 console.
    fn console_url(&self, key: &str) -> String {
        crate::console::s3_object(&self.region, &self.bucket, key)
    }
}

/// The kind an S3 error code stands for, where S3's own codes say more than the shared table.
fn s3_kind(code: &str) -> Option<PortErrorKind> {
    match code {
        "NoSuchBucket" => Some(PortErrorKind::NotFound),
        "AccessDenied" | "AllAccessDisabled" | "InvalidAccessKeyId" | "AccountProblem" => {
            Some(PortErrorKind::AccessDenied)
        }
        "SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => {
            Some(PortErrorKind::Throttled)
        }
        "InvalidRequest"
        | "InvalidArgument"
        | "EntityTooLarge"
        | "AuthorizationHeaderMalformed"
        | "PermanentRedirect" => Some(PortErrorKind::Invalid),
        _ => None,
    }
}

#[async_trait]
impl ReportStore for S3Reports {
    async fn put(
        &self,
        key: &str,
        body: &str,
        content_type: &str,
    ) -> Result<StoredReport, PortError> {
        if self.bucket.trim().is_empty() {
            return Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                "no bucket configured",
            ));
        }
        if key.is_empty() || key.len() > KEY_MAX_BYTES {
            return Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                format!(
                    "object key of {} bytes: it must be 1 to {KEY_MAX_BYTES}",
                    key.len()
                ),
            ));
        }
        let content_type = content_type.trim();
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.as_bytes().to_vec()))
            .set_content_type((!content_type.is_empty()).then(|| content_type.to_string()))
            .send()
            .await
            .map_err(|err| {
                let mut mapped = from_sdk_error(OP, &err);
                if let Some(kind) = err
                    .as_service_error()
                    .and_then(|e| e.code())
                    .and_then(s3_kind)
                {
                    mapped.kind = kind;
                }
                mapped
            })?;
        tracing::info!(bucket = %self.bucket, key, bytes = body.len(), "report stored");
        Ok(StoredReport {
            uri: format!("s3://{}/{key}", self.bucket),
            console_url: self.console_url(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_s3::operation::put_object::{PutObjectError, PutObjectInput, PutObjectOutput};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    const BUCKET: &str = "responder-reports-111122223333";
    const KEY: &str = "incidents/2026/11/21/vpn-tunnel-down vpn-0abc1234.md";

    fn reports(rules: &[&Rule], attempts: u32, region: &str) -> S3Reports {
        let client = mock_client!(aws_sdk_s3, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        S3Reports::new(client, BUCKET.to_string(), region.to_string())
    }

    /// What a test reads of a `PutObject` request (the input is not `Clone`: its body streams).
    #[derive(Debug, Clone, PartialEq)]
    struct Sent {
        bucket: Option<String>,
        key: Option<String>,
        content_type: Option<String>,
        body: Option<Vec<u8>>,
        sse: bool,
    }

    fn sent(req: &PutObjectInput) -> Sent {
        Sent {
            bucket: req.bucket().map(str::to_string),
            key: req.key().map(str::to_string),
            content_type: req.content_type().map(str::to_string),
            body: req.body().bytes().map(<[u8]>::to_vec),
            sse: req.server_side_encryption().is_some()
                || req.ssekms_key_id().is_some()
                || req.sse_customer_algorithm().is_some()
                || req.bucket_key_enabled().is_some(),
        }
    }

    fn stored() -> PutObjectOutput {
        PutObjectOutput::builder()
            .e_tag("\"9b2cf535f27731c974343645a3985328\"")
            .build()
    }

    #[tokio::test]
    async fn put_sends_bucket_key_body_and_type_without_sse() {
        let seen = Captured::<Sent>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_object)
            .match_requests(move |req| s.push(sent(req)))
            .then_output(stored);
        let body = "# VPN vpn-0abc1234: tunnel down\n\nResolved after 12 minutes. é\n";
        let got = must(
            reports(&[&rule], 1, "eu-west-1")
                .put(KEY, body, "text/markdown; charset=utf-8")
                .await,
        );
        assert_eq!(
            got,
            StoredReport {
                uri: format!("s3://{BUCKET}/{KEY}"),
                console_url: format!(
                    "https://eu-west-1.console.aws.amazon.com/s3/object/{BUCKET}?region=eu-west-1\
                     &prefix=incidents/2026/11/21/vpn-tunnel-down%20vpn-0abc1234.md"
                ),
            }
        );

        assert_eq!(
            seen.only(),
            Sent {
                bucket: Some(BUCKET.to_string()),
                key: Some(KEY.to_string()),
                content_type: Some("text/markdown; charset=utf-8".to_string()),
                body: Some(body.as_bytes().to_vec()),
                sse: false,
            }
        );
    }

    #[test]
    fn console_links_follow_the_partition() {
        let cases = [
            ("cn-north-1", "https://console.amazonaws.cn/s3/object/"),
            (
                "us-gov-west-1",
                "https://console.amazonaws-us-gov.com/s3/object/",
            ),
            (
                "us-east-1",
                "https://us-east-1.console.aws.amazon.com/s3/object/",
            ),
        ];
        for (region, start) in cases {
            let r = reports(&[], 1, region);
            assert!(r.console_url("a").starts_with(start), "{region}");
            assert!(
                r.console_url("a")
                    .ends_with(&format!("?region={region}&prefix=a")),
                "{region}"
            );
        }
        assert_eq!(
            crate::console::percent_encode_path("a/b c&d=é?#+"),
            "a/b%20c%26d%3D%C3%A9%3F%23%2B"
        );
        assert_eq!(crate::console::percent_encode("a/b"), "a%2Fb");
    }

    #[tokio::test]
    async fn bad_keys_are_refused_before_sending() {
        let rule = mock!(Client::put_object).then_output(stored);
        let r = reports(&[&rule], 1, "eu-west-1");
        for key in [String::new(), "k".repeat(KEY_MAX_BYTES + 1)] {
            let err = must_fail(r.put(&key, "x", "text/plain").await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::Invalid, "PutObject")
            );
        }
        must(r.put(&"k".repeat(KEY_MAX_BYTES), "x", "").await);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn an_empty_content_type_is_not_sent() {
        let seen = Captured::<Sent>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_object)
            .match_requests(move |req| s.push(sent(req)))
            .then_output(stored);
        must(reports(&[&rule], 1, "eu-west-1").put(KEY, "", " ").await);
        let req = seen.only();
        assert_eq!(req.content_type, None);
        assert_eq!(req.body, Some(Vec::new()));
    }

    #[tokio::test]
    async fn error_codes_map_to_kinds() {
        let cases = [
            ("NoSuchBucket", PortErrorKind::NotFound),
            ("AccessDenied", PortErrorKind::AccessDenied),
            ("AllAccessDisabled", PortErrorKind::AccessDenied),
            ("InvalidAccessKeyId", PortErrorKind::AccessDenied),
            ("SlowDown", PortErrorKind::Throttled),
            ("InvalidRequest", PortErrorKind::Invalid),
            ("PermanentRedirect", PortErrorKind::Invalid),
            ("InternalError", PortErrorKind::Unavailable),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::put_object)
                .then_error(move || PutObjectError::generic(meta(code, "no")));
            let err = must_fail(
                reports(&[&rule], 1, "eu-west-1")
                    .put(KEY, "x", "text/plain")
                    .await,
            );
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.operation, "PutObject");
            assert_eq!(err.message, format!("{code}: no"));
        }
    }

    #[tokio::test]
    async fn slow_down_is_retried_then_succeeds() {
        let seen = Captured::<Sent>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_object)
            .match_requests(move |req| s.push(sent(req)))
            .sequence()
            .error(|| PutObjectError::generic(meta("SlowDown", "Please reduce your request rate.")))
            .times(2)
            .output(stored)
            .build();
        must(
            reports(&[&rule], 3, "eu-west-1")
                .put(KEY, "x", "text/plain")
                .await,
        );
        assert_eq!(rule.num_calls(), 3);
        let req = seen.only();
        assert_eq!(
            (req.bucket.as_deref(), req.key.as_deref()),
            (Some(BUCKET), Some(KEY))
        );
    }
}
