//! The Slack message of each step: an AWS Chatbot custom notification, rendered from the
//! lifecycle event alone (pure, no I/O). Every field is trimmed to the schema's caps, and text
//! from a signal is made plain ([`super::mrkdwn`]) so it can never become a mention or a link;
//! every link is a console page ([`crate::console`]).

use std::collections::BTreeMap;

use chrono::Duration;

use super::changes;
use super::escalation;
use super::inspected;
use super::instance;
use super::joined::Joined;
use super::mrkdwn::{code, link, list, plain, text, utc};
use super::quiet;
use super::Post;
use crate::chatbot::{self, CustomNotification, Metadata};
use crate::console;
use crate::diagnosis::RunbookRun;
use crate::domain::{
    stable_hash, trim_chars, unique, LifecycleDetail, LifecycleKind, SignalState, SilenceChange,
};
use crate::ports::AttributeValue;
use crate::shell::Origin;
use crate::sources::ssm_automation::succeeded;

/// A signal summary, reason or check inside a description, in characters.
pub(super) const TEXT_MAX: usize = 600;
/// A runbook output value or parameter value, in characters.
pub(super) const VALUE_MAX: usize = 200;
/// Runbook outputs listed.
const OUTPUTS_LISTED: usize = 8;
/// Diagnosis notes and resolution checks listed.
pub(super) const ITEMS_LISTED: usize = 6;

/// Everything one message is rendered from: pure, no I/O.
pub(super) struct Render<'a> {
    pub(super) post: Post,
    pub(super) kind: LifecycleKind,
    pub(super) detail: &'a LifecycleDetail,
    pub(super) origin: &'a Origin,
    /// The post's state-table key (the message id derives from it).
    pub(super) key: &'a str,
    pub(super) joined: Option<Joined>,
    /// The Slack user groups an escalation post mentions (from the rules).
    pub(super) mentions: &'a [String],
    /// The `escalate` function the buttons invoke, when they are set up.
    pub(super) buttons: Option<&'a str>,
}

impl Render<'_> {
    pub(super) fn message(&self) -> CustomNotification {
        let incident = &self.detail.incident;
        let mut message = CustomNotification::new(self.description());
        message.id = Some(format!("notify-{}", stable_hash(&[self.key], 32)));
        message.content.title = Some(self.title());
        if matches!(self.post, Post::Opened | Post::Diagnosed | Post::Awaiting) {
            message.content.next_steps = incident
                .next_steps
                .iter()
                .map(|s| trim_chars(&plain(s), chatbot::NEXT_STEP_MAX))
                .filter(|s| !s.is_empty())
                .take(chatbot::NEXT_STEPS_MAX)
                .collect();
        }
        let keywords = [
            format!(
                "Impact {} ({})",
                incident.impact.get(),
                incident.impact.label()
            ),
            incident.service.clone(),
            self.origin.account.clone(),
            self.origin.region.clone(),
        ];
        message.content.keywords = unique(
            keywords
                .iter()
                .map(|k| trim_chars(&plain(k), chatbot::KEYWORD_MAX)),
        )
        .into_iter()
        .take(chatbot::KEYWORDS_MAX)
        .collect();
        let mut resources: Vec<String> = incident.resources.clone();
        if self.post == Post::Resolved {
            if let Some(report) = self
                .detail
                .resolution
                .as_ref()
                .and_then(|r| r.report.as_ref())
            {
                resources.push(report.uri.clone());
            }
        }
        let related_resources = unique(
            resources
                .iter()
                .map(|r| r.trim().to_string())
                .filter(|r| r.chars().count() <= chatbot::RELATED_RESOURCE_MAX),
        )
        .into_iter()
        .take(chatbot::RELATED_RESOURCES_MAX)
        .collect();
        let mut context = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            let value = trim_chars(&plain(value), chatbot::CONTEXT_VALUE_MAX);
            if !value.is_empty() {
                context.insert(key.to_string(), value);
            }
        };
        put("incident", &incident.id);
        put("backend", incident.backend.as_str());
        put("rule", &incident.rule);
        put("impact", &incident.impact.get().to_string());
        put("step", self.post.step().as_str());
        if let Some(function) = self.buttons {
            put("escalate", function);
        }
        // The Lift silence button shows on the post that says who silenced.
        if self.detail.silence.as_ref().map(|s| s.change) == Some(SilenceChange::Set) {
            put("silenced", "yes");
        }
        if let Some(run) = &self.detail.automation {
            if matches!(self.post, Post::RunbookStarted | Post::RunbookFinished) {
                put("execution", &run.execution_id);
            }
        }
        message.metadata = Some(Metadata {
            thread_id: Some(thread_id(&incident.id)),
            summary: Some(trim_chars(
                &plain(&format!(
                    "[Impact {}] {} — {}: {}",
                    incident.impact.get(),
                    incident.service,
                    self.what(),
                    incident.title
                )),
                chatbot::SUMMARY_MAX,
            )),
            event_type: Some(self.kind.detail_type().to_string()),
            related_resources,
            additional_context: context,
        });
        message
    }

    /// SNS message attributes, for subscription filter policies.
    pub(super) fn attributes(&self) -> BTreeMap<String, AttributeValue> {
        let incident = &self.detail.incident;
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "impact".to_string(),
            AttributeValue::Number(incident.impact.get().to_string()),
        );
        for (name, value) in [
            ("service", incident.service.as_str()),
            ("step", self.post.step().as_str()),
            ("rule", incident.rule.as_str()),
        ] {
            // SNS refuses empty attribute values.
            if !value.trim().is_empty() {
                attributes.insert(name.to_string(), AttributeValue::String(value.to_string()));
            }
        }
        attributes
    }

    /// `:large_orange_circle: [Impact 2 · High] site-to-site-vpn — Opened: Site-to-Site VPN …`
    fn title(&self) -> String {
        let incident = &self.detail.incident;
        let prefix = format!(
            "{} [Impact {} · {}] {} — {}: ",
            self.emoji(),
            incident.impact.get(),
            incident.impact.label(),
            plain(&incident.service),
            self.what()
        );
        let room = chatbot::TITLE_MAX.saturating_sub(prefix.chars().count());
        let title = trim_chars(&plain(&incident.title), room);
        trim_chars(&format!("{prefix}{title}"), chatbot::TITLE_MAX)
    }

    /// One Slack emoji: the impact's colour for the opening post, the step's for the others.
    fn emoji(&self) -> &'static str {
        match self.post {
            Post::Opened => match self.detail.incident.impact.get() {
                1 => ":red_circle:",
                2 => ":large_orange_circle:",
                3 => ":large_yellow_circle:",
                4 => ":large_blue_circle:",
                _ => ":white_circle:",
            },
            Post::Joined => ":heavy_plus_sign:",
            Post::Diagnosed => ":mag:",
            Post::RunbookStarted => ":gear:",
            Post::RunbookFinished => {
                if self.runbook().is_some_and(|r| succeeded(&r.status)) {
                    ":clipboard:"
                } else {
                    ":warning:"
                }
            }
            Post::Recovered => ":large_green_circle:",
            Post::Resolved => ":white_check_mark:",
            Post::Awaiting => ":raised_hand:",
            Post::Escalated | Post::Acknowledged => escalation::emoji(self),
            Post::Silenced | Post::Downstream => quiet::emoji(self),
            Post::Changes => ":memo:",
            Post::Inspected => ":mag_right:",
        }
    }

    /// The step in a few words.
    fn what(&self) -> String {
        match self.post {
            Post::Opened => "Opened".to_string(),
            Post::Joined => match self.joined.and_then(|j| j.more) {
                Some(1) => "1 more signal joined".to_string(),
                Some(n) if n > 1 => format!("{n} more signals joined"),
                _ => "Update".to_string(),
            },
            Post::Diagnosed => "Diagnosed".to_string(),
            Post::RunbookStarted => "Runbook started".to_string(),
            Post::RunbookFinished => match self.runbook().map(|r| r.status.as_str()) {
                Some(status) if succeeded(status) => "Runbook succeeded".to_string(),
                Some("Failed") => "Runbook failed".to_string(),
                Some("TimedOut") => "Runbook timed out".to_string(),
                Some("Cancelled") => "Runbook cancelled".to_string(),
                Some(status) => format!("Runbook finished ({})", plain(status)),
                None => "Runbook finished".to_string(),
            },
            Post::Recovered => "Signal recovered, verifying".to_string(),
            Post::Resolved => "Resolved".to_string(),
            Post::Awaiting => "Recovered, waiting for a responder".to_string(),
            Post::Escalated | Post::Acknowledged => escalation::what(self),
            Post::Silenced | Post::Downstream => quiet::what(self),
            Post::Changes => changes::what(self),
            Post::Inspected => inspected::what(self),
        }
    }

    fn runbook(&self) -> Option<&RunbookRun> {
        self.detail.automation.as_ref()
    }

    fn description(&self) -> String {
        let mut lines = match self.post {
            Post::Opened => self.opened(),
            Post::Joined => self.joined(),
            Post::Diagnosed => self.diagnosed(),
            Post::RunbookStarted | Post::RunbookFinished => self.runbook_lines(),
            Post::Recovered => self.recovered(),
            Post::Resolved => self.resolved(),
            Post::Awaiting => self.awaiting(),
            Post::Escalated | Post::Acknowledged => escalation::lines(self),
            Post::Silenced | Post::Downstream => quiet::lines(self),
            Post::Changes => changes::lines(self),
            Post::Inspected => inspected::lines(self),
        };
        if self.post != Post::Awaiting {
            lines.push(format!("*Incident:* {}", self.incident_link()));
        }
        let text = lines.join("\n");
        trim_chars(text.trim(), chatbot::DESCRIPTION_MAX)
    }

    fn opened(&self) -> Vec<String> {
        let detail = self.detail;
        let incident = &detail.incident;
        let signal = &detail.signal;
        let mut lines = vec![
            format!("*What fired:* {}", text(&signal.summary)),
            format!("*Since:* {}", utc(signal.time)),
            format!(
                "*Rule:* {} · severity {} · tier {}",
                code(&incident.rule),
                incident.severity,
                plain(&incident.tier)
            ),
        ];
        let links = self.resource_links();
        if !links.is_empty() {
            lines.push(format!("*Console:* {}", links.join(" · ")));
        }
        let then = match &incident.runbook {
            Some(runbook) => format!(
                "diagnosis, then runbook {}",
                code(&trim_chars(&runbook.document, VALUE_MAX))
            ),
            None => "diagnosis (no runbook)".to_string(),
        };
        let closing = if incident.auto_resolve {
            "resolves itself once the recovery is verified"
        } else {
            "a responder resolves it"
        };
        lines.push(format!("*Automation:* {then}; {closing}."));
        lines
    }

    fn joined(&self) -> Vec<String> {
        let detail = self.detail;
        let signal = &detail.signal;
        let joined = self.joined.unwrap_or(Joined {
            more: None,
            total: detail.signal_count,
            since: None,
        });
        let since = match joined.since {
            Some(at) => format!("since the last update ({})", utc(at)),
            None => "since the incident opened".to_string(),
        };
        let total = joined
            .total
            .map(|t| format!(" — {t} in total"))
            .unwrap_or_default();
        let mut lines = vec![match joined.more {
            Some(1) => format!("*1 more signal joined* {since}{total}."),
            Some(n) if n > 1 => format!("*{n} more signals joined* {since}{total}."),
            _ => format!("*Update:* {}", text(&detail.reason)),
        }];
        let label = if signal.state == SignalState::Informational {
            "Latest (no data)"
        } else {
            "Latest"
        };
        lines.push(format!(
            "*{label}:* {} ({})",
            text(&signal.summary),
            utc(signal.time)
        ));
        lines
    }

    fn diagnosed(&self) -> Vec<String> {
        let Some(diagnosis) = &self.detail.diagnosis else {
            return vec![format!("*Diagnosis:* none — {}", text(&self.detail.reason))];
        };
        let summary = if diagnosis.summary.trim().is_empty() {
            "(no summary)".to_string()
        } else {
            text(&diagnosis.summary)
        };
        let mut lines = vec![format!("*Diagnosis:* {summary}")];
        if let Some(vpn) = &diagnosis.vpn {
            let connection = &vpn.connection;
            let mut parts = vec![format!(
                "{} ({})",
                code(&connection.id),
                plain(&connection.state)
            )];
            if let Some(gateway) = connection
                .transit_gateway_id
                .as_ref()
                .or(connection.vpn_gateway_id.as_ref())
            {
                parts.push(format!("gateway {}", code(gateway)));
            }
            if let Some(cgw) = &connection.customer_gateway_id {
                let ip = vpn
                    .customer_gateway
                    .as_ref()
                    .and_then(|c| c.ip_address.as_deref())
                    .map(|ip| format!(" ({})", plain(ip)))
                    .unwrap_or_default();
                parts.push(format!("customer gateway {}{ip}", code(cgw)));
            }
            lines.push(format!("*VPN:* {}", parts.join(" · ")));
            if !connection.tunnels.is_empty() {
                lines.push("*Tunnels:*".to_string());
                for tunnel in connection.tunnels.iter().take(ITEMS_LISTED) {
                    let status = match tunnel.status {
                        Some(s) if s == crate::diagnosis::TunnelStatus::Down => {
                            format!("*{}*", s.as_str())
                        }
                        Some(s) => s.as_str().to_string(),
                        None => "no telemetry".to_string(),
                    };
                    let mut line = format!("• {} {status}", code(&tunnel.outside_ip));
                    if let Some(at) = tunnel.last_status_change {
                        line.push_str(&format!(" since {}", utc(at)));
                    }
                    if let Some(message) = tunnel
                        .status_message
                        .as_deref()
                        .filter(|m| !m.trim().is_empty())
                    {
                        line.push_str(&format!(" — {}", trim_chars(&plain(message), VALUE_MAX)));
                    }
                    lines.push(line);
                }
            }
        }
        if let Some(facts) = &diagnosis.instance {
            lines.extend(instance::lines(facts));
        }
        list(&mut lines, "Notes", &diagnosis.notes);
        lines
    }

    fn runbook_lines(&self) -> Vec<String> {
        let Some(run) = self.runbook() else {
            return vec![format!("*Runbook:* {}", text(&self.detail.reason))];
        };
        let finished = self.post == Post::RunbookFinished;
        let status = plain(&run.status);
        let mut lines = vec![if finished {
            format!(
                "*Runbook:* {} finished — *{status}*",
                code(&trim_chars(&run.document, VALUE_MAX))
            )
        } else {
            format!(
                "*Runbook:* {} started — {status}",
                code(&trim_chars(&run.document, VALUE_MAX))
            )
        }];
        lines.push(format!(
            "*Execution:* {}",
            link(
                &console::automation_execution(&self.origin.region, &run.execution_id),
                &run.execution_id
            )
        ));
        if !finished {
            if !run.parameters.is_empty() {
                let values: Vec<String> = run
                    .parameters
                    .iter()
                    .map(|(name, values)| {
                        format!(
                            "{}={}",
                            plain(name),
                            trim_chars(&plain(&values.join(",")), VALUE_MAX)
                        )
                    })
                    .collect();
                lines.push(format!(
                    "*Parameters:* {}",
                    trim_chars(&values.join(", "), TEXT_MAX)
                ));
            }
            return lines;
        }
        if let Some(failure) = run
            .failure_message
            .as_deref()
            .filter(|m| !m.trim().is_empty())
        {
            lines.push(format!("*Failure:* {}", text(failure)));
        }
        if run.outputs.is_empty() {
            lines.push("*Outputs:* none".to_string());
        } else {
            lines.push("*Outputs:*".to_string());
            for (name, values) in run.outputs.iter().take(OUTPUTS_LISTED) {
                lines.push(format!(
                    "• {}: {}",
                    code(&trim_chars(name, VALUE_MAX)),
                    trim_chars(&plain(&values.join(", ")), VALUE_MAX)
                ));
            }
            if run.outputs.len() > OUTPUTS_LISTED {
                lines.push(format!(
                    "• … and {} more on the incident's timeline",
                    run.outputs.len() - OUTPUTS_LISTED
                ));
            }
        }
        lines
    }

    fn recovered(&self) -> Vec<String> {
        let detail = self.detail;
        let next = if detail.incident.auto_resolve {
            "the recovery is being verified; the incident resolves itself if it holds"
        } else {
            "the recovery is being verified; the rule leaves resolving the incident to a person"
        };
        vec![
            format!("*Cleared:* {}", text(&detail.signal.summary)),
            format!("*At:* {}", utc(detail.signal.time)),
            format!("*Next:* {next}."),
        ]
    }

    fn resolved(&self) -> Vec<String> {
        let detail = self.detail;
        let Some(resolution) = &detail.resolution else {
            return vec![format!("*Resolved.* {}", text(&detail.reason))];
        };
        let mut head = escalation::resolved_head(resolution);
        if let Some(secs) = resolution.time_to_resolve_secs {
            head.push_str(&format!(
                " {} after the first signal",
                crate::report::human_duration(Duration::seconds(secs))
            ));
        }
        if let Some(count) = detail.signal_count {
            head.push_str(&format!(
                " · {count} signal{}",
                if count == 1 { "" } else { "s" }
            ));
        }
        let mut lines = vec![head];
        let label = if resolution.verified {
            "Verified"
        } else {
            "Checks"
        };
        list(&mut lines, label, &resolution.checks);
        if let Some(report) = &resolution.report {
            lines.push(format!(
                "*Post-incident record:* {}",
                link(&report.url, &report.uri)
            ));
        }
        lines
    }

    fn awaiting(&self) -> Vec<String> {
        let detail = self.detail;
        let why = detail
            .resolution
            .as_ref()
            .and_then(|r| r.waiting_reason.as_deref())
            .filter(|r| !r.trim().is_empty())
            .map(text)
            .unwrap_or_else(|| text(&detail.reason));
        let mut lines = vec![format!("*Not resolved:* {why}")];
        if let Some(resolution) = &detail.resolution {
            list(&mut lines, "Checks", &resolution.checks);
        }
        lines.push(format!(
            "*Signal cleared:* {} ({})",
            text(&detail.signal.summary),
            utc(detail.signal.time)
        ));
        lines.push(format!(
            "*To do:* resolve it in {} when satisfied.",
            self.incident_link()
        ));
        lines
    }
}

/// `incident-` and 20 hex characters of the incident id: one Slack thread per incident.
pub fn thread_id(incident: &str) -> String {
    format!("incident-{}", stable_hash(&[incident], 20))
}
