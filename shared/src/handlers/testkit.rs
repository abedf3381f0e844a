//! What the stages' tests share: the event fixtures, and every in-memory port wired the way a
//! function's `main.rs` wires the real ones.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::enrich::Enrich;
use super::triage::QuietPorts;
use super::triage::Triage;
use crate::domain::{Backend, LifecycleEvent};
use crate::memory::{
    ManualClock, MemoryAlarms, MemoryBus, MemoryCalendars, MemoryChanges, MemoryDedupe,
    MemoryIncidents, MemoryMetrics, MemoryNetwork, MemoryReferences, MemoryRunOnce,
};
use crate::ports::Clock;
use crate::rules::Rules;
use crate::shell::{Shell, Stage};

/// An event fixture from `tests/fixtures/events/`.
pub(crate) fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One in-memory account: the incident backend, the state table's three stores, the responder
/// bus and a clock that moves only when told.
pub(crate) struct Fakes {
    pub incidents: Arc<MemoryIncidents>,
    pub keys: Arc<MemoryDedupe>,
    pub changes: Arc<MemoryChanges>,
    pub runs: Arc<MemoryRunOnce>,
    pub references: Arc<MemoryReferences>,
    pub bus: Arc<MemoryBus>,
    pub clock: Arc<ManualClock>,
    pub calendars: Arc<MemoryCalendars>,
    pub alarms: Arc<MemoryAlarms>,
}

impl Fakes {
    pub(crate) fn new(backend: Backend, now: DateTime<Utc>) -> Fakes {
        Fakes {
            incidents: Arc::new(MemoryIncidents::new(backend)),
            keys: Arc::new(MemoryDedupe::new()),
            changes: Arc::new(MemoryChanges::new()),
            runs: Arc::new(MemoryRunOnce::new()),
            references: Arc::new(MemoryReferences::new()),
            bus: Arc::new(MemoryBus::new()),
            clock: Arc::new(ManualClock::new(now)),
            calendars: Arc::new(MemoryCalendars::new()),
            alarms: Arc::new(MemoryAlarms::new()),
        }
    }

    /// `stage` in a shell on these fakes' run-once store, clock and bus.
    pub(crate) fn shell<S: Stage>(&self, stage: S) -> Shell<S> {
        Shell::new(stage, self.runs.clone(), self.clock.clone()).with_bus(self.bus.clone())
    }

    /// The triage stage with the embedded rules, as `functions/triage` wires it.
    pub(crate) fn triage(&self) -> Shell<Triage> {
        self.triage_with(Rules::embedded().unwrap())
    }

    /// The triage stage with `rules`.
    pub(crate) fn triage_with(&self, rules: Rules) -> Shell<Triage> {
        self.shell(
            Triage::new(
                rules,
                self.incidents.clone(),
                self.incidents.clone(),
                self.keys.clone(),
                self.changes.clone(),
            )
            .with_quiet(self.quiet_ports()),
        )
    }

    /// What quiet hours need, on these fakes.
    pub(crate) fn quiet_ports(&self) -> QuietPorts {
        QuietPorts {
            references: self.references.clone(),
            calendars: self.calendars.clone(),
            alarms: self.alarms.clone(),
            backend: self.incidents.backend(),
        }
    }

    /// The enrich stage on these fakes and the given network and metrics.
    pub(crate) fn enrich(
        &self,
        network: Arc<MemoryNetwork>,
        metrics: Arc<MemoryMetrics>,
    ) -> Shell<Enrich> {
        self.shell(Enrich::new(
            self.incidents.clone(),
            network.clone(),
            network,
            metrics,
        ))
    }

    /// One invocation, with ten seconds to go.
    pub(crate) async fn run<S: Stage>(
        &self,
        shell: &Shell<S>,
        event: &Value,
    ) -> Result<S::Answer, S::Error> {
        shell
            .handle(event, self.clock.now() + Duration::seconds(10))
            .await
    }

    /// Triage's `Incident Opened` for an event fixture, as the bus delivers it.
    pub(crate) async fn opened_by_triage(&self, name: &str) -> LifecycleEvent {
        let triage = self.triage();
        let before = self.bus.events().len();
        self.run(&triage, &fixture(name)).await.unwrap();
        self.bus.events()[before..]
            .iter()
            .find(|e| e.kind == crate::domain::LifecycleKind::IncidentOpened)
            .cloned()
            .unwrap_or_else(|| panic!("triage opened nothing for {name}"))
    }
}

/// The EventBridge envelope a rule would deliver for `event`.
pub fn to_envelope(event: &LifecycleEvent, account: &str, region: &str) -> Value {
    serde_json::json!({
        "version": "0",
        "id": crate::domain::stable_hash(
            &[event.kind.detail_type(), &event.detail.incident.id, &event.time.to_rfc3339()],
            32,
        ),
        "detail-type": event.kind.detail_type(),
        "source": crate::domain::RESPONDER_SOURCE,
        "account": account,
        "time": event.time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": region,
        "resources": [],
        "detail": event.detail,
    })
}
