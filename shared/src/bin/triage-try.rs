//! Try rules offline: prints triage's decision for one or more event files, in order, against
//! in-memory state (nothing is sent to AWS). Like `amtool config routes test` for Alertmanager.
//!
//! Usage: triage-try [--rules FILE] [--json] [--at TIME] [--open EVENT.json]...
//!                   [--calendar NAME=OPEN|CLOSED[@NEXT]]... [--silenced KEY[@UNTIL]]... EVENT.json...
//!        triage-try [--rules FILE] --check
//!
//! `--at` decides every event at that time (RFC 3339) instead of its own, for the maintenance
//! windows; `--open` handles an event first, so that its incident is open (an inhibition's
//! dependency); `--calendar` gives a Change Calendar's state (a calendar not given cannot be
//! read, and holds nothing); `--silenced` silences a dedupe key (until an hour after `--at`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use responder::config::load_rules;
use responder::domain::{Backend, Impact};
use responder::handlers::triage::{QuietPorts, Triage};
use responder::memory::{
    ManualClock, MemoryAlarms, MemoryBus, MemoryCalendars, MemoryChanges, MemoryDedupe,
    MemoryIncidents, MemoryReferences, MemoryRunOnce,
};
use responder::ports::Clock;
use responder::quiet::{self, Silence};
use responder::rules::quiet::utc_text;
use responder::rules::Rules;
use responder::shell::{Failure, Shell};
use responder::sources::{self, Parsed};

const USAGE: &str = "usage: triage-try [--rules FILE] [--json] [--at TIME] [--open EVENT.json]... [--calendar NAME=OPEN|CLOSED[@NEXT]]... [--silenced KEY[@UNTIL]]... EVENT.json...\n       triage-try [--rules FILE] --check";

struct Args {
    rules: Option<PathBuf>,
    json: bool,
    check: bool,
    at: Option<DateTime<Utc>>,
    open: Vec<PathBuf>,
    calendars: Vec<(String, String, Option<DateTime<Utc>>)>,
    silenced: Vec<(String, Option<DateTime<Utc>>)>,
    events: Vec<PathBuf>,
}

fn time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| format!("`{text}` is not a time like 2026-12-06T02:10:00Z"))
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rules: None,
        json: false,
        check: false,
        at: None,
        open: Vec::new(),
        calendars: Vec::new(),
        silenced: Vec::new(),
        events: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rules" => args.rules = Some(it.next().ok_or("--rules needs a file")?.into()),
            "--json" => args.json = true,
            "--check" => args.check = true,
            "--at" => args.at = Some(time(&it.next().ok_or("--at needs a time")?)?),
            "--open" => args
                .open
                .push(it.next().ok_or("--open needs an event file")?.into()),
            "--calendar" => {
                let value = it.next().ok_or("--calendar needs NAME=STATE")?;
                let (name, rest) = value
                    .split_once('=')
                    .ok_or("--calendar is NAME=OPEN|CLOSED[@NEXT]")?;
                let (state, next) = match rest.split_once('@') {
                    Some((state, next)) => (state, Some(time(next)?)),
                    None => (rest, None),
                };
                if !matches!(state, "OPEN" | "CLOSED") {
                    return Err(format!(
                        "--calendar {name}: state `{state}` is OPEN or CLOSED"
                    ));
                }
                args.calendars
                    .push((name.to_string(), state.to_string(), next));
            }
            "--silenced" => {
                let value = it.next().ok_or("--silenced needs a dedupe key")?;
                match value.rsplit_once('@') {
                    Some((key, until)) if until.contains('T') => {
                        args.silenced.push((key.to_string(), Some(time(until)?)))
                    }
                    _ => args.silenced.push((value, None)),
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => args.events.push(other.into()),
        }
    }
    if !args.check && args.events.is_empty() {
        return Err("give at least one event file (or --check)".into());
    }
    Ok(args)
}

/// `page-now: primary ×3 every 5 min, then primary, secondary ×3 every 15 min`.
fn policy_line(policy: Option<&responder::rules::Policy>) -> String {
    let Some(policy) = policy else {
        return "Slack only".to_string();
    };
    let stages: Vec<String> = policy
        .stages
        .iter()
        .map(|s| match s.page.is_empty() {
            true => format!("wait {} min in Slack", s.wait_secs / 60),
            false => format!(
                "page {} ×{} every {} min",
                s.page.join(", "),
                s.repeat,
                s.wait_secs / 60
            ),
        })
        .collect();
    format!("{}: {}", policy.name, stages.join(", then "))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("triage-try: {problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let rules = match load_rules(args.rules.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("triage-try: {e}");
            return ExitCode::from(2);
        }
    };
    let source = args
        .rules
        .as_ref()
        .map_or("the embedded default rules".to_string(), |p| {
            p.display().to_string()
        });
    if args.check {
        println!(
            "{source}: {} rules, tiers {}",
            rules.rules().len(),
            rules.tier_names().collect::<Vec<_>>().join(", ")
        );
        for rule in rules.rules() {
            println!(
                "  {:<28} {}",
                rule.id,
                rule.description.as_deref().unwrap_or("")
            );
        }
        println!("escalation (by impact; rules and services may choose their own):");
        for impact in (1..=5).filter_map(Impact::new) {
            let policy = rules.escalation().policy_for(None, "", impact);
            println!("  impact {impact}: {}", policy_line(policy));
        }
        print_quiet(&rules);
        if args.events.is_empty() {
            return ExitCode::SUCCESS;
        }
    }

    let clock = Arc::new(ManualClock::new(args.at.unwrap_or_else(Utc::now)));
    let incidents = Arc::new(MemoryIncidents::new(Backend::IncidentManager));
    let references = Arc::new(MemoryReferences::new());
    let calendars = Arc::new(MemoryCalendars::new());
    for (name, state, next) in &args.calendars {
        calendars.set(name, state, *next);
    }
    let quiet_ports = QuietPorts {
        references: references.clone(),
        calendars,
        alarms: Arc::new(MemoryAlarms::new()),
        backend: Backend::IncidentManager,
    };
    let triage = Shell::new(
        Triage::new(
            rules.clone(),
            incidents.clone(),
            incidents,
            Arc::new(MemoryDedupe::new()),
            Arc::new(MemoryChanges::new()),
        )
        .with_quiet(quiet_ports),
        Arc::new(MemoryRunOnce::new()),
        clock.clone(),
    )
    .with_bus(Arc::new(MemoryBus::new()));
    let now = clock.now();
    for (key, until) in &args.silenced {
        let until = until.unwrap_or(now + Duration::hours(1));
        let silence = Silence {
            incident: "(said to be open)".to_string(),
            by: "--silenced".to_string(),
            set_at: now,
            until,
            until_resolved: false,
            lifted_at: None,
        };
        if let Err(e) = quiet::write(
            references.as_ref(),
            &quiet::silence_key(key),
            &silence,
            until,
        )
        .await
        {
            eprintln!("triage-try: {e}");
            return ExitCode::from(2);
        }
    }
    if !args.json {
        println!("Rules: {source}. Offline: state is in memory, nothing is sent to AWS.");
        if let Some(at) = args.at {
            println!("Every event is decided at {} (--at).", utc_text(at));
        }
        for (key, until) in &args.silenced {
            let until = until.unwrap_or(now + Duration::hours(1));
            println!("Silenced: `{key}` until {}.", utc_text(until));
        }
    }
    for path in &args.open {
        let Some(event) = read_event(path) else {
            return ExitCode::from(2);
        };
        set_time(&clock, args.at, &event);
        let deadline = clock.now() + Duration::seconds(30);
        match triage.handle(&event, deadline).await {
            Ok(answer) if !args.json => println!(
                "Open: {} → {:?} {}",
                path.display(),
                answer.action,
                answer.dedupe_key.unwrap_or_default()
            ),
            Ok(_) => {}
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        }
    }
    let mut failed = false;
    for path in &args.events {
        let Some(event) = read_event(path) else {
            failed = true;
            continue;
        };
        set_time(&clock, args.at, &event);
        if !args.json {
            println!("\n{}", path.display());
            describe(&rules, &event, clock.now(), &args.calendars);
        }
        let deadline = clock.now() + Duration::seconds(30);
        match triage.handle(&event, deadline).await {
            Ok(answer) => {
                let json = serde_json::to_string(&answer).unwrap_or_default();
                if args.json {
                    println!("{json}");
                } else {
                    println!("  decision  {:?} — {}", answer.action, answer.reason);
                    println!("  answer    {json}");
                }
            }
            Err(e) => {
                failed = true;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"errorType": e.error_type(), "errorMessage": e.to_string()})
                    );
                } else {
                    println!("  error     {}: {e}", e.error_type());
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn read_event(path: &std::path::Path) -> Option<Value> {
    match std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
    {
        Ok(event) => Some(event),
        Err(problem) => {
            eprintln!("{}: {problem}", path.display());
            None
        }
    }
}

/// `--at`, else the event's own time.
fn set_time(clock: &ManualClock, at: Option<DateTime<Utc>>, event: &Value) {
    if let Some(time) = at.or_else(|| event_time(event)) {
        clock.set(time);
    }
}

/// The event's own time (EventBridge `time`, alarm action `time`), so windows play out as in
/// production when several events are given.
fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// The quiet-hours sections, for `--check`.
fn print_quiet(rules: &Rules) {
    let q = rules.quiet();
    println!("windows ({}):", q.windows.len());
    for w in &q.windows {
        println!("  {:<28} {}", w.id, window_when(w));
    }
    println!("silences: at most {} h", q.silence_max.num_hours());
    println!("inhibitions ({}):", q.inhibitions.len());
    for i in &q.inhibitions {
        let fold = if i.fold.is_empty() {
            "any other rule".to_string()
        } else {
            i.fold.join(", ")
        };
        println!(
            "  {:<28} while {} is open, {} naming the same {} folds in",
            i.id,
            i.when_open.join(", "),
            fold,
            i.equal
        );
    }
}

fn window_when(w: &responder::rules::Window) -> String {
    use responder::rules::quiet::When;
    match &w.when {
        When::Once { start, end } => format!("once, {} to {}", utc_text(*start), utc_text(*end)),
        When::Recurring(r) => format!(
            "cron `{}` in {}, {} min each",
            r.cron,
            r.zone.name,
            r.duration.num_minutes()
        ),
        When::Calendar { name, state } => {
            format!("while Change Calendar {name} is {}", state.as_str())
        }
    }
}

/// Which windows and inhibitions could apply to a signal, and why.
fn describe_quiet(
    rules: &Rules,
    signal: &responder::domain::Signal,
    c: &responder::domain::Classification,
    now: DateTime<Utc>,
    calendars: &[(String, String, Option<DateTime<Utc>>)],
) {
    for w in &rules.quiet().windows {
        if !w.scope.covers(signal, c) {
            continue;
        }
        let state = match (w.open_at(now), w.calendar()) {
            (Some((_, text)), _) => format!("open now ({text})"),
            (None, Some((name, closed_means))) => {
                match calendars.iter().find(|(n, _, _)| n == name) {
                    Some((_, state, _)) if state == closed_means.as_str() => {
                        format!("open now (Change Calendar {name} is {state})")
                    }
                    Some((_, state, _)) => format!("not open (Change Calendar {name} is {state})"),
                    None => format!("Change Calendar {name} not given (--calendar): holds nothing"),
                }
            }
            (None, None) => format!("not open at {}", utc_text(now)),
        };
        println!("  window    {} matches the signal: {state}", w.id);
    }
    for i in rules.quiet().folding(&c.rule_id) {
        match i.dependency(signal) {
            Some(value) => println!(
                "  inhibit   {}: folds while an incident of {} is open for {} {value}",
                i.id,
                i.when_open.join(", "),
                i.equal
            ),
            None => println!(
                "  inhibit   {}: the signal names no {} (tag or dimension): never folds",
                i.id, i.equal
            ),
        }
    }
}

/// What the sources and rules make of the event, before any state is consulted.
fn describe(
    rules: &Rules,
    event: &Value,
    now: DateTime<Utc>,
    calendars: &[(String, String, Option<DateTime<Utc>>)],
) {
    let signals = match sources::parse(event) {
        Ok(Parsed::Signals(s)) => s,
        Ok(Parsed::NotHandled(reason)) => {
            println!("  signal    none: {reason}");
            return;
        }
        Err(_) => return,
    };
    for signal in signals {
        println!(
            "  signal    {} {:?}: {}",
            signal.kind.as_str(),
            signal.state,
            signal.summary
        );
        match rules.classify(&signal) {
            None => println!("  rule      none matches"),
            Some(c) => {
                println!(
                    "  rule      {} → service {}, tier {}, severity {}, impact {}",
                    c.rule_id, c.service, c.tier, c.severity, c.impact
                );
                println!(
                    "  dedupe    {} (re-fires within {} s after recovery join)",
                    c.dedupe_key, c.correlation_window_secs
                );
                println!("  title     {}", c.title);
                if let Some(runbook) = &c.runbook {
                    println!("  runbook   {}", runbook.document);
                }
                if c.suppress {
                    println!("  suppress  yes");
                }
                describe_quiet(rules, &signal, &c, now, calendars);
            }
        }
    }
}
