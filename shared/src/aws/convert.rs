//! Small conversions shared by the adapters: time stamps and ARNs.

/// A chrono time as the SDK's `DateTime`. chrono marks a leap second with nanos ≥ 10⁹, which the
/// SDK type rejects (it panics): those are clamped to the last nanosecond of the second.
#[cfg(any(
    feature = "incident-manager",
    feature = "eventbridge",
    feature = "cloudwatch"
))]
pub(crate) fn to_smithy_time(time: chrono::DateTime<chrono::Utc>) -> aws_smithy_types::DateTime {
    let nanos = time.timestamp_subsec_nanos().min(999_999_999);
    aws_smithy_types::DateTime::from_secs_and_nanos(time.timestamp(), nanos)
}

/// The SDK's `DateTime` as a chrono time; `None` outside chrono's range.
#[cfg(any(
    feature = "ec2",
    feature = "cloudwatch",
    feature = "automation",
    feature = "incident-manager",
    feature = "opscenter"
))]
pub(crate) fn to_chrono(
    time: &aws_smithy_types::DateTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

/// The parts of an ARN (`arn:partition:service:region:account:resource`).
#[cfg(any(
    feature = "incident-manager",
    feature = "opscenter",
    feature = "eventbridge"
))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arn<'a> {
    pub service: &'a str,
    pub resource: &'a str,
}

/// Parses `text` as an ARN: six `:`-separated fields, an `aws*` partition, a service and a
/// resource (region and account may be empty, as for S3 or IAM).
#[cfg(any(
    feature = "incident-manager",
    feature = "opscenter",
    feature = "eventbridge"
))]
pub(crate) fn parse_arn(text: &str) -> Option<Arn<'_>> {
    let mut parts = text.splitn(6, ':');
    let (prefix, partition, service, _region, _account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let valid = prefix == "arn"
        && partition.starts_with("aws")
        && !service.is_empty()
        && !resource.is_empty()
        && !text.chars().any(char::is_whitespace);
    valid.then_some(Arn { service, resource })
}

#[cfg(any(
    feature = "incident-manager",
    feature = "opscenter",
    feature = "eventbridge"
))]
pub(crate) fn is_arn(text: &str) -> bool {
    parse_arn(text).is_some()
}

#[cfg(all(
    test,
    any(
        feature = "incident-manager",
        feature = "opscenter",
        feature = "eventbridge"
    )
))]
mod tests {
    use super::*;

    #[test]
    fn arns_are_recognised() {
        let arn = parse_arn("arn:aws:ssm-incidents::111122223333:incident-record/plan/abc");
        assert_eq!(
            arn,
            Some(Arn {
                service: "ssm-incidents",
                resource: "incident-record/plan/abc"
            })
        );
        assert!(is_arn("arn:aws:s3:::bucket"));
        assert!(is_arn(
            "arn:aws-us-gov:ec2:us-gov-west-1:111122223333:vpn-connection/vpn-1"
        ));
        assert!(!is_arn("oi-0123456789ab"));
        assert!(!is_arn("arn:aws:ec2"));
        assert!(!is_arn("arn:aws:ec2:eu-west-1:1:"));
        assert!(!is_arn("https://example.com/arn:aws:x:y:z:w"));
        assert!(!is_arn("arn:aws:ec2:eu-west-1:1:vpn 1"));
    }

    #[cfg(any(feature = "incident-manager", feature = "eventbridge"))]
    #[test]
    fn times_convert_exactly() {
        use chrono::{TimeZone, Utc};
        let t = Utc
            .timestamp_opt(1_700_000_000, 123_456_789)
            .single()
            .unwrap_or_default();
        let s = to_smithy_time(t);
        assert_eq!(s.secs(), 1_700_000_000);
        assert_eq!(s.subsec_nanos(), 123_456_789);
        let leap = Utc
            .timestamp_opt(1_700_000_039, 1_500_000_000)
            .single()
            .unwrap_or_else(|| panic!("chrono rejected the leap second"));
        assert!(leap.timestamp_subsec_nanos() >= 1_000_000_000);
        assert_eq!(to_smithy_time(leap).subsec_nanos(), 999_999_999);
    }
}
