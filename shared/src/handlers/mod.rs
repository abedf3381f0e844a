//! One module per function: its whole behaviour as a [`crate::shell::Stage`], written against
//! the ports. A module directory holds the stage's flow (`mod.rs`) and, beside it, each idea
//! that flow uses (a diagnosis kind, the Slack renderer, parameter planning).

pub mod changes;
pub mod enrich;
pub mod escalate;
pub mod notify;
pub mod resolve;
pub mod runbook;
pub mod triage;

#[cfg(test)]
pub(crate) mod testkit;
