//! SSM Automation's status changes: how an execution the stage started ended.

use std::collections::BTreeMap;

use super::{
    execution_key, incident_ref, replay, starting_key, Runbook, RunbookAction, RunbookAnswer,
    OUTPUTS_MAX, OUTPUT_VALUE_MAX,
};
use tracing::warn;

use crate::diagnosis::RunbookRun;

use crate::domain::{stable_hash, trim_chars, EntryKind, LifecycleDetail, LifecycleKind};
use crate::metrics::{self, Metric};
use crate::ports::{PortError, PortErrorKind};
use crate::shell::{Invocation, StageError};
use crate::sources::ssm_automation::StatusChange;

impl Runbook {
    pub(super) async fn status_changed(
        &self,
        change: &StatusChange,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let execution = change.execution_id.as_str();
        if !change.is_final() {
            return Ok(RunbookAnswer::new(
                RunbookAction::Ignored,
                None,
                Some(execution),
                format!(
                    "Execution {execution} is {}; only a final status is reported.",
                    change.status
                ),
            ));
        }
        let Some(link) = self
            .references
            .recall(&execution_key(execution), cx.now())
            .await?
        else {
            // The responder is starting this document right now: the execution may be ours,
            // its link not written yet. Fail, so that Lambda's retry finds the link.
            if let Some(definition) = change.definition.as_deref() {
                let starting = starting_key(definition);
                if self.references.recall(&starting, cx.now()).await?.is_some() {
                    return Err(StageError::InProgress { key: starting });
                }
            }
            return Ok(RunbookAnswer::new(
                RunbookAction::Ignored,
                None,
                Some(execution),
                format!(
                    "Execution {execution} ({}) was not started by the responder, or too long ago.",
                    change.definition.as_deref().unwrap_or("unknown runbook")
                ),
            ));
        };
        let detail: LifecycleDetail =
            serde_json::from_str(&link).map_err(|e| StageError::Inconsistent {
                what: format!("automation execution {execution}"),
                problem: e.to_string(),
            })?;
        let key = format!("runbook-finished#{execution}");
        cx.once(&key, replay, |_| self.finish(detail.clone(), change, cx))
            .await
    }

    async fn finish(
        &self,
        mut detail: LifecycleDetail,
        change: &StatusChange,
        cx: &Invocation<'_>,
    ) -> Result<RunbookAnswer, StageError> {
        let incident = incident_ref(&detail);
        let execution = change.execution_id.as_str();
        let started = detail.automation.take();
        let document = started
            .as_ref()
            .map(|r| r.document.clone())
            .or_else(|| change.definition.clone())
            .unwrap_or_else(|| "(unknown)".to_string());
        let (outputs, failure_message, unread) = match self.automation.execution(execution).await {
            Ok(found) => (trim_outputs(found.outputs), found.failure_message, None),
            Err(e)
                if matches!(
                    e.kind,
                    PortErrorKind::NotFound | PortErrorKind::AccessDenied
                ) =>
            {
                warn!(error = %e, "could not read the execution; reporting the event's status");
                (BTreeMap::new(), None, Some(e))
            }
            Err(e) => return Err(e.into()),
        };
        let failure_message = failure_message.map(|m| trim_chars(m.trim(), OUTPUT_VALUE_MAX));
        let text = finished_text(
            &document,
            execution,
            &change.status,
            &outputs,
            failure_message.as_deref(),
            unread.as_ref(),
        );
        let kind = EntryKind::RunbookFinished {
            document: document.clone(),
            execution: execution.to_string(),
            status: change.status.clone(),
        };
        let token = stable_hash(&["runbook", "finished", &incident.id, execution], 64);
        self.note(&incident, kind, &text, &token, cx).await?;
        detail.reason = format!(
            "Runbook {document} finished: {} (execution {execution}).",
            change.status
        );
        detail.automation = Some(RunbookRun {
            document: document.clone(),
            execution_id: execution.to_string(),
            status: change.status.clone(),
            parameters: started.map(|r| r.parameters).unwrap_or_default(),
            outputs,
            failure_message,
        });
        let reason = detail.reason.clone();
        cx.publish(LifecycleKind::RunbookFinished, detail).await?;
        let (metric, dimensions) = finished_metric(&document, &change.status);
        let dimensions: Vec<(&str, &str)> =
            dimensions.iter().map(|(k, v)| (*k, v.as_str())).collect();
        metrics::emit(cx.now(), &dimensions, &[metric]);
        Ok(RunbookAnswer::new(
            RunbookAction::Finished,
            Some(&incident.id),
            Some(execution),
            reason,
        ))
    }
}

/// The metric of a finished execution: `RunbookExecutions` by `Document` and by `Status`.
fn finished_metric(document: &str, status: &str) -> (Metric, [(&'static str, String); 2]) {
    (
        Metric::count("RunbookExecutions"),
        [
            ("Document", document.to_string()),
            ("Status", status.to_string()),
        ],
    )
}

fn trim_outputs(outputs: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    outputs
        .into_iter()
        .take(OUTPUTS_MAX)
        .map(|(name, values)| {
            let values = values
                .iter()
                .map(|v| trim_chars(v.trim(), OUTPUT_VALUE_MAX))
                .collect();
            (name, values)
        })
        .collect()
}

fn finished_text(
    document: &str,
    execution: &str,
    status: &str,
    outputs: &BTreeMap<String, Vec<String>>,
    failure_message: Option<&str>,
    unread: Option<&PortError>,
) -> String {
    let mut text = format!("Runbook {document} finished: {status} (execution {execution}).");
    if let Some(message) = failure_message.filter(|m| !m.is_empty()) {
        text.push_str(&format!("\nFailure: {message}"));
    }
    if let Some(e) = unread {
        text.push_str(&format!(
            "\nIts outputs could not be read ({}: {}); the status is the one Automation's event reported.",
            e.kind, e.message
        ));
    } else if outputs.is_empty() {
        text.push_str("\nNo outputs.");
    } else {
        for (name, values) in outputs {
            text.push_str(&format!("\n{name}: {}", values.join(", ")));
        }
    }
    text
}

#[cfg(test)]
mod metric_tests {
    use super::*;

    #[test]
    fn a_finished_execution_counts_by_document_and_status() {
        let (metric, dimensions) = finished_metric("AWSSupport-TroubleshootVPN", "Failed");
        assert_eq!(metric, Metric::count("RunbookExecutions"));
        assert_eq!(
            dimensions,
            [
                ("Document", "AWSSupport-TroubleshootVPN".to_string()),
                ("Status", "Failed".to_string()),
            ]
        );
    }
}
