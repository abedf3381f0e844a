//! Text helpers every stage uses: stable hashes, one-line text, trimming to a limit, each value
//! once, a time of day.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the parts joined by a unit separator, cut to `len` characters.
/// Used for client tokens and fingerprints: stable, short, and free of characters a backend
/// might reject.
pub fn stable_hash(parts: &[&str], len: usize) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = hasher.finalize();
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out.truncate(len.min(64));
    out
}

/// The text on one line: whitespace runs (newlines included) become one space.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts `text` to at most `max` characters (not bytes), marking the cut with `…`.
pub fn trim_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn trim_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let ellipsis = '…'.len_utf8();
    if max < ellipsis {
        return String::new();
    }
    let mut end = max - ellipsis;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text[..end].to_string();
    out.push('…');
    out
}

/// Each value once, non-empty, in first-seen order.
pub fn unique<S: AsRef<str> + Into<String>>(values: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        if !value.as_ref().is_empty() && !out.iter().any(|v| v == value.as_ref()) {
            out.push(value.into());
        }
    }
    out
}

/// `02:55 UTC` on the same day as `now`, `2024-05-13 22:10 UTC` before it.
pub fn clock_time(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    if time.date_naive() == now.date_naive() {
        time.format("%H:%M UTC").to_string()
    } else {
        time.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_respects_characters() {
        assert_eq!(trim_chars("abcdef", 4), "abc…");
        assert_eq!(trim_chars("abc", 4), "abc");
        let s = "ééééé"; // 2 bytes each
        let t = trim_bytes(s, 6);
        assert!(t.len() <= 6);
        assert!(t.ends_with('…'));
        assert_eq!(trim_bytes("plain", 10), "plain");
    }

    #[test]
    fn stable_hash_is_stable_and_separates_parts() {
        assert_eq!(stable_hash(&["a", "b"], 16), stable_hash(&["a", "b"], 16));
        assert_ne!(stable_hash(&["ab", ""], 16), stable_hash(&["a", "b"], 16));
        assert_eq!(stable_hash(&["x"], 100).len(), 64);
    }

    #[test]
    fn unique_keeps_the_first_of_each_and_drops_empties() {
        assert_eq!(unique(["b", "", "a", "b", "a"]), vec!["b", "a"]);
        assert!(unique(Vec::<String>::new()).is_empty());
    }
}
