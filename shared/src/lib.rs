//! The incident responder's library: everything but the Lambda entry points.
//!
//! - [`domain`]: the vocabulary (signals, classifications, incidents, timeline kinds, lifecycle
//!   events);
//! - [`diagnosis`]: what `enrich` gathers and `runbook` acts on (VPN facts, automation runs);
//! - [`sources`]: one module per inbound event shape, each turning it into [`domain::Signal`]s;
//! - [`rules`]: the rules document, matching and the impact matrix;
//! - [`ports`]: one trait per outside capability;
//! - `aws`: the SDK adapters behind those traits, one cargo feature per service;
//! - [`memory`]: in-memory implementations of the ports (tests, the offline rule tester);
//! - [`shell`]: what every stage does around its work (logging, input, run-once, publishing);
//! - [`handlers`]: each function's whole behaviour, as a stage written against the ports;
//! - [`chatbot`]: AWS Chatbot custom notifications and their schema check;
//! - [`report`]: the post-incident record;
//! - [`console`], [`arn`]: console links and ARNs, built in one place;
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.

pub mod arn;
pub mod changes;
pub mod chatbot;
pub mod config;
pub mod console;
pub mod diagnosis;
pub mod domain;
pub mod handlers;
pub mod inspect;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod ports;
pub mod quiet;
pub mod report;
pub mod rules;
pub mod shell;
pub mod sources;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(test)]
mod contract;
