//! Strict decoding of a compact JWS: exactly three segments, canonical unpadded base64url, JSON objects
//! without duplicate member names at any depth.

use std::cell::RefCell;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::{JwtError, Part};

/// The three segments of a compact JWS, borrowed from the token.
#[derive(Debug)]
pub(crate) struct Segments<'a> {
    /// `header.payload`, the signed message.
    pub(crate) message: &'a str,
    /// The encoded payload.
    pub(crate) payload: &'a str,
    /// The encoded signature.
    pub(crate) signature: &'a str,
    /// The decoded header object.
    pub(crate) header: Map<String, Value>,
}

/// Splits `token` into its segments and decodes the header strictly.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, JwtError> {
    let found = token.bytes().filter(|b| *b == b'.').count() + 1;
    if found != 3 {
        return Err(JwtError::SegmentCount { found });
    }
    let (message, signature) = token.rsplit_once('.').ok_or(JwtError::SegmentCount { found })?;
    let (header, payload) = message.split_once('.').ok_or(JwtError::SegmentCount { found })?;
    let header = decode_object(header, Part::Header)?;
    Ok(Segments { message, payload, signature, header })
}

/// Decodes one base64url segment into a JSON object, refusing duplicate member names.
pub(crate) fn decode_object(segment: &str, part: Part) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|source| JwtError::Base64 { part, source })?;
    parse_object(&bytes, part)
}

/// Parses `bytes` as one JSON object, refusing duplicate member names at any depth.
pub(crate) fn parse_object(bytes: &[u8], part: Part) -> Result<Map<String, Value>, JwtError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed { duplicate: &duplicate }.deserialize(&mut de).and_then(|value| {
        de.end()?;
        Ok(value)
    });
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(JwtError::Json { part, source: de::Error::custom("expected a JSON object") }),
        Err(source) => match duplicate.into_inner() {
            Some(name) => Err(JwtError::DuplicateKey { part, name }),
            None => Err(JwtError::Json { part, source }),
        },
    }
}

#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    duplicate: &'a RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let message = format!("duplicate member {key:?}");
                *self.duplicate.borrow_mut() = Some(key);
                return Err(de::Error::custom(message));
            }
            let value = access.next_value_seed(self)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn parses_a_plain_object() {
        let map =
            parse_object(br#"{"a":1,"b":[1,{"c":null}],"d":"x","e":1.5,"f":-3}"#, Part::Payload).unwrap();
        assert_eq!(map.len(), 5);
        assert_eq!(map["e"], Value::from(1.5));
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        for json in [r#"{"a":1,"a":2}"#, r#"{"x":{"b":1,"b":1}}"#, r#"{"x":[{"c":1,"c":2}]}"#] {
            match parse_object(json.as_bytes(), Part::Payload) {
                Err(JwtError::DuplicateKey { part: Part::Payload, .. }) => {}
                other => panic!("{json}: {other:?}"),
            }
        }
        // Escaped spellings of the same name are the same name.
        assert!(matches!(
            parse_object(br#"{"sub":"a","s\u0075b":"b"}"#, Part::Payload),
            Err(JwtError::DuplicateKey { name, .. }) if name == "sub"
        ));
    }

    #[test]
    fn refuses_non_objects_and_trailing_data() {
        for json in ["[1]", "\"x\"", "{} {}", "{", "", "{\"a\":1}x"] {
            assert!(
                matches!(parse_object(json.as_bytes(), Part::Header), Err(JwtError::Json { .. })),
                "{json}"
            );
        }
    }

    #[test]
    fn split_checks_segment_count_and_base64() {
        let h = b64(r#"{"alg":"RS256"}"#);
        assert!(matches!(split("a.b"), Err(JwtError::SegmentCount { found: 2 })));
        assert!(matches!(split(&format!("{h}.p.s.x")), Err(JwtError::SegmentCount { found: 4 })));
        assert!(matches!(split(&format!("{h}=.p.s")), Err(JwtError::Base64 { part: Part::Header, .. })));
        assert!(matches!(split("e30+.p.s"), Err(JwtError::Base64 { .. })));
        let token = format!("{h}.cGF5.c2ln");
        let segments = split(&token).unwrap();
        assert_eq!(segments.payload, "cGF5");
        assert_eq!(segments.signature, "c2ln");
        assert_eq!(segments.message, format!("{h}.cGF5"));
        assert_eq!(segments.header["alg"], "RS256");
    }
}
