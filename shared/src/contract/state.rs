//! The state table's contracts: what every [`DedupeStore`], [`RunOnceStore`] and
//! [`ReferenceStore`] does, case by case. Times are whole seconds ([`second`]); keys are fresh
//! for each run ([`fresh`]).

use chrono::{DateTime, Duration, Utc};

use super::{fresh, second};
use crate::domain::{Backend, Impact, IncidentRef, SignalState};
use crate::ports::{
    Begin, ChangeStore, Claim, ClaimOutcome, Clear, Cleared, DedupeStore, Join, Joined, KeyStatus,
    Observed, PortErrorKind, ReferenceStore, RunOnceStore, Settle, SettleWhen, StateChange,
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
        subject: Some(format!("alarm-{}", &owner[3..])),
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
        ClaimOutcome::Claimed(_) => panic!("claimed a key that is held"),
    }
}

/// Claims, confirmation, expiry, joins, settling and re-claiming a dedupe key.
pub(crate) async fn dedupe(store: &dyn DedupeStore) {
    let key = fresh("dedupe");
    assert_eq!(store.get(&key).await.unwrap(), None, "a key never claimed");

    // A free key is claimed once; the claim is what the record says.
    let first = claim(&key, "fp-a", 0);
    assert_eq!(
        store.claim(&first).await.unwrap(),
        ClaimOutcome::Claimed(first.record())
    );
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

    // A join counts the signal, keeps it as firing and moves the binding, only while the key
    // is bound to the incident the joiner saw.
    let joined = store
        .join(&join(&key, &opened.id, Some("alarm-b"), 700, Some(2_500)))
        .await
        .unwrap();
    let Joined::Joined(joined) = joined else {
        panic!("not joined: {joined:?}")
    };
    assert_eq!(
        (
            joined.status,
            joined.signal_count,
            joined.last_signal_at,
            joined.expires_at,
            joined.firing.iter().map(String::as_str).collect::<Vec<_>>()
        ),
        (
            KeyStatus::Open,
            2,
            second(700),
            second(2_500),
            vec!["alarm-a", "alarm-b"]
        )
    );
    assert_eq!(store.get(&key).await.unwrap().unwrap(), joined);
    let elsewhere = store
        .join(&join(&key, "oi-000000000009", None, 700, None))
        .await
        .unwrap();
    assert!(
        matches!(elsewhere, Joined::Changed(Some(_))),
        "{elsewhere:?}"
    );
    assert_eq!(
        store
            .join(&join(&fresh("dedupe"), &opened.id, None, 700, None))
            .await
            .unwrap(),
        Joined::Changed(None),
        "no record to join"
    );
    // A bounded binding: a join that keeps the end, past which nothing joins.
    let kept = store
        .join(&join(&key, &opened.id, None, 710, None))
        .await
        .unwrap();
    assert!(
        matches!(&kept, Joined::Joined(r) if r.expires_at == second(2_500) && r.signal_count == 3),
        "{kept:?}"
    );
    assert!(matches!(
        store
            .join(&join(&key, &opened.id, None, 2_500, None))
            .await
            .unwrap(),
        Joined::Changed(Some(_))
    ));
    // A graver signal raises the impact, only while the key's is milder.
    let mut graver = join(&key, &opened.id, None, 720, None);
    graver.raise_to = Some(Impact::CRITICAL);
    let raised = store.join(&graver).await.unwrap();
    assert!(
        matches!(&raised, Joined::Joined(r) if r.impact == Impact::CRITICAL),
        "{raised:?}"
    );
    assert!(
        matches!(store.join(&graver).await.unwrap(), Joined::Changed(Some(r)) if r.impact == Impact::CRITICAL),
        "raised already: look again"
    );

    // Clearing: the incident recovers only when every firing signal is clear.
    let still = store
        .clear(&clear(&key, &opened.id, "alarm-a", 800))
        .await
        .unwrap();
    let Cleared::StillFiring(still) = still else {
        panic!("one signal still fires: {still:?}")
    };
    assert_eq!((still.status, still.firing.len()), (KeyStatus::Open, 1));
    assert_eq!(
        store
            .clear(&clear(&key, "oi-000000000009", "alarm-b", 800))
            .await
            .unwrap(),
        Cleared::NotBound(Some(still.clone())),
        "another incident's key"
    );
    let all = store
        .clear(&clear(&key, &opened.id, "alarm-b", 810))
        .await
        .unwrap();
    let Cleared::AllClear(all) = all else {
        panic!("every signal is clear: {all:?}")
    };
    assert_eq!(
        (all.status, all.firing.is_empty(), all.expires_at),
        (KeyStatus::Recovered, true, second(810 + 1_800))
    );

    // Settling: only this incident's key, only once its signals stopped firing.
    let other = store
        .settle(
            &key,
            "oi-000000000009",
            SettleWhen::Recovered,
            second(800),
            second(9_000),
        )
        .await
        .unwrap();
    assert!(matches!(other, Settle::NotBound(Some(_))), "{other:?}");
    let settled = store
        .settle(
            &key,
            &opened.id,
            SettleWhen::Recovered,
            second(800),
            second(9_000),
        )
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
            .settle(
                &key,
                &opened.id,
                SettleWhen::Recovered,
                second(801),
                second(9_000)
            )
            .await
            .unwrap(),
        Settle::Settled(_)
    ));
    assert_eq!(
        store
            .settle(
                &fresh("dedupe"),
                &opened.id,
                SettleWhen::Recovered,
                second(800),
                second(9_000)
            )
            .await
            .unwrap(),
        Settle::NotBound(None)
    );
    // Nothing joins a settled key.
    assert!(matches!(
        store
            .join(&join(&key, &opened.id, None, 850, Some(9_000)))
            .await
            .unwrap(),
        Joined::Changed(Some(r)) if r.status == KeyStatus::Resolved
    ));
    // A resolved key is free: the next firing signal claims it afresh, with a new token.
    let again = claim(&key, "fp-d", 900);
    let ClaimOutcome::Claimed(fresh_claim) = store.claim(&again).await.unwrap() else {
        panic!("a resolved key is free")
    };
    assert_eq!(fresh_claim, again.record());
    assert_eq!(store.get(&key).await.unwrap().unwrap(), again.record());
    assert_ne!(fresh_claim.token, first.record().token);

    // A signal that fires again before the recovery is settled keeps the incident open...
    store
        .confirm_open(&key, "fp-d", &opened, second(7_200))
        .await
        .unwrap();
    assert!(matches!(
        store
            .settle(
                &key,
                &opened.id,
                SettleWhen::Recovered,
                second(950),
                second(9_000)
            )
            .await
            .unwrap(),
        Settle::FiredAgain(_)
    ));
    // ...unless its incident was closed in the backend: then it settles whatever fires.
    assert!(matches!(
        store
            .settle(&key, &opened.id, SettleWhen::Closed, second(960), second(9_000))
            .await
            .unwrap(),
        Settle::Settled(r) if r.status == KeyStatus::Resolved
    ));

    // An abandoned claim (its lease ran out) is taken over with its token; an expired binding
    // lapses.
    let abandoned = fresh("dedupe");
    let original = claim(&abandoned, "fp-a", 0);
    store.claim(&original).await.unwrap();
    let taken = store.claim(&claim(&abandoned, "fp-b", 30)).await.unwrap();
    let ClaimOutcome::Claimed(taken) = taken else {
        panic!("the lease ends at 30: {taken:?}")
    };
    assert_eq!(
        (taken.owner.as_str(), taken.token.clone(), taken.lease_until),
        ("fp-b", original.record().token, second(60)),
        "the take-over finishes the same opening"
    );
    assert_eq!(
        (
            taken.signal_count,
            taken.firing.iter().map(String::as_str).collect::<Vec<_>>()
        ),
        (2, vec!["alarm-a", "alarm-b"]),
        "the taking signal counts and fires"
    );
    assert_eq!(store.get(&abandoned).await.unwrap().unwrap(), taken);
    let late = store
        .confirm_open(&abandoned, "fp-a", &opened, second(7_200))
        .await
        .unwrap_err();
    assert_eq!(
        late.kind,
        PortErrorKind::Conflict,
        "the first claimer lost it"
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
    assert!(matches!(
        store.claim(&claim(&expired, "fp-b", 100)).await.unwrap(),
        ClaimOutcome::Claimed(r) if r.owner == "fp-b"
    ));

    // Concurrent claims of one free key: exactly one wins, the others see the winner.
    let contested = fresh("dedupe");
    let claims: Vec<Claim> = (0..6)
        .map(|n| claim(&contested, &format!("fp-{n}"), 0))
        .collect();
    let outcomes = futures_join(claims.iter().map(|c| store.claim(c))).await;
    let winners: Vec<&Claim> = claims
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| matches!(o, ClaimOutcome::Claimed(_)))
        .map(|(c, _)| c)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    for outcome in outcomes
        .into_iter()
        .filter(|o| !matches!(o, ClaimOutcome::Claimed(_)))
    {
        assert_eq!(held_by(outcome), winners[0].owner);
    }

    // A join racing a clear: the key stays open with the joiner firing.
    let raced = fresh("dedupe");
    store.claim(&claim(&raced, "fp-a", 0)).await.unwrap();
    store
        .confirm_open(&raced, "fp-a", &opened, second(7_200))
        .await
        .unwrap();
    let (joining, clearing) = (
        join(&raced, &opened.id, Some("alarm-b"), 10, Some(7_200)),
        clear(&raced, &opened.id, "alarm-a", 10),
    );
    let (joined, cleared) = tokio::join!(store.join(&joining), store.clear(&clearing));
    assert!(matches!(joined.unwrap(), Joined::Joined(_)));
    assert!(matches!(
        cleared.unwrap(),
        Cleared::StillFiring(_) | Cleared::AllClear(_)
    ));
    let row = store.get(&raced).await.unwrap().unwrap();
    assert_eq!(
        (
            row.status,
            row.firing.iter().map(String::as_str).collect::<Vec<_>>()
        ),
        (KeyStatus::Open, vec!["alarm-b"])
    );
}

fn join(key: &str, incident_id: &str, subject: Option<&str>, at: i64, until: Option<i64>) -> Join {
    Join {
        key: key.to_string(),
        incident_id: incident_id.to_string(),
        subject: subject.map(str::to_string),
        raise_to: None,
        at: second(at),
        expires_at: until.map(second),
    }
}

fn clear(key: &str, incident_id: &str, subject: &str, at: i64) -> Clear {
    Clear {
        key: key.to_string(),
        incident_id: incident_id.to_string(),
        subject: subject.to_string(),
        at: second(at),
        expires_at: second(at + 1_800),
    }
}

/// Each signal's newest state change: older ones are stale, the same occurrence is not.
pub(crate) async fn changes(store: &dyn ChangeStore) {
    let subject = fresh("arn:aws:cloudwatch:us-east-1:111122223333:alarm:vpn");
    let change = |state: SignalState, at: DateTime<Utc>, fingerprint: &str| StateChange {
        subject: subject.clone(),
        state,
        at,
        fingerprint: fingerprint.to_string(),
        expires_at: second(100_000),
    };
    let ms = |n: i64| second(0) + Duration::milliseconds(n);
    let alarm = change(SignalState::Firing, ms(1_500), "fp-alarm");
    assert_eq!(store.observe(&alarm).await.unwrap(), Observed::Newest);
    assert_eq!(
        store.observe(&alarm).await.unwrap(),
        Observed::Newest,
        "the same occurrence again (a retry)"
    );
    let ok = change(SignalState::Recovered, ms(61_250), "fp-ok");
    assert_eq!(store.observe(&ok).await.unwrap(), Observed::Newest);
    // The ALARM delivered again after the newer OK: stale, naming the OK.
    assert_eq!(
        store.observe(&alarm).await.unwrap(),
        Observed::Stale {
            state: SignalState::Recovered,
            at: ms(61_250)
        }
    );
    // One millisecond older is older; another occurrence at the same time is stale too.
    let older = change(SignalState::Firing, ms(61_249), "fp-older");
    assert!(matches!(
        store.observe(&older).await.unwrap(),
        Observed::Stale { .. }
    ));
    let same_time = change(SignalState::Firing, ms(61_250), "fp-copy");
    assert!(matches!(
        store.observe(&same_time).await.unwrap(),
        Observed::Stale { .. }
    ));
    let newer = change(SignalState::Firing, ms(61_251), "fp-newer");
    assert_eq!(store.observe(&newer).await.unwrap(), Observed::Newest);
    // Another signal has its own history.
    let mut elsewhere = change(SignalState::Firing, ms(0), "fp-other");
    elsewhere.subject = fresh("arn:aws:cloudwatch:us-east-1:111122223333:alarm:other");
    assert_eq!(store.observe(&elsewhere).await.unwrap(), Observed::Newest);
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

    // Counters: concurrent counts each add one.
    let counter = fresh("count");
    assert_eq!(store.count(&counter, second(100)).await.unwrap(), 1);
    let counts = futures_join((0..5).map(|_| store.count(&counter, second(100)))).await;
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, vec![2, 3, 4, 5, 6], "{counts:?}");
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
