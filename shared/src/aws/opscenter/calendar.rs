//! [`Calendars`] on SSM Change Calendar (`ssm` `GetCalendarState`).
//!
//! `GetCalendarState` takes `CalendarNames` (names or ARNs of `ChangeCalendar` documents) and an
//! ISO 8601 `AtTime`; it answers `State` (`OPEN` or `CLOSED`) and, when the calendar has a next
//! change, `NextTransitionTime` (ISO 8601). One calendar per call: the windows of the rules each
//! name one. Errors: `InvalidDocument` (no such document), `InvalidDocumentType` (not a change
//! calendar) → `NotFound`; `UnsupportedCalendarException` → `Invalid`; `InternalServerError` →
//! `Unavailable`; the rest by [`from_sdk_error`] (`AccessDeniedException` → `AccessDenied`).

use async_trait::async_trait;
use aws_sdk_ssm::operation::get_calendar_state::GetCalendarStateError;
use aws_sdk_ssm::Client;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::aws::error::from_sdk_error;
use crate::ports::{CalendarReading, Calendars, PortError, PortErrorKind};

/// SSM Change Calendars in one region.
#[derive(Debug, Clone)]
pub struct SsmCalendars {
    client: Client,
}

impl SsmCalendars {
    pub fn new(client: Client) -> Self {
        SsmCalendars { client }
    }
}

fn kind(err: &GetCalendarStateError) -> Option<PortErrorKind> {
    use GetCalendarStateError as E;
    match err {
        E::InvalidDocument(_) | E::InvalidDocumentType(_) => Some(PortErrorKind::NotFound),
        E::UnsupportedCalendarException(_) => Some(PortErrorKind::Invalid),
        E::InternalServerError(_) => Some(PortErrorKind::Unavailable),
        _ => None,
    }
}

#[async_trait]
impl Calendars for SsmCalendars {
    async fn state(&self, calendar: &str, at: DateTime<Utc>) -> Result<CalendarReading, PortError> {
        const OP: &str = "GetCalendarState";
        let output = self
            .client
            .get_calendar_state()
            .calendar_names(calendar)
            .at_time(at.to_rfc3339_opts(SecondsFormat::Secs, true))
            .send()
            .await
            .map_err(|e| {
                let mut port = from_sdk_error(OP, &e);
                if let Some(k) = e.as_service_error().and_then(kind) {
                    port.kind = k;
                }
                port
            })?;
        let state = output
            .state()
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| {
                PortError::new(OP, PortErrorKind::Other, "the response carries no State")
            })?;
        let next_transition = output
            .next_transition_time()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        Ok(CalendarReading {
            state,
            next_transition,
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ssm::operation::get_calendar_state::{
        GetCalendarStateInput, GetCalendarStateOutput,
    };
    use aws_sdk_ssm::types::error::InvalidDocument;
    use aws_sdk_ssm::types::CalendarState;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    use super::*;
    use crate::aws::testkit::Captured;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn reads_the_state_and_the_next_transition_at_a_time() {
        let seen = Captured::<GetCalendarStateInput>::new();
        let s = seen.clone();
        let rule = mock!(Client::get_calendar_state)
            .match_requests(move |req| s.push(req.clone()))
            .then_output(|| {
                GetCalendarStateOutput::builder()
                    .state(CalendarState::Closed)
                    .at_time("2026-12-05T01:10:00Z")
                    .next_transition_time("2026-12-05T01:30:00Z")
                    .build()
            });
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&rule]);
        let reading = SsmCalendars::new(client)
            .state("NightlyMaintenance", at("2026-12-05T01:10:00Z"))
            .await;
        assert_eq!(
            reading,
            Ok(CalendarReading {
                state: "CLOSED".into(),
                next_transition: Some(at("2026-12-05T01:30:00Z")),
            })
        );
        let req = seen.only();
        assert_eq!(req.calendar_names(), ["NightlyMaintenance".to_string()]);
        assert_eq!(req.at_time(), Some("2026-12-05T01:10:00Z"));
    }

    #[tokio::test]
    async fn an_unknown_calendar_is_not_found() {
        let rule = mock!(Client::get_calendar_state).then_error(|| {
            GetCalendarStateError::InvalidDocument(
                InvalidDocument::builder()
                    .message("no such document")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, [&rule]);
        let err = SsmCalendars::new(client)
            .state("Nope", at("2026-12-05T01:10:00Z"))
            .await
            .err()
            .map(|e| e.kind);
        assert_eq!(err, Some(PortErrorKind::NotFound));
    }
}
