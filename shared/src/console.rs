//! AWS console links: every page the responder links a person to, built and escaped here and
//! nowhere else (enrich's related items, notify's Slack messages, the S3 adapter's record link).
//! The host follows the region's partition (its own console in China and GovCloud); every value
//! from an event is percent-encoded, so it can never change the host or the page.

use crate::arn::{partition, Arn};
use crate::diagnosis::is_vpn_id;

/// The console's host for a region. A region that is not a region name (a forged event's) never
/// reaches the host: the global console's host stands in.
pub fn host(region: &str) -> String {
    match partition(region) {
        "aws-cn" => "console.amazonaws.cn".to_string(),
        "aws-us-gov" => "console.amazonaws-us-gov.com".to_string(),
        _ if is_region(region) => format!("{region}.console.aws.amazon.com"),
        _ => "console.aws.amazon.com".to_string(),
    }
}

/// `us-east-1`, `eu-central-2`, `ap-southeast-4`: letters, then `-`-separated words, then a
/// number.
fn is_region(text: &str) -> bool {
    let mut parts = text.split('-');
    let first = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let Some((number, words)) = rest.split_last() else {
        return false;
    };
    (2..=4).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_lowercase())
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.len() <= 2
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// A CloudWatch alarm.
pub fn alarm(region: &str, name: &str) -> String {
    format!(
        "https://{}/cloudwatch/home?region={}#alarmsV2:alarm/{}",
        host(region),
        percent_encode(region),
        percent_encode(name)
    )
}

/// A Site-to-Site VPN connection in the VPC console.
pub fn vpn_connection(region: &str, id: &str) -> String {
    format!(
        "https://{}/vpcconsole/home?region={}#VpnConnectionDetails:VpnConnectionId={}",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// One event in CloudTrail's event history.
pub fn cloudtrail_event(region: &str, id: &str) -> String {
    format!(
        "https://{}/cloudtrailv2/home?region={}#/events/{}",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// An AWS Health event in the account's Health Dashboard (global), by its ARN; `None` for
/// anything that is not a Health event ARN of the `aws` partition (the China and GovCloud
/// dashboards live elsewhere).
pub fn health_event(arn: &str) -> Option<String> {
    let parsed = crate::arn::Arn::parse(arn)?;
    if parsed.partition != "aws"
        || parsed.service != "health"
        || !parsed.resource.starts_with("event/")
    {
        return None;
    }
    Some(format!(
        "https://health.aws.amazon.com/health/home#/account/event-log?eventID={}&eventTab=details",
        percent_encode(arn)
    ))
}

/// A CloudFormation stack, by its id (ARN).
pub fn cloudformation_stack(region: &str, id: &str) -> String {
    format!(
        "https://{}/cloudformation/home?region={}#/stacks/stackinfo?stackId={}",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// A Lambda function's page (its configuration and monitoring tabs).
pub fn lambda_function(region: &str, name: &str) -> String {
    format!(
        "https://{}/lambda/home?region={}#/functions/{}",
        host(region),
        percent_encode(region),
        percent_encode(name)
    )
}

/// A CloudWatch log group's page.
pub fn log_group(region: &str, name: &str) -> String {
    // The console's own escaping of the fragment: `/` as `$252F`.
    let escaped = percent_encode(name).replace('%', "$25");
    format!(
        "https://{}/cloudwatch/home?region={}#logsV2:log-groups/log-group/{}",
        host(region),
        percent_encode(region),
        escaped
    )
}

/// A target group's page (its targets tab shows their health), by its ARN.
pub fn target_group(region: &str, arn: &str) -> String {
    format!(
        "https://{}/ec2/home?region={}#TargetGroup:targetGroupArn={}",
        host(region),
        percent_encode(region),
        percent_encode(arn)
    )
}

/// An RDS DB instance's page.
pub fn db_instance(region: &str, id: &str) -> String {
    format!(
        "https://{}/rds/home?region={}#database:id={};is-cluster=false",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// An EC2 instance.
pub fn instance(region: &str, id: &str) -> String {
    format!(
        "https://{}/ec2/home?region={}#InstanceDetails:instanceId={}",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// A GuardDuty finding.
pub fn guardduty_finding(region: &str, id: &str) -> String {
    format!(
        "https://{}/guardduty/home?region={}#/findings?fId={}",
        host(region),
        percent_encode(region),
        percent_encode(id)
    )
}

/// A Security Hub finding, as the console's search for its id (the search term is encoded
/// twice: once as the filter's value, once in the URL).
pub fn security_hub_finding(region: &str, id: &str) -> String {
    format!(
        "https://{}/securityhub/home?region={}#/findings?search=Id%3D%255Coperator%255C%253AEQUALS%255C%253A{}",
        host(region),
        percent_encode(region),
        percent_encode(&percent_encode(id))
    )
}

/// An SSM Automation execution.
pub fn automation_execution(region: &str, id: &str) -> String {
    format!(
        "https://{}/systems-manager/automation/execution/{}?region={}",
        host(region),
        percent_encode(id),
        percent_encode(region)
    )
}

/// An OpsCenter OpsItem.
pub fn ops_item(region: &str, id: &str) -> String {
    format!(
        "https://{}/systems-manager/opsitems/{}?region={}",
        host(region),
        percent_encode(id),
        percent_encode(region)
    )
}

/// Incident Manager's incident list (the console's page of one incident record could not be
/// confirmed from the documentation).
pub fn incident_manager(region: &str) -> String {
    format!(
        "https://{}/systems-manager/incidents/home?region={}",
        host(region),
        percent_encode(region)
    )
}

/// An S3 object (`key` keeps its `/`, as the console writes it).
pub fn s3_object(region: &str, bucket: &str, key: &str) -> String {
    format!(
        "https://{}/s3/object/{}?region={}&prefix={}",
        host(region),
        percent_encode(bucket),
        percent_encode(region),
        percent_encode_path(key)
    )
}

/// CloudWatch Logs Insights on `group`, running `query` over the last `window_secs` seconds.
/// The console's format: the query detail is a JSURL-like object (`~(key~value)`, strings
/// prefixed `'`, their other characters as `*hex`), URL-encoded twice with `%` written as `$`
/// (so `~` is `$257E`, `(` `$2528`, `)` `$2529`, `'` `$2527`).
pub fn logs_insights(region: &str, group: &str, query: &str, window_secs: i64) -> String {
    let detail = format!(
        "~(end~0~start~-{window_secs}~timeType~'RELATIVE~unit~'seconds~editorString~'{}~source~(~'{}))",
        insights_string(query),
        insights_string(group)
    );
    let mut encoded = String::with_capacity(detail.len() * 2);
    for c in detail.chars() {
        match c {
            '~' => encoded.push_str("$257E"),
            '(' => encoded.push_str("$2528"),
            ')' => encoded.push_str("$2529"),
            '\'' => encoded.push_str("$2527"),
            other => encoded.push(other),
        }
    }
    format!(
        "https://{}/cloudwatch/home?region={}#logsV2:logs-insights$3FqueryDetail$3D{encoded}",
        host(region),
        percent_encode(region)
    )
}

/// A string value inside the Logs Insights query detail: letters, digits, `-`, `_` and `.` as
/// they are, every other byte as `*` and two lowercase hex digits.
fn insights_string(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(char::from(byte));
        } else {
            out.push('*');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

/// The console page of a resource the responder knows a page for — a CloudWatch alarm, a VPN
/// connection or an EC2 instance, by ARN, or a bare `vpn-…` id in `fallback_region` — as a label
/// and a URL.
pub fn resource_page(resource: &str, fallback_region: &str) -> Option<(String, String)> {
    let resource = resource.trim();
    let vpn = |region: &str, id: &str| (format!("VPN connection {id}"), vpn_connection(region, id));
    if is_vpn_id(resource) {
        return Some(vpn(fallback_region, resource));
    }
    let arn = Arn::parse(resource)?;
    let region = if arn.region.is_empty() {
        fallback_region
    } else {
        arn.region
    };
    match arn.service {
        "cloudwatch" => {
            let name = arn.resource.strip_prefix("alarm:")?;
            Some((format!("Alarm {name}"), alarm(region, name)))
        }
        "ec2" => {
            if let Some(id) = arn.resource.strip_prefix("vpn-connection/") {
                return is_vpn_id(id).then(|| vpn(region, id));
            }
            let id = arn.resource.strip_prefix("instance/")?;
            Some((format!("Instance {id}"), instance(region, id)))
        }
        _ => None,
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
    }

    #[test]
    fn encoding_keeps_unreserved_characters_only() {
        assert_eq!(percent_encode("a/b c~é"), "a%2Fb%20c~%C3%A9");
        assert_eq!(
            percent_encode_path("incidents/2026/x y.md"),
            "incidents/2026/x%20y.md"
        );
    }

    #[test]
    fn values_from_events_cannot_leave_the_page() {
        let url = alarm("eu-west-1", "x/../../evil.example.com#?a=b");
        assert_eq!(
            url,
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/x%2F..%2F..%2Fevil.example.com%23%3Fa%3Db"
        );
        // A region that is not one cannot become the host.
        for forged in [
            "evil.example.com/x",
            "eu-west-1.evil.com#",
            "",
            "EU-WEST-1",
            "eu-1",
        ] {
            assert_eq!(host(forged), "console.aws.amazon.com", "{forged}");
        }
        assert_eq!(
            host("ap-southeast-4"),
            "ap-southeast-4.console.aws.amazon.com"
        );
        assert!(vpn_connection("x.evil.com/", "vpn-1")
            .starts_with("https://console.aws.amazon.com/vpcconsole/home?region=x.evil.com%2F#"));
        // A forged ARN (a host where the region goes) is no ARN: no page, it shows as text.
        for forged in [
            "arn:aws:ec2:evil.example.com/#:1:instance/i-1",
            "arn:aws:ec2:evil.example#:1:instance/i-1",
            "arn:evil:ec2:eu-west-1:1:instance/i-1",
            "arn:aws:ec2:eu-west-1:evil.example:instance/i-1",
        ] {
            assert_eq!(resource_page(forged, "eu-west-1"), None, "{forged}");
        }
    }

    #[test]
    fn resource_pages_are_known_for_alarms_vpns_and_instances() {
        let (label, url) =
            resource_page("arn:aws:cloudwatch:eu-west-1:1:alarm:vpn down", "us-east-1").unwrap();
        assert_eq!(label, "Alarm vpn down");
        assert!(url.ends_with("#alarmsV2:alarm/vpn%20down"), "{url}");
        let (label, url) = resource_page("vpn-0123456789abcdef0", "eu-west-1").unwrap();
        assert_eq!(label, "VPN connection vpn-0123456789abcdef0");
        assert_eq!(
            url,
            "https://eu-west-1.console.aws.amazon.com/vpcconsole/home?region=eu-west-1#VpnConnectionDetails:VpnConnectionId=vpn-0123456789abcdef0"
        );
        let (label, _) =
            resource_page("arn:aws:ec2:eu-west-1:1:instance/i-0abc", "eu-west-1").unwrap();
        assert_eq!(label, "Instance i-0abc");
        assert!(resource_page("arn:aws:s3:::bucket", "eu-west-1").is_none());
        // Only a VPN connection id as EC2 forms it names a VPN page.
        assert!(resource_page("vpn-evil?x=1", "eu-west-1").is_none());
        assert!(resource_page(
            "arn:aws:ec2:eu-west-1:1:vpn-connection/vpn-XYZ",
            "eu-west-1"
        )
        .is_none());
    }
}
