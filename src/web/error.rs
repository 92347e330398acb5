//! Error mapping: every failure a client can cause answers with a status code and a JSON body
//! carrying a stable `code`, never a panic or an HTML error page.

use serde::Serialize;
use warp::http::StatusCode;
use warp::reject::Reject;
use warp::{Rejection, Reply};

/// A private page was opened without a token: the browser is sent to `/login`.
#[derive(Debug)]
pub struct LoginRequired;

impl warp::reject::Reject for LoginRequired {}

/// A request error on an HTML page, already rendered as a page in the reader's language: a
/// browser reading `/?state=bogus` gets a page to read, not the API's JSON.
#[derive(Debug)]
pub struct HtmlError {
    pub status: StatusCode,
    pub html: String,
}

impl warp::reject::Reject for HtmlError {}

/// An API error with a stable machine-readable code.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Reject for ApiError {}

impl ApiError {
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: message.into(),
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code,
            message: message.into(),
        }
    }

    /// A store failure: 503 while the database is unreachable or unwritable (try again later,
    /// or, for a queued write, not at all), 500 otherwise.
    pub fn store(e: &crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            Self {
                status: StatusCode::SERVICE_UNAVAILABLE,
                code: "store_unavailable",
                message: e.to_string(),
            }
        } else {
            Self::internal(e.to_string())
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: message.into(),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
}

pub fn json_error(status: StatusCode, code: &str, message: &str) -> warp::reply::Response {
    let body = warp::reply::json(&Body {
        error: Inner { code, message },
    });
    warp::reply::with_status(body, status).into_response()
}

/// A rejection carrying an [`ApiError`].
pub fn reject(e: ApiError) -> warp::Rejection {
    warp::reject::custom(e)
}

/// A store failure as a 500 with a JSON body.
pub fn internal(e: crate::store::StoreError) -> warp::Rejection {
    reject(ApiError::store(&e))
}

/// Turns warp's rejections into JSON errors.
pub async fn recover(r: Rejection) -> Result<warp::reply::Response, std::convert::Infallible> {
    let resp = if r.find::<LoginRequired>().is_some() {
        let mut resp = warp::reply::with_status(
            warp::reply::html("<a href=\"/login\">/login</a>"),
            StatusCode::SEE_OTHER,
        )
        .into_response();
        resp.headers_mut().insert(
            warp::http::header::LOCATION,
            warp::http::HeaderValue::from_static("/login"),
        );
        resp
    } else if let Some(e) = r.find::<HtmlError>() {
        warp::reply::with_status(warp::reply::html(e.html.clone()), e.status).into_response()
    } else if let Some(e) = r.find::<ApiError>() {
        json_error(e.status, e.code, &e.message)
    } else if let Some(e) = r.find::<warp::reject::InvalidQuery>() {
        json_error(StatusCode::BAD_REQUEST, "invalid_query", &e.to_string())
    } else if let Some(e) = r.find::<warp::filters::body::BodyDeserializeError>() {
        json_error(StatusCode::BAD_REQUEST, "invalid_body", &e.to_string())
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "request body too large",
        )
    } else if r.find::<warp::reject::UnsupportedMediaType>().is_some() {
        json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json",
        )
    } else if let Some(e) = r.find::<warp::reject::InvalidHeader>() {
        json_error(StatusCode::BAD_REQUEST, "invalid_header", &e.to_string())
    } else if let Some(e) = r.find::<warp::reject::MissingHeader>() {
        json_error(StatusCode::BAD_REQUEST, "missing_header", &e.to_string())
    } else if r.find::<warp::reject::LengthRequired>().is_some() {
        json_error(
            StatusCode::LENGTH_REQUIRED,
            "length_required",
            "send a Content-Length with the body",
        )
    // Last: when a path has a route for another method, warp reports 405 beside the real
    // failure of the route that matched (a bad body, say); that failure is the answer.
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed here",
        )
    } else if r.is_not_found() {
        json_error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such page or resource",
        )
    } else {
        tracing::warn!(rejection = ?r, "unhandled rejection");
        json_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request could not be handled",
        )
    };
    Ok(resp)
}
