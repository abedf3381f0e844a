//! [`NetworkInventory`] on the EC2 `Describe*` calls a VPN diagnosis reads (the instance calls
//! are in `instances`).
//!
//! - `vpn_connections` → `DescribeVpnConnections` (`VpnConnectionIds` when ids are given; every
//!   connection in the region otherwise). Each connection's tunnels are its `VgwTelemetry`
//!   entries (status, status message, last change, accepted routes) merged **by outside IP**
//!   with its `Options.TunnelOptions` (IKE versions, CloudWatch Logs options), in telemetry
//!   order, tunnels known only from the options after. A deleted connection asked for by id is
//!   returned as it is (state `deleted`): the handler decides what that means;
//! - `vpn_gateway` → `DescribeVpnGateways` (the VPCs are those whose attachment is `attached`);
//! - `transit_gateway` → `DescribeTransitGateways` (the ASN comes from its `Options`);
//! - `customer_gateway` → `DescribeCustomerGateways` (`BgpAsn`, else `BgpAsnExtended`).
//!
//! None of these calls is paginated for an explicit id list (`DescribeVpnConnections`,
//! `DescribeVpnGateways` and `DescribeCustomerGateways` take no `MaxResults`; one transit gateway
//! fits any page).
//!
//! Errors: EC2 models none, so they arrive unmodelled and are classified on their code by
//! [`from_sdk_error`]: `Invalid…ID.NotFound` (`InvalidVpnConnectionID.NotFound`,
//! `InvalidVpnGatewayID.NotFound`, `InvalidTransitGatewayID.NotFound`,
//! `InvalidCustomerGatewayID.NotFound`) → `NotFound`; `….Malformed` → `Invalid`;
//! `UnauthorizedOperation` / `AuthFailure` → `AccessDenied`; `RequestLimitExceeded` →
//! `Throttled` (after the SDK's retries); `InternalError` / `Unavailable` → `Unavailable`. An id
//! asked for that the answer leaves out, or an empty answer for one gateway, is `NotFound` too.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_ec2::types::{
    AttachmentStatus, CustomerGateway as SdkCustomerGateway, Tag, TelemetryStatus, TunnelOption,
    VgwTelemetry, VpnConnection as SdkVpnConnection,
};
use aws_sdk_ec2::Client;

use super::convert::to_chrono;
use super::error::from_sdk_error;

mod instances;
use crate::diagnosis::{
    CustomerGateway, Gateway, GatewayKind, Tunnel, TunnelLog, TunnelStatus, VpnConnection,
};
use crate::domain::unique;
use crate::ports::{NetworkInventory, PortError, PortErrorKind};

/// The state reported for a connection whose answer carries none.
pub const UNKNOWN_STATE: &str = "unknown";

/// The network inventory of one region, read through EC2.
#[derive(Debug, Clone)]
pub struct Ec2Inventory {
    client: Client,
}

impl Ec2Inventory {
    pub fn new(client: Client) -> Self {
        Ec2Inventory { client }
    }
}

fn not_found(operation: &str, what: &str, id: &str) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::NotFound,
        format!("{what} {id} is not in the answer"),
    )
}

fn tags(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            let key = t.key()?;
            Some((key.to_string(), t.value().unwrap_or_default().to_string()))
        })
        .collect()
}

fn tunnel_status(status: &TelemetryStatus) -> Option<TunnelStatus> {
    match status {
        TelemetryStatus::Up => Some(TunnelStatus::Up),
        TelemetryStatus::Down => Some(TunnelStatus::Down),
        other => {
            tracing::warn!(status = other.as_str(), "unknown VgwTelemetry status");
            None
        }
    }
}

fn telemetry_tunnel(telemetry: &VgwTelemetry) -> Tunnel {
    Tunnel {
        outside_ip: telemetry
            .outside_ip_address()
            .unwrap_or_default()
            .to_string(),
        status: telemetry.status().and_then(tunnel_status),
        status_message: telemetry
            .status_message()
            .filter(|m| !m.is_empty())
            .map(str::to_string),
        last_status_change: telemetry.last_status_change().and_then(to_chrono),
        accepted_routes: telemetry.accepted_route_count(),
        ike_versions: Vec::new(),
        log: None,
    }
}

/// Copies what the options say about a tunnel (IKE versions, logging) onto it.
fn apply_options(tunnel: &mut Tunnel, options: &TunnelOption) {
    tunnel.ike_versions = options
        .ike_versions()
        .iter()
        .filter_map(|v| v.value())
        .map(str::to_string)
        .collect();
    tunnel.log = options
        .log_options()
        .and_then(|l| l.cloud_watch_log_options())
        .map(|cw| TunnelLog {
            enabled: cw.log_enabled().unwrap_or(false),
            group_arn: cw
                .log_group_arn()
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            format: cw
                .log_output_format()
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        });
}

/// The tunnels of a connection: telemetry first, in its order, merged by outside IP with the
/// tunnel options; options whose IP has no telemetry follow as tunnels without a status.
fn tunnels(connection: &SdkVpnConnection) -> Vec<Tunnel> {
    let mut out: Vec<Tunnel> = connection
        .vgw_telemetry()
        .iter()
        .map(telemetry_tunnel)
        .collect();
    let options = connection
        .options()
        .map(|o| o.tunnel_options())
        .unwrap_or_default();
    let mut merged = vec![false; out.len()];
    for option in options {
        let ip = option.outside_ip_address().unwrap_or_default();
        let slot = if ip.is_empty() {
            None
        } else {
            out.iter()
                .zip(&merged)
                .position(|(t, done)| !done && t.outside_ip == ip)
        };
        match slot {
            Some(i) => {
                merged[i] = true;
                apply_options(&mut out[i], option);
            }
            None => {
                let mut tunnel = Tunnel {
                    outside_ip: ip.to_string(),
                    status: None,
                    status_message: None,
                    last_status_change: None,
                    accepted_routes: None,
                    ike_versions: Vec::new(),
                    log: None,
                };
                apply_options(&mut tunnel, option);
                out.push(tunnel);
                merged.push(true);
            }
        }
    }
    out
}

fn to_connection(id: &str, connection: &SdkVpnConnection) -> VpnConnection {
    VpnConnection {
        id: id.to_string(),
        state: connection
            .state()
            .map_or(UNKNOWN_STATE, |s| s.as_str())
            .to_string(),
        category: connection.category().map(str::to_string),
        vpn_type: connection.r#type().map(|t| t.as_str().to_string()),
        customer_gateway_id: connection.customer_gateway_id().map(str::to_string),
        vpn_gateway_id: connection.vpn_gateway_id().map(str::to_string),
        transit_gateway_id: connection.transit_gateway_id().map(str::to_string),
        tunnels: tunnels(connection),
        tags: tags(connection.tags()),
    }
}

fn to_customer_gateway(id: &str, gateway: &SdkCustomerGateway) -> CustomerGateway {
    CustomerGateway {
        id: id.to_string(),
        ip_address: gateway.ip_address().map(str::to_string),
        bgp_asn: gateway
            .bgp_asn()
            .or_else(|| gateway.bgp_asn_extended())
            .filter(|a| !a.is_empty())
            .map(str::to_string),
        device_name: gateway.device_name().map(str::to_string),
        state: gateway.state().map(str::to_string),
    }
}

#[async_trait]
impl NetworkInventory for Ec2Inventory {
    async fn vpn_connections(&self, ids: &[String]) -> Result<Vec<VpnConnection>, PortError> {
        const OP: &str = "DescribeVpnConnections";
        let wanted = unique(ids.iter().map(|i| i.trim()));
        if wanted.is_empty() && !ids.is_empty() {
            return Err(PortError::new(
                OP,
                PortErrorKind::Invalid,
                "only empty VPN connection ids were given",
            ));
        }
        let output = self
            .client
            .describe_vpn_connections()
            .set_vpn_connection_ids((!wanted.is_empty()).then(|| wanted.clone()))
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let answered = output.vpn_connections();
        if wanted.is_empty() {
            return Ok(answered
                .iter()
                .filter_map(|c| match c.vpn_connection_id() {
                    Some(id) => Some(to_connection(id, c)),
                    None => {
                        tracing::warn!("VPN connection without an id in the answer, skipped");
                        None
                    }
                })
                .collect());
        }
        // In the order asked; an id the answer leaves out does not exist.
        wanted
            .iter()
            .map(|id| {
                answered
                    .iter()
                    .find(|c| c.vpn_connection_id() == Some(id.as_str()))
                    .map(|c| to_connection(id, c))
                    .ok_or_else(|| not_found(OP, "VPN connection", id))
            })
            .collect()
    }

    async fn vpn_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        const OP: &str = "DescribeVpnGateways";
        let output = self
            .client
            .describe_vpn_gateways()
            .vpn_gateway_ids(id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let gateway = output
            .vpn_gateways()
            .iter()
            .find(|g| g.vpn_gateway_id() == Some(id))
            .ok_or_else(|| not_found(OP, "VPN gateway", id))?;
        Ok(Gateway {
            kind: GatewayKind::VpnGateway,
            id: id.to_string(),
            state: gateway.state().map(|s| s.as_str().to_string()),
            amazon_side_asn: gateway.amazon_side_asn(),
            vpc_ids: gateway
                .vpc_attachments()
                .iter()
                .filter(|a| a.state() == Some(&AttachmentStatus::Attached))
                .filter_map(|a| a.vpc_id())
                .map(str::to_string)
                .collect(),
        })
    }

    async fn transit_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        const OP: &str = "DescribeTransitGateways";
        let output = self
            .client
            .describe_transit_gateways()
            .transit_gateway_ids(id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        let gateway = output
            .transit_gateways()
            .iter()
            .find(|g| g.transit_gateway_id() == Some(id))
            .ok_or_else(|| not_found(OP, "transit gateway", id))?;
        Ok(Gateway {
            kind: GatewayKind::TransitGateway,
            id: id.to_string(),
            state: gateway.state().map(|s| s.as_str().to_string()),
            amazon_side_asn: gateway.options().and_then(|o| o.amazon_side_asn()),
            vpc_ids: Vec::new(),
        })
    }

    async fn customer_gateway(&self, id: &str) -> Result<CustomerGateway, PortError> {
        const OP: &str = "DescribeCustomerGateways";
        let output = self
            .client
            .describe_customer_gateways()
            .customer_gateway_ids(id)
            .send()
            .await
            .map_err(|e| from_sdk_error(OP, &e))?;
        output
            .customer_gateways()
            .iter()
            .find(|g| g.customer_gateway_id() == Some(id))
            .map(|g| to_customer_gateway(id, g))
            .ok_or_else(|| not_found(OP, "customer gateway", id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::testkit::*;
    use aws_sdk_ec2::operation::describe_customer_gateways::{
        DescribeCustomerGatewaysError, DescribeCustomerGatewaysInput,
        DescribeCustomerGatewaysOutput,
    };
    use aws_sdk_ec2::operation::describe_transit_gateways::{
        DescribeTransitGatewaysError, DescribeTransitGatewaysInput, DescribeTransitGatewaysOutput,
    };
    use aws_sdk_ec2::operation::describe_vpn_connections::{
        DescribeVpnConnectionsError, DescribeVpnConnectionsInput, DescribeVpnConnectionsOutput,
    };
    use aws_sdk_ec2::operation::describe_vpn_gateways::{
        DescribeVpnGatewaysError, DescribeVpnGatewaysInput, DescribeVpnGatewaysOutput,
    };
    use aws_sdk_ec2::types::{
        CloudWatchLogOptions, GatewayType, IkeVersionsListValue, TransitGateway,
        TransitGatewayOptions, TransitGatewayState, VpcAttachment, VpnConnectionOptions,
        VpnGateway, VpnState, VpnTunnelLogOptions,
    };
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use chrono::{DateTime, Utc};

    const VPN: &str = "vpn-0abc1234";
    const LOG_GROUP: &str = "arn:aws:logs:eu-west-1:111122223333:log-group:/vpn/tunnels:*";

    fn inventory(rules: &[&Rule], attempts: u32) -> Ec2Inventory {
        let client = mock_client!(aws_sdk_ec2, RuleMode::Sequential, rules, |b| b
            .retry_config(fast_retries(attempts)));
        Ec2Inventory::new(client)
    }

    fn smithy(time: DateTime<Utc>) -> aws_smithy_types::DateTime {
        aws_smithy_types::DateTime::from_secs(time.timestamp())
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag::builder().key(key).value(value).build()
    }

    fn log_options(enabled: bool) -> VpnTunnelLogOptions {
        VpnTunnelLogOptions::builder()
            .cloud_watch_log_options(
                CloudWatchLogOptions::builder()
                    .log_enabled(enabled)
                    .log_group_arn(LOG_GROUP)
                    .log_output_format("json")
                    .build(),
            )
            .build()
    }

    /// Tunnel 1 (203.0.113.10) up, tunnel 2 (203.0.113.20) down; the options list tunnel 2
    /// first, and a third address that has no telemetry.
    fn connection() -> SdkVpnConnection {
        SdkVpnConnection::builder()
            .vpn_connection_id(VPN)
            .state(VpnState::Available)
            .category("VPN")
            .r#type(GatewayType::Ipsec1)
            .customer_gateway_id("cgw-0123")
            .vpn_gateway_id("vgw-0456")
            .tags(tag("Name", "office-vpn"))
            .tags(tag("team", "network"))
            .vgw_telemetry(
                VgwTelemetry::builder()
                    .outside_ip_address("203.0.113.10")
                    .status(TelemetryStatus::Up)
                    .status_message("2 BGP ROUTES")
                    .last_status_change(smithy(at(2026, 11, 21, 1, 0, 0)))
                    .accepted_route_count(2)
                    .build(),
            )
            .vgw_telemetry(
                VgwTelemetry::builder()
                    .outside_ip_address("203.0.113.20")
                    .status(TelemetryStatus::Down)
                    .status_message("IPSEC IS DOWN")
                    .last_status_change(smithy(at(2026, 11, 21, 3, 52, 0)))
                    .accepted_route_count(0)
                    .build(),
            )
            .options(
                VpnConnectionOptions::builder()
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("203.0.113.20")
                            .ike_versions(IkeVersionsListValue::builder().value("ikev2").build())
                            .log_options(log_options(true))
                            .build(),
                    )
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("203.0.113.10")
                            .ike_versions(IkeVersionsListValue::builder().value("ikev1").build())
                            .ike_versions(IkeVersionsListValue::builder().value("ikev2").build())
                            .build(),
                    )
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("198.51.100.7")
                            .log_options(log_options(false))
                            .build(),
                    )
                    .build(),
            )
            .build()
    }

    fn connections(list: Vec<SdkVpnConnection>) -> DescribeVpnConnectionsOutput {
        DescribeVpnConnectionsOutput::builder()
            .set_vpn_connections(Some(list))
            .build()
    }

    #[tokio::test]
    async fn vpn_connections_sends_the_ids_and_merges_tunnels_by_outside_ip() {
        let seen = Captured::<DescribeVpnConnectionsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_vpn_connections)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| connections(vec![connection()]));
        let ids = vec![VPN.to_string(), format!(" {VPN} "), String::new()];
        let got = must(inventory(&[&rule], 1).vpn_connections(&ids).await);

        let req = seen.only();
        assert_eq!(req.vpn_connection_ids(), [VPN.to_string()]);
        assert!(req.filters().is_empty());

        assert_eq!(got.len(), 1);
        let c = &got[0];
        assert_eq!(c.id, VPN);
        assert_eq!(c.state, "available");
        assert_eq!(c.category.as_deref(), Some("VPN"));
        assert_eq!(c.vpn_type.as_deref(), Some("ipsec.1"));
        assert_eq!(c.customer_gateway_id.as_deref(), Some("cgw-0123"));
        assert_eq!(c.vpn_gateway_id.as_deref(), Some("vgw-0456"));
        assert_eq!(c.transit_gateway_id, None);
        assert_eq!(
            c.tags,
            BTreeMap::from([
                ("Name".to_string(), "office-vpn".to_string()),
                ("team".to_string(), "network".to_string()),
            ])
        );

        let ips: Vec<_> = c.tunnels.iter().map(|t| t.outside_ip.as_str()).collect();
        assert_eq!(ips, ["203.0.113.10", "203.0.113.20", "198.51.100.7"]);
        let up = &c.tunnels[0];
        assert_eq!(up.status, Some(TunnelStatus::Up));
        assert_eq!(up.accepted_routes, Some(2));
        assert_eq!(up.ike_versions, ["ikev1", "ikev2"]);
        assert_eq!(up.log, None);
        let down = &c.tunnels[1];
        assert_eq!(down.status, Some(TunnelStatus::Down));
        assert_eq!(down.status_message.as_deref(), Some("IPSEC IS DOWN"));
        assert_eq!(down.last_status_change, Some(at(2026, 11, 21, 3, 52, 0)));
        assert_eq!(down.accepted_routes, Some(0));
        assert_eq!(down.ike_versions, ["ikev2"]);
        let log = down.log.clone().unwrap_or_else(|| panic!("no log options"));
        assert!(log.enabled);
        assert_eq!(log.group_arn.as_deref(), Some(LOG_GROUP));
        assert_eq!(log.format.as_deref(), Some("json"));
        assert_eq!(log.group_name(), Some("/vpn/tunnels"));
        let extra = &c.tunnels[2];
        assert_eq!(extra.status, None);
        assert_eq!(extra.last_status_change, None);
        assert!(extra.ike_versions.is_empty());
        assert_eq!(extra.log.as_ref().map(|l| l.enabled), Some(false));
    }

    #[tokio::test]
    async fn no_ids_lists_every_connection_and_deleted_ones_are_returned_as_they_are() {
        let seen = Captured::<DescribeVpnConnectionsInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_vpn_connections)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                connections(vec![
                    connection(),
                    SdkVpnConnection::builder()
                        .vpn_connection_id("vpn-0dead")
                        .state(VpnState::Deleted)
                        .transit_gateway_id("tgw-0789")
                        .build(),
                    SdkVpnConnection::builder().state(VpnState::Pending).build(),
                ])
            });
        let got = must(inventory(&[&rule], 1).vpn_connections(&[]).await);
        assert!(seen.only().vpn_connection_ids().is_empty());
        assert_eq!(got.len(), 2, "the connection without an id is skipped");
        assert_eq!(got[1].id, "vpn-0dead");
        assert_eq!(got[1].state, "deleted");
        assert_eq!(got[1].transit_gateway_id.as_deref(), Some("tgw-0789"));
        assert!(got[1].tunnels.is_empty());
        assert!(got[1].tags.is_empty());
    }

    #[tokio::test]
    async fn connections_come_back_in_the_order_asked_and_missing_ones_are_not_found() {
        let answer = || {
            connections(vec![
                SdkVpnConnection::builder()
                    .vpn_connection_id("vpn-2")
                    .state(VpnState::Available)
                    .build(),
                SdkVpnConnection::builder()
                    .vpn_connection_id("vpn-1")
                    .build(),
            ])
        };
        let both = mock!(Client::describe_vpn_connections).then_output(answer);
        let missing = mock!(Client::describe_vpn_connections).then_output(answer);
        let inv = inventory(&[&both, &missing], 1);
        let got = must(
            inv.vpn_connections(&["vpn-1".to_string(), "vpn-2".to_string()])
                .await,
        );
        let ids: Vec<_> = got.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["vpn-1", "vpn-2"]);
        assert_eq!(got[0].state, UNKNOWN_STATE);

        let err = must_fail(
            inv.vpn_connections(&["vpn-1".to_string(), "vpn-3".to_string()])
                .await,
        );
        assert_eq!(err.kind, PortErrorKind::NotFound);
        assert_eq!(err.operation, "DescribeVpnConnections");
        assert!(err.message.contains("vpn-3"), "{}", err.message);
    }

    #[tokio::test]
    async fn only_blank_ids_are_refused_without_a_call() {
        let rule =
            mock!(Client::describe_vpn_connections).then_output(|| connections(vec![connection()]));
        let inv = inventory(&[&rule], 1);
        let err = must_fail(inv.vpn_connections(&[" ".to_string()]).await);
        assert_eq!(err.kind, PortErrorKind::Invalid);
        assert_eq!(rule.num_calls(), 0);
    }

    #[tokio::test]
    async fn vpn_connection_error_codes_map_to_kinds() {
        let cases = [
            ("InvalidVpnConnectionID.NotFound", PortErrorKind::NotFound),
            ("InvalidVpnConnectionId.Malformed", PortErrorKind::Invalid),
            ("UnauthorizedOperation", PortErrorKind::AccessDenied),
            ("RequestLimitExceeded", PortErrorKind::Throttled),
            ("Unavailable", PortErrorKind::Unavailable),
            ("SomethingElse", PortErrorKind::Other),
        ];
        for (code, kind) in cases {
            let rule = mock!(Client::describe_vpn_connections)
                .then_error(move || DescribeVpnConnectionsError::generic(meta(code, "no")));
            let err = must_fail(
                inventory(&[&rule], 1)
                    .vpn_connections(&[VPN.to_string()])
                    .await,
            );
            assert_eq!(err.kind, kind, "{code}");
            assert_eq!(err.operation, "DescribeVpnConnections");
            assert_eq!(err.message, format!("{code}: no"));
        }
    }

    #[tokio::test]
    async fn request_limit_is_retried_then_throttled() {
        let rule = mock!(Client::describe_vpn_connections)
            .sequence()
            .error(|| {
                DescribeVpnConnectionsError::generic(meta(
                    "RequestLimitExceeded",
                    "Request limit exceeded.",
                ))
            })
            .times(3)
            .build();
        let err = must_fail(inventory(&[&rule], 3).vpn_connections(&[]).await);
        assert_eq!(err.kind, PortErrorKind::Throttled);
        assert_eq!(rule.num_calls(), 3);
    }

    #[tokio::test]
    async fn vpn_gateway_keeps_only_attached_vpcs() {
        let seen = Captured::<DescribeVpnGatewaysInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_vpn_gateways)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                DescribeVpnGatewaysOutput::builder()
                    .vpn_gateways(
                        VpnGateway::builder()
                            .vpn_gateway_id("vgw-0456")
                            .state(VpnState::Available)
                            .amazon_side_asn(64512)
                            .vpc_attachments(
                                VpcAttachment::builder()
                                    .vpc_id("vpc-1")
                                    .state(AttachmentStatus::Attached)
                                    .build(),
                            )
                            .vpc_attachments(
                                VpcAttachment::builder()
                                    .vpc_id("vpc-2")
                                    .state(AttachmentStatus::Detached)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let got = must(inventory(&[&rule], 1).vpn_gateway("vgw-0456").await);
        assert_eq!(seen.only().vpn_gateway_ids(), ["vgw-0456".to_string()]);
        assert_eq!(
            got,
            Gateway {
                kind: GatewayKind::VpnGateway,
                id: "vgw-0456".to_string(),
                state: Some("available".to_string()),
                amazon_side_asn: Some(64512),
                vpc_ids: vec!["vpc-1".to_string()],
            }
        );
    }

    #[tokio::test]
    async fn vpn_gateway_empty_answer_and_not_found_code_are_not_found() {
        let empty = mock!(Client::describe_vpn_gateways)
            .then_output(|| DescribeVpnGatewaysOutput::builder().build());
        let gone = mock!(Client::describe_vpn_gateways).then_error(|| {
            DescribeVpnGatewaysError::generic(meta(
                "InvalidVpnGatewayID.NotFound",
                "The vpnGateway ID 'vgw-0456' does not exist",
            ))
        });
        let inv = inventory(&[&empty, &gone], 1);
        let err = must_fail(inv.vpn_gateway("vgw-0456").await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        assert_eq!(err.operation, "DescribeVpnGateways");
        let err = must_fail(inv.vpn_gateway("vgw-0456").await);
        assert_eq!(err.kind, PortErrorKind::NotFound);
        assert!(err.message.starts_with("InvalidVpnGatewayID.NotFound"));
    }

    #[tokio::test]
    async fn transit_gateway_takes_its_asn_from_the_options() {
        let seen = Captured::<DescribeTransitGatewaysInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_transit_gateways)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                DescribeTransitGatewaysOutput::builder()
                    .transit_gateways(
                        TransitGateway::builder()
                            .transit_gateway_id("tgw-0789")
                            .state(TransitGatewayState::Available)
                            .options(
                                TransitGatewayOptions::builder()
                                    .amazon_side_asn(4_200_000_000)
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let got = must(inventory(&[&rule], 1).transit_gateway("tgw-0789").await);
        assert_eq!(seen.only().transit_gateway_ids(), ["tgw-0789".to_string()]);
        assert_eq!(
            got,
            Gateway {
                kind: GatewayKind::TransitGateway,
                id: "tgw-0789".to_string(),
                state: Some("available".to_string()),
                amazon_side_asn: Some(4_200_000_000),
                vpc_ids: Vec::new(),
            }
        );
    }

    #[tokio::test]
    async fn transit_gateway_errors_map_to_kinds() {
        let empty = mock!(Client::describe_transit_gateways)
            .then_output(|| DescribeTransitGatewaysOutput::builder().build());
        let gone = mock!(Client::describe_transit_gateways).then_error(|| {
            DescribeTransitGatewaysError::generic(meta("InvalidTransitGatewayID.NotFound", "no"))
        });
        let denied = mock!(Client::describe_transit_gateways).then_error(|| {
            DescribeTransitGatewaysError::generic(meta(
                "UnauthorizedOperation",
                "You are not authorized to perform this operation.",
            ))
        });
        let inv = inventory(&[&empty, &gone, &denied], 1);
        for kind in [
            PortErrorKind::NotFound,
            PortErrorKind::NotFound,
            PortErrorKind::AccessDenied,
        ] {
            let err = must_fail(inv.transit_gateway("tgw-0789").await);
            assert_eq!(err.kind, kind);
            assert_eq!(err.operation, "DescribeTransitGateways");
        }
    }

    #[tokio::test]
    async fn customer_gateway_is_mapped_with_the_extended_asn_as_fallback() {
        let seen = Captured::<DescribeCustomerGatewaysInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::describe_customer_gateways)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                DescribeCustomerGatewaysOutput::builder()
                    .customer_gateways(
                        SdkCustomerGateway::builder()
                            .customer_gateway_id("cgw-0123")
                            .ip_address("198.51.100.1")
                            .bgp_asn("65000")
                            .device_name("office-fw")
                            .state("available")
                            .build(),
                    )
                    .customer_gateways(
                        SdkCustomerGateway::builder()
                            .customer_gateway_id("cgw-big")
                            .bgp_asn_extended("4200000001")
                            .build(),
                    )
                    .build()
            });
        let extended = mock!(Client::describe_customer_gateways).then_output(|| {
            DescribeCustomerGatewaysOutput::builder()
                .customer_gateways(
                    SdkCustomerGateway::builder()
                        .customer_gateway_id("cgw-big")
                        .bgp_asn_extended("4200000001")
                        .build(),
                )
                .build()
        });
        let inv = inventory(&[&rule, &extended], 1);
        let got = must(inv.customer_gateway("cgw-0123").await);
        assert_eq!(seen.only().customer_gateway_ids(), ["cgw-0123".to_string()]);
        assert_eq!(
            got,
            CustomerGateway {
                id: "cgw-0123".to_string(),
                ip_address: Some("198.51.100.1".to_string()),
                bgp_asn: Some("65000".to_string()),
                device_name: Some("office-fw".to_string()),
                state: Some("available".to_string()),
            }
        );
        let big = must(inv.customer_gateway("cgw-big").await);
        assert_eq!(big.bgp_asn.as_deref(), Some("4200000001"));
        assert_eq!(big.ip_address, None);
    }

    #[tokio::test]
    async fn customer_gateway_errors_map_to_kinds() {
        let empty = mock!(Client::describe_customer_gateways)
            .then_output(|| DescribeCustomerGatewaysOutput::builder().build());
        let gone = mock!(Client::describe_customer_gateways).then_error(|| {
            DescribeCustomerGatewaysError::generic(meta("InvalidCustomerGatewayID.NotFound", "no"))
        });
        let throttled = mock!(Client::describe_customer_gateways).then_error(|| {
            DescribeCustomerGatewaysError::generic(meta("RequestLimitExceeded", "slow down"))
        });
        let inv = inventory(&[&empty, &gone, &throttled], 1);
        for kind in [
            PortErrorKind::NotFound,
            PortErrorKind::NotFound,
            PortErrorKind::Throttled,
        ] {
            let err = must_fail(inv.customer_gateway("cgw-0123").await);
            assert_eq!(err.kind, kind);
            assert_eq!(err.operation, "DescribeCustomerGateways");
        }
    }

    #[test]
    fn telemetry_without_options_and_duplicate_ips_merge_once() {
        let c = SdkVpnConnection::builder()
            .vpn_connection_id(VPN)
            .vgw_telemetry(
                VgwTelemetry::builder()
                    .outside_ip_address("203.0.113.10")
                    .status(TelemetryStatus::from("UNKNOWN"))
                    .status_message("")
                    .build(),
            )
            .options(
                VpnConnectionOptions::builder()
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("203.0.113.10")
                            .build(),
                    )
                    .tunnel_options(
                        TunnelOption::builder()
                            .outside_ip_address("203.0.113.10")
                            .build(),
                    )
                    .tunnel_options(TunnelOption::builder().build())
                    .build(),
            )
            .build();
        let t = tunnels(&c);
        assert_eq!(t.len(), 3);
        assert_eq!(t[0].status, None, "an unknown status is no status");
        assert_eq!(t[0].status_message, None);
        assert_eq!(t[1].outside_ip, "203.0.113.10");
        assert_eq!(t[2].outside_ip, "");
    }
}
