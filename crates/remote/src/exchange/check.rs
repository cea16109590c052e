//! The checks an exchanged token passes before use: its type, its audience, its actor, its subject and
//! its expiry.
//!
//! The token comes straight from the token endpoint, over the connection this server authenticated to
//! (RFC 8693 §2.2), so its signature is not what is checked here (the API that receives it verifies it).
//! What is checked is that the authorization server issued what was asked for: a token whose `aud` names
//! the requested resource, whose `act.sub` names this server's client, about the same user, still valid.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ExchangeError;
use super::token::ExchangedToken;
use super::types::TokenType;

/// The successful token-exchange answer (RFC 8693 §2.2.1). `Debug` shows no token.
#[derive(Deserialize)]
pub(super) struct Answer {
    access_token: SecretString,
    issued_token_type: Option<String>,
    token_type: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Answer")
            .field("issued_token_type", &self.issued_token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What the issued token must say.
#[derive(Debug)]
pub(super) struct Expected<'a> {
    /// The requested resource (or audience).
    pub(super) audience: &'a str,
    /// This server's client id.
    pub(super) actor: &'a str,
    /// The user the subject token was about.
    pub(super) subject: &'a str,
    /// The requested scopes, used when the answer names none.
    pub(super) scopes: &'a [String],
    /// The requested token type.
    pub(super) token_type: &'a TokenType,
}

/// Checks `answer` against `expected` at `now`; the checked token on success.
pub(super) fn check(
    answer: Answer,
    expected: &Expected<'_>,
    now: SystemTime,
) -> Result<ExchangedToken, ExchangeError> {
    let issued = answer.issued_token_type.as_deref().map(TokenType::parse).ok_or_else(|| {
        ExchangeError::invalid_answer("the answer has no issued_token_type (RFC 8693 §2.2.1)")
    })?;
    if &issued != expected.token_type {
        return Err(ExchangeError::invalid_answer(format!(
            "asked for a {} but was issued a {issued}",
            expected.token_type
        )));
    }
    if !answer.token_type.as_deref().is_some_and(|kind| kind.eq_ignore_ascii_case("bearer")) {
        return Err(ExchangeError::invalid_answer(format!(
            "the token_type is {:?}, not Bearer",
            answer.token_type.as_deref().unwrap_or_default()
        )));
    }
    let claims = jwt_claims(answer.access_token.expose_secret())?;
    if !audiences(&claims).any(|aud| aud == expected.audience) {
        return Err(ExchangeError::invalid_answer(format!(
            "the token's audience is not the requested resource {:?}",
            expected.audience
        )));
    }
    let actor = claims.get("act").and_then(|act| act.get("sub")).and_then(Value::as_str);
    if actor != Some(expected.actor) {
        return Err(ExchangeError::invalid_answer(format!(
            "the token's act.sub is {actor:?}, not this server's client {:?}",
            expected.actor
        )));
    }
    let subject = claims.get("sub").and_then(Value::as_str);
    if subject != Some(expected.subject) {
        return Err(ExchangeError::invalid_answer("the token is about another subject than the caller"));
    }
    let from_claim =
        claims.get("exp").and_then(Value::as_u64).map(|exp| UNIX_EPOCH + Duration::from_secs(exp));
    let from_answer = answer.expires_in.map(|secs| now + Duration::from_secs(secs));
    let expires_at = match (from_claim, from_answer) {
        (Some(a), Some(b)) => a.min(b),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => {
            return Err(ExchangeError::invalid_answer("the token says nothing of when it expires"));
        }
    };
    if expires_at <= now {
        return Err(ExchangeError::invalid_answer("the token has already expired"));
    }
    let scopes = match answer.scope.as_deref() {
        Some(scope) => scope.split_ascii_whitespace().map(str::to_owned).collect(),
        None => expected.scopes.to_vec(),
    };
    Ok(ExchangedToken::new(answer.access_token.expose_secret(), expected.audience, scopes, expires_at)
        .with_details(issued, actor.map(str::to_owned)))
}

/// The claims of a JWT, read without checking its signature (see the module docs for why).
fn jwt_claims(token: &str) -> Result<Map<String, Value>, ExchangeError> {
    let not_jwt = || {
        ExchangeError::invalid_answer(
            "the issued token is not a JWT, so its audience and actor cannot be checked",
        )
    };
    let mut segments = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(not_jwt());
    };
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).map_err(|_| not_jwt())?;
    serde_json::from_slice(&bytes).map_err(|_| not_jwt())
}

fn audiences(claims: &Map<String, Value>) -> impl Iterator<Item = &str> {
    let aud = claims.get("aud");
    let single = aud.and_then(Value::as_str);
    let list = aud.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
    single.into_iter().chain(list)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn jwt(claims: &Value) -> String {
        format!("e30.{}.c2ln", URL_SAFE_NO_PAD.encode(claims.to_string()))
    }

    fn answer(token: &str, extra: &Value) -> Answer {
        let mut body = json!({
            "access_token": token, "token_type": "Bearer", "expires_in": 300,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        serde_json::from_value(body).unwrap()
    }

    const NOW: u64 = 1_800_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            audience: "https://api.example.com",
            actor: "mcp-server",
            subject: "user_ada",
            scopes: &[],
            token_type: &TokenType::AccessToken,
        }
    }

    fn run(claims: &Value, extra: &Value) -> Result<ExchangedToken, ExchangeError> {
        check(answer(&jwt(claims), extra), &expected(), UNIX_EPOCH + Duration::from_secs(NOW))
    }

    fn good() -> Value {
        json!({"sub": "user_ada", "aud": "https://api.example.com", "act": {"sub": "mcp-server"}, "exp": NOW + 120})
    }

    #[test]
    fn a_good_answer_passes_with_the_earliest_expiry() {
        let token = run(&good(), &json!({"scope": "orders:read"})).unwrap();
        assert_eq!(token.expires_at(), UNIX_EPOCH + Duration::from_secs(NOW + 120));
        assert_eq!(token.scopes(), ["orders:read"]);
        assert_eq!(token.actor(), Some("mcp-server"));
        let mut list = good();
        list["aud"] = json!(["https://other.example.com", "https://api.example.com"]);
        assert!(run(&list, &json!({})).is_ok());
    }

    #[test]
    fn each_check_refuses_its_own_failure() {
        let cases: [(&str, Value, Value); 8] = [
            ("audience", json!({"aud": "https://mcp.example.com/mcp"}), json!({})),
            ("act.sub", json!({"act": {"sub": "someone-else"}}), json!({})),
            ("act.sub", json!({"act": null}), json!({})),
            ("subject", json!({"sub": "user_eve"}), json!({})),
            ("expired", json!({"exp": NOW}), json!({})),
            ("issued", json!({}), json!({"issued_token_type": "urn:ietf:params:oauth:token-type:id_token"})),
            ("Bearer", json!({}), json!({"token_type": "N_A"})),
            ("expires", json!({"exp": null}), json!({"expires_in": null})),
        ];
        for (what, change, extra) in cases {
            let mut claims = good();
            for (k, v) in change.as_object().unwrap() {
                claims[k] = v.clone();
            }
            let err = run(&claims, &extra).unwrap_err();
            assert!(matches!(err, ExchangeError::InvalidAnswer { .. }), "{what}: {err:?}");
            assert!(err.to_string().contains(what), "{what}: {err}");
        }
    }

    #[test]
    fn opaque_or_garbage_tokens_are_refused_without_panicking() {
        for token in ["opaque-token", "a.b", "a.!!!.c", "a.b.c.d", "", "e30.bm90IGpzb24.c2ln"] {
            let err = check(answer(token, &json!({})), &expected(), UNIX_EPOCH).unwrap_err();
            assert!(err.to_string().contains("not a JWT"), "{token}: {err}");
        }
    }
}
