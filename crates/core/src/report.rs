//! Error messages for people: an error with its causes on one line.

/// `error` and its causes, `outer: inner: innermost`, skipping a cause whose message its parent's already
/// ends with (many errors repeat their source).
///
/// # Examples
///
/// ```
/// let inner = std::io::Error::other("connection refused");
/// let outer = std::io::Error::new(std::io::ErrorKind::Other, inner);
/// assert_eq!(mcp_auth_core::report::chain(&outer), "connection refused");
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("cannot reach Redis")]
/// struct Unreachable(#[source] std::io::Error);
/// let error = Unreachable(std::io::Error::other("connection refused"));
/// assert_eq!(mcp_auth_core::report::chain(&error), "cannot reach Redis: connection refused");
/// ```
#[must_use]
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(current) = cause {
        let message = current.to_string();
        if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = current.source();
    }
    text
}
