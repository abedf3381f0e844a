//! AWS Chatbot (Amazon Q Developer in chat applications) custom notifications: the message
//! `notify` publishes to the SNS topic Chatbot relays to Slack, and the schema check every such
//! message passes before it is published.
//!
//! Chatbot silently drops an SNS message it does not recognise, so a message that fails
//! [`validate`] must never be published: for us it is a bug, and the invocation fails loudly.
//!
//! ## The schema
//!
//! From the Chatbot administrator guide, "Custom notifications" (event schema and parameter
//! details, <https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>):
//! `version` (required, must be `"1.0"`), `source` (required, must be `"custom"`), `id`
//! (optional), `content` (required) with `textType` (optional, only `"client-markdown"` is
//! supported), `title` (optional, markdown and emoji), `description` (required), `nextSteps` and
//! `keywords` (optional string lists), and the optional `metadata` with `threadId` (threads the
//! messages in Slack), `summary`, `eventType`, `relatedResources` (string list) and
//! `additionalContext` (string → string). The guide's OpenAPI section could not be read from
//! here, so nothing beyond the parameter table is assumed from it.
//!
//! On top of it, ours is stricter, so a message that passes is one Chatbot and Slack render
//! whole:
//! - no key outside the schema, at any level;
//! - `description` holds more than white space;
//! - size caps ([`TITLE_MAX`] …, [`MESSAGE_MAX_BYTES`]), in characters (Unicode code points,
//!   as JSON Schema's `maxLength` counts) except the whole message, in UTF-8 bytes. The
//!   description cap is Slack's 3,000-character limit of a section's text; the whole message
//!   stays far below SNS's 256 KB.
//!
//! The same schema, for the end-to-end tests, is
//! `tests/fixtures/chatbot/custom-notification.schema.json` (JSON Schema draft 2020-12; it cannot
//! state the byte cap of the whole message). A test here checks that file and [`validate`] agree.
//!
//! ## Markdown
//!
//! With `textType` `client-markdown` Chatbot renders the text in the chat client's own markdown:
//! for Slack that is *mrkdwn* (`*bold*`, `_italic_`, `` `code` ``, `<https://…|link text>`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `version`: the only one Chatbot accepts.
pub const VERSION: &str = "1.0";
/// `source`: the only one Chatbot accepts for custom notifications.
pub const SOURCE: &str = "custom";
/// `content.textType`: the only one Chatbot supports.
pub const TEXT_TYPE: &str = "client-markdown";

/// `id`, in characters.
pub const ID_MAX: usize = 128;
/// `content.title`, in characters.
pub const TITLE_MAX: usize = 250;
/// `content.description`, in characters: Slack's limit for a section's text.
pub const DESCRIPTION_MAX: usize = 3_000;
/// `content.nextSteps`: how many.
pub const NEXT_STEPS_MAX: usize = 10;
/// One of `content.nextSteps`, in characters.
pub const NEXT_STEP_MAX: usize = 250;
/// `content.keywords`: how many.
pub const KEYWORDS_MAX: usize = 10;
/// One of `content.keywords`, in characters.
pub const KEYWORD_MAX: usize = 64;
/// `metadata.threadId`, in characters.
pub const THREAD_ID_MAX: usize = 128;
/// `metadata.summary`, in characters.
pub const SUMMARY_MAX: usize = 250;
/// `metadata.eventType`, in characters.
pub const EVENT_TYPE_MAX: usize = 128;
/// `metadata.relatedResources`: how many.
pub const RELATED_RESOURCES_MAX: usize = 10;
/// One of `metadata.relatedResources`, in characters.
pub const RELATED_RESOURCE_MAX: usize = 512;
/// `metadata.additionalContext`: how many entries.
pub const CONTEXT_ENTRIES_MAX: usize = 10;
/// A key of `metadata.additionalContext`, in characters.
pub const CONTEXT_KEY_MAX: usize = 64;
/// A value of `metadata.additionalContext`, in characters.
pub const CONTEXT_VALUE_MAX: usize = 512;
/// The whole message, compact JSON, in UTF-8 bytes: well under SNS's 256 KB, and above what the
/// field caps allow even at 4 bytes a character (about 72 KB).
pub const MESSAGE_MAX_BYTES: usize = 96 * 1024;

/// A Chatbot custom notification (camelCase on the wire; absent optional fields are omitted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomNotification {
    /// Always [`VERSION`].
    pub version: String,
    /// Always [`SOURCE`].
    pub source: String,
    /// A unique identifier of the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub content: Content,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// What the chat channel shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Content {
    /// [`TEXT_TYPE`] when the text is markdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub next_steps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
}

/// How Chatbot files the message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Messages with the same thread id land in one Slack thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_resources: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub additional_context: BTreeMap<String, String>,
}

impl CustomNotification {
    /// A markdown notification with this description and nothing else.
    pub fn new(description: impl Into<String>) -> Self {
        CustomNotification {
            version: VERSION.to_string(),
            source: SOURCE.to_string(),
            id: None,
            content: Content {
                text_type: Some(TEXT_TYPE.to_string()),
                description: description.into(),
                ..Content::default()
            },
            metadata: None,
        }
    }

    /// The message as a JSON value (what [`validate`] checks).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Checks a message against the custom-notification schema and our caps. Every problem is
/// listed, each as `path: what is wrong`.
pub fn validate(message: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let Some(top) = message.as_object() else {
        return Err(vec![format!(
            "(message): must be a JSON object, got {}",
            kind(message)
        )]);
    };
    unknown_keys(
        top,
        "",
        &["version", "source", "id", "content", "metadata"],
        &mut problems,
    );
    required_const(top, "version", VERSION, "", &mut problems);
    required_const(top, "source", SOURCE, "", &mut problems);
    optional_string(top, "id", "", ID_MAX, &mut problems);
    match top.get("content") {
        None => problems.push("content: required".to_string()),
        Some(Value::Object(content)) => check_content(content, &mut problems),
        Some(other) => problems.push(format!("content: must be an object, got {}", kind(other))),
    }
    match top.get("metadata") {
        None => {}
        Some(Value::Object(metadata)) => check_metadata(metadata, &mut problems),
        Some(other) => problems.push(format!("metadata: must be an object, got {}", kind(other))),
    }
    let bytes = serde_json::to_string(message).map(|s| s.len()).unwrap_or(0);
    if bytes > MESSAGE_MAX_BYTES {
        problems.push(format!(
            "(message): {bytes} bytes as JSON, at most {MESSAGE_MAX_BYTES}"
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn check_content(content: &Map<String, Value>, problems: &mut Vec<String>) {
    let at = "content.";
    unknown_keys(
        content,
        at,
        &["textType", "title", "description", "nextSteps", "keywords"],
        problems,
    );
    if let Some(value) = content.get("textType") {
        if value.as_str() != Some(TEXT_TYPE) {
            problems.push(format!(
                "content.textType: must be \"{TEXT_TYPE}\", got {}",
                shown(value)
            ));
        }
    }
    optional_string(content, "title", at, TITLE_MAX, problems);
    match content.get("description") {
        None => problems.push("content.description: required".to_string()),
        Some(Value::String(text)) => {
            if text.trim().is_empty() {
                problems.push("content.description: must not be empty".to_string());
            }
            length("content.description", text, DESCRIPTION_MAX, problems);
        }
        Some(other) => problems.push(format!(
            "content.description: must be a string, got {}",
            kind(other)
        )),
    }
    string_list(
        content,
        "nextSteps",
        at,
        NEXT_STEPS_MAX,
        NEXT_STEP_MAX,
        problems,
    );
    string_list(content, "keywords", at, KEYWORDS_MAX, KEYWORD_MAX, problems);
}

fn check_metadata(metadata: &Map<String, Value>, problems: &mut Vec<String>) {
    let at = "metadata.";
    unknown_keys(
        metadata,
        at,
        &[
            "threadId",
            "summary",
            "eventType",
            "relatedResources",
            "additionalContext",
        ],
        problems,
    );
    optional_string(metadata, "threadId", at, THREAD_ID_MAX, problems);
    optional_string(metadata, "summary", at, SUMMARY_MAX, problems);
    optional_string(metadata, "eventType", at, EVENT_TYPE_MAX, problems);
    string_list(
        metadata,
        "relatedResources",
        at,
        RELATED_RESOURCES_MAX,
        RELATED_RESOURCE_MAX,
        problems,
    );
    match metadata.get("additionalContext") {
        None => {}
        Some(Value::Object(context)) => {
            if context.len() > CONTEXT_ENTRIES_MAX {
                problems.push(format!(
                    "metadata.additionalContext: {} entries, at most {CONTEXT_ENTRIES_MAX}",
                    context.len()
                ));
            }
            for (key, value) in context {
                let path = format!("metadata.additionalContext.{key}");
                length(&format!("{path} (key)"), key, CONTEXT_KEY_MAX, problems);
                match value {
                    Value::String(text) => length(&path, text, CONTEXT_VALUE_MAX, problems),
                    other => {
                        problems.push(format!("{path}: must be a string, got {}", kind(other)))
                    }
                }
            }
        }
        Some(other) => problems.push(format!(
            "metadata.additionalContext: must be an object, got {}",
            kind(other)
        )),
    }
}

fn unknown_keys(object: &Map<String, Value>, at: &str, known: &[&str], problems: &mut Vec<String>) {
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            problems.push(format!(
                "{at}{key}: unknown key (allowed: {})",
                known.join(", ")
            ));
        }
    }
}

fn required_const(
    object: &Map<String, Value>,
    key: &str,
    expected: &str,
    at: &str,
    problems: &mut Vec<String>,
) {
    match object.get(key) {
        None => problems.push(format!("{at}{key}: required")),
        Some(value) if value.as_str() == Some(expected) => {}
        Some(value) => problems.push(format!(
            "{at}{key}: must be \"{expected}\", got {}",
            shown(value)
        )),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
    max: usize,
    problems: &mut Vec<String>,
) {
    match object.get(key) {
        None => {}
        Some(Value::String(text)) => length(&format!("{at}{key}"), text, max, problems),
        Some(other) => problems.push(format!("{at}{key}: must be a string, got {}", kind(other))),
    }
}

fn string_list(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
    max_items: usize,
    max_chars: usize,
    problems: &mut Vec<String>,
) {
    match object.get(key) {
        None => {}
        Some(Value::Array(items)) => {
            if items.len() > max_items {
                problems.push(format!(
                    "{at}{key}: {} items, at most {max_items}",
                    items.len()
                ));
            }
            for (i, item) in items.iter().enumerate() {
                let path = format!("{at}{key}[{i}]");
                match item {
                    Value::String(text) => length(&path, text, max_chars, problems),
                    other => {
                        problems.push(format!("{path}: must be a string, got {}", kind(other)))
                    }
                }
            }
        }
        Some(other) => problems.push(format!(
            "{at}{key}: must be a list of strings, got {}",
            kind(other)
        )),
    }
}

fn length(path: &str, text: &str, max: usize, problems: &mut Vec<String>) {
    let chars = text.chars().count();
    if chars > max {
        problems.push(format!("{path}: {chars} characters, at most {max}"));
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) | Value::Null => {
            crate::domain::trim_chars(&value.to_string(), 60)
        }
        other => kind(other).to_string(),
    }
}

/// Test helper: panics unless `message` (an SNS message body) is a valid custom notification.
/// Every test that publishes a notification runs it on every published message.
#[cfg(test)]
pub fn assert_valid(message: &str) {
    let value: Value =
        serde_json::from_str(message).unwrap_or_else(|e| panic!("not JSON ({e}): {message}"));
    if let Err(problems) = validate(&value) {
        panic!(
            "not a valid Chatbot custom notification:\n- {}\n{message}",
            problems.join("\n- ")
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> Value {
        let path = format!(
            "{}/../tests/fixtures/chatbot/custom-notification.schema.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A JSON Schema evaluator for exactly the keywords the schema file uses (it panics on any
    /// other, so a keyword added to the file cannot be skipped silently here).
    fn conforms(schema: &Value, value: &Value) -> bool {
        let Some(schema) = schema.as_object() else {
            panic!("schema is not an object: {schema}");
        };
        for (keyword, rule) in schema {
            let ok = match keyword.as_str() {
                "$schema" | "$id" | "$comment" | "title" | "description" => true,
                "type" => match rule.as_str() {
                    Some("object") => value.is_object(),
                    Some("string") => value.is_string(),
                    Some("array") => value.is_array(),
                    _ => panic!("type {rule} not handled"),
                },
                "const" => value == rule,
                "required" => rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .all(|key| value.as_object().is_none_or(|o| o.contains_key(key))),
                "properties" => match (value.as_object(), rule.as_object()) {
                    (Some(object), Some(properties)) => properties
                        .iter()
                        .all(|(key, sub)| object.get(key).is_none_or(|item| conforms(sub, item))),
                    _ => true,
                },
                "additionalProperties" => match value.as_object() {
                    Some(object) => {
                        let declared = schema.get("properties").and_then(Value::as_object);
                        object
                            .iter()
                            .filter(|(key, _)| declared.is_none_or(|d| !d.contains_key(*key)))
                            .all(|(_, item)| match rule {
                                Value::Bool(allowed) => *allowed,
                                sub => conforms(sub, item),
                            })
                    }
                    None => true,
                },
                "propertyNames" => value
                    .as_object()
                    .is_none_or(|o| o.keys().all(|k| conforms(rule, &Value::String(k.clone())))),
                "maxProperties" => value
                    .as_object()
                    .is_none_or(|o| o.len() as u64 <= rule.as_u64().unwrap_or(0)),
                "maxLength" => value
                    .as_str()
                    .is_none_or(|s| s.chars().count() as u64 <= rule.as_u64().unwrap_or(0)),
                "minLength" => value
                    .as_str()
                    .is_none_or(|s| s.chars().count() as u64 >= rule.as_u64().unwrap_or(0)),
                "pattern" => {
                    assert_eq!(rule.as_str(), Some("\\S"), "pattern {rule} not handled");
                    value
                        .as_str()
                        .is_none_or(|s| s.chars().any(|c| !c.is_whitespace()))
                }
                "maxItems" => value
                    .as_array()
                    .is_none_or(|a| a.len() as u64 <= rule.as_u64().unwrap_or(0)),
                "items" => value
                    .as_array()
                    .is_none_or(|a| a.iter().all(|item| conforms(rule, item))),
                other => panic!("schema keyword {other} not handled by this test"),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn full() -> Value {
        json!({
            "version": "1.0",
            "source": "custom",
            "id": "notify-0123",
            "content": {
                "textType": "client-markdown",
                "title": ":red_circle: [Impact 1 · Critical] api — Opened: 5xx",
                "description": "*What fired:* api-5xx: ALARM ✓ ünïcode",
                "nextSteps": ["Look at the dashboard"],
                "keywords": ["Impact 1 (Critical)", "api"]
            },
            "metadata": {
                "threadId": "incident-0123",
                "summary": "api 5xx",
                "eventType": "Incident Opened",
                "relatedResources": ["arn:aws:cloudwatch:eu-west-1:111122223333:alarm:api-5xx"],
                "additionalContext": {"incident": "oi-0123", "impact": "1"}
            }
        })
    }

    fn edited(edit: impl FnOnce(&mut Value)) -> Value {
        let mut message = full();
        edit(&mut message);
        message
    }

    /// Every field at its cap, filled with `fill` (one character).
    fn at_caps(fill: &str) -> Value {
        let s = |n: usize| fill.repeat(n);
        let mut m = full();
        m["id"] = json!(s(ID_MAX));
        m["content"]["title"] = json!(s(TITLE_MAX));
        m["content"]["description"] = json!(s(DESCRIPTION_MAX));
        m["content"]["nextSteps"] = json!(vec![s(NEXT_STEP_MAX); NEXT_STEPS_MAX]);
        m["content"]["keywords"] = json!(vec![s(KEYWORD_MAX); KEYWORDS_MAX]);
        m["metadata"]["threadId"] = json!(s(THREAD_ID_MAX));
        m["metadata"]["summary"] = json!(s(SUMMARY_MAX));
        m["metadata"]["eventType"] = json!(s(EVENT_TYPE_MAX));
        m["metadata"]["relatedResources"] =
            json!(vec![s(RELATED_RESOURCE_MAX); RELATED_RESOURCES_MAX]);
        m["metadata"]["additionalContext"] = Value::Object(
            (0..CONTEXT_ENTRIES_MAX)
                .map(|i| {
                    let key = format!("{i:0>width$}", width = CONTEXT_KEY_MAX);
                    (key, json!(s(CONTEXT_VALUE_MAX)))
                })
                .collect(),
        );
        m
    }

    /// Named sample documents.
    type Samples = Vec<(&'static str, Value)>;

    /// (valid, invalid) samples.
    fn samples() -> (Samples, Samples) {
        let s = |n: usize| "é".repeat(n);
        let list = |n: usize| Value::Array((0..n).map(|i| json!(format!("item {i}"))).collect());
        let context = |n: usize| {
            Value::Object(
                (0..n)
                    .map(|i| (format!("k{i}"), json!("v")))
                    .collect::<Map<String, Value>>(),
            )
        };
        let valid = vec![
            ("full", full()),
            (
                "minimal",
                json!({"version": "1.0", "source": "custom", "content": {"description": "x"}}),
            ),
            ("empty metadata", edited(|m| m["metadata"] = json!({}))),
            ("every cap reached", at_caps("é")),
        ];
        let invalid = vec![
            ("not an object", json!(["version", "1.0"])),
            ("null", Value::Null),
            (
                "no version",
                edited(|m| {
                    m.as_object_mut().map(|o| o.remove("version"));
                }),
            ),
            ("version 2.0", edited(|m| m["version"] = json!("2.0"))),
            ("version as a number", edited(|m| m["version"] = json!(1.0))),
            (
                "no source",
                edited(|m| {
                    m.as_object_mut().map(|o| o.remove("source"));
                }),
            ),
            ("source aws", edited(|m| m["source"] = json!("aws.health"))),
            ("id a number", edited(|m| m["id"] = json!(7))),
            ("id too long", edited(|m| m["id"] = json!(s(ID_MAX + 1)))),
            (
                "unknown top-level key",
                edited(|m| m["subject"] = json!("x")),
            ),
            (
                "no content",
                edited(|m| {
                    m.as_object_mut().map(|o| o.remove("content"));
                }),
            ),
            (
                "content a string",
                edited(|m| m["content"] = json!("hello")),
            ),
            (
                "no description",
                edited(|m| {
                    m["content"]
                        .as_object_mut()
                        .map(|o| o.remove("description"));
                }),
            ),
            (
                "empty description",
                edited(|m| m["content"]["description"] = json!("")),
            ),
            (
                "blank description",
                edited(|m| m["content"]["description"] = json!(" \n\t ")),
            ),
            (
                "description a list",
                edited(|m| m["content"]["description"] = json!(["a"])),
            ),
            (
                "description too long",
                edited(|m| m["content"]["description"] = json!(s(DESCRIPTION_MAX + 1))),
            ),
            (
                "textType markdown",
                edited(|m| m["content"]["textType"] = json!("markdown")),
            ),
            (
                "title too long",
                edited(|m| m["content"]["title"] = json!(s(TITLE_MAX + 1))),
            ),
            (
                "title a number",
                edited(|m| m["content"]["title"] = json!(3)),
            ),
            (
                "unknown content key",
                edited(|m| m["content"]["body"] = json!("x")),
            ),
            (
                "nextSteps a string",
                edited(|m| m["content"]["nextSteps"] = json!("do it")),
            ),
            (
                "nextSteps with a number",
                edited(|m| m["content"]["nextSteps"] = json!(["a", 2])),
            ),
            (
                "too many nextSteps",
                edited(|m| m["content"]["nextSteps"] = list(NEXT_STEPS_MAX + 1)),
            ),
            (
                "a nextStep too long",
                edited(|m| m["content"]["nextSteps"] = json!([s(NEXT_STEP_MAX + 1)])),
            ),
            (
                "too many keywords",
                edited(|m| m["content"]["keywords"] = list(KEYWORDS_MAX + 1)),
            ),
            (
                "a keyword too long",
                edited(|m| m["content"]["keywords"] = json!([s(KEYWORD_MAX + 1)])),
            ),
            ("metadata a list", edited(|m| m["metadata"] = json!([]))),
            (
                "unknown metadata key",
                edited(|m| m["metadata"]["enableCustomActions"] = json!(false)),
            ),
            (
                "threadId a number",
                edited(|m| m["metadata"]["threadId"] = json!(12)),
            ),
            (
                "threadId too long",
                edited(|m| m["metadata"]["threadId"] = json!(s(THREAD_ID_MAX + 1))),
            ),
            (
                "summary too long",
                edited(|m| m["metadata"]["summary"] = json!(s(SUMMARY_MAX + 1))),
            ),
            (
                "eventType too long",
                edited(|m| m["metadata"]["eventType"] = json!(s(EVENT_TYPE_MAX + 1))),
            ),
            (
                "too many relatedResources",
                edited(|m| m["metadata"]["relatedResources"] = list(RELATED_RESOURCES_MAX + 1)),
            ),
            (
                "a relatedResource too long",
                edited(|m| {
                    m["metadata"]["relatedResources"] = json!([s(RELATED_RESOURCE_MAX + 1)])
                }),
            ),
            (
                "additionalContext a list",
                edited(|m| m["metadata"]["additionalContext"] = json!(["a"])),
            ),
            (
                "additionalContext value a number",
                edited(|m| m["metadata"]["additionalContext"] = json!({"impact": 2})),
            ),
            (
                "additionalContext too many entries",
                edited(|m| m["metadata"]["additionalContext"] = context(CONTEXT_ENTRIES_MAX + 1)),
            ),
            (
                "additionalContext key too long",
                edited(|m| {
                    m["metadata"]["additionalContext"] = json!({ s(CONTEXT_KEY_MAX + 1): "v" })
                }),
            ),
            (
                "additionalContext value too long",
                edited(|m| {
                    m["metadata"]["additionalContext"] = json!({ "k": s(CONTEXT_VALUE_MAX + 1) })
                }),
            ),
        ];
        (valid, invalid)
    }

    #[test]
    fn validate_and_the_schema_file_agree_on_every_sample() {
        let schema = schema();
        let (valid, invalid) = samples();
        for (name, message) in &valid {
            assert_eq!(validate(message), Ok(()), "{name} should be valid");
            assert!(conforms(&schema, message), "the schema file rejects {name}");
        }
        for (name, message) in &invalid {
            assert!(validate(message).is_err(), "{name} should be invalid");
            assert!(
                !conforms(&schema, message),
                "the schema file accepts {name}"
            );
        }
    }

    #[test]
    fn problems_name_their_path() {
        let message = json!({
            "version": "1.1",
            "source": "custom",
            "content": {"description": " ", "textType": "plain", "extra": 1},
            "metadata": {"additionalContext": {"impact": 2}}
        });
        let problems = validate(&message).err().unwrap();
        let expected = [
            "version: must be \"1.0\", got \"1.1\"",
            "content.extra: unknown key",
            "content.textType: must be \"client-markdown\", got \"plain\"",
            "content.description: must not be empty",
            "metadata.additionalContext.impact: must be a string, got a number",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(e)),
                "no problem starting with {e:?} in {problems:#?}"
            );
        }
        assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    }

    #[test]
    fn the_field_caps_keep_any_message_under_the_byte_cap() {
        // 4 bytes a character (what the renderer can produce: it strips control characters).
        let wide = at_caps("𝄞");
        let bytes = serde_json::to_string(&wide).map(|s| s.len()).unwrap_or(0);
        assert!(bytes > 4 * 17_000, "{bytes}");
        assert_eq!(validate(&wide), Ok(()));
        // Control characters are escaped as 6 bytes each: within every field cap, but not the
        // whole-message cap.
        let escaped = at_caps("\u{1}");
        let problems = validate(&escaped).err().unwrap();
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("(message): "), "{problems:#?}");
    }

    #[test]
    fn a_built_notification_serialises_in_camel_case_without_absent_fields() {
        let mut n = CustomNotification::new("hello");
        n.metadata = Some(Metadata {
            thread_id: Some("t".into()),
            ..Metadata::default()
        });
        assert_eq!(
            n.to_value(),
            json!({
                "version": "1.0",
                "source": "custom",
                "content": {"textType": "client-markdown", "description": "hello"},
                "metadata": {"threadId": "t"}
            })
        );
        assert_eq!(validate(&n.to_value()), Ok(()));
        let back: CustomNotification = serde_json::from_value(full())
            .unwrap_or_else(|e| panic!("the full sample does not read back: {e}"));
        assert_eq!(back.to_value(), full());
    }

    #[test]
    #[should_panic(expected = "not a valid Chatbot custom notification")]
    fn assert_valid_panics_on_an_invalid_message() {
        assert_valid(r#"{"version":"1.0","source":"custom","content":{}}"#);
    }
}
