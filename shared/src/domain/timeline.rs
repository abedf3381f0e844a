//! An incident's timeline. Each stage writes what it did as an entry with a machine-readable
//! [`EntryKind`] (the lifecycle step, the runbook execution, the signal) and words for people.
//! The backends store both ([`to_stored`], read back with [`from_stored`]), so a later stage —
//! the post-incident record — works from the kinds; the wording can change freely.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trim_chars;

/// An entry's text, in characters: inside Incident Manager's 12,000 for `eventData` (with the
/// kind beside it) and OpsCenter's 20 KB per operational-data value.
pub const TEXT_MAX: usize = 8_000;

/// One entry on an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub time: DateTime<Utc>,
    /// What happened, as data.
    pub kind: EntryKind,
    /// What a person reads: a headline on the first line, details on the lines after it.
    pub text: String,
}

impl TimelineEntry {
    /// An entry; the text is cut to [`TEXT_MAX`] characters and the kind's fields to their
    /// bounds, so that it always fits either backend with room for words.
    pub fn new(time: DateTime<Utc>, kind: EntryKind, text: &str) -> TimelineEntry {
        TimelineEntry {
            time,
            kind: kind.bounded(),
            text: trim_chars(text, TEXT_MAX),
        }
    }

    /// The headline: the first line with words on it.
    pub fn headline(&self) -> &str {
        self.text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
    }

    /// The lines after the headline, as written.
    pub fn details(&self) -> Vec<&str> {
        let headline = self.headline();
        let mut lines = self.text.lines().skip_while(|l| l.trim() != headline);
        lines.next();
        lines.collect()
    }
}

/// What a timeline entry records. Stored with the entry (see [`to_stored`]) as `"kind"` and
/// the variant's fields, kebab-case: `{"kind": "runbook-finished", "document": …, …}`. Its
/// fields are bounded when an entry is made ([`TimelineEntry::new`]), so that every entry fits
/// its backend with room for words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EntryKind {
    /// Another signal joined the incident (triage); `signal` is its fingerprint.
    SignalJoined { signal: String },
    /// The incident's signal recovered (triage).
    SignalRecovered { signal: String },
    /// The signal lost its data, neither firing nor recovered (triage).
    SignalNoData { signal: String },
    /// A graver signal joined and raised the incident's impact (triage); `signal` is its
    /// fingerprint.
    ImpactRaised { from: u8, to: u8, signal: String },
    /// What enrich found before anyone was paged.
    Diagnosis,
    /// A runbook execution started (runbook): the values it started with, and notes on them.
    RunbookStarted {
        document: String,
        execution: String,
        #[serde(default)]
        parameters: Vec<(String, String)>,
        #[serde(default)]
        notes: Vec<String>,
    },
    /// The rule's runbook could not start (runbook): why, and how to fix it.
    RunbookNotStarted { document: String, why: String },
    /// A runbook execution ended (runbook) with Automation's final `status`.
    RunbookFinished {
        document: String,
        execution: String,
        status: String,
    },
    /// The recovery was verified and the incident resolved (resolve).
    Resolved,
    /// The signal recovered, but the incident waits for a responder (resolve).
    AwaitingResponder { signal: String },
    /// The on-call was paged (escalate): the policy's stage and round (both from 1) and the
    /// targets paged, by name.
    Paged {
        policy: String,
        stage: u32,
        round: u32,
        #[serde(default)]
        targets: Vec<String>,
    },
    /// Someone acknowledged the incident (escalate): who, where Chatbot or the console says,
    /// and through what (`slack`, `console`).
    Acknowledged { by: String, via: String },
    /// Every stage of the policy paged and nobody acknowledged (escalate).
    EscalationExhausted { policy: String },
    /// A signal that depends on this incident's resource folded into it (triage, an
    /// inhibition); `signal` is its fingerprint.
    DownstreamFolded { signal: String },
    /// Someone silenced the incident's key until `until` (escalate), or lifted the silence
    /// (`lifted`).
    Silenced {
        by: String,
        until: DateTime<Utc>,
        #[serde(default)]
        lifted: bool,
    },
    /// What changed before the incident opened (changes): `count` changes found.
    Changes { count: u32 },
    /// The Lambda function, target group or RDS instance behind the alarm (inspect).
    Inspected,
    /// An entry the responder did not write: the backend's own (`event` is its type, such as
    /// Incident Manager's `Custom Event`), a person's, or one written before entries had kinds.
    External { event: String },
}

/// The most parameters a `runbook-started` entry lists, and the longest name and value it keeps
/// (SSM's parameter names have at most 50 characters).
pub const PARAMETERS_MAX: usize = 12;
pub const PARAMETER_NAME_MAX: usize = 64;
pub const PARAMETER_VALUE_MAX: usize = 200;
/// The most notes a `runbook-started` entry keeps, and the longest.
pub const NOTES_MAX: usize = 5;
pub const NOTE_MAX: usize = 200;
/// The longest reason a `runbook-not-started` entry keeps.
pub const WHY_MAX: usize = 2_000;
/// The longest name a kind keeps (a document, an execution, a status, a fingerprint).
const NAME_MAX: usize = 128;

impl EntryKind {
    /// The kind with every field cut to its bound: names to 128 characters, at most
    /// [`PARAMETERS_MAX`] parameters of [`PARAMETER_VALUE_MAX`], [`NOTES_MAX`] notes of
    /// [`NOTE_MAX`], a reason to [`WHY_MAX`].
    fn bounded(self) -> EntryKind {
        let name = |s: String| trim_chars(&s, NAME_MAX);
        match self {
            EntryKind::SignalJoined { signal } => EntryKind::SignalJoined {
                signal: name(signal),
            },
            EntryKind::SignalRecovered { signal } => EntryKind::SignalRecovered {
                signal: name(signal),
            },
            EntryKind::SignalNoData { signal } => EntryKind::SignalNoData {
                signal: name(signal),
            },
            EntryKind::AwaitingResponder { signal } => EntryKind::AwaitingResponder {
                signal: name(signal),
            },
            EntryKind::DownstreamFolded { signal } => EntryKind::DownstreamFolded {
                signal: name(signal),
            },
            EntryKind::Silenced { by, until, lifted } => EntryKind::Silenced {
                by: name(by),
                until,
                lifted,
            },
            EntryKind::External { event } => EntryKind::External { event: name(event) },
            EntryKind::Changes { count } => EntryKind::Changes { count },
            EntryKind::ImpactRaised { from, to, signal } => EntryKind::ImpactRaised {
                from,
                to,
                signal: name(signal),
            },
            EntryKind::RunbookStarted {
                document,
                execution,
                parameters,
                notes,
            } => EntryKind::RunbookStarted {
                document: name(document),
                execution: name(execution),
                parameters: parameters
                    .into_iter()
                    .take(PARAMETERS_MAX)
                    .map(|(n, v)| {
                        (
                            trim_chars(&n, PARAMETER_NAME_MAX),
                            trim_chars(&v, PARAMETER_VALUE_MAX),
                        )
                    })
                    .collect(),
                notes: notes
                    .into_iter()
                    .take(NOTES_MAX)
                    .map(|n| trim_chars(&n, NOTE_MAX))
                    .collect(),
            },
            EntryKind::RunbookNotStarted { document, why } => EntryKind::RunbookNotStarted {
                document: name(document),
                why: trim_chars(&why, WHY_MAX),
            },
            EntryKind::RunbookFinished {
                document,
                execution,
                status,
            } => EntryKind::RunbookFinished {
                document: name(document),
                execution: name(execution),
                status: name(status),
            },
            EntryKind::Paged {
                policy,
                stage,
                round,
                targets,
            } => EntryKind::Paged {
                policy: name(policy),
                stage,
                round,
                targets: targets.into_iter().take(NOTES_MAX).map(name).collect(),
            },
            EntryKind::Acknowledged { by, via } => EntryKind::Acknowledged {
                by: name(by),
                via: name(via),
            },
            EntryKind::EscalationExhausted { policy } => EntryKind::EscalationExhausted {
                policy: name(policy),
            },
            EntryKind::Diagnosis | EntryKind::Resolved | EntryKind::Inspected => self,
        }
    }
}

/// What a backend stores for an entry: one JSON object, the text first and then the kind,
/// `{"text": …, "kind": …, <the kind's fields>}`. The text is cut so that the whole stays within
/// `max` as `size` counts it (characters for Incident Manager's `eventData`, bytes for an
/// OpsItem's operational data).
pub fn to_stored(entry: &TimelineEntry, max: usize, size: impl Fn(&str) -> usize) -> String {
    #[derive(Serialize)]
    struct Stored<'a> {
        text: &'a str,
        #[serde(flatten)]
        kind: &'a EntryKind,
    }
    let encode = |text: &str| {
        // Strings and lists of strings always serialize.
        serde_json::to_string(&Stored {
            text,
            kind: &entry.kind,
        })
        .unwrap_or_default()
    };
    let mut room = entry.text.chars().count();
    loop {
        let encoded = encode(&trim_chars(&entry.text, room));
        let measured = size(&encoded);
        if measured <= max || room == 0 {
            return encoded;
        }
        // Shrink in proportion (escapes and multi-byte characters make a character count for
        // more than one), and by one at least.
        room = (room.saturating_mul(max) / measured).min(room - 1);
    }
}

/// An entry's kind and text from what [`to_stored`] wrote; `None` for anything else (the
/// backend's own events, a person's words). A kind this version does not know reads as
/// [`EntryKind::External`] named after it.
pub fn from_stored(stored: &str) -> Option<(EntryKind, String)> {
    let value: Value = serde_json::from_str(stored).ok()?;
    let text = value.get("text")?.as_str()?.to_string();
    let name = value.get("kind")?.as_str()?.to_string();
    let kind = serde_json::from_value(value).unwrap_or(EntryKind::External { event: name });
    Some((kind, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 14, 3, 2, 20).unwrap()
    }

    fn started() -> EntryKind {
        EntryKind::RunbookStarted {
            document: "AWSSupport-TroubleshootVPN".into(),
            execution: "00000000-0000-4000-8000-000000000001".into(),
            parameters: vec![("VpnConnectionId".into(), "vpn-0123456789abcdef0".into())],
            notes: vec!["IKEv2 was assumed".into()],
        }
    }

    #[test]
    fn kinds_are_stored_beside_the_text_and_read_back() {
        let entry = TimelineEntry::new(at(), started(), "Runbook started.\nWith one parameter.");
        let stored = to_stored(&entry, 12_000, |s| s.chars().count());
        assert!(stored.starts_with(r#"{"text":"Runbook started.\nWith one parameter.","kind":"runbook-started","document":"AWSSupport-TroubleshootVPN""#), "{stored}");
        assert_eq!(from_stored(&stored), Some((started(), entry.text.clone())));
        for kind in [
            EntryKind::Diagnosis,
            EntryKind::Inspected,
            EntryKind::Resolved,
            EntryKind::SignalJoined {
                signal: "fp".into(),
            },
            EntryKind::RunbookFinished {
                document: "D".into(),
                execution: "E".into(),
                status: "Failed".into(),
            },
        ] {
            let entry = TimelineEntry::new(at(), kind.clone(), "words");
            let stored = to_stored(&entry, 20_000, str::len);
            assert_eq!(from_stored(&stored), Some((kind, "words".to_string())));
        }
    }

    #[test]
    fn the_text_is_cut_so_the_whole_fits() {
        let text = "é\"".repeat(5_000);
        let entry = TimelineEntry::new(at(), started(), &text);
        for (max, size) in [
            (12_000, (|s: &str| s.chars().count()) as fn(&str) -> usize),
            (20_000, str::len as fn(&str) -> usize),
            (2_000, str::len as fn(&str) -> usize),
        ] {
            let stored = to_stored(&entry, max, size);
            assert!(size(&stored) <= max, "{} > {max}", size(&stored));
            let (kind, words) = from_stored(&stored).unwrap();
            assert_eq!(kind, started());
            assert!(words.ends_with('…') && words.len() > 100, "{}", words.len());
        }
    }

    #[test]
    fn every_kind_leaves_room_for_words_in_every_backend() {
        let long = |n: usize| "\"é".repeat(n);
        let kinds = [
            EntryKind::RunbookStarted {
                document: long(500),
                execution: long(500),
                parameters: (0..300)
                    .map(|n| (format!("{n}{}", long(100)), long(1_000)))
                    .collect(),
                notes: vec![long(1_000); 50],
            },
            EntryKind::RunbookNotStarted {
                document: long(500),
                why: long(20_000),
            },
            EntryKind::RunbookFinished {
                document: long(500),
                execution: long(500),
                status: long(500),
            },
            EntryKind::SignalJoined {
                signal: long(20_000),
            },
            EntryKind::SignalRecovered {
                signal: long(20_000),
            },
            EntryKind::SignalNoData {
                signal: long(20_000),
            },
            EntryKind::AwaitingResponder {
                signal: long(20_000),
            },
            EntryKind::External {
                event: long(20_000),
            },
        ];
        for kind in kinds {
            let entry = TimelineEntry::new(at(), kind, &long(10_000));
            for (max, size) in [
                (12_000, (|s: &str| s.chars().count()) as fn(&str) -> usize),
                (20_000, str::len as fn(&str) -> usize),
            ] {
                let stored = to_stored(&entry, max, size);
                assert!(size(&stored) <= max, "{} > {max}", size(&stored));
                let (back, words) = from_stored(&stored).unwrap();
                assert_eq!(back, entry.kind);
                assert!(words.chars().count() > 500, "{}", words.chars().count());
            }
        }
        let started = TimelineEntry::new(
            at(),
            EntryKind::RunbookStarted {
                document: "d".into(),
                execution: "e".into(),
                parameters: vec![("p".into(), "v".into()); 20],
                notes: vec!["n".into(); 20],
            },
            "",
        );
        let EntryKind::RunbookStarted {
            parameters, notes, ..
        } = started.kind
        else {
            panic!()
        };
        assert_eq!((parameters.len(), notes.len()), (PARAMETERS_MAX, NOTES_MAX));
    }

    #[test]
    fn other_words_are_not_ours_and_unknown_kinds_stay_named() {
        assert_eq!(from_stored("\"a plain JSON string\""), None);
        assert_eq!(from_stored("plain text"), None);
        assert_eq!(
            from_stored(r#"{"summary":"Incident Created","impact":2}"#),
            None
        );
        assert_eq!(
            from_stored(r#"{"text":"later","kind":"paged","target":"x"}"#),
            Some((
                EntryKind::External {
                    event: "paged".into()
                },
                "later".into()
            ))
        );
    }

    #[test]
    fn the_headline_is_the_first_line_and_details_follow_it() {
        let entry = TimelineEntry::new(at(), EntryKind::Diagnosis, "\n  Head line \none\n\ntwo");
        assert_eq!(entry.headline(), "Head line");
        assert_eq!(entry.details(), vec!["one", "", "two"]);
        let long = TimelineEntry::new(at(), EntryKind::Diagnosis, &"x".repeat(TEXT_MAX + 5));
        assert_eq!(long.text.chars().count(), TEXT_MAX);
    }
}
