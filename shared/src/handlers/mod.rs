//! One module per function: its whole behaviour, written against the ports.

pub mod enrich;
pub mod envelope;
pub mod once;
pub mod runbook;
pub mod triage;
