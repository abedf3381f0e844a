//! [`AutomationRunner`] on AWS Systems Manager Automation (`ssm`).
//!
//! - `start` → `StartAutomationExecution`: `DocumentName`, `DocumentVersion` (only when given),
//!   `Parameters` (omitted when empty), `ClientToken` (SSM wants a UUID; a retry with the same
//!   token and the same parameters returns the same execution id), `Tags` (`Key`/`Value`). An
//!   answer without an `AutomationExecutionId` is `Other`;
//! - `execution` → `GetAutomationExecution`: id, document, status as SSM spells it
//!   (`InProgress`, `Success`, `TimedOut`, …), outputs, failure message, start and end times. An
//!   answer without an execution or without a status is `Other`.
//!
//! Limits (`API_StartAutomationExecution.html`): `ClientToken` 36 characters, at most 1,000 tags,
//! `DocumentName` and parameters checked by SSM (`InvalidAutomationExecutionParametersException`).
//! Nothing is trimmed here: a request SSM refuses is a bug upstream, reported as `Invalid`.
//!
//! Errors, by modelled variant first (so they hold even without an error code) and otherwise by
//! [`from_sdk_error`]: `IdempotentParameterMismatch` (the token was used with other parameters)
//! → `Conflict`; `AutomationDefinitionNotFoundException`,
//! `AutomationDefinitionVersionNotFoundException`, `AutomationExecutionNotFoundException` →
//! `NotFound`; `InvalidAutomationExecutionParametersException`, `InvalidTarget` → `Invalid`;
//! `AutomationExecutionLimitExceededException` (too many executions running) → `Throttled`;
//! `InternalServerError` → `Unavailable`; `AccessDeniedException` → `AccessDenied`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ssm::error::SdkError;
use aws_sdk_ssm::operation::get_automation_execution::GetAutomationExecutionError;
use aws_sdk_ssm::operation::start_automation_execution::StartAutomationExecutionError;
use aws_sdk_ssm::types::Tag;
use aws_sdk_ssm::Client;

use super::convert::to_chrono;
use super::error::from_sdk_error;
use crate::diagnosis::{AutomationExecution, AutomationRequest};
use crate::ports::{AutomationRunner, PortError, PortErrorKind};

/// SSM Automation in one region.
#[derive(Debug, Clone)]
pub struct SsmAutomation {
    client: Client,
}

impl SsmAutomation {
    pub fn new(client: Client) -> Self {
        SsmAutomation { client }
    }
}

/// The kind a modelled `StartAutomationExecution` error stands for.
fn start_kind(err: &StartAutomationExecutionError) -> Option<PortErrorKind> {
    use StartAutomationExecutionError as E;
    match err {
        E::IdempotentParameterMismatch(_) => Some(PortErrorKind::Conflict),
        E::AutomationDefinitionNotFoundException(_)
        | E::AutomationDefinitionVersionNotFoundException(_) => Some(PortErrorKind::NotFound),
        E::InvalidAutomationExecutionParametersException(_) | E::InvalidTarget(_) => {
            Some(PortErrorKind::Invalid)
        }
        E::AutomationExecutionLimitExceededException(_) => Some(PortErrorKind::Throttled),
        E::InternalServerError(_) => Some(PortErrorKind::Unavailable),
        _ => None,
    }
}

/// The kind a modelled `GetAutomationExecution` error stands for.
fn get_kind(err: &GetAutomationExecutionError) -> Option<PortErrorKind> {
    use GetAutomationExecutionError as E;
    match err {
        E::AutomationExecutionNotFoundException(_) => Some(PortErrorKind::NotFound),
        E::InternalServerError(_) => Some(PortErrorKind::Unavailable),
        _ => None,
    }
}

/// [`from_sdk_error`], with the kind of a modelled error taken from its variant.
fn port_error<E>(
    operation: &str,
    err: &SdkError<E>,
    modelled: fn(&E) -> Option<PortErrorKind>,
) -> PortError
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let mut port = from_sdk_error(operation, err);
    if let Some(kind) = err.as_service_error().and_then(modelled) {
        port.kind = kind;
    }
    port
}

fn tags(operation: &str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>, PortError> {
    tags.iter()
        .map(|(key, value)| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|e| PortError::new(operation, PortErrorKind::Invalid, e.to_string()))
        })
        .collect()
}

#[async_trait]
impl AutomationRunner for SsmAutomation {
    async fn start(&self, request: &AutomationRequest) -> Result<String, PortError> {
        const OP: &str = "StartAutomationExecution";
        let token = request.client_token.trim();
        if token.is_empty() {
            tracing::warn!(
                document = %request.document,
                "empty client token: the start will not be idempotent"
            );
        }
        let tags = tags(OP, &request.tags)?;
        let output = self
            .client
            .start_automation_execution()
            .document_name(&request.document)
            .set_document_version(
                request
                    .version
                    .as_deref()
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            )
            .set_parameters((!request.parameters.is_empty()).then(|| {
                request
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .set_client_token((!token.is_empty()).then(|| token.to_string()))
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| port_error(OP, &e, start_kind))?;
        let id = output
            .automation_execution_id()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| {
                PortError::new(
                    OP,
                    PortErrorKind::Other,
                    "the response carries no AutomationExecutionId",
                )
            })?;
        tracing::info!(document = %request.document, execution = id, "automation started");
        Ok(id.to_string())
    }

    async fn execution(&self, id: &str) -> Result<AutomationExecution, PortError> {
        const OP: &str = "GetAutomationExecution";
        let output = self
            .client
            .get_automation_execution()
            .automation_execution_id(id)
            .send()
            .await
            .map_err(|e| port_error(OP, &e, get_kind))?;
        let execution = output.automation_execution().ok_or_else(|| {
            PortError::new(
                OP,
                PortErrorKind::Other,
                "the response carries no AutomationExecution",
            )
        })?;
        let status = execution.automation_execution_status().ok_or_else(|| {
            PortError::new(
                OP,
                PortErrorKind::Other,
                format!("execution {id}: the response carries no AutomationExecutionStatus"),
            )
        })?;
        Ok(AutomationExecution {
            id: execution
                .automation_execution_id()
                .filter(|i| !i.is_empty())
                .unwrap_or(id)
                .to_string(),
            document: execution.document_name().map(str::to_string),
            status: status.as_str().to_string(),
            outputs: execution
                .outputs()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            failure_message: execution
                .failure_message()
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            started: execution.execution_start_time().and_then(to_chrono),
            ended: execution.execution_end_time().and_then(to_chrono),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_ssm::operation::get_automation_execution::{
        GetAutomationExecutionInput, GetAutomationExecutionOutput,
    };
    use aws_sdk_ssm::operation::start_automation_execution::{
        StartAutomationExecutionInput, StartAutomationExecutionOutput,
    };
    use aws_sdk_ssm::types::error::{
        AutomationDefinitionNotFoundException, AutomationDefinitionVersionNotFoundException,
        AutomationExecutionLimitExceededException, AutomationExecutionNotFoundException,
        IdempotentParameterMismatch, InvalidAutomationExecutionParametersException,
    };
    use aws_sdk_ssm::types::{AutomationExecution as SdkExecution, AutomationExecutionStatus};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use chrono::{DateTime, Utc};
    use std::collections::HashMap;

    const EXECUTION: &str = "4105a4fc-f944-11e6-9d32-0123456789ab";
    const TOKEN: &str = "6f1c5a3e-2b7d-4c8e-9f10-1a2b3c4d5e6f";
    const DOCUMENT: &str = "AWS-RestartVpnTunnel";

    fn runner(rules: &[&Rule], attempts: u32) -> SsmAutomation {
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        SsmAutomation::new(client)
    }

    fn request() -> AutomationRequest {
        AutomationRequest {
            document: DOCUMENT.to_string(),
            version: Some("3".to_string()),
            parameters: BTreeMap::from([
                (
                    "VpnConnectionId".to_string(),
                    vec!["vpn-0abc1234".to_string()],
                ),
                (
                    "TunnelIps".to_string(),
                    vec!["203.0.113.10".to_string(), "203.0.113.20".to_string()],
                ),
            ]),
            client_token: TOKEN.to_string(),
            tags: BTreeMap::from([
                ("incident".to_string(), "oi-0123456789ab".to_string()),
                ("responder".to_string(), "runbook".to_string()),
            ]),
        }
    }

    fn started() -> StartAutomationExecutionOutput {
        StartAutomationExecutionOutput::builder()
            .automation_execution_id(EXECUTION)
            .build()
    }

    fn smithy(time: DateTime<Utc>) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(time.timestamp())
    }

    #[tokio::test]
    async fn start_sends_document_parameters_token_and_tags() {
        let seen = Captured::<StartAutomationExecutionInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_automation_execution)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let id = must(runner(&[&rule], 1).start(&request()).await);
        assert_eq!(id, EXECUTION);

        let req = seen.only();
        assert_eq!(req.document_name(), Some(DOCUMENT));
        assert_eq!(req.document_version(), Some("3"));
        assert_eq!(req.client_token(), Some(TOKEN));
        let expected: HashMap<String, Vec<String>> = request().parameters.into_iter().collect();
        assert_eq!(req.parameters(), Some(&expected));
        let tags: Vec<_> = req.tags().iter().map(|t| (t.key(), t.value())).collect();
        assert_eq!(
            tags,
            [("incident", "oi-0123456789ab"), ("responder", "runbook")]
        );
        assert_eq!(req.mode(), None);
        assert!(req.targets().is_empty());
    }

    #[tokio::test]
    async fn start_leaves_out_what_is_not_given() {
        let seen = Captured::<StartAutomationExecutionInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::start_automation_execution)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(started);
        let mut bare = request();
        bare.version = None;
        bare.parameters.clear();
        bare.tags.clear();
        must(runner(&[&rule], 1).start(&bare).await);
        let req = seen.only();
        assert_eq!(req.document_version(), None);
        assert_eq!(req.parameters(), None);
        assert!(req.tags().is_empty());
        assert_eq!(req.client_token(), Some(TOKEN));
    }

    #[tokio::test]
    async fn a_retried_start_sends_the_same_token() {
        let seen = Captured::<StartAutomationExecutionInput>::new();
        let (s1, s2) = (seen.clone(), seen.clone());
        let first = mock!(Client::start_automation_execution)
            .match_requests(move |req| s1.push(req.clone()))
            .then_output(started);
        let second = mock!(Client::start_automation_execution)
            .match_requests(move |req| s2.push(req.clone()))
            .then_output(started);
        let r = runner(&[&first, &second], 1);
        let a = must(r.start(&request()).await);
        let b = must(r.start(&request()).await);
        assert_eq!(a, b);
        let tokens: Vec<_> = seen
            .all()
            .iter()
            .map(|r| r.client_token().map(str::to_string))
            .collect();
        assert_eq!(tokens, [Some(TOKEN.to_string()), Some(TOKEN.to_string())]);
    }

    #[tokio::test]
    async fn a_start_answer_without_an_id_is_other() {
        let rule = mock!(Client::start_automation_execution)
            .then_output(|| StartAutomationExecutionOutput::builder().build());
        let err = must_fail(runner(&[&rule], 1).start(&request()).await);
        assert_eq!(err.kind, PortErrorKind::Other);
        assert_eq!(err.operation, "StartAutomationExecution");
    }

    #[tokio::test]
    async fn modelled_start_errors_map_to_kinds() {
        type Make = fn() -> StartAutomationExecutionError;
        let cases: [(&str, PortErrorKind, Make); 5] = [
            (
                "IdempotentParameterMismatch",
                PortErrorKind::Conflict,
                || {
                    StartAutomationExecutionError::IdempotentParameterMismatch(
                        IdempotentParameterMismatch::builder()
                            .message("token reused")
                            .meta(meta("IdempotentParameterMismatch", "token reused"))
                            .build(),
                    )
                },
            ),
            (
                "AutomationDefinitionNotFoundException",
                PortErrorKind::NotFound,
                || {
                    StartAutomationExecutionError::AutomationDefinitionNotFoundException(
                        AutomationDefinitionNotFoundException::builder()
                            .message("no such document")
                            .meta(meta(
                                "AutomationDefinitionNotFoundException",
                                "no such document",
                            ))
                            .build(),
                    )
                },
            ),
            (
                "AutomationDefinitionVersionNotFoundException",
                PortErrorKind::NotFound,
                || {
                    StartAutomationExecutionError::AutomationDefinitionVersionNotFoundException(
                        AutomationDefinitionVersionNotFoundException::builder()
                            .message("no such version")
                            .meta(meta(
                                "AutomationDefinitionVersionNotFoundException",
                                "no such version",
                            ))
                            .build(),
                    )
                },
            ),
            (
                "InvalidAutomationExecutionParametersException",
                PortErrorKind::Invalid,
                || {
                    StartAutomationExecutionError::InvalidAutomationExecutionParametersException(
                        InvalidAutomationExecutionParametersException::builder()
                            .message("bad parameter")
                            .meta(meta(
                                "InvalidAutomationExecutionParametersException",
                                "bad parameter",
                            ))
                            .build(),
                    )
                },
            ),
            (
                "AutomationExecutionLimitExceededException",
                PortErrorKind::Throttled,
                || {
                    StartAutomationExecutionError::AutomationExecutionLimitExceededException(
                        AutomationExecutionLimitExceededException::builder()
                            .message("too many")
                            .meta(meta(
                                "AutomationExecutionLimitExceededException",
                                "too many",
                            ))
                            .build(),
                    )
                },
            ),
        ];
        for (code, kind, make) in cases {
            let rule = mock!(Client::start_automation_execution).then_error(make);
            let err = must_fail(runner(&[&rule], 1).start(&request()).await);
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.operation, "StartAutomationExecution");
            assert!(err.message.starts_with(code), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn modelled_errors_are_classified_even_without_a_code() {
        let rule = mock!(Client::start_automation_execution).then_error(|| {
            StartAutomationExecutionError::IdempotentParameterMismatch(
                IdempotentParameterMismatch::builder()
                    .message("token reused")
                    .build(),
            )
        });
        let err = must_fail(runner(&[&rule], 1).start(&request()).await);
        assert_eq!(err.kind, PortErrorKind::Conflict);
    }

    #[tokio::test]
    async fn unmodelled_start_errors_map_by_code() {
        let cases = [
            ("AccessDeniedException", PortErrorKind::AccessDenied),
            ("ThrottlingException", PortErrorKind::Throttled),
            ("ValidationException", PortErrorKind::Invalid),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::start_automation_execution)
                .then_error(move || StartAutomationExecutionError::generic(meta(code, "no")));
            let err = must_fail(runner(&[&rule], 1).start(&request()).await);
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.message, format!("{code}: no"));
        }
    }

    #[tokio::test]
    async fn execution_is_read_and_mapped() {
        let seen = Captured::<GetAutomationExecutionInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::get_automation_execution)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                GetAutomationExecutionOutput::builder()
                    .automation_execution(
                        SdkExecution::builder()
                            .automation_execution_id(EXECUTION)
                            .document_name(DOCUMENT)
                            .automation_execution_status(AutomationExecutionStatus::Timedout)
                            .execution_start_time(smithy(at(2026, 11, 21, 4, 0, 0)))
                            .execution_end_time(smithy(at(2026, 11, 21, 5, 0, 0)))
                            .outputs("ResetTunnel.Status", vec!["Timeout".to_string()])
                            .failure_message("Step timed out while step is verifying the tunnel")
                            .build(),
                    )
                    .build()
            });
        let got = must(runner(&[&rule], 1).execution(EXECUTION).await);
        assert_eq!(seen.only().automation_execution_id(), Some(EXECUTION));
        assert_eq!(
            got,
            AutomationExecution {
                id: EXECUTION.to_string(),
                document: Some(DOCUMENT.to_string()),
                status: "TimedOut".to_string(),
                outputs: BTreeMap::from([(
                    "ResetTunnel.Status".to_string(),
                    vec!["Timeout".to_string()]
                )]),
                failure_message: Some(
                    "Step timed out while step is verifying the tunnel".to_string()
                ),
                started: Some(at(2026, 11, 21, 4, 0, 0)),
                ended: Some(at(2026, 11, 21, 5, 0, 0)),
            }
        );
    }

    #[tokio::test]
    async fn a_running_execution_has_no_end_and_spells_its_status() {
        let rule = mock!(Client::get_automation_execution).then_output(|| {
            GetAutomationExecutionOutput::builder()
                .automation_execution(
                    SdkExecution::builder()
                        .automation_execution_status(AutomationExecutionStatus::Inprogress)
                        .execution_start_time(smithy(at(2026, 11, 21, 4, 0, 0)))
                        .build(),
                )
                .build()
        });
        let got = must(runner(&[&rule], 1).execution(EXECUTION).await);
        assert_eq!(
            got.id, EXECUTION,
            "the id asked for when the answer has none"
        );
        assert_eq!(got.status, "InProgress");
        assert_eq!(got.ended, None);
        assert_eq!(got.document, None);
        assert!(got.outputs.is_empty());
        assert_eq!(got.failure_message, None);
    }

    #[tokio::test]
    async fn execution_errors_and_empty_answers() {
        let gone = mock!(Client::get_automation_execution).then_error(|| {
            GetAutomationExecutionError::AutomationExecutionNotFoundException(
                AutomationExecutionNotFoundException::builder()
                    .message("no such execution")
                    .meta(meta(
                        "AutomationExecutionNotFoundException",
                        "no such execution",
                    ))
                    .build(),
            )
        });
        let denied = mock!(Client::get_automation_execution).then_error(|| {
            GetAutomationExecutionError::generic(meta("AccessDeniedException", "not allowed"))
        });
        let empty = mock!(Client::get_automation_execution)
            .then_output(|| GetAutomationExecutionOutput::builder().build());
        let no_status = mock!(Client::get_automation_execution).then_output(|| {
            GetAutomationExecutionOutput::builder()
                .automation_execution(
                    SdkExecution::builder()
                        .automation_execution_id(EXECUTION)
                        .build(),
                )
                .build()
        });
        let r = runner(&[&gone, &denied, &empty, &no_status], 1);
        for kind in [
            PortErrorKind::NotFound,
            PortErrorKind::AccessDenied,
            PortErrorKind::Other,
            PortErrorKind::Other,
        ] {
            let err = must_fail(r.execution(EXECUTION).await);
            assert_eq!(err.kind, kind);
            assert_eq!(err.operation, "GetAutomationExecution");
        }
    }

    #[tokio::test]
    async fn throttling_past_the_budget_is_throttled() {
        let rule = mock!(Client::get_automation_execution)
            .sequence()
            .error(|| {
                GetAutomationExecutionError::generic(meta("ThrottlingException", "Rate exceeded"))
            })
            .times(3)
            .build();
        let err = must_fail(runner(&[&rule], 3).execution(EXECUTION).await);
        assert_eq!(err.kind, PortErrorKind::Throttled);
        assert_eq!(rule.num_calls(), 3);
    }
}
