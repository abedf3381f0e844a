//! The built `triage` binary against a minimal Lambda Runtime API: configuration from the
//! environment, errors reported through `/error`, and the process serving on after a bad event.
//! These events need no AWS call; the full story against emulated AWS lives in the bench.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_triage");

/// What the function posted back for one invocation.
#[derive(Debug)]
struct Outcome {
    request_id: String,
    kind: String,
    body: Value,
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut length = 0usize;
    let mut chunked = false;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, path, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

fn serve_connection(
    stream: TcpStream,
    events: Arc<Mutex<VecDeque<Value>>>,
    outcomes: Sender<Outcome>,
) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut served = 0;
    while let Some(request) = read_request(&mut reader) {
        if request.method == "GET" && request.path.ends_with("/runtime/invocation/next") {
            let next = events.lock().ok().and_then(|mut q| q.pop_front());
            let Some(event) = next else {
                // No more events: hold the long poll, as Lambda does, until the test ends.
                thread::sleep(Duration::from_secs(60));
                return;
            };
            served += 1;
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default();
            let headers = [
                ("content-type", "application/json".to_string()),
                (
                    "lambda-runtime-aws-request-id",
                    format!("req-{served}-{deadline}"),
                ),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:111122223333:function:triage".to_string(),
                ),
            ];
            respond(
                &mut writer,
                "200 OK",
                &headers,
                event.to_string().as_bytes(),
            );
        } else if request.method == "POST" {
            // /2018-06-01/runtime/invocation/{id}/response|error, or /runtime/init/error
            let segments: Vec<&str> = request.path.split('/').collect();
            let kind = segments.last().copied().unwrap_or_default().to_string();
            let request_id = segments
                .iter()
                .rev()
                .nth(1)
                .copied()
                .unwrap_or_default()
                .to_string();
            let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let _ = outcomes.send(Outcome {
                request_id,
                kind,
                body,
            });
            respond(&mut writer, "202 Accepted", &[], b"{}");
        } else {
            respond(&mut writer, "404 Not Found", &[], b"{}");
        }
    }
}

/// Starts a Runtime API on a free loopback port that hands out `events` in order.
fn runtime_api(events: Vec<Value>) -> (String, Receiver<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let events = Arc::new(Mutex::new(VecDeque::from(events)));
    let (tx, rx) = channel();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (events, tx) = (events.clone(), tx.clone());
            thread::spawn(move || serve_connection(stream, events, tx));
        }
    });
    (address, rx)
}

/// Runs the binary with the contract's variables (as the SAM template sets them) plus `extra`.
fn start(api: &str, extra: &[(&str, &str)], remove: &[&str]) -> Child {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "triage")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        // Nothing listens here: a call to AWS would fail, and these events need none.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("INCIDENT_BACKEND", "opscenter")
        .env("RESPONDER_BUS", "responder")
        .env("STATE_TABLE", "responder-state")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in extra {
        command.env(name, value);
    }
    for name in remove {
        command.env_remove(name);
    }
    command.spawn().unwrap_or_else(|e| panic!("{BIN}: {e}"))
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn next(outcomes: &Receiver<Outcome>, child: &mut Child) -> Outcome {
    match outcomes.recv_timeout(Duration::from_secs(30)) {
        Ok(o) => o,
        Err(e) => {
            let _ = child.kill();
            let output = child.stderr.take().map(|mut s| {
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                text
            });
            panic!("no answer from triage ({e}); stderr: {output:?}");
        }
    }
}

#[test]
fn bad_events_fail_through_the_runtime_api_and_the_process_serves_on() {
    let events = vec![
        fixture("malformed-alarm-missing-state"),
        serde_json::json!(["not", "an", "event"]),
        fixture("unknown-source"),
        fixture("cloudtrail-iamuser-console-signin"),
    ];
    let (api, outcomes) = runtime_api(events);
    let mut child = start(&api, &[], &[]);

    let malformed = next(&outcomes, &mut child);
    assert_eq!(malformed.kind, "error", "{malformed:?}");
    assert!(malformed.request_id.starts_with("req-1-"));
    assert_eq!(
        malformed.body["errorType"], "MalformedEvent",
        "{malformed:?}"
    );
    let message = malformed.body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.contains("detail.state") && message.contains("value"),
        "{message}"
    );

    let array = next(&outcomes, &mut child);
    assert_eq!(array.kind, "error", "{array:?}");
    assert_eq!(array.body["errorType"], "NotAnEvent");

    let unknown = next(&outcomes, &mut child);
    assert_eq!(unknown.kind, "response", "{unknown:?}");
    assert_eq!(unknown.body["action"], "ignored");
    assert!(unknown.body["rule"].is_null() && unknown.body["incident"].is_null());
    assert!(!unknown.body["reason"]
        .as_str()
        .unwrap_or_default()
        .is_empty());

    let not_root = next(&outcomes, &mut child);
    assert_eq!(not_root.body["action"], "ignored", "{not_root:?}");

    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn an_unreachable_aws_endpoint_fails_the_invocation_visibly() {
    let (api, outcomes) = runtime_api(vec![
        fixture("cloudwatch-alarm-vpn-tunnel-down"),
        fixture("unknown-source"),
    ]);
    let mut child = start(&api, &[("AWS_ENDPOINT_URL", "https://127.0.0.1:9")], &[]);
    let started = std::time::Instant::now();
    let failed = next(&outcomes, &mut child);
    assert_eq!(failed.kind, "error", "{failed:?}");
    assert_eq!(failed.body["errorType"], "ServiceUnavailable", "{failed:?}");
    let message = failed.body["errorMessage"].as_str().unwrap_or_default();
    assert!(message.contains("PutItem"), "names the call: {message}");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the time-outs bound a dead dependency: {:?}",
        started.elapsed()
    );
    let after = next(&outcomes, &mut child);
    assert_eq!(after.kind, "response", "the process serves on: {after:?}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn missing_configuration_stops_the_function_at_init_naming_the_variable() {
    for (missing, extra) in [
        ("STATE_TABLE", vec![]),
        (
            "RESPONSE_PLAN_ARN",
            vec![("INCIDENT_BACKEND", "incident-manager")],
        ),
    ] {
        let (api, _outcomes) = runtime_api(Vec::new());
        let child = start(&api, &extra, &[missing]);
        let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        assert!(!output.status.success(), "{missing}: must not start");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(printed.contains(missing), "{missing}: {printed}");
    }

    let (api, _outcomes) = runtime_api(Vec::new());
    let dir = std::env::temp_dir().join(format!("triage-rules-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let rules = dir.join("rules.yaml");
    let _ = std::fs::write(&rules, "version: 1\ntiers: {}\nrules: []\n");
    let child = start(&api, &[("RULES", rules.to_str().unwrap_or_default())], &[]);
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let printed = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        printed.contains("tiers"),
        "a broken rules file is named: {printed}"
    );
}
