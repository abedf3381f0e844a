//! The console links a message carries: the incident record, the signal's resources, the
//! finding. Every link is a console page ([`crate::console`]), never a URL from an event.

use super::mrkdwn::{code, link};
use super::render::Render;
use crate::console;
use crate::domain::{Backend, LifecycleDetail, SignalKind};

/// Console links listed for the resources.
const LINKS_LISTED: usize = 4;

impl Render<'_> {
    /// The incident record in its console.
    pub(super) fn incident_link(&self) -> String {
        let incident = &self.detail.incident;
        let region = &self.origin.region;
        match incident.backend {
            Backend::OpsCenter => link(
                &console::ops_item(region, &incident.id),
                &format!("OpsItem {}", incident.id),
            ),
            // The console's page of one incident record could not be confirmed from the
            // documentation, so this links the Incident Manager incident list (open incidents
            // first) and names the record's ARN next to it.
            Backend::IncidentManager => format!(
                "{} (record {})",
                link(&console::incident_manager(region), "Incident Manager"),
                code(&incident.id)
            ),
        }
    }

    /// Console links for the signal's resources that have a known console page.
    pub(super) fn resource_links(&self) -> Vec<String> {
        let detail = self.detail;
        let signal = &detail.signal;
        let mut links: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let candidates = std::iter::once(&signal.resource)
            .chain(&signal.resources)
            .chain(&detail.incident.resources);
        for resource in candidates {
            if let Some((label, url)) = console::resource_page(resource, &signal.region) {
                if !seen.contains(&url) {
                    links.push(link(&url, &label));
                    seen.push(url);
                }
            }
        }
        if let Some((label, url)) = finding_link(detail) {
            if !seen.contains(&url) {
                links.push(link(&url, &label));
            }
        }
        links.truncate(LINKS_LISTED);
        links
    }
}

/// The finding in its console (GuardDuty, Security Hub), as `enrich` links it.
fn finding_link(detail: &LifecycleDetail) -> Option<(String, String)> {
    let signal = &detail.signal;
    let id = signal.finding_id.as_deref()?;
    match signal.kind {
        SignalKind::GuardDutyFinding => Some((
            "GuardDuty finding".to_string(),
            console::guardduty_finding(&signal.region, id),
        )),
        SignalKind::SecurityHubFinding => Some((
            "Security Hub finding".to_string(),
            console::security_hub_finding(&signal.region, id),
        )),
        _ => None,
    }
}
