//! The claim checks: dates, issuer, audience, token use and scopes, and the `AccessToken` they make.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use mcp_auth_core::AccessToken;
use serde_json::{Map, Value};

use super::{Inner, TokenUse};
use crate::error::JwtError;

/// Every claim [`Inner::check_claims`] reads to accept a token or to fill the [`AccessToken`] it returns
/// (its subject, client, issuer, audience, scopes and expiry). [`JwtIssuer`](crate::JwtIssuer) reserves
/// all of them, so an extra claim given to it can never widen scopes or change who the token is for.
/// Keep it in step with `check_claims`.
pub(crate) const CLAIMS_THE_VERIFIER_READS: &[&str] =
    &["iss", "aud", "sub", "client_id", "azp", "cid", "scope", "scp", "iat", "nbf", "exp", "token_use"];

impl Inner {
    /// Whether the (not yet verified) claims say the token has expired: then it is refused before its
    /// signature is checked. Refusing never trusts the claims (a forged token is refused either way, only
    /// the reason differs), and a flood of expired tokens then costs no signature checks.
    pub(super) fn expired_before_signature(&self, claims: &Map<String, Value>, now: u64) -> Option<JwtError> {
        match numeric_date(claims, "exp") {
            Ok(Some(exp)) if now >= exp.saturating_add(self.leeway) => Some(JwtError::Expired { exp, now }),
            _ => None,
        }
    }

    pub(super) fn check_claims(
        &self,
        token: &str,
        claims: Map<String, Value>,
        now: u64,
    ) -> Result<(AccessToken, Option<u64>), JwtError> {
        let exp = numeric_date(&claims, "exp")?;
        match exp {
            Some(exp) if now >= exp.saturating_add(self.leeway) => {
                return Err(JwtError::Expired { exp, now });
            }
            None if self.require_exp => return Err(JwtError::MissingClaim("exp")),
            _ => {}
        }
        if let Some(nbf) = numeric_date(&claims, "nbf")?
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(JwtError::NotYetValid { nbf, now });
        }
        if let Some(iat) = numeric_date(&claims, "iat")?
            && iat > now.saturating_add(self.leeway)
        {
            return Err(JwtError::IssuedInFuture { iat, now });
        }

        let issuer = string_claim(&claims, "iss")?;
        if !self.issuers.is_empty() {
            match &issuer {
                None => return Err(JwtError::MissingClaim("iss")),
                Some(iss) if !self.issuers.iter().any(|accepted| accepted == iss) => {
                    return Err(JwtError::WrongIssuer { found: iss.clone() });
                }
                Some(_) => {}
            }
        }

        let audience = match claims.get("aud") {
            None => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::InvalidClaim { claim: "aud", reason: "array items must be strings" })?,
            Some(_) => {
                return Err(JwtError::InvalidClaim { claim: "aud", reason: "must be a string or an array" });
            }
        };
        if !self.audiences.is_empty() {
            if audience.is_empty() {
                return Err(JwtError::MissingClaim("aud"));
            }
            if !audience.iter().any(|aud| self.audiences.contains(aud)) {
                return Err(JwtError::WrongAudience { found: audience });
            }
        }

        let token_use = string_claim(&claims, "token_use")?;
        match (self.token_use, token_use.as_deref()) {
            (TokenUse::Access, None | Some("access"))
            | (TokenUse::OwnAccess, Some("access"))
            | (TokenUse::Refresh, Some("refresh")) => {}
            (TokenUse::Access | TokenUse::OwnAccess, found) => {
                return Err(JwtError::WrongTokenUse { expected: "access", found: found.map(str::to_owned) });
            }
            (TokenUse::Refresh, found) => {
                return Err(JwtError::WrongTokenUse { expected: "refresh", found: found.map(str::to_owned) });
            }
        }

        let mut scopes = scope_claim(&claims, "scope")?;
        for scope in scope_claim(&claims, "scp")? {
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        let missing: Vec<String> =
            self.scope_check.missing(&self.required_scopes, &scopes).into_iter().map(str::to_owned).collect();
        if !missing.is_empty() {
            return Err(JwtError::InsufficientScope { required: self.required_scopes.clone(), missing });
        }

        let subject = string_claim(&claims, "sub")?;
        let client_id = match string_claim(&claims, "client_id")? {
            Some(id) => Some(id),
            None => match string_claim(&claims, "azp")? {
                Some(id) => Some(id),
                None => string_claim(&claims, "cid")?,
            },
        };

        let mut access = AccessToken::new(token).with_scopes(scopes).with_audience(audience);
        access.subject = subject;
        access.client_id = client_id;
        access.issuer = issuer;
        access.expires_at = exp.map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
        access.claims = Arc::new(claims);
        Ok((access, exp))
    }
}

/// The latest NumericDate accepted, 9999-12-31T23:59:59Z: no real token expires later, and a `SystemTime`
/// cannot hold every `u64` of seconds (a signed `exp` of 1.8e19 once panicked making the token's
/// `expires_at`; found by the `jwt_verify` fuzz target).
const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// A NumericDate claim as whole seconds; fractions are truncated, negative, non-numeric and
/// after-year-9999 values refused.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, JwtError> {
    let seconds = match claims.get(name) {
        None => return Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                v
            } else {
                match n.as_f64() {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(f) if (0.0..1.8e19).contains(&f) => f as u64,
                    _ => {
                        return Err(JwtError::InvalidClaim {
                            claim: name,
                            reason: "must be a non-negative number",
                        });
                    }
                }
            }
        }
        Some(_) => return Err(JwtError::InvalidClaim { claim: name, reason: "must be a number" }),
    };
    if seconds > MAX_NUMERIC_DATE {
        return Err(JwtError::InvalidClaim { claim: name, reason: "must be a date before the year 10000" });
    }
    Ok(Some(seconds))
}

fn string_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<String>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JwtError::InvalidClaim { claim: name, reason: "must be a string" }),
    }
}

fn scope_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Vec<String>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split_whitespace().map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtError::InvalidClaim { claim: name, reason: "array items must be strings" }),
        Some(_) => {
            Err(JwtError::InvalidClaim { claim: name, reason: "must be a string or an array of strings" })
        }
    }
}
