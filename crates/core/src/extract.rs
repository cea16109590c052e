//! Axum extractors for [`AccessToken`] and [`AuthUser`], and the role/permission guard layer.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::future::{BoxFuture, FutureExt, Ready, ready};
use http::request::Parts;
use http::{Request, StatusCode};
use tower::{Layer, Service};

use crate::bearer::json_response;
use crate::challenge::oauth_error_body;
use crate::token::{AccessToken, AuthUser};
use crate::verifier::BoxError;

/// Why an extractor or guard refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No verified token on the request: the route is not behind a
    /// [`BearerAuthLayer`](crate::BearerAuthLayer). A server bug, answered with 500.
    #[error("no verified token on this request; is the route behind BearerAuthLayer?")]
    NotAuthenticated,
    /// The token names no subject or client, so there is no user to speak of. Answered with 403.
    #[error("the token names no user")]
    NoUser,
    /// The caller lacks a role or permission. Answered with 403.
    #[error("forbidden: this operation requires {0}")]
    Forbidden(String),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::NotAuthenticated => {
                tracing::error!("an auth extractor ran on a route without BearerAuthLayer");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &oauth_error_body("server_error", "internal error"),
                )
            }
            Self::NoUser => json_response(
                StatusCode::FORBIDDEN,
                &oauth_error_body("forbidden", "the token names no user"),
            ),
            Self::Forbidden(what) => json_response(
                StatusCode::FORBIDDEN,
                &oauth_error_body("forbidden", &format!("this operation requires {what}")),
            ),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AccessToken {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<AccessToken>().cloned().ok_or(AuthRejection::NotAuthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AccessToken {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AccessToken>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = parts.extensions.get::<AccessToken>().ok_or(AuthRejection::NotAuthenticated)?;
        token.user().ok_or(AuthRejection::NoUser)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthUser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<AccessToken>().and_then(AccessToken::user))
    }
}

/// What a [`RequireAuthLayer`] demands of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// The role.
    Role(String),
    /// At least one of the roles.
    AnyRole(Vec<String>),
    /// The permission.
    Permission(String),
    /// Every one of the permissions.
    AllPermissions(Vec<String>),
}

impl Requirement {
    /// Checks `user` against the requirement.
    ///
    /// # Errors
    ///
    /// [`AuthRejection::Forbidden`] naming what is missing.
    pub fn check(&self, user: &AuthUser) -> Result<(), AuthRejection> {
        let ok = match self {
            Self::Role(role) => user.has_role(role),
            Self::AnyRole(roles) => roles.iter().any(|role| user.has_role(role)),
            Self::Permission(permission) => user.has_permission(permission),
            Self::AllPermissions(permissions) => permissions.iter().all(|p| user.has_permission(p)),
        };
        if ok { Ok(()) } else { Err(AuthRejection::Forbidden(self.to_string())) }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Role(role) => write!(f, "the role '{role}'"),
            Self::AnyRole(roles) => write!(f, "one of the roles '{}'", roles.join("', '")),
            Self::Permission(permission) => write!(f, "the permission '{permission}'"),
            Self::AllPermissions(permissions) => write!(f, "the permissions '{}'", permissions.join("', '")),
        }
    }
}

/// A guard layer: lets a request through only when its verified caller meets a [`Requirement`].
///
/// Put it inside (after) [`BearerAuthLayer`](crate::BearerAuthLayer); a caller who fails the check gets 403
/// with `{"error":"forbidden","error_description":"this operation requires the role 'admin'"}`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, routing::post};
/// use mcp_auth_core::{BearerAuthLayer, RequireAuthLayer, StaticTokenVerifier};
///
/// let admin_routes: Router = Router::new()
///     .route("/admin/reset", post(|| async { "done" }))
///     .layer(RequireAuthLayer::role("admin"))
///     .layer(BearerAuthLayer::new(Arc::new(StaticTokenVerifier::new())));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireAuthLayer {
    requirement: Arc<Requirement>,
}

impl RequireAuthLayer {
    /// Requires `requirement`.
    pub fn new(requirement: Requirement) -> Self {
        Self { requirement: Arc::new(requirement) }
    }

    /// Requires the role.
    pub fn role(role: impl Into<String>) -> Self {
        Self::new(Requirement::Role(role.into()))
    }

    /// Requires at least one of the roles.
    pub fn any_role<I: IntoIterator<Item = S>, S: Into<String>>(roles: I) -> Self {
        Self::new(Requirement::AnyRole(roles.into_iter().map(Into::into).collect()))
    }

    /// Requires the permission.
    pub fn permission(permission: impl Into<String>) -> Self {
        Self::new(Requirement::Permission(permission.into()))
    }

    /// Requires every one of the permissions.
    pub fn all_permissions<I: IntoIterator<Item = S>, S: Into<String>>(permissions: I) -> Self {
        Self::new(Requirement::AllPermissions(permissions.into_iter().map(Into::into).collect()))
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth { inner, requirement: Arc::clone(&self.requirement) }
    }
}

/// The service [`RequireAuthLayer`] wraps around an inner service.
#[derive(Debug, Clone)]
pub struct RequireAuth<S> {
    inner: S,
    requirement: Arc<Requirement>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuth<S>
where
    S: Service<Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = futures_util::future::Either<
        BoxFuture<'static, Result<Response, S::Error>>,
        Ready<Result<Response, S::Error>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let verdict = match request.extensions().get::<AccessToken>() {
            None => Err(AuthRejection::NotAuthenticated),
            Some(token) => {
                token.user().ok_or(AuthRejection::NoUser).and_then(|user| self.requirement.check(&user))
            }
        };
        match verdict {
            Ok(()) => {
                let future = self.inner.call(request);
                futures_util::future::Either::Left(
                    future.map(|result| result.map(|r| r.map(Body::new))).boxed(),
                )
            }
            Err(rejection) => {
                tracing::info!(requirement = %self.requirement, "request refused by guard");
                futures_util::future::Either::Right(ready(Ok(rejection.into_response())))
            }
        }
    }
}
