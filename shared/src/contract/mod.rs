//! One contract suite per port, run against the in-memory fake and against the real adapter, so
//! that a fake cannot drift from what the adapter does: the state table's three stores
//! ([`state`]), and the incident backends ([`incidents`]).
//!
//! The fakes run with the unit tests. The adapters run on the local AWS bench —
//! `tests/bench/test_port_contracts.py` starts moto and the emulator, then runs the tests
//! `contract::bench::*` of this test binary (ignored otherwise) with the bench's endpoints and:
//! - `CONTRACT_STATE_TABLE`: the DynamoDB table (on moto);
//! - `CONTRACT_INCIDENT_BACKEND`: `incident-manager` or `opscenter` (on the emulator), and
//!   `CONTRACT_RESPONSE_PLAN_ARN` for Incident Manager.

pub(crate) mod incidents;
pub(crate) mod state;

use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::stable_hash;

/// Whole seconds: DynamoDB keeps epoch seconds, so the suites speak in them.
pub(crate) fn second(n: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + n, 0).unwrap()
}

/// A name no earlier run used: the bench's table and backends outlive one case.
pub(crate) fn fresh(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst).to_string();
    let now = Utc::now().to_rfc3339();
    format!("contract-{what}-{}", stable_hash(&[&now, &n], 12))
}

mod memory {
    use super::*;
    use crate::domain::Backend;
    use crate::memory::{
        MemoryChanges, MemoryDedupe, MemoryIncidents, MemoryReferences, MemoryRunOnce,
    };

    #[tokio::test]
    async fn the_dedupe_fake_keeps_the_contract() {
        state::dedupe(&MemoryDedupe::new()).await;
    }

    #[tokio::test]
    async fn the_change_fake_keeps_the_contract() {
        state::changes(&MemoryChanges::new()).await;
    }

    #[tokio::test]
    async fn the_run_once_fake_keeps_the_contract() {
        state::run_once(&MemoryRunOnce::new()).await;
    }

    #[tokio::test]
    async fn the_reference_fake_keeps_the_contract() {
        state::references(&MemoryReferences::new()).await;
    }

    #[tokio::test]
    async fn the_incident_fakes_keep_the_contract() {
        for backend in [Backend::IncidentManager, Backend::OpsCenter] {
            let fake = MemoryIncidents::new(backend);
            incidents::incidents(&fake, &fake, &fake).await;
        }
    }
}

/// The real adapters on the local bench (see the module's documentation).
#[cfg(all(
    feature = "dynamodb",
    feature = "incident-manager",
    feature = "opscenter"
))]
mod bench {
    use super::*;
    use std::sync::Arc;

    use crate::aws::dynamodb::DynamoStateStore;
    use crate::config::Opening;
    use crate::domain::{Backend, ResponsePlans};

    fn var(name: &str) -> String {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{name} is not set: run tests/bench/test_port_contracts.py"))
    }

    async fn table() -> Arc<DynamoStateStore> {
        let sdk = crate::aws::config::load().await;
        crate::aws::state_table(&sdk, &var("CONTRACT_STATE_TABLE"))
    }

    #[tokio::test]
    #[ignore = "runs on the local AWS bench: tests/bench/test_port_contracts.py"]
    async fn dynamodb_keeps_the_dedupe_contract() {
        state::dedupe(table().await.as_ref()).await;
    }

    #[tokio::test]
    #[ignore = "runs on the local AWS bench: tests/bench/test_port_contracts.py"]
    async fn dynamodb_keeps_the_change_contract() {
        state::changes(table().await.as_ref()).await;
    }

    #[tokio::test]
    #[ignore = "runs on the local AWS bench: tests/bench/test_port_contracts.py"]
    async fn dynamodb_keeps_the_run_once_contract() {
        state::run_once(table().await.as_ref()).await;
    }

    #[tokio::test]
    #[ignore = "runs on the local AWS bench: tests/bench/test_port_contracts.py"]
    async fn dynamodb_keeps_the_reference_contract() {
        state::references(table().await.as_ref()).await;
    }

    #[tokio::test]
    #[ignore = "runs on the local AWS bench: tests/bench/test_port_contracts.py"]
    async fn the_incident_backend_keeps_the_contract() {
        let sdk = crate::aws::config::load().await;
        let backend = Backend::parse(&var("CONTRACT_INCIDENT_BACKEND")).unwrap();
        let opening = match backend {
            Backend::IncidentManager => {
                Opening::IncidentManager(ResponsePlans::new(var("CONTRACT_RESPONSE_PLAN_ARN")))
            }
            Backend::OpsCenter => Opening::OpsCenter,
        };
        let (opener, writer) = crate::aws::incidents_to_open(&sdk, &opening);
        let resolver = crate::aws::incidents(&sdk, backend).resolver;
        incidents::incidents(opener.as_ref(), writer.as_ref(), resolver.as_ref()).await;
    }
}
