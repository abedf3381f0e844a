//! One module per function: its whole behaviour, written against the ports.

pub mod envelope;
pub mod triage;
