//! The state table's contracts: what every [`DedupeStore`], [`RunOnceStore`] and
//! [`ReferenceStore`] does, case by case. Times are whole seconds ([`second`]); keys are fresh
//! for each run ([`fresh`]).

use super::{fresh, second};
use crate::domain::{Backend, Impact, IncidentRef};
use crate::ports::{
    Begin, Claim, ClaimOutcome, DedupeStore, KeyStatus, PortErrorKind, ReferenceStore,
    RunOnceStore, Settle,
};

fn claim(key: &str, owner: &str, now: i64) -> Claim {
    Claim {
        key: key.to_string(),
        owner: owner.to_string(),
        rule_id: "vpn-tunnel-down".to_string(),
        impact: Impact::HIGH,
        title: "Site-to-Site VPN vpn-0123456789abcdef0: tunnel down".to_string(),
        now: second(now),
        detected_at: second(now - 70),
        lease_until: second(now + 30),
        expires_at: second(now + 3_600),
    }
}

fn incident(id: &str) -> IncidentRef {
    IncidentRef {
        backend: Backend::OpsCenter,
        id: id.to_string(),
    }
}

fn held_by(outcome: ClaimOutcome) -> String {
    match outcome {
        ClaimOutcome::Held(record) => record.owner,
        ClaimOutcome::Claimed => panic!("claimed a key that is held"),
    }
}

/// Claims, confirmation, expiry, joins, settling and re-claiming a dedupe key.
pub(crate) async fn dedupe(store: &dyn DedupeStore) {
    let key = fresh("dedupe");
    assert_eq!(store.get(&key).await.unwrap(), None, "a key never claimed");

    // A free key is claimed once; the claim is what the record says.
    let first = claim(&key, "fp-a", 0);
    assert_eq!(store.claim(&first).await.unwrap(), ClaimOutcome::Claimed);
    let record = store.get(&key).await.unwrap().unwrap();
    assert_eq!(record, first.record(), "the claimed record as written");
    assert_eq!(record.status, KeyStatus::Opening);
    // Another signal while the claimer's lease runs: held, by the claimer.
    assert_eq!(
        held_by(store.claim(&claim(&key, "fp-b", 10)).await.unwrap()),
        "fp-a"
    );

    // Only the owner confirms the opening.
    let opened = incident("oi-000000000001");
    let err = store
        .confirm_open(&key, "fp-b", &opened, second(7_200))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::Conflict);
    store
        .confirm_open(&key, "fp-a", &opened, second(7_200))
        .await
        .unwrap();
    let record = store.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (record.status, record.incident.clone(), record.expires_at),
        (KeyStatus::Open, Some(opened.clone()), second(7_200))
    );
    // Bound while the binding lasts, even after the claimer's lease ran out.
    assert_eq!(
        held_by(store.claim(&claim(&key, "fp-c", 600)).await.unwrap()),
        "fp-a"
    );

    // A join counts the signal and moves the binding.
    let joined = store
        .touch(&key, KeyStatus::Recovered, second(700), second(2_500))
        .await
        .unwrap();
    assert_eq!(
        (
            joined.status,
            joined.signal_count,
            joined.last_signal_at,
            joined.expires_at
        ),
        (KeyStatus::Recovered, 2, second(700), second(2_500))
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap(), joined);
    let err = store
        .touch(&fresh("dedupe"), KeyStatus::Open, second(700), second(800))
        .await
        .unwrap_err();
    assert_eq!(err.kind, PortErrorKind::NotFound, "no record to join");

    // Settling: only this incident's key, only once its signal stopped firing.
    let other = store
        .settle(&key, "oi-000000000009", second(800), second(9_000))
        .await
        .unwrap();
    assert!(matches!(other, Settle::NotBound(Some(_))), "{other:?}");
    let settled = store
        .settle(&key, &opened.id, second(800), second(9_000))
        .await
        .unwrap();
    let Settle::Settled(record) = settled else {
        panic!("not settled: {settled:?}")
    };
    assert_eq!(
        (record.status, record.expires_at),
        (KeyStatus::Resolved, second(9_000))
    );
    // A retry after success settles again.
    assert!(matches!(
        store
            .settle(&key, &opened.id, second(801), second(9_000))
            .await
            .unwrap(),
        Settle::Settled(_)
    ));
    assert_eq!(
        store
            .settle(&fresh("dedupe"), &opened.id, second(800), second(9_000))
            .await
            .unwrap(),
        Settle::NotBound(None)
    );
    // A resolved key is free: the next firing signal claims it afresh.
    let again = claim(&key, "fp-d", 900);
    assert_eq!(store.claim(&again).await.unwrap(), ClaimOutcome::Claimed);
    assert_eq!(store.get(&key).await.unwrap().unwrap(), again.record());

    // A signal that fires again before the recovery is settled keeps the incident open.
    store
        .confirm_open(&key, "fp-d", &opened, second(7_200))
        .await
        .unwrap();
    assert!(matches!(
        store
            .settle(&key, &opened.id, second(950), second(9_000))
            .await
            .unwrap(),
        Settle::FiredAgain(_)
    ));

    // An abandoned claim (its lease ran out) is taken over; an expired binding lapses.
    let abandoned = fresh("dedupe");
    store.claim(&claim(&abandoned, "fp-a", 0)).await.unwrap();
    assert_eq!(
        store.claim(&claim(&abandoned, "fp-b", 30)).await.unwrap(),
        ClaimOutcome::Claimed,
        "the lease ends at 30"
    );
    let expired = fresh("dedupe");
    store.claim(&claim(&expired, "fp-a", 0)).await.unwrap();
    store
        .confirm_open(&expired, "fp-a", &opened, second(100))
        .await
        .unwrap();
    assert_eq!(
        held_by(store.claim(&claim(&expired, "fp-b", 99)).await.unwrap()),
        "fp-a"
    );
    assert_eq!(
        store.claim(&claim(&expired, "fp-b", 100)).await.unwrap(),
        ClaimOutcome::Claimed
    );

    // Concurrent claims of one free key: exactly one wins, the others see the winner.
    let contested = fresh("dedupe");
    let claims: Vec<Claim> = (0..6)
        .map(|n| claim(&contested, &format!("fp-{n}"), 0))
        .collect();
    let outcomes = futures_join(claims.iter().map(|c| store.claim(c))).await;
    let winners: Vec<&Claim> = claims
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| **o == ClaimOutcome::Claimed)
        .map(|(c, _)| c)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in outcomes.into_iter().filter(|o| *o != ClaimOutcome::Claimed) {
        assert_eq!(held_by(outcome), winners[0].owner);
    }
}

/// Beginning, finishing, abandoning and taking over a run-once key.
pub(crate) async fn run_once(store: &dyn RunOnceStore) {
    let key = fresh("run");
    let begin = |now: i64| store.begin(&key, second(now), second(now + 30), second(now + 600));
    assert_eq!(begin(0).await.unwrap(), Begin::Started);
    assert_eq!(
        begin(10).await.unwrap(),
        Begin::InProgress,
        "the lease runs"
    );
    // Done: its answer is replayed until the record expires.
    store
        .complete(&key, r#"{"action":"opened"}"#, second(600))
        .await
        .unwrap();
    assert_eq!(
        begin(20).await.unwrap(),
        Begin::Completed(r#"{"action":"opened"}"#.to_string())
    );
    store.abandon(&key).await.unwrap();
    assert!(
        matches!(begin(40).await.unwrap(), Begin::Completed(_)),
        "done work is never abandoned"
    );
    assert_eq!(begin(600).await.unwrap(), Begin::Started, "expired");

    // Failed work is abandoned: the retry starts at once.
    let failed = fresh("run");
    let begin = |now: i64| store.begin(&failed, second(now), second(now + 30), second(now + 600));
    assert_eq!(begin(0).await.unwrap(), Begin::Started);
    store.abandon(&failed).await.unwrap();
    assert_eq!(begin(1).await.unwrap(), Begin::Started);
    // A crashed invocation's lease runs out: the next one takes over.
    assert_eq!(
        begin(30).await.unwrap(),
        Begin::InProgress,
        "the lease ends after 31"
    );
    assert_eq!(begin(31).await.unwrap(), Begin::Started);
    store.abandon(&fresh("run")).await.unwrap();

    // Leases count in whole seconds, as the table stores them: one to 40.9 s has run out at
    // 40.1 s, and held at 39.9 s.
    let whole = fresh("run");
    let at = |s: i64, ms: i64| second(s) + chrono::Duration::milliseconds(ms);
    let begin = |now, lease| store.begin(&whole, now, lease, second(600));
    assert_eq!(
        begin(at(10, 500), at(40, 900)).await.unwrap(),
        Begin::Started
    );
    assert_eq!(
        begin(at(39, 900), at(70, 0)).await.unwrap(),
        Begin::InProgress
    );
    assert_eq!(begin(at(40, 100), at(70, 0)).await.unwrap(), Begin::Started);

    // Concurrent begins of one key: exactly one starts.
    let contested = fresh("run");
    let begins =
        futures_join((0..6).map(|_| store.begin(&contested, second(0), second(30), second(600))))
            .await;
    let started = begins.iter().filter(|b| **b == Begin::Started).count();
    assert_eq!(started, 1, "{begins:?}");
    assert!(begins
        .iter()
        .all(|b| matches!(b, Begin::Started | Begin::InProgress)));
}

/// Remembering and recalling a reference.
pub(crate) async fn references(store: &dyn ReferenceStore) {
    let key = fresh("ref");
    assert_eq!(store.recall(&key, second(0)).await.unwrap(), None);
    store
        .remember(&key, r#"{"incident":"oi-1"}"#, second(100))
        .await
        .unwrap();
    assert_eq!(
        store.recall(&key, second(99)).await.unwrap().as_deref(),
        Some(r#"{"incident":"oi-1"}"#)
    );
    assert_eq!(
        store.recall(&key, second(100)).await.unwrap(),
        None,
        "expired"
    );
    store
        .remember(&key, r#"{"incident":"oi-2"}"#, second(200))
        .await
        .unwrap();
    assert_eq!(
        store.recall(&key, second(150)).await.unwrap().as_deref(),
        Some(r#"{"incident":"oi-2"}"#),
        "the later value replaces the earlier"
    );
}

/// Awaits every future at once (the calls overlap in time).
async fn futures_join<T, F>(futures: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = Result<T, crate::ports::PortError>>,
{
    futures_util::future::join_all(futures)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect()
}
