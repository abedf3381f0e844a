//! Try rules offline: prints triage's decision for one or more event files, in order, against
//! in-memory state (nothing is sent to AWS). Like `amtool config routes test` for Alertmanager.
//!
//! Usage: triage-try [--rules FILE] [--json] EVENT.json...
//!        triage-try [--rules FILE] --check

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use responder::config::load_rules;
use responder::domain::{Backend, Impact};
use responder::handlers::triage::Triage;
use responder::memory::{
    ManualClock, MemoryBus, MemoryChanges, MemoryDedupe, MemoryIncidents, MemoryRunOnce,
};
use responder::ports::Clock;
use responder::rules::Rules;
use responder::shell::{Failure, Shell};
use responder::sources::{self, Parsed};

const USAGE: &str = "usage: triage-try [--rules FILE] [--json] EVENT.json...\n       triage-try [--rules FILE] --check";

struct Args {
    rules: Option<PathBuf>,
    json: bool,
    check: bool,
    events: Vec<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        rules: None,
        json: false,
        check: false,
        events: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--rules" => args.rules = Some(it.next().ok_or("--rules needs a file")?.into()),
            "--json" => args.json = true,
            "--check" => args.check = true,
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
        if args.events.is_empty() {
            return ExitCode::SUCCESS;
        }
    }

    let clock = Arc::new(ManualClock::new(Utc::now()));
    let incidents = Arc::new(MemoryIncidents::new(Backend::IncidentManager));
    let triage = Shell::new(
        Triage::new(
            rules.clone(),
            incidents.clone(),
            incidents,
            Arc::new(MemoryDedupe::new()),
            Arc::new(MemoryChanges::new()),
        ),
        Arc::new(MemoryRunOnce::new()),
        clock.clone(),
    )
    .with_bus(Arc::new(MemoryBus::new()));
    if !args.json {
        println!("Rules: {source}. Offline: state is in memory, nothing is sent to AWS.");
    }
    let mut failed = false;
    for path in &args.events {
        let event = match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| format!("not JSON: {e}")))
        {
            Ok(e) => e,
            Err(problem) => {
                eprintln!("{}: {problem}", path.display());
                failed = true;
                continue;
            }
        };
        if let Some(time) = event_time(&event) {
            clock.set(time);
        }
        if !args.json {
            println!("\n{}", path.display());
            describe(&rules, &event);
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

/// The event's own time (EventBridge `time`, alarm action `time`), so windows play out as in
/// production when several events are given.
fn event_time(event: &Value) -> Option<DateTime<Utc>> {
    event
        .get("time")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// What the sources and rules make of the event, before any state is consulted.
fn describe(rules: &Rules, event: &Value) {
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
            }
        }
    }
}
