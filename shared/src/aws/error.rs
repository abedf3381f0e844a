//! One mapping from SDK failures to [`PortError`](crate::ports::PortError): the service's error
//! code decides where there is one, then the kind of transport failure, then the HTTP status.
//!
//! Errors are classified on the SDK's structured data (`SdkError` variants, the error metadata's
//! `code`), never on their text. The message keeps the service's code and words, so a log line
//! says what AWS said.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::PortErrorKind;

/// Codes that mean "slow down" (the SDK has already retried them with backoff).
const THROTTLED: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "LimitExceededException",
    "BandwidthLimitExceeded",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "AutomationExecutionLimitExceededException",
];

/// Codes that mean IAM (or the credentials) refused the call.
const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "NotAuthorized",
    "OpsItemAccessDeniedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "AuthFailure",
];

/// Codes that mean a failed condition or a conflicting write.
const CONFLICT: &[&str] = &[
    "ConditionalCheckFailedException",
    "ConflictException",
    "TransactionConflictException",
    "TransactionCanceledException",
    "TransactionInProgressException",
    "ReplicatedWriteConflictException",
    "OpsItemAlreadyExistsException",
    "OpsItemConflictException",
    "OpsItemRelatedItemAlreadyExistsException",
    "ResourceInUseException",
    "ConcurrentModificationException",
    "IdempotentParameterMismatch",
    "IdempotentParameterMismatchException",
];

/// Codes that mean the thing asked for does not exist.
const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceNotFound",
    "NotFoundException",
    "NotFound",
    "OpsItemNotFoundException",
    "OpsItemRelatedItemAssociationNotFoundException",
    "DoesNotExistException",
];

/// Codes that mean the request itself was rejected.
const INVALID: &[&str] = &[
    "ValidationException",
    "ValidationError",
    "SerializationException",
    "InvalidParameter",
    "InvalidParameterValue",
    "InvalidParameterValueException",
    "InvalidParameterException",
    "InvalidParameterCombination",
    "InvalidRequestException",
    "InvalidInputException",
    "InvalidArgument",
    "OpsItemInvalidParameterException",
    "MissingParameter",
    "MissingRequiredParameter",
    "MalformedDetail",
    "ItemCollectionSizeLimitExceededException",
];

/// Codes that mean the service failed on its side.
const UNAVAILABLE: &[&str] = &[
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "InternalError",
    "InternalException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
    "Unavailable",
    "InternalServiceError",
    "InternalServiceFault",
];

/// The kind a service error code stands for, or `None` for a code we do not know.
///
/// Exact codes first, then the families AWS names consistently (`…NotFoundException`,
/// `…AlreadyExistsException`, `Invalid…`, `NotAuthorizedFor…`, and EC2's dotted
/// `InvalidVpnConnectionID.NotFound` / `InvalidCustomerGatewayId.Malformed`).
pub fn kind_for_code(code: &str) -> Option<PortErrorKind> {
    let code = code.trim();
    let exact = [
        (THROTTLED, PortErrorKind::Throttled),
        (ACCESS_DENIED, PortErrorKind::AccessDenied),
        (CONFLICT, PortErrorKind::Conflict),
        (NOT_FOUND, PortErrorKind::NotFound),
        (INVALID, PortErrorKind::Invalid),
        (UNAVAILABLE, PortErrorKind::Unavailable),
    ];
    if let Some((_, kind)) = exact.iter().find(|(codes, _)| codes.contains(&code)) {
        return Some(*kind);
    }
    if code.ends_with("AccessDeniedException") || code.starts_with("NotAuthorizedFor") {
        Some(PortErrorKind::AccessDenied)
    } else if code.ends_with("NotFoundException")
        || code.ends_with("NotFound")
        || code.ends_with("NotFoundFault")
    {
        // EC2 says `Invalid<Thing>ID.NotFound`: the `Invalid` prefix must not win; ELB says
        // `TargetGroupNotFound`, RDS `DBInstanceNotFound`.
        Some(PortErrorKind::NotFound)
    } else if code.ends_with(".Malformed") {
        Some(PortErrorKind::Invalid)
    } else if code.ends_with("AlreadyExistsException") || code.ends_with("ConflictException") {
        Some(PortErrorKind::Conflict)
    } else if code.starts_with("Invalid") || code.ends_with("InvalidParameterException") {
        Some(PortErrorKind::Invalid)
    } else {
        None
    }
}

/// The kind an HTTP status stands for when the error carries no code we know.
fn kind_for_status(status: u16) -> Option<PortErrorKind> {
    match status {
        429 => Some(PortErrorKind::Throttled),
        403 => Some(PortErrorKind::AccessDenied),
        404 => Some(PortErrorKind::NotFound),
        409 => Some(PortErrorKind::Conflict),
        500..=599 => Some(PortErrorKind::Unavailable),
        _ => None,
    }
}

/// Classifies a service's answer: its code first, then its HTTP status, else `Other`.
pub fn classify(code: Option<&str>, status: Option<u16>) -> PortErrorKind {
    code.and_then(kind_for_code)
        .or_else(|| status.and_then(kind_for_status))
        .unwrap_or(PortErrorKind::Other)
}

/// `"<code>: <message>"` from a service error's metadata, with what is missing said so.
pub fn service_message(meta: &impl ProvideErrorMetadata) -> String {
    match (meta.code(), meta.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        (None, Some(message)) => format!("(no error code): {message}"),
        (None, None) => "(no error code, no message)".to_string(),
    }
}

/// `SdkError` is the same type in every service crate: `aws_smithy_runtime_api`'s.
mod sdk {
    pub(crate) type SdkError<E> = aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >;
}

/// Maps any SDK failure of `operation` to a [`PortError`](crate::ports::PortError):
///
/// - a service error: by its code ([`kind_for_code`]), else its HTTP status (5xx →
///   `Unavailable`, 429 → `Throttled`, 403/404/409 likewise), else `Other`; the message is the
///   service's `"<code>: <message>"`;
/// - a time-out or a dispatch failure (connection refused, DNS, TLS, I/O): `Unavailable`;
/// - an unparseable response: `Unavailable` on 5xx, else `Other`;
/// - a request that could not be built: `Other`.
pub fn from_sdk_error<E>(operation: &str, err: &sdk::SdkError<E>) -> crate::ports::PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_smithy_types::error::display::DisplayErrorContext;
    use sdk::SdkError;

    let status = err.raw_response().map(|raw| raw.status().as_u16());
    let (kind, message) = match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            (classify(inner.code(), status), service_message(inner))
        }
        SdkError::TimeoutError(_) => (
            PortErrorKind::Unavailable,
            format!("timed out: {}", DisplayErrorContext(err)),
        ),
        SdkError::DispatchFailure(_) => (
            PortErrorKind::Unavailable,
            format!("could not reach the service: {}", DisplayErrorContext(err)),
        ),
        SdkError::ResponseError(_) => (
            status
                .and_then(kind_for_status)
                .filter(|k| *k == PortErrorKind::Unavailable)
                .unwrap_or(PortErrorKind::Other),
            format!(
                "unreadable response (HTTP {}): {}",
                status.map_or_else(|| "?".to_string(), |s| s.to_string()),
                DisplayErrorContext(err)
            ),
        ),
        SdkError::ConstructionFailure(_) => (
            PortErrorKind::Other,
            format!("request not built: {}", DisplayErrorContext(err)),
        ),
        _ => (PortErrorKind::Other, DisplayErrorContext(err).to_string()),
    };
    crate::ports::PortError::new(operation, kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds() {
        let cases = [
            ("ThrottlingException", PortErrorKind::Throttled),
            ("Throttling", PortErrorKind::Throttled),
            ("TooManyRequestsException", PortErrorKind::Throttled),
            (
                "ProvisionedThroughputExceededException",
                PortErrorKind::Throttled,
            ),
            ("RequestLimitExceeded", PortErrorKind::Throttled),
            ("ResourceNotFoundException", PortErrorKind::NotFound),
            ("OpsItemNotFoundException", PortErrorKind::NotFound),
            (
                "AutomationExecutionNotFoundException",
                PortErrorKind::NotFound,
            ),
            ("AccessDeniedException", PortErrorKind::AccessDenied),
            ("AccessDenied", PortErrorKind::AccessDenied),
            ("UnauthorizedOperation", PortErrorKind::AccessDenied),
            ("InvalidClientTokenId", PortErrorKind::AccessDenied),
            (
                "NotAuthorizedForSourceException",
                PortErrorKind::AccessDenied,
            ),
            ("ConditionalCheckFailedException", PortErrorKind::Conflict),
            ("ConflictException", PortErrorKind::Conflict),
            ("TransactionConflictException", PortErrorKind::Conflict),
            ("OpsItemAlreadyExistsException", PortErrorKind::Conflict),
            (
                "OpsItemRelatedItemAlreadyExistsException",
                PortErrorKind::Conflict,
            ),
            ("ValidationException", PortErrorKind::Invalid),
            ("InvalidParameterValue", PortErrorKind::Invalid),
            ("InvalidParameterException", PortErrorKind::Invalid),
            ("OpsItemInvalidParameterException", PortErrorKind::Invalid),
            ("InternalServerException", PortErrorKind::Unavailable),
            ("InternalFailure", PortErrorKind::Unavailable),
            ("ServiceUnavailable", PortErrorKind::Unavailable),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_for_code(code), Some(kind), "{code}");
        }
        assert_eq!(kind_for_code("SomethingNew"), None);
    }

    #[test]
    fn ec2_and_ssm_automation_codes_map_to_kinds() {
        let cases = [
            ("InvalidVpnConnectionID.NotFound", PortErrorKind::NotFound),
            ("InvalidVpnGatewayID.NotFound", PortErrorKind::NotFound),
            ("InvalidCustomerGatewayID.NotFound", PortErrorKind::NotFound),
            ("InvalidTransitGatewayID.NotFound", PortErrorKind::NotFound),
            ("InvalidCustomerGatewayId.Malformed", PortErrorKind::Invalid),
            ("InvalidVpnConnectionID", PortErrorKind::Invalid),
            ("UnauthorizedOperation", PortErrorKind::AccessDenied),
            ("RequestLimitExceeded", PortErrorKind::Throttled),
            ("Unavailable", PortErrorKind::Unavailable),
            ("InternalError", PortErrorKind::Unavailable),
            ("IdempotentParameterMismatch", PortErrorKind::Conflict),
            (
                "AutomationDefinitionNotFoundException",
                PortErrorKind::NotFound,
            ),
            (
                "AutomationDefinitionVersionNotFoundException",
                PortErrorKind::NotFound,
            ),
            (
                "InvalidAutomationExecutionParametersException",
                PortErrorKind::Invalid,
            ),
            (
                "AutomationExecutionLimitExceededException",
                PortErrorKind::Throttled,
            ),
            ("InvalidNextToken", PortErrorKind::Invalid),
            ("InternalServiceError", PortErrorKind::Unavailable),
        ];
        for (code, kind) in cases {
            assert_eq!(kind_for_code(code), Some(kind), "{code}");
        }
    }

    #[test]
    fn status_is_the_fallback() {
        assert_eq!(
            classify(Some("SomethingNew"), Some(503)),
            PortErrorKind::Unavailable
        );
        assert_eq!(classify(None, Some(429)), PortErrorKind::Throttled);
        assert_eq!(
            classify(Some("ThrottlingException"), Some(500)),
            PortErrorKind::Throttled
        );
        assert_eq!(classify(None, Some(400)), PortErrorKind::Other);
        assert_eq!(classify(None, None), PortErrorKind::Other);
    }

    #[cfg(feature = "dynamodb")]
    mod sdk_errors {
        use super::super::*;
        use aws_sdk_dynamodb::config::http::HttpResponse;
        use aws_sdk_dynamodb::error::{ConnectorError, ErrorMetadata, SdkError};
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        use aws_smithy_types::body::SdkBody;

        fn response(status: u16) -> HttpResponse {
            let status = status
                .try_into()
                .unwrap_or_else(|_| panic!("bad status {status}"));
            HttpResponse::new(status, SdkBody::empty())
        }

        fn service(code: &str, status: u16) -> SdkError<PutItemError> {
            let meta = ErrorMetadata::builder()
                .code(code)
                .message("the service said no")
                .build();
            SdkError::service_error(PutItemError::generic(meta), response(status))
        }

        #[test]
        fn service_errors_keep_code_and_message() {
            let e = from_sdk_error(
                "PutItem",
                &service("ProvisionedThroughputExceededException", 400),
            );
            assert_eq!(e.operation, "PutItem");
            assert_eq!(e.kind, PortErrorKind::Throttled);
            assert_eq!(
                e.message,
                "ProvisionedThroughputExceededException: the service said no"
            );
            let e = from_sdk_error("PutItem", &service("SomethingNew", 502));
            assert_eq!(e.kind, PortErrorKind::Unavailable);
            let e = from_sdk_error("PutItem", &service("SomethingNew", 400));
            assert_eq!(e.kind, PortErrorKind::Other);
        }

        #[test]
        fn transport_failures_are_unavailable() {
            let timeout: SdkError<PutItemError> = SdkError::timeout_error("too slow");
            assert_eq!(
                from_sdk_error("PutItem", &timeout).kind,
                PortErrorKind::Unavailable
            );
            let refused: SdkError<PutItemError> =
                SdkError::dispatch_failure(ConnectorError::io("connection refused".into()));
            let e = from_sdk_error("PutItem", &refused);
            assert_eq!(e.kind, PortErrorKind::Unavailable);
            assert!(e.message.contains("connection refused"), "{}", e.message);
            let unreadable: SdkError<PutItemError> =
                SdkError::response_error("truncated", response(503));
            assert_eq!(
                from_sdk_error("PutItem", &unreadable).kind,
                PortErrorKind::Unavailable
            );
            let unreadable: SdkError<PutItemError> =
                SdkError::response_error("truncated", response(200));
            assert_eq!(
                from_sdk_error("PutItem", &unreadable).kind,
                PortErrorKind::Other
            );
            let unbuilt: SdkError<PutItemError> = SdkError::construction_failure("no table");
            assert_eq!(
                from_sdk_error("PutItem", &unbuilt).kind,
                PortErrorKind::Other
            );
        }
    }
}
