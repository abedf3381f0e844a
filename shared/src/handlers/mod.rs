//! One module per function: its whole behaviour, written against the ports.

pub mod enrich;
pub mod envelope;
pub mod notify;
pub mod once;
pub mod resolve;
pub mod runbook;
pub mod triage;
