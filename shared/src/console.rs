//! AWS console links: the partition of a region, the console's host in it, and URL encoding.
//! One place for every stage that links a person to the console (enrich, notify, the S3 adapter).

/// The partition a region belongs to: `aws-cn`, `aws-us-gov` or `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The console's host for a region (its partition's console in China and GovCloud).
pub fn host(region: &str) -> String {
    match partition(region) {
        "aws-cn" => "console.amazonaws.cn".to_string(),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_string(),
        _ => format!("{region}.console.aws.amazon.com"),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(text: &str) -> String {
    encode(text, false)
}

/// As [`percent_encode`], keeping `/` (an S3 key's path, as the console writes it).
pub fn percent_encode_path(text: &str) -> String {
    encode(text, true)
}

fn encode(text: &str, keep_slash: bool) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_follow_the_partition() {
        assert_eq!(host("eu-west-1"), "eu-west-1.console.aws.amazon.com");
        assert_eq!(host("cn-north-1"), "console.amazonaws.cn");
        assert_eq!(host("us-gov-west-1"), "console.amazonaws-us-gov.com");
        assert_eq!(partition("cn-northwest-1"), "aws-cn");
    }

    #[test]
    fn encoding_keeps_unreserved_characters_only() {
        assert_eq!(percent_encode("a/b c~é"), "a%2Fb%20c~%C3%A9");
        assert_eq!(
            percent_encode_path("incidents/2026/x y.md"),
            "incidents/2026/x%20y.md"
        );
    }
}
