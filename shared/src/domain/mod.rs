//! The responder's vocabulary: plain Rust types, no SDK types, no I/O.
//!
//! A [`Signal`] is one thing that happened in an account (an alarm changed state, a finding
//! arrived, root signed in). Rules turn it into a [`Classification`]; the triage stage turns
//! that into a [`NewIncident`] or joins it to an open one, and announces the step as a
//! [`LifecycleEvent`] on the responder bus. Each stage writes what it did onto the incident's
//! timeline as a [`TimelineEntry`] whose [`EntryKind`] is data the next stage can read back.
//!
//! - [`signal`]: signals, their kind, state and severity;
//! - [`incident`]: impact, classification, incidents and their related items;
//! - [`timeline`]: timeline entries and their kinds;
//! - [`lifecycle`]: the responder bus's events (**contract**);
//! - [`text`]: hashes and text limits.

pub mod incident;
pub mod lifecycle;
pub mod signal;
pub mod text;
pub mod timeline;

pub use incident::{
    Backend, Category, Classification, Impact, IncidentRef, IncidentSummary, NewIncident,
    RelatedItem, RelatedItemKind, RelatedValue, ResponsePlans, RunbookRef, Trigger,
};
pub use lifecycle::{
    EscalationNote, HoldKind, HoldNote, LifecycleDetail, LifecycleEvent, LifecycleKind, ReportLink,
    Resolution, ResolutionRequest, ResolutionStatus, SilenceChange, SilenceNote, RESPONDER_SOURCE,
};
pub use signal::{MetricRef, Severity, Signal, SignalKind, SignalState};
pub use text::{clock_time, one_line, stable_hash, trim_bytes, trim_chars, unique};
pub use timeline::{EntryKind, TimelineEntry};
