//! The resources `inspect` reads, in memory: Lambda functions with their error lines, target
//! groups, RDS instances with their events. A name it does not hold is NotFound, like the real
//! APIs; an operation can be made to fail (`function`, `reserved_concurrency`, `error_lines`,
//! `target_group`, `target_health`, `database`, `events`).

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{lock, Faults};
use crate::inspect::{
    DatabaseFacts, DbEvent, FunctionFacts, LogLine, TargetGroupFacts, TargetHealth,
};
use crate::ports::{Databases, Functions, LogQueries, PortError, PortErrorKind, TargetGroups};

#[derive(Debug, Default)]
pub struct MemoryResources {
    functions: Mutex<Vec<FunctionFacts>>,
    /// Log lines by log group; `None`: the query does not finish in time.
    logs: Mutex<Vec<(String, Option<Vec<LogLine>>)>>,
    target_groups: Mutex<Vec<TargetGroupFacts>>,
    databases: Mutex<Vec<DatabaseFacts>>,
    faults: Faults,
    calls: Mutex<Vec<String>>,
}

impl MemoryResources {
    pub fn new() -> Self {
        MemoryResources::default()
    }

    /// A function (its `errors` are ignored: [`MemoryResources::put_logs`] holds the lines).
    pub fn put_function(&self, function: FunctionFacts) {
        let mut all = lock(&self.functions);
        all.retain(|f| f.name != function.name);
        all.push(function);
    }

    /// The lines a query of `log_group` finds; `None`: the query does not finish in time.
    pub fn put_logs(&self, log_group: &str, lines: Option<Vec<LogLine>>) {
        let mut all = lock(&self.logs);
        all.retain(|(g, _)| g != log_group);
        all.push((log_group.to_string(), lines));
    }

    pub fn put_target_group(&self, group: TargetGroupFacts) {
        let mut all = lock(&self.target_groups);
        all.retain(|g| g.arn != group.arn);
        all.push(group);
    }

    /// A DB instance, with its events (newest first).
    pub fn put_database(&self, database: DatabaseFacts) {
        let mut all = lock(&self.databases);
        all.retain(|d| d.id != database.id);
        all.push(database);
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

fn not_found(operation: &str, what: &str) -> PortError {
    PortError::new(
        operation,
        PortErrorKind::NotFound,
        format!("{what} not found"),
    )
}

#[async_trait]
impl Functions for MemoryResources {
    async fn function(
        &self,
        name: &str,
        qualifier: Option<&str>,
    ) -> Result<FunctionFacts, PortError> {
        let argument = qualifier.map_or(name.to_string(), |q| format!("{name}:{q}"));
        self.record("function", &argument)?;
        let found = lock(&self.functions)
            .iter()
            .find(|f| f.name == name)
            .cloned();
        let mut function = found.ok_or_else(|| not_found("GetFunctionConfiguration", name))?;
        function.errors.clear();
        function.reserved_concurrency = None;
        Ok(function)
    }

    async fn reserved_concurrency(&self, name: &str) -> Result<Option<i32>, PortError> {
        self.record("reserved_concurrency", name)?;
        let found = lock(&self.functions)
            .iter()
            .find(|f| f.name == name)
            .cloned();
        found
            .map(|f| f.reserved_concurrency)
            .ok_or_else(|| not_found("GetFunctionConcurrency", name))
    }
}

#[async_trait]
impl LogQueries for MemoryResources {
    async fn error_lines(
        &self,
        log_group: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Option<Vec<LogLine>>, PortError> {
        self.record("error_lines", log_group)?;
        let all = lock(&self.logs);
        let (_, lines) = all
            .iter()
            .find(|(g, _)| g == log_group)
            .ok_or_else(|| not_found("StartQuery", log_group))?;
        Ok(lines.as_ref().map(|lines| {
            lines
                .iter()
                .filter(|l| l.time.is_none_or(|t| t >= since && t <= until))
                .take(max)
                .cloned()
                .collect()
        }))
    }
}

#[async_trait]
impl TargetGroups for MemoryResources {
    async fn target_group(&self, arn: &str) -> Result<TargetGroupFacts, PortError> {
        self.record("target_group", arn)?;
        let found = lock(&self.target_groups)
            .iter()
            .find(|g| g.arn == arn)
            .cloned();
        let mut group = found.ok_or_else(|| not_found("DescribeTargetGroups", arn))?;
        group.targets.clear();
        Ok(group)
    }

    async fn target_health(&self, arn: &str) -> Result<Vec<TargetHealth>, PortError> {
        self.record("target_health", arn)?;
        let found = lock(&self.target_groups)
            .iter()
            .find(|g| g.arn == arn)
            .cloned();
        found
            .map(|g| g.targets)
            .ok_or_else(|| not_found("DescribeTargetHealth", arn))
    }
}

#[async_trait]
impl Databases for MemoryResources {
    async fn database(&self, id: &str) -> Result<DatabaseFacts, PortError> {
        self.record("database", id)?;
        let found = lock(&self.databases).iter().find(|d| d.id == id).cloned();
        let mut database = found.ok_or_else(|| not_found("DescribeDBInstances", id))?;
        database.events.clear();
        Ok(database)
    }

    async fn events(
        &self,
        id: &str,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
        max: usize,
    ) -> Result<Vec<DbEvent>, PortError> {
        self.record("events", id)?;
        let found = lock(&self.databases).iter().find(|d| d.id == id).cloned();
        Ok(found
            .map(|d| d.events)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.time.is_none_or(|t| t >= since && t <= until))
            .take(max)
            .collect())
    }
}
