//! [`Notifier`] on Amazon SNS: one `Publish` per notification on the topic `NOTIFY_TOPIC_ARN`;
//! and [`Pager`]: one `Publish` per page on the paging topic the rules name (`SnsPager`).
//!
//! - `TopicArn`: the topic given at construction;
//! - `Message`: the notification's body as it is (an AWS Chatbot custom notification, JSON);
//! - `MessageAttributes`: one per [`Notification::attributes`] entry, `DataType` `String` or
//!   `Number` with its `StringValue` (what subscription filter policies match on).
//!
//! The answer is the topic's `MessageId`.
//!
//! Limits (`API_Publish.html`, "Amazon SNS message attributes"): at most 10 attributes; names
//! ≤ 256 characters of `A-Za-z0-9_-.`, not starting with `AWS.` or `Amazon.` (any case), no `..`
//! and not starting or ending with `.`; a message of at most 256 KiB counting the body and every
//! attribute's name, type and value; a `Number` attribute is a number. These are checked before
//! sending, as `Invalid`; an attribute with an empty value (which SNS refuses) is left out and
//! logged.
//!
//! Errors: the SNS codes are mapped here first, then [`from_sdk_error`]: `NotFound` →
//! `NotFound`, `AuthorizationError` and `InvalidSecurity` → `AccessDenied`, `Throttled` →
//! `Throttled`, `InvalidParameter` / `ParameterValueInvalid` / `ValidationException` →
//! `Invalid`. Errors of the topic's KMS key keep the service's message: `KMSAccessDenied` and
//! `KMSOptInRequired` → `AccessDenied`; `KMSDisabled`, `KMSInvalidState` and `KMSNotFound` →
//! `Unavailable` (the topic exists but cannot take messages until its key is fixed);
//! `KMSThrottling` → `Throttled`.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::error::from_sdk_error;
use std::collections::BTreeMap;

use crate::ports::{AttributeValue, Notification, Notifier, Page, Pager, PortError, PortErrorKind};

/// `Publish`: at most 10 message attributes.
pub const ATTRIBUTES_MAX: usize = 10;
/// A message attribute name: at most 256 characters.
pub const ATTRIBUTE_NAME_MAX: usize = 256;
/// The whole message (body and attributes): at most 256 KiB.
pub const MESSAGE_MAX_BYTES: usize = 262_144;

const OP: &str = "Publish";

/// The notification topic.
#[derive(Debug, Clone)]
pub struct SnsNotifier {
    client: Client,
    topic_arn: String,
}

impl SnsNotifier {
    pub fn new(client: Client, topic_arn: String) -> Self {
        SnsNotifier { client, topic_arn }
    }
}

fn invalid(message: impl Into<String>) -> PortError {
    PortError::new(OP, PortErrorKind::Invalid, message)
}

/// The kind an SNS error code stands for, where SNS's own codes say more than the shared table.
fn sns_kind(code: &str) -> Option<PortErrorKind> {
    match code {
        "NotFound" | "NotFoundException" => Some(PortErrorKind::NotFound),
        "AuthorizationError"
        | "AuthorizationErrorException"
        | "InvalidSecurity"
        | "InvalidSecurityException" => Some(PortErrorKind::AccessDenied),
        "Throttled" | "ThrottledException" => Some(PortErrorKind::Throttled),
        "InvalidParameter"
        | "InvalidParameterException"
        | "ParameterValueInvalid"
        | "InvalidParameterValueException"
        | "ValidationException" => Some(PortErrorKind::Invalid),
        "KMSAccessDenied" | "KMSAccessDeniedException" | "KMSOptInRequired" => {
            Some(PortErrorKind::AccessDenied)
        }
        "KMSDisabled"
        | "KMSDisabledException"
        | "KMSInvalidState"
        | "KMSInvalidStateException"
        | "KMSNotFound"
        | "KMSNotFoundException" => Some(PortErrorKind::Unavailable),
        "KMSThrottling" | "KMSThrottlingException" => Some(PortErrorKind::Throttled),
        _ => None,
    }
}

/// Why SNS would refuse `name` as a message attribute name, if it would.
fn bad_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if name.is_empty() {
        Some("is empty")
    } else if name.chars().count() > ATTRIBUTE_NAME_MAX {
        Some("is longer than 256 characters")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        Some("may hold only A-Z, a-z, 0-9, '_', '-' and '.'")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("must not start with AWS. or Amazon. (reserved)")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("must not start or end with '.' or hold '..'")
    } else {
        None
    }
}

/// Whether `text` is a number SNS accepts (a finite decimal, optionally signed or exponent).
fn is_number(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | 'e' | 'E'))
        && text.parse::<f64>().is_ok_and(f64::is_finite)
}

/// The SDK's message attributes for ours, checked against the documented limits; also returns
/// how many bytes they count towards the message size.
fn attributes(
    given: &BTreeMap<String, AttributeValue>,
) -> Result<(Vec<(String, MessageAttributeValue)>, usize), PortError> {
    let mut out = Vec::new();
    let mut size = 0usize;
    for (name, value) in given {
        let (data_type, text) = match value {
            AttributeValue::String(v) => ("String", v.as_str()),
            AttributeValue::Number(v) => ("Number", v.trim()),
        };
        if text.is_empty() {
            tracing::warn!(
                attribute = name.as_str(),
                "message attribute with an empty value left out (SNS refuses it)"
            );
            continue;
        }
        if let Some(problem) = bad_name(name) {
            return Err(invalid(format!(
                "message attribute name {name:?} {problem}"
            )));
        }
        if data_type == "Number" && !is_number(text) {
            return Err(invalid(format!(
                "message attribute {name}: {text:?} is not a number"
            )));
        }
        let sdk = MessageAttributeValue::builder()
            .data_type(data_type)
            .string_value(text)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        size += name.len() + data_type.len() + text.len();
        out.push((name.clone(), sdk));
    }
    if out.len() > ATTRIBUTES_MAX {
        return Err(invalid(format!(
            "{} message attributes, at most {ATTRIBUTES_MAX}",
            out.len()
        )));
    }
    Ok((out, size))
}

#[async_trait]
impl Notifier for SnsNotifier {
    async fn publish(&self, notification: &Notification) -> Result<String, PortError> {
        let message = Message {
            body: &notification.message,
            attributes: &notification.attributes,
            subject: None,
            by_protocol: false,
        };
        Topic {
            client: &self.client,
            arn: &self.topic_arn,
        }
        .publish(&message)
        .await
    }
}

/// One topic to publish on.
struct Topic<'a> {
    client: &'a Client,
    arn: &'a str,
}

/// One `Publish`.
struct Message<'a> {
    body: &'a str,
    attributes: &'a BTreeMap<String, AttributeValue>,
    subject: Option<&'a str>,
    /// `MessageStructure` `json`: `body` is an object of one message per protocol.
    by_protocol: bool,
}

impl Topic<'_> {
    async fn publish(&self, message: &Message<'_>) -> Result<String, PortError> {
        let topic_arn = self.arn;
        if message.body.trim().is_empty() {
            return Err(invalid("the message is empty"));
        }
        let (attributes, attributes_size) = attributes(message.attributes)?;
        let size = message.body.len() + attributes_size;
        if size > MESSAGE_MAX_BYTES {
            return Err(invalid(format!(
                "the message is {size} bytes with its attributes, at most {MESSAGE_MAX_BYTES}"
            )));
        }
        let mut request = self
            .client
            .publish()
            .topic_arn(topic_arn)
            .message(message.body)
            .set_subject(message.subject.map(str::to_string));
        if message.by_protocol {
            request = request.message_structure("json");
        }
        for (name, value) in attributes {
            request = request.message_attributes(name, value);
        }
        let output = request.send().await.map_err(|err| {
            let mut mapped = from_sdk_error(OP, &err);
            if let Some(kind) = err
                .as_service_error()
                .and_then(|e| e.code())
                .and_then(sns_kind)
            {
                mapped.kind = kind;
            }
            mapped
        })?;
        let id = output
            .message_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                PortError::new(
                    OP,
                    PortErrorKind::Other,
                    "the response carries no MessageId",
                )
            })?;
        tracing::debug!(message_id = id, topic = topic_arn, "message published");
        Ok(id.to_string())
    }
}

/// An e-mail subject SNS accepts: printable ASCII on one line, under 100 characters, starting
/// with a letter, a digit or punctuation.
pub fn subject_line(text: &str) -> String {
    let ascii: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    let trimmed: String = ascii.trim().chars().take(SUBJECT_MAX).collect();
    if trimmed.is_empty() {
        "Incident".to_string()
    } else {
        trimmed
    }
}

/// `Subject`: fewer than 100 characters.
pub const SUBJECT_MAX: usize = 99;

/// The paging topics, by the rules' topic names (`PAGING_TOPICS`).
#[derive(Debug, Clone)]
pub struct SnsPager {
    client: Client,
    topics: BTreeMap<String, String>,
}

impl SnsPager {
    pub fn new(client: Client, topics: BTreeMap<String, String>) -> Self {
        SnsPager { client, topics }
    }
}

#[async_trait]
impl Pager for SnsPager {
    /// One `Publish` with `MessageStructure` `json`: the text for e-mail (with the subject) and
    /// any protocol without its own form, the short form for SMS, the JSON page for HTTPS, SQS,
    /// Lambda and Firehose subscribers.
    async fn page(&self, topic: &str, page: &Page) -> Result<String, PortError> {
        let Some(arn) = self.topics.get(topic) else {
            return Err(invalid(format!(
                "no paging topic `{topic}` (PAGING_TOPICS binds the rules' topic names)"
            )));
        };
        let mut forms = serde_json::Map::new();
        for (protocol, body) in [
            ("default", &page.text),
            ("email", &page.text),
            ("sms", &page.sms),
            ("https", &page.json),
            ("http", &page.json),
            ("sqs", &page.json),
            ("lambda", &page.json),
            ("firehose", &page.json),
        ] {
            forms.insert(
                protocol.to_string(),
                serde_json::Value::String(body.clone()),
            );
        }
        let body = serde_json::Value::Object(forms).to_string();
        let subject = subject_line(&page.subject);
        let message = Message {
            body: &body,
            attributes: &page.attributes,
            subject: Some(&subject),
            by_protocol: true,
        };
        Topic {
            client: &self.client,
            arn,
        }
        .publish(&message)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_sns::operation::publish::{PublishError, PublishInput, PublishOutput};
    use aws_sdk_sns::types::error::KmsDisabledException;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use std::collections::BTreeMap;

    const TOPIC: &str = "arn:aws:sns:eu-west-1:111122223333:responder-notify";
    const MESSAGE_ID: &str = "95df01b4-ee98-5cb9-9903-4c221d41eb5e";

    fn notifier(rules: &[&Rule], attempts: u32) -> SnsNotifier {
        let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        SnsNotifier::new(client, TOPIC.to_string())
    }

    fn published() -> PublishOutput {
        PublishOutput::builder().message_id(MESSAGE_ID).build()
    }

    fn notification() -> Notification {
        Notification {
            message: r#"{"version":"1.0","source":"custom","content":{"description":"VPN down"}}"#
                .to_string(),
            attributes: BTreeMap::from([
                (
                    "impact".to_string(),
                    AttributeValue::Number("2".to_string()),
                ),
                (
                    "service".to_string(),
                    AttributeValue::String("network".to_string()),
                ),
                (
                    "step".to_string(),
                    AttributeValue::String("opened".to_string()),
                ),
            ]),
        }
    }

    #[tokio::test]
    async fn publish_sends_topic_message_and_typed_attributes() {
        let seen = Captured::<PublishInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::publish)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(published);
        let n = notification();
        let id = must(notifier(&[&rule], 1).publish(&n).await);
        assert_eq!(id, MESSAGE_ID);

        let req = seen.only();
        assert_eq!(req.topic_arn(), Some(TOPIC));
        assert_eq!(req.message(), Some(n.message.as_str()));
        assert_eq!(req.subject(), None);
        assert_eq!(req.message_structure(), None);
        let attrs = req
            .message_attributes()
            .unwrap_or_else(|| panic!("no attributes"));
        let got: BTreeMap<_, _> = attrs
            .iter()
            .map(|(k, v)| (k.as_str(), (v.data_type(), v.string_value().unwrap())))
            .collect();
        assert_eq!(
            got,
            BTreeMap::from([
                ("impact", ("Number", "2")),
                ("service", ("String", "network")),
                ("step", ("String", "opened")),
            ])
        );
        assert!(attrs.values().all(|v| v.binary_value().is_none()));
    }

    #[tokio::test]
    async fn no_attributes_means_none_sent_and_empty_values_are_left_out() {
        let seen = Captured::<PublishInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::publish)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(published);
        let n = Notification {
            message: "{}".to_string(),
            attributes: BTreeMap::from([(
                "service".to_string(),
                AttributeValue::String(String::new()),
            )]),
        };
        must(notifier(&[&rule], 1).publish(&n).await);
        assert_eq!(seen.only().message_attributes(), None);
    }

    #[tokio::test]
    async fn what_sns_would_refuse_is_refused_before_sending() {
        let rule = mock!(Client::publish).then_output(published);
        let sns = notifier(&[&rule], 1);
        let with = |name: &str, value: AttributeValue| {
            let mut n = notification();
            n.attributes.insert(name.to_string(), value);
            n
        };
        let mut many = notification();
        for i in 0..8 {
            many.attributes
                .insert(format!("a{i}"), AttributeValue::String("x".into()));
        }
        let cases = [
            with("AWS.Trace", AttributeValue::String("x".into())),
            with("amazon.x", AttributeValue::String("x".into())),
            with("bad name", AttributeValue::String("x".into())),
            with("a..b", AttributeValue::String("x".into())),
            with(&"n".repeat(257), AttributeValue::String("x".into())),
            with("count", AttributeValue::Number("two".into())),
            with("count", AttributeValue::Number("1e999".into())),
            Notification {
                message: "x".repeat(MESSAGE_MAX_BYTES),
                attributes: notification().attributes,
            },
            Notification {
                message: "  ".into(),
                attributes: BTreeMap::new(),
            },
            many,
        ];
        for n in &cases {
            let err = must_fail(sns.publish(n).await);
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (PortErrorKind::Invalid, "Publish")
            );
        }
        assert_eq!(rule.num_calls(), 0);
        let ok = with("count", AttributeValue::Number("-1.5e3".into()));
        must(sns.publish(&ok).await);
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn error_codes_map_to_kinds() {
        let cases = [
            ("NotFound", PortErrorKind::NotFound),
            ("AuthorizationError", PortErrorKind::AccessDenied),
            ("InvalidSecurity", PortErrorKind::AccessDenied),
            ("Throttled", PortErrorKind::Throttled),
            ("InvalidParameter", PortErrorKind::Invalid),
            ("ParameterValueInvalid", PortErrorKind::Invalid),
            ("ValidationException", PortErrorKind::Invalid),
            ("KMSAccessDenied", PortErrorKind::AccessDenied),
            ("KMSOptInRequired", PortErrorKind::AccessDenied),
            ("KMSDisabled", PortErrorKind::Unavailable),
            ("KMSInvalidState", PortErrorKind::Unavailable),
            ("KMSNotFound", PortErrorKind::Unavailable),
            ("KMSThrottling", PortErrorKind::Throttled),
            ("InternalError", PortErrorKind::Unavailable),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule =
                mock!(Client::publish).then_error(move || PublishError::generic(meta(code, "no")));
            let err = must_fail(notifier(&[&rule], 1).publish(&notification()).await);
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.operation, "Publish");
            assert_eq!(err.message, format!("{code}: no"));
        }
    }

    #[tokio::test]
    async fn a_kms_error_keeps_the_service_message() {
        let rule = mock!(Client::publish).then_error(|| {
            PublishError::KmsDisabledException(
                KmsDisabledException::builder()
                    .message("Key 'arn:aws:kms:eu-west-1:111122223333:key/1' is disabled.")
                    .meta(meta(
                        "KMSDisabled",
                        "Key 'arn:aws:kms:eu-west-1:111122223333:key/1' is disabled.",
                    ))
                    .build(),
            )
        });
        let err = must_fail(notifier(&[&rule], 1).publish(&notification()).await);
        assert_eq!(err.kind, PortErrorKind::Unavailable);
        assert_eq!(
            err.message,
            "KMSDisabled: Key 'arn:aws:kms:eu-west-1:111122223333:key/1' is disabled."
        );
    }

    #[tokio::test]
    async fn a_5xx_is_retried_then_succeeds() {
        let seen = Captured::<PublishInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::publish)
            .match_requests(move |req| s.push(req.clone()))
            .sequence()
            .http_status(503, None)
            .times(2)
            .output(published)
            .build();
        let id = must(notifier(&[&rule], 3).publish(&notification()).await);
        assert_eq!(id, MESSAGE_ID);
        assert_eq!(rule.num_calls(), 3);
        let req = seen.only();
        assert_eq!(req.topic_arn(), Some(TOPIC));
        assert_eq!(req.message(), Some(notification().message.as_str()));
    }

    #[tokio::test]
    async fn an_answer_without_message_id_is_an_error() {
        let rule = mock!(Client::publish).then_output(|| PublishOutput::builder().build());
        let err = must_fail(notifier(&[&rule], 1).publish(&notification()).await);
        assert_eq!(err.kind, PortErrorKind::Other);
    }
}
