//! Time stamps between chrono and the SDK (ARNs are [`crate::arn`]'s).

/// A chrono time as the SDK's `DateTime`. chrono marks a leap second with nanos ≥ 10⁹, which the
/// SDK type rejects (it panics): those are clamped to the last nanosecond of the second.
#[cfg(any(
    feature = "incident-manager",
    feature = "eventbridge",
    feature = "cloudwatch",
    feature = "cloudtrail"
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
    feature = "opscenter",
    feature = "cloudtrail",
    feature = "cloudformation"
))]
pub(crate) fn to_chrono(
    time: &aws_smithy_types::DateTime,
) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(time.secs(), time.subsec_nanos())
}

#[cfg(all(test, any(feature = "incident-manager", feature = "eventbridge")))]
mod tests {
    use super::*;

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
