//! What diagnosis and verification read, in memory: the EC2 inventory (network and instances), metrics, alarm states.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::diagnosis::{
    CustomerGateway, Gateway, Instance, InstanceHealth, MetricQuery, MetricSeries, VpnConnection,
};
use crate::ports::{
    AlarmState, AlarmStates, CalendarReading, Calendars, Instances, MetricSource, NetworkInventory,
    PortError, PortErrorKind,
};

/// An instance, its status (none: EC2 reports none) and its console output.
type StoredInstance = (Instance, Option<InstanceHealth>, Option<String>);

/// The EC2 inventory in memory. An id it does not hold is NotFound, like the real API; an
/// operation can be made to fail (`vpn_connections`, `vpn_gateway`, `transit_gateway`,
/// `customer_gateway`, `instance`, `instance_health`, `console_output`).
#[derive(Debug, Default)]
pub struct MemoryNetwork {
    connections: Mutex<Vec<VpnConnection>>,
    gateways: Mutex<Vec<Gateway>>,
    customer_gateways: Mutex<Vec<CustomerGateway>>,
    /// Instances with their status (none: EC2 reports none) and console output.
    instances: Mutex<Vec<StoredInstance>>,
    faults: Faults,
    calls: Mutex<Vec<String>>,
}

impl MemoryNetwork {
    pub fn new() -> Self {
        MemoryNetwork::default()
    }

    pub fn add_connection(&self, connection: VpnConnection) {
        lock(&self.connections).push(connection);
    }

    pub fn add_gateway(&self, gateway: Gateway) {
        lock(&self.gateways).push(gateway);
    }

    pub fn add_customer_gateway(&self, gateway: CustomerGateway) {
        lock(&self.customer_gateways).push(gateway);
    }

    /// Adds (or replaces) an instance with its status checks and console output.
    pub fn put_instance(
        &self,
        instance: Instance,
        health: Option<InstanceHealth>,
        console: Option<&str>,
    ) {
        let mut all = lock(&self.instances);
        all.retain(|(i, _, _)| i.id != instance.id);
        all.push((instance, health, console.map(str::to_string)));
    }

    /// Removes everything with this id (the resource was deleted).
    pub fn remove(&self, id: &str) {
        lock(&self.instances).retain(|(i, _, _)| i.id != id);
        lock(&self.connections).retain(|c| c.id != id);
        lock(&self.gateways).retain(|g| g.id != id);
        lock(&self.customer_gateways).retain(|g| g.id != id);
    }

    pub fn fail_next(&self, operation: &'static str, n: usize, kind: PortErrorKind) {
        self.faults.set(operation, n, kind);
    }

    /// Every call, as `operation(argument)`.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn record(&self, operation: &'static str, argument: &str) -> Result<(), PortError> {
        lock(&self.calls).push(format!("{operation}({argument})"));
        self.faults.check(operation)
    }
}

fn not_found(operation: &str, what: &str, id: &str) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::NotFound,
        format!("The {what} ID '{id}' does not exist"),
    )
}

#[async_trait]
impl NetworkInventory for MemoryNetwork {
    async fn vpn_connections(&self, ids: &[String]) -> Result<Vec<VpnConnection>, PortError> {
        self.record("vpn_connections", &ids.join(","))?;
        let all = lock(&self.connections);
        if ids.is_empty() {
            return Ok(all.clone());
        }
        ids.iter()
            .map(|id| {
                all.iter()
                    .find(|c| &c.id == id)
                    .cloned()
                    .ok_or_else(|| not_found("DescribeVpnConnections", "vpnConnection", id))
            })
            .collect()
    }

    async fn vpn_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        self.record("vpn_gateway", id)?;
        lock(&self.gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeVpnGateways", "vpnGateway", id))
    }

    async fn transit_gateway(&self, id: &str) -> Result<Gateway, PortError> {
        self.record("transit_gateway", id)?;
        lock(&self.gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeTransitGateways", "transitGateway", id))
    }

    async fn customer_gateway(&self, id: &str) -> Result<CustomerGateway, PortError> {
        self.record("customer_gateway", id)?;
        lock(&self.customer_gateways)
            .iter()
            .find(|g| g.id == id)
            .cloned()
            .ok_or_else(|| not_found("DescribeCustomerGateways", "customerGateway", id))
    }
}

impl MemoryNetwork {
    fn stored_instance(
        &self,
        operation: &'static str,
        id: &str,
    ) -> Result<StoredInstance, PortError> {
        lock(&self.instances)
            .iter()
            .find(|(i, _, _)| i.id == id)
            .cloned()
            .ok_or_else(|| not_found(operation, "instance", id))
    }
}

#[async_trait]
impl Instances for MemoryNetwork {
    async fn instance(&self, id: &str) -> Result<Instance, PortError> {
        self.record("instance", id)?;
        Ok(self.stored_instance("DescribeInstances", id)?.0)
    }

    async fn instance_health(&self, id: &str) -> Result<Option<InstanceHealth>, PortError> {
        self.record("instance_health", id)?;
        Ok(self.stored_instance("DescribeInstanceStatus", id)?.1)
    }

    async fn console_output(&self, id: &str) -> Result<Option<String>, PortError> {
        self.record("console_output", id)?;
        Ok(self.stored_instance("GetConsoleOutput", id)?.2)
    }
}

/// One stored datapoint: namespace, metric name, dimensions, time, value.
type Datapoint = (String, String, BTreeMap<String, String>, DateTime<Utc>, f64);

/// CloudWatch metrics in memory: datapoints stored per (namespace, name, dimensions), answered
/// for any statistic and period (tests give one value per period already).
#[derive(Debug, Default)]
pub struct MemoryMetrics {
    data: Mutex<Vec<Datapoint>>,
    faults: Faults,
    queries: Mutex<Vec<MetricQuery>>,
}

impl MemoryMetrics {
    pub fn new() -> Self {
        MemoryMetrics::default()
    }

    pub fn put(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
        at: DateTime<Utc>,
        value: f64,
    ) {
        let dims = dimensions
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lock(&self.data).push((namespace.to_string(), name.to_string(), dims, at, value));
    }

    /// The next `n` calls of `metric_data` fail.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("metric_data", n, kind);
    }

    /// Every query asked, in order.
    pub fn queries(&self) -> Vec<MetricQuery> {
        lock(&self.queries).clone()
    }
}

#[async_trait]
impl MetricSource for MemoryMetrics {
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, PortError> {
        self.faults.check("metric_data")?;
        lock(&self.queries).extend(queries.iter().cloned());
        let data = lock(&self.data);
        Ok(queries
            .iter()
            .map(|q| {
                let mut points: Vec<(DateTime<Utc>, f64)> = data
                    .iter()
                    .filter(|(ns, name, dims, at, _)| {
                        ns == &q.namespace
                            && name == &q.name
                            && dims == &q.dimensions
                            && *at >= start
                            && *at < end
                    })
                    .map(|(_, _, _, at, value)| (*at, *value))
                    .collect();
                points.sort_by_key(|(at, _)| *at);
                MetricSeries {
                    id: q.id.clone(),
                    points,
                }
            })
            .collect())
    }
}

/// CloudWatch alarms in memory: name → state.
#[derive(Debug, Default)]
pub struct MemoryAlarms {
    alarms: Mutex<BTreeMap<String, AlarmState>>,
    faults: Faults,
    calls: Mutex<Vec<String>>,
}

impl MemoryAlarms {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets an alarm's state value (`OK`, `ALARM`, `INSUFFICIENT_DATA`).
    pub fn set(&self, name: &str, value: &str) {
        lock(&self.alarms).insert(
            name.to_string(),
            AlarmState {
                name: name.to_string(),
                value: value.to_string(),
                reason: None,
                updated_at: None,
            },
        );
    }

    /// The next `n` lookups fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("alarm_state", n, kind);
    }

    /// The alarm names asked for, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl AlarmStates for MemoryAlarms {
    async fn alarm_state(&self, name: &str) -> Result<Option<AlarmState>, PortError> {
        self.faults.check("alarm_state")?;
        lock(&self.calls).push(name.to_string());
        Ok(lock(&self.alarms).get(name).cloned())
    }
}

/// Change Calendars in memory: name → state and next transition. An unknown calendar is
/// NotFound, like `InvalidDocument`.
#[derive(Debug, Default)]
pub struct MemoryCalendars {
    calendars: Mutex<BTreeMap<String, CalendarReading>>,
    faults: Faults,
    calls: Mutex<Vec<String>>,
}

impl MemoryCalendars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a calendar's state (`OPEN`, `CLOSED`) and when it changes next.
    pub fn set(&self, name: &str, state: &str, next_transition: Option<DateTime<Utc>>) {
        lock(&self.calendars).insert(
            name.to_string(),
            CalendarReading {
                state: state.to_string(),
                next_transition,
            },
        );
    }

    /// The next `n` readings fail with `kind`.
    pub fn fail_next(&self, n: usize, kind: PortErrorKind) {
        self.faults.set("calendar_state", n, kind);
    }

    /// The calendars read, in order.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }
}

#[async_trait]
impl Calendars for MemoryCalendars {
    async fn state(
        &self,
        calendar: &str,
        _at: DateTime<Utc>,
    ) -> Result<CalendarReading, PortError> {
        self.faults.check("calendar_state")?;
        lock(&self.calls).push(calendar.to_string());
        lock(&self.calendars).get(calendar).cloned().ok_or_else(|| {
            PortError::new(
                "GetCalendarState",
                PortErrorKind::NotFound,
                format!("no change calendar `{calendar}`"),
            )
        })
    }
}
