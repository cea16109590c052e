//! The header policy: `alg` (never `none`, always in the allow-list), `crit`, `typ` and `kid`.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::Inner;
use crate::error::JwtError;

/// The header fields the verifier acts on.
pub(super) struct Header<'a> {
    pub(super) alg: Algorithm,
    pub(super) kid: Option<&'a str>,
}

impl<'a> Header<'a> {
    pub(super) fn read(header: &'a Map<String, Value>, inner: &Inner) -> Result<Self, JwtError> {
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            Some(_) => return Err(JwtError::InvalidHeader(de_error("alg is not a string"))),
            None => return Err(JwtError::InvalidHeader(de_error("alg is missing"))),
        };
        if alg.eq_ignore_ascii_case("none") {
            return Err(JwtError::AlgNone);
        }
        let alg = match alg.parse::<Algorithm>() {
            Ok(parsed) if inner.allows(parsed) => parsed,
            _ => return Err(JwtError::AlgorithmNotAllowed { alg: alg.to_owned() }),
        };
        if let Some(crit) = header.get("crit") {
            // No extension is understood, so any `crit` (even an empty or malformed one) is refused.
            let names = match crit {
                Value::Array(items) => {
                    items.iter().map(|v| v.as_str().unwrap_or("<non-string>").to_owned()).collect()
                }
                _ => vec!["<not an array>".to_owned()],
            };
            return Err(JwtError::UnsupportedCritical { names });
        }
        if let Some(expected) = &inner.required_typ {
            let found = header.get("typ").and_then(Value::as_str);
            if !found.is_some_and(|typ| typ_matches(typ, expected)) {
                return Err(JwtError::WrongType {
                    expected: expected.clone(),
                    found: found.map(str::to_owned),
                });
            }
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err(JwtError::InvalidHeader(de_error("kid is not a string"))),
        };
        Ok(Self { alg, kid })
    }
}

/// `typ` values compare case-insensitively, with an optional `application/` prefix (RFC 7515 §4.1.9).
fn typ_matches(found: &str, expected: &str) -> bool {
    strip_application(found).eq_ignore_ascii_case(strip_application(expected))
}

fn strip_application(typ: &str) -> &str {
    match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    }
}

fn de_error(message: &str) -> serde_json::Error {
    <serde_json::Error as serde::de::Error>::custom(message)
}
