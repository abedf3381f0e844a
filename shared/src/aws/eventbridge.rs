//! [`EventBus`] on the EventBridge responder bus (`RESPONDER_BUS`).
//!
//! One `PutEvents` entry per lifecycle event: source `incident.responder`, detail-type from the
//! event kind (**contract**), the detail as JSON, the event's own time, and the incident record
//! ARN as the entry's `Resources` when the incident has an ARN (Incident Manager; an OpsItem id
//! is not an ARN).
//!
//! `PutEvents` answers 200 even when it refuses an entry: the refusal is in `FailedEntryCount`
//! and the entry's `ErrorCode`/`ErrorMessage`, and is an error here.
//!
//! An entry is limited to 256 KB, counted as EventBridge documents it (`Time` 14 bytes, plus the
//! UTF-8 bytes of `Source`, `DetailType`, `Detail` and each of `Resources`):
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html>. The handlers
//! keep details small (a summary of the incident and the signal, never the raw event), so an
//! oversized entry is a bug: it is refused before sending, as `Invalid`.

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

use super::convert::to_smithy_time;
use super::error::{from_sdk_error, kind_for_code};
use crate::arn::is_arn;
use crate::domain::{LifecycleEvent, RESPONDER_SOURCE};
use crate::ports::{EventBus, PortError, PortErrorKind};

/// The largest `PutEvents` entry EventBridge accepts: 256 KB.
pub const ENTRY_MAX_BYTES: usize = 256 * 1024;
/// What the `Time` parameter counts for in an entry's size.
const TIME_BYTES: usize = 14;

/// The responder bus.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus_name: String,
}

impl EventBridgeBus {
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        EventBridgeBus {
            client,
            bus_name: bus_name.into(),
        }
    }
}

/// An entry's size as EventBridge counts it.
fn entry_size(source: &str, detail_type: &str, detail: &str, resources: &[String]) -> usize {
    TIME_BYTES
        + source.len()
        + detail_type.len()
        + detail.len()
        + resources.iter().map(String::len).sum::<usize>()
}

#[async_trait]
impl EventBus for EventBridgeBus {
    async fn publish(&self, event: &LifecycleEvent) -> Result<(), PortError> {
        const OP: &str = "PutEvents";
        let detail = serde_json::to_string(&event.detail).map_err(|e| {
            PortError::new(
                OP,
                PortErrorKind::Invalid,
                format!("detail not serialisable: {e}"),
            )
        })?;
        let detail_type = event.kind.detail_type();
        let incident_id = event.detail.incident.id.as_str();
        let resources: Vec<String> = if is_arn(incident_id) {
            vec![incident_id.to_string()]
        } else {
            Vec::new()
        };
        let size = entry_size(RESPONDER_SOURCE, detail_type, &detail, &resources);
        if size > ENTRY_MAX_BYTES {
            return Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                format!(
                    "{detail_type} entry for {incident_id} is {size} bytes, over the \
                     {ENTRY_MAX_BYTES}-byte limit"
                ),
            ));
        }
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(RESPONDER_SOURCE)
            .detail_type(detail_type)
            .detail(detail)
            .time(to_smithy_time(event.time))
            .set_resources((!resources.is_empty()).then_some(resources))
            .build();
        let output = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;

        let refused = output.entries().iter().find(|e| e.error_code().is_some());
        if output.failed_entry_count() > 0 || refused.is_some() {
            let code = refused
                .and_then(|e| e.error_code())
                .unwrap_or("(no error code)");
            let message = refused
                .and_then(|e| e.error_message())
                .unwrap_or("(no message)");
            let kind = match kind_for_code(code) {
                Some(PortErrorKind::Throttled) => PortErrorKind::Throttled,
                // A transient failure on EventBridge's side (`InternalFailure`): worth a retry.
                Some(PortErrorKind::Unavailable) => PortErrorKind::Unavailable,
                _ => PortErrorKind::Other,
            };
            return Err(PortError::new(
                OP,
                kind,
                format!(
                    "{detail_type} entry refused by {}: {code}: {message}",
                    self.bus_name
                ),
            ));
        }
        tracing::debug!(
            detail_type,
            incident = incident_id,
            event_id = output
                .entries()
                .first()
                .and_then(|e| e.event_id())
                .unwrap_or(""),
            "lifecycle event published"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use crate::domain::{
        Backend, Impact, IncidentSummary, LifecycleDetail, LifecycleKind, Severity, Signal,
        SignalKind, SignalState,
    };
    use aws_sdk_eventbridge::operation::put_events::{
        PutEventsError, PutEventsInput, PutEventsOutput,
    };
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};

    const BUS: &str = "incident-responder";

    fn store(rules: &[&Rule], attempts: u32) -> EventBridgeBus {
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        EventBridgeBus::new(client, BUS)
    }

    fn event(backend: Backend, id: &str) -> LifecycleEvent {
        let signal = Signal {
            source: "aws.cloudwatch".into(),
            detail_type: "CloudWatch Alarm State Change".into(),
            kind: SignalKind::MetricAlarm,
            state: SignalState::Firing,
            severity: None,
            severity_score: None,
            account: "111122223333".into(),
            region: "eu-west-1".into(),
            time: at(2026, 11, 21, 3, 55, 0),
            event_id: Some("5bf4ba1c-41e0-4c23-a3cc-47bb8d2a7d0c".into()),
            fingerprint: "fp-1".into(),
            resource: ALARM_ARN.into(),
            resources: vec![ALARM_ARN.into(), VPN_ARN.into()],
            tags: Default::default(),
            summary: "vpn-0abc1234 tunnel down".into(),
            alarm_name: Some("vpn-0abc1234-tunnel-down".into()),
            metrics: Vec::new(),
            finding_type: None,
            finding_id: None,
            reason: None,
            product: None,
        };
        LifecycleEvent {
            kind: LifecycleKind::IncidentOpened,
            time: at(2026, 11, 21, 3, 56, 0),
            detail: LifecycleDetail {
                incident: IncidentSummary {
                    backend,
                    id: id.into(),
                    title: "VPN vpn-0abc1234: tunnel down".into(),
                    impact: Impact::HIGH,
                    severity: Severity::High,
                    rule: "vpn-tunnel-down".into(),
                    service: "network".into(),
                    tier: "tier-1".into(),
                    dedupe_key: "vpn-tunnel-down#vpn-0abc1234".into(),
                    resources: vec![VPN_ARN.into()],
                    runbook: None,
                    auto_resolve: true,
                    next_steps: Vec::new(),
                },
                signal,
                reason: "alarm vpn-0abc1234-tunnel-down is in ALARM".into(),
                signal_count: Some(1),
                diagnosis: None,
                automation: None,
                resolution: None,
                escalation: None,
                request: None,
                hold: None,
                silence: None,
                changes: None,
                inspection: None,
            },
        }
    }

    fn accepted() -> PutEventsOutput {
        PutEventsOutput::builder()
            .failed_entry_count(0)
            .entries(PutEventsResultEntry::builder().event_id("e-1").build())
            .build()
    }

    fn refused(code: &'static str) -> impl Fn() -> PutEventsOutput + Send + Sync + 'static {
        move || {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code(code)
                        .error_message("entry refused")
                        .build(),
                )
                .build()
        }
    }

    #[tokio::test]
    async fn publish_sends_one_contract_entry() {
        let seen = Captured::<PutEventsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_events)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(accepted);
        let ev = event(Backend::IncidentManager, INCIDENT_ARN);
        must(store(&[&rule], 1).publish(&ev).await);

        let req = seen.only();
        assert_eq!(req.entries().len(), 1);
        let entry = &req.entries()[0];
        assert_eq!(entry.event_bus_name(), Some(BUS));
        assert_eq!(entry.source(), Some("incident.responder"));
        assert_eq!(entry.detail_type(), Some("Incident Opened"));
        assert_eq!(entry.time().map(|t| t.secs()), Some(ev.time.timestamp()));
        assert_eq!(entry.resources(), &[INCIDENT_ARN.to_string()]);
        let detail: LifecycleDetail = must(serde_json::from_str(entry.detail().unwrap()));
        assert_eq!(detail, ev.detail);
    }

    #[tokio::test]
    async fn an_ops_item_id_is_not_a_resource() {
        let seen = Captured::<PutEventsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_events)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(accepted);
        must(
            store(&[&rule], 1)
                .publish(&event(Backend::OpsCenter, "oi-0123456789ab"))
                .await,
        );
        assert!(seen.only().entries()[0].resources().is_empty());
    }

    #[tokio::test]
    async fn a_refused_entry_is_an_error() {
        let cases = [
            ("ThrottlingException", PortErrorKind::Throttled),
            ("InternalFailure", PortErrorKind::Unavailable),
            ("NotAuthorizedForSourceException", PortErrorKind::Other),
            ("MalformedDetail", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::put_events).then_output(refused(code));
            let err = must_fail(
                store(&[&rule], 1)
                    .publish(&event(Backend::IncidentManager, INCIDENT_ARN))
                    .await,
            );
            assert_eq!(
                (err.kind, err.operation.as_str()),
                (kind, "PutEvents"),
                "{code}"
            );
            assert!(err.message.contains(code), "{}", err.message);
            assert!(err.message.contains("entry refused"), "{}", err.message);
        }
        // A count without entries still fails, without panicking.
        let rule = mock!(Client::put_events)
            .then_output(|| PutEventsOutput::builder().failed_entry_count(1).build());
        let err = must_fail(
            store(&[&rule], 1)
                .publish(&event(Backend::IncidentManager, INCIDENT_ARN))
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::Other);
    }

    #[tokio::test]
    async fn an_oversized_entry_is_refused_before_sending() {
        let rule = mock!(Client::put_events).then_output(accepted);
        let mut ev = event(Backend::IncidentManager, INCIDENT_ARN);
        ev.detail.reason = "x".repeat(ENTRY_MAX_BYTES);
        let err = must_fail(store(&[&rule], 1).publish(&ev).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn throttling_is_retried_then_succeeds() {
        let seen = Captured::<PutEventsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::put_events)
            .match_requests(move |req| s.push(req.clone()))
            .sequence()
            .error(|| PutEventsError::generic(meta("ThrottlingException", "Rate exceeded")))
            .times(2)
            .output(accepted)
            .build();
        must(
            store(&[&rule], 3)
                .publish(&event(Backend::IncidentManager, INCIDENT_ARN))
                .await,
        );
        assert_eq!(rule.num_calls(), 3);
        let req = seen.only();
        assert_eq!(req.entries().len(), 1);
        assert_eq!(req.entries()[0].source(), Some("incident.responder"));
    }

    #[tokio::test]
    async fn call_errors_map_to_kinds() {
        let cases = [
            ("ResourceNotFoundException", PortErrorKind::NotFound),
            ("AccessDeniedException", PortErrorKind::AccessDenied),
            ("InternalException", PortErrorKind::Unavailable),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::put_events)
                .then_error(move || PutEventsError::generic(meta(code, "no")));
            let err = must_fail(
                store(&[&rule], 1)
                    .publish(&event(Backend::IncidentManager, INCIDENT_ARN))
                    .await,
            );
            assert_eq!(err.kind, kind, "{code}");
        }
    }
}
