//! The API's error answers: `{"error": {"code": "...", "message": "..."}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::chrome::render::RenderError;
use crate::job::InvalidJob;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    InvalidJob,
    TooLarge,
    Unauthorized,
    BlockedUrl,
    QueueFull,
    PageFailed,
    Timeout,
    ChromeUnavailable,
    ShuttingDown,
    NotFound,
    MethodNotAllowed,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InvalidJob => "invalid_job",
            Code::TooLarge => "too_large",
            Code::Unauthorized => "unauthorized",
            Code::BlockedUrl => "blocked_url",
            Code::QueueFull => "queue_full",
            Code::PageFailed => "page_failed",
            Code::Timeout => "timeout",
            Code::ChromeUnavailable => "chrome_unavailable",
            Code::ShuttingDown => "shutting_down",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Code::InvalidJob => StatusCode::BAD_REQUEST,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::Unauthorized | Code::BlockedUrl => StatusCode::FORBIDDEN,
            Code::QueueFull => StatusCode::TOO_MANY_REQUESTS,
            Code::PageFailed => StatusCode::BAD_GATEWAY,
            Code::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Code::ChromeUnavailable | Code::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Seconds a client should wait before trying again, for answers that invite a retry.
    fn retry_after(self) -> Option<u32> {
        match self {
            Code::QueueFull => Some(1),
            Code::ChromeUnavailable => Some(2),
            Code::ShuttingDown => Some(5),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

impl From<InvalidJob> for ApiError {
    fn from(err: InvalidJob) -> ApiError {
        ApiError::new(Code::InvalidJob, err.to_string())
    }
}

impl From<RenderError> for ApiError {
    fn from(err: RenderError) -> ApiError {
        let code = match &err {
            RenderError::Invalid(_) => Code::InvalidJob,
            RenderError::PageFailed(_) => Code::PageFailed,
            RenderError::ChromeUnavailable(_) | RenderError::NotStarted(_) => {
                Code::ChromeUnavailable
            }
            RenderError::Timeout => Code::Timeout,
            RenderError::Blocked(_) => Code::BlockedUrl,
        };
        ApiError::new(code, err.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code.as_str(), "message": self.message}});
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(seconds) = self.code.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.code);
        response
    }
}
