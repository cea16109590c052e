//! Reading an HTTP body into memory, refusing it once it passes a size limit: the one helper for
//! upstream answers (a JWKS document, authorization server metadata, a userinfo answer) and for request
//! bodies a server accepts.
//!
//! It works with any [`http_body::Body`]: a `reqwest` response (`http::Response::from(response)`), an
//! axum request body, a hyper body. A `Content-Length` above the limit, or a body whose exact size is
//! known to be above it, is refused before a byte is read; otherwise the body is read through
//! [`http_body_util::Limited`], which stops at the first frame that passes the limit. Either way the
//! error is [`BodyError::TooLarge`], kept apart from [`BodyError::Read`] (the connection or the body
//! failed), so callers can answer 413 for the one and 502/503 for the other.

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::Body;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::BoxError;

/// Why a body could not be read within its limit.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use http::HeaderMap;
/// use http_body_util::Full;
/// use mcp_auth_core::body::{BodyError, read_limited};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let status = match read_limited(&HeaderMap::new(), Full::new(Bytes::from(vec![0u8; 2048])), 1024).await {
///     Ok(_) => 200,
///     Err(BodyError::TooLarge { .. }) => 413,
///     Err(_) => 400,
/// };
/// assert_eq!(status, 413);
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is larger than the limit: its `Content-Length` or known size says so, or reading it
    /// passed the limit.
    #[error("body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Reading the body failed (connection closed, timeout, an error of the body itself).
    #[error("reading the body failed")]
    Read(#[source] BoxError),
}

impl BodyError {
    /// Whether the body was refused for its size (rather than because reading it failed).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::body::BodyError;
    ///
    /// assert!(BodyError::TooLarge { limit: 10 }.is_too_large());
    /// assert!(!BodyError::Read("connection reset".into()).is_too_large());
    /// ```
    #[must_use]
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }
}

/// Reads `body` into memory, refusing it past `limit` bytes; `headers` are the message's, for
/// `Content-Length`.
///
/// # Errors
///
/// [`BodyError::TooLarge`] when the `Content-Length`, the body's known size or the bytes read pass
/// `limit`; [`BodyError::Read`] when reading fails.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use http::HeaderMap;
/// use http_body_util::Full;
/// use mcp_auth_core::body::{BodyError, read_limited};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let headers = HeaderMap::new();
/// let small = read_limited(&headers, Full::new(Bytes::from_static(b"{\"keys\":[]}")), 64).await.unwrap();
/// assert_eq!(&small[..], b"{\"keys\":[]}");
/// let big = read_limited(&headers, Full::new(Bytes::from(vec![b'x'; 65])), 64).await;
/// assert!(matches!(big, Err(BodyError::TooLarge { limit: 64 })));
/// # });
/// ```
pub async fn read_limited<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let too_large = BodyError::TooLarge { limit };
    let limit_u64 = u64::try_from(limit).unwrap_or(u64::MAX);
    if declared_length(headers).is_some_and(|length| length > limit_u64)
        || body.size_hint().lower() > limit_u64
    {
        return Err(too_large);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large),
        Err(err) => Err(BodyError::Read(err)),
    }
}

/// Reads the body of `response` with [`read_limited`]. For `reqwest`, convert first:
/// `read_response_limited(http::Response::from(response), limit)` (the request's timeout still applies
/// while the body is read).
///
/// # Errors
///
/// As [`read_limited`].
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use mcp_auth_core::body::read_response_limited;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let response = http::Response::builder()
///     .header("content-length", "1000000")
///     .body(Full::new(Bytes::from_static(b"short, but the header says otherwise")))
///     .unwrap();
/// let err = read_response_limited(response, 1024).await.unwrap_err();
/// assert!(err.is_too_large());
/// # });
/// ```
pub async fn read_response_limited<B>(response: http::Response<B>, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    read_limited(&parts.headers, body, limit).await
}

/// Reads the body of `request` with [`read_limited`], for a server that accepts bodies up to `limit`
/// bytes (answer [`BodyError::TooLarge`] with 413).
///
/// # Errors
///
/// As [`read_limited`].
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use mcp_auth_core::body::read_request_limited;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let form = Full::new(Bytes::from_static(b"grant_type=refresh_token"));
/// let request = http::Request::post("/token").body(form).unwrap();
/// let form = read_request_limited(request, 16 * 1024).await.unwrap();
/// assert_eq!(&form[..], b"grant_type=refresh_token");
/// # });
/// ```
pub async fn read_request_limited<B>(request: http::Request<B>, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = request.into_parts();
    read_limited(&parts.headers, body, limit).await
}

/// The `Content-Length` the message declares, if it declares exactly one valid length. A missing,
/// repeated or malformed header is left to the limit applied while reading.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http::HeaderValue;
    use http_body::{Frame, SizeHint};
    use http_body_util::Full;

    use super::*;

    /// A body that yields its frames one by one and claims no size, like a chunked response.
    struct Chunked(VecDeque<Result<Frame<Bytes>, BoxError>>);

    impl Body for Chunked {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.pop_front())
        }
    }

    /// `chunks`, then an error if `fail` is set.
    fn chunked(chunks: &[&'static [u8]], fail: bool) -> Chunked {
        let mut frames: VecDeque<Result<Frame<Bytes>, BoxError>> =
            chunks.iter().map(|c| Ok(Frame::data(Bytes::from_static(c)))).collect();
        if fail {
            frames.push_back(Err("connection reset by peer".into()));
        }
        Chunked(frames)
    }

    /// A body that must never be polled: proves a refusal happened before reading.
    struct Untouchable(u64);

    impl Body for Untouchable {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            panic!("the body was read although its size was already known to be too large");
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(self.0)
        }
    }

    fn length(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.append(CONTENT_LENGTH, HeaderValue::from_static(value));
        headers
    }

    #[tokio::test]
    async fn reads_bodies_up_to_the_limit_exactly() {
        let body =
            read_limited(&HeaderMap::new(), chunked(&[b"abc", b"def", b"gh"], false), 8).await.unwrap();
        assert_eq!(&body[..], b"abcdefgh");
        let empty = read_limited(&HeaderMap::new(), Full::new(Bytes::new()), 0).await.unwrap();
        assert!(empty.is_empty());
    }

    #[tokio::test]
    async fn a_body_that_grows_past_the_limit_is_too_large() {
        let err =
            read_limited(&HeaderMap::new(), chunked(&[b"abc", b"def", b"ghi"], false), 8).await.unwrap_err();
        assert!(matches!(err, BodyError::TooLarge { limit: 8 }), "{err:?}");
        assert_eq!(err.to_string(), "body larger than the limit of 8 bytes");
        // Past the limit even when the body would fail later: the size is what is reported.
        let err = read_limited(&HeaderMap::new(), chunked(&[b"0123456789"], true), 8).await.unwrap_err();
        assert!(err.is_too_large(), "{err:?}");
    }

    #[tokio::test]
    async fn content_length_and_known_sizes_are_refused_before_reading() {
        let err = read_limited(&length("9"), Untouchable(9), 8).await.unwrap_err();
        assert!(err.is_too_large());
        let err = read_limited(&HeaderMap::new(), Untouchable(9), 8).await.unwrap_err();
        assert!(err.is_too_large(), "the body's exact size hint alone is enough");
        // A declared length that lies low does not help: the limit holds while reading.
        let err = read_limited(&length("2"), chunked(&[b"0123456789"], false), 8).await.unwrap_err();
        assert!(err.is_too_large());
    }

    #[tokio::test]
    async fn malformed_or_repeated_content_length_leaves_the_limit_to_reading() {
        let mut repeated = length("100");
        repeated.append(CONTENT_LENGTH, HeaderValue::from_static("3"));
        for headers in [length("banana"), length("-1"), repeated] {
            assert_eq!(declared_length(&headers), None, "{headers:?}");
            let body = read_limited(&headers, chunked(&[b"abc"], false), 8).await.unwrap();
            assert_eq!(&body[..], b"abc");
        }
        assert_eq!(declared_length(&length(" 42 ")), Some(42));
    }

    #[tokio::test]
    async fn a_failing_body_is_a_read_error_with_its_cause() {
        let err = read_limited(&HeaderMap::new(), chunked(&[b"abc"], true), 8).await.unwrap_err();
        assert!(matches!(err, BodyError::Read(_)), "{err:?}");
        assert!(!err.is_too_large());
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("connection reset by peer"));
    }

    #[tokio::test]
    async fn requests_and_responses_use_their_own_headers() {
        let response = http::Response::builder().header(CONTENT_LENGTH, "20").body(Untouchable(20)).unwrap();
        assert!(read_response_limited(response, 10).await.unwrap_err().is_too_large());
        let request = http::Request::post("/").header(CONTENT_LENGTH, "20").body(Untouchable(20)).unwrap();
        assert!(read_request_limited(request, 10).await.unwrap_err().is_too_large());
        let request = http::Request::post("/").body(Full::new(Bytes::from_static(b"ok"))).unwrap();
        assert_eq!(&read_request_limited(request, 10).await.unwrap()[..], b"ok");
    }
}
