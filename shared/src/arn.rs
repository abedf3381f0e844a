//! ARNs: the partition of a region, an ARN's parts, and forming one. Pure functions, one place
//! for every stage and adapter.

use crate::domain::trim_chars;

/// The partition a region belongs to: `aws-cn` (China), `aws-us-gov` (GovCloud) or `aws`.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The ARN of `resource` (`vpn-connection/vpn-…`) of `service` in the region and account.
pub fn format(region: &str, account: &str, service: &str, resource: &str) -> String {
    format!(
        "arn:{}:{service}:{region}:{account}:{resource}",
        partition(region)
    )
}

/// The ARN of a global `service`'s `resource` (IAM, S3: no region in the ARN), in the partition
/// of `region`. `account` is empty for S3 buckets.
pub fn global(region: &str, account: &str, service: &str, resource: &str) -> String {
    format!("arn:{}:{service}::{account}:{resource}", partition(region))
}

/// The parts of an ARN (`arn:partition:service:region:account:resource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Reads `text` as an ARN: six `:`-separated fields, an `aws*` partition, a service and a
    /// resource (region and account may be empty, as for S3 or IAM). The resource may hold
    /// white space (an alarm's name can); [`is_arn`] refuses that.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        let (prefix, partition, service, region, account, resource) = (
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
            parts.next()?,
        );
        // AWS's own forms: a known partition; service and region in lower case, digits and `-`;
        // the account digits (12 in AWS), empty, or `aws` (AWS managed policies). Anything else
        // (a host in the region, a forged finding's) is no ARN, so it never reaches a link or an
        // API.
        let word = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        };
        let valid = prefix == "arn"
            && matches!(
                partition,
                "aws"
                    | "aws-cn"
                    | "aws-us-gov"
                    | "aws-iso"
                    | "aws-iso-b"
                    | "aws-iso-e"
                    | "aws-iso-f"
                    | "aws-eusc"
            )
            && !service.is_empty()
            && word(service)
            && word(region)
            && (account.is_empty()
                || account == "aws"
                || (account.len() <= 12 && account.bytes().all(|b| b.is_ascii_digit())))
            && !resource.is_empty();
        valid.then_some(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }
}

/// Whether `text` is an ARN an AWS API takes: [`Arn::parse`] reads it, and it has no white space.
pub fn is_arn(text: &str) -> bool {
    Arn::parse(text).is_some() && !text.chars().any(char::is_whitespace)
}

/// Whether `text` is an ARN ([`is_arn`]) of `service` whose resource starts with `prefix`
/// (`role/`, `response-plan/`).
pub fn is_arn_of(text: &str, service: &str, prefix: &str) -> bool {
    is_arn(text)
        && Arn::parse(text).is_some_and(|a| a.service == service && a.resource.starts_with(prefix))
}

/// Whether `value` is an IAM role ARN as IAM forms it: `arn:<partition>:iam::<12 digits>:role/`
/// and a role path and name of IAM's characters.
pub fn is_role_arn(value: &str) -> bool {
    let Some((partition, rest)) = value.split_once(":iam::") else {
        return false;
    };
    let partition_ok = partition.strip_prefix("arn:aws").is_some_and(|p| {
        p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    let Some((account, role)) = rest.split_once(":role/") else {
        return false;
    };
    partition_ok
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !role.is_empty()
        && role
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=/,.@-".contains(&b))
}

/// A short title for a resource ARN: its resource part with its type
/// (`vpn-connection vpn-0123…`), at most 200 characters (Incident Manager's related-item title).
pub fn resource_title(arn: &str) -> String {
    let resource = Arn::parse(arn).map_or(arn, |a| a.resource);
    trim_chars(&resource.replace([':', '/'], " "), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_recognised() {
        let arn =
            Arn::parse("arn:aws:ssm-incidents::111122223333:incident-record/plan/abc").unwrap();
        assert_eq!(
            (arn.service, arn.region, arn.account, arn.resource),
            (
                "ssm-incidents",
                "",
                "111122223333",
                "incident-record/plan/abc"
            )
        );
        assert!(is_arn("arn:aws:s3:::bucket"));
        assert!(is_arn(
            "arn:aws-us-gov:ec2:us-gov-west-1:111122223333:vpn-connection/vpn-1"
        ));
        assert!(!is_arn("oi-0123456789ab"));
        assert!(!is_arn("arn:aws:ec2"));
        assert!(!is_arn("arn:aws:ec2:eu-west-1:1:"));
        assert!(!is_arn("arn:other:ec2:eu-west-1:1:instance/i-1"));
        assert!(!is_arn("https://example.com/arn:aws:x:y:z:w"));
        assert!(!is_arn("arn:aws:ec2:eu-west-1:1:vpn 1"));
        assert!(is_arn_of("arn:aws:iam::1:role/r", "iam", "role/"));
        assert!(!is_arn_of("arn:aws:iam::1:user/r", "iam", "role/"));
        assert!(!is_arn_of("arn:aws:sts::1:role/r", "iam", "role/"));
        assert!(is_role_arn(
            "arn:aws:iam::111122223333:role/ops/vpn-runbook"
        ));
        assert!(is_role_arn("arn:aws-cn:iam::111122223333:role/r"));
        assert!(!is_role_arn("arn:aws:iam::1:role/r"), "a 12-digit account");
        assert!(!is_role_arn("arn:aws:iam::111122223333:role/"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:role/a b"));
        assert!(!is_role_arn("arn:aws:iam::111122223333:user/r"));
    }

    #[test]
    fn arns_follow_the_partition() {
        assert_eq!(
            format("cn-north-1", "1", "ec2", "vpn-connection/vpn-1"),
            "arn:aws-cn:ec2:cn-north-1:1:vpn-connection/vpn-1"
        );
        assert_eq!(partition("us-gov-east-1"), "aws-us-gov");
        assert_eq!(
            global("cn-north-1", "1", "iam", "root"),
            "arn:aws-cn:iam::1:root"
        );
        assert_eq!(global("eu-west-1", "", "s3", "b"), "arn:aws:s3:::b");
        assert_eq!(partition("eu-west-1"), "aws");
    }

    #[test]
    fn titles_name_the_resource() {
        assert_eq!(
            resource_title("arn:aws:ec2:eu-west-1:1:vpn-connection/vpn-1"),
            "vpn-connection vpn-1"
        );
        assert_eq!(
            resource_title("arn:aws:cloudwatch:eu-west-1:1:alarm:name"),
            "alarm name"
        );
    }
}
