//! `mcp-auth token decode|verify`: a token's header and claims (secrets masked), and why the configured
//! verifier would refuse it.

use std::io::Read as _;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use mcp_auth::VerifyError;
use mcp_auth::settings::Settings;
use serde_json::{Map, Value};

use crate::Global;
use crate::output;
use mcp_auth_core::report::chain;

/// The longest token read (from the argument or stdin), in bytes; four times what the verifiers accept.
pub const MAX_INPUT: usize = 4 * mcp_auth::jwt::DEFAULT_MAX_TOKEN_SIZE;

/// How long `token verify` waits for the provider to build and the verifier to answer, each.
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// base64url, padded or not, as JWT segments are sometimes (wrongly) padded.
const SEGMENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Arguments of `mcp-auth token`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  mcp-auth token decode eyJhbGciOi...        header and claims, offline, the signature not checked
  pbpaste | mcp-auth token decode -          read the token from stdin (keeps it out of shell history)
  mcp-auth token verify - < token.txt        ask the configured verifier; exit status 0 accepted, 1 refused")]
pub struct Args {
    /// What to do with the token.
    #[command(subcommand)]
    pub action: Action,
}

/// The `mcp-auth token` actions.
#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Show a JWT's header and claims, secrets masked. Offline: the signature is NOT verified.
    #[command(after_help = "\
Examples:
  mcp-auth token decode eyJhbGciOi...
  mcp-auth token decode - < token.txt

Pass `-` to read the token from stdin, so it stays out of your shell history. A leading `Bearer ` is
ignored. The signature is shown masked, as are claims that look secret (tokens, secrets, passwords, keys).")]
    Decode {
        /// The token, or `-` to read it from stdin (keeps it out of shell history).
        token: String,
    },
    /// Verify a token with the verifier the configuration builds, and say why it would be refused.
    #[command(after_help = "\
Examples:
  MCP_AUTH_PROVIDER=authkit MCP_AUTH_AUTHKIT_DOMAIN=your-app.authkit.app \\
    MCP_AUTH_BASE_URL=https://mcp.example.com mcp-auth token verify - < token.txt

The configuration is read as the server reads it (environment, ./.env, ./mcp-auth.toml). Pass `-` to read
the token from stdin, so it stays out of your shell history. Exit status: 0 accepted, 1 refused or
undecided.")]
    Verify {
        /// The token, or `-` to read it from stdin (keeps it out of shell history).
        token: String,
    },
}

/// Runs `mcp-auth token`.
///
/// # Errors
///
/// When the token cannot be read or decoded, or the configuration does not build a verifier.
pub async fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::Decode { token } => {
            let token = read_token(&token)?;
            for line in decode(&token, SystemTime::now())? {
                output::line(global, &line);
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Verify { token } => {
            let token = read_token(&token)?;
            verify(&token, global).await
        }
    }
}

/// The token from the argument, or stdin for `-`: at most [`MAX_INPUT`] bytes of UTF-8, trimmed, with a
/// leading `Bearer ` removed.
///
/// # Errors
///
/// When stdin cannot be read, the token is empty, too long or not UTF-8.
pub fn read_token(argument: &str) -> anyhow::Result<String> {
    let raw: Vec<u8> = if argument == "-" {
        let mut buffer = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_INPUT as u64 + 1)
            .read_to_end(&mut buffer)
            .context("cannot read the token from stdin")?;
        buffer
    } else {
        argument.as_bytes().to_vec()
    };
    anyhow::ensure!(
        raw.len() <= MAX_INPUT,
        "the token is longer than {MAX_INPUT} bytes: not a token any verifier here accepts (they stop at {})",
        mcp_auth::jwt::DEFAULT_MAX_TOKEN_SIZE
    );
    let text = String::from_utf8(raw).map_err(|err| {
        anyhow::anyhow!(
            "the token is not UTF-8 text (invalid byte at offset {})",
            err.utf8_error().valid_up_to()
        )
    })?;
    let text = text.trim();
    let text = text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).unwrap_or(text).trim();
    anyhow::ensure!(!text.is_empty(), "the token is empty");
    Ok(text.to_owned())
}

/// The lines `token decode` prints for `token`, times relative to `now`.
///
/// # Errors
///
/// When the token is not a JWT, or a segment is not base64url JSON: the message names the segment.
pub fn decode(token: &str, now: SystemTime) -> anyhow::Result<Vec<String>> {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => anyhow::bail!(
            "this is an encrypted JWT (JWE, five segments): its claims cannot be read without the recipient's key"
        ),
        1 => anyhow::bail!(
            "this is an opaque token, not a JWT (no `.`-separated segments): only the authorization server that \
             issued it can say what it holds; `mcp-auth token verify` asks the configured verifier"
        ),
        n => anyhow::bail!("not a JWT: a JWT has three `.`-separated segments, this token has {n}"),
    }
    let header = segment(parts[0], "header")?;
    let claims = segment(parts[1], "payload (claims)")?;
    let signature = SEGMENT
        .decode(parts[2])
        .map_err(|err| anyhow::anyhow!("the signature segment is not base64url: {err}"))?;
    let mut lines = vec![
        "NOT VERIFIED: `token decode` reads the token without checking its signature, issuer, audience or \
         expiry; use `mcp-auth token verify` for that."
            .to_owned(),
        "header:".to_owned(),
        pretty(&Value::Object(header)),
        "claims:".to_owned(),
        pretty(&Value::Object(mask_object(&claims))),
    ];
    lines.push(format!("signature: {} bytes [masked]", signature.len()));
    let unix = now.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    for (claim, label) in [("iat", "issued"), ("nbf", "not before"), ("exp", "expires")] {
        if let Some(at) = claims.get(claim).and_then(Value::as_u64) {
            lines.push(format!("{label}: {at} ({})", relative(at, unix)));
        }
    }
    if claims.get("exp").is_none() {
        lines.push("expires: never (no `exp`): the verifiers here refuse such tokens".to_owned());
    }
    Ok(lines)
}

/// A segment decoded as a JSON object.
fn segment(text: &str, name: &str) -> anyhow::Result<Map<String, Value>> {
    let bytes =
        SEGMENT.decode(text).map_err(|err| anyhow::anyhow!("the {name} segment is not base64url: {err}"))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => anyhow::bail!("the {name} segment is JSON but not an object"),
        Err(err) => anyhow::bail!("the {name} segment is not JSON: {err}"),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// Whether a claim named `name` holds a secret: `client_secret`, `password`, `refresh_token`, `api_key`...
/// (but not `token_type` or `token_use`, which describe a token).
fn secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    ["secret", "password", "passwd", "credential", "code_verifier", "private"]
        .iter()
        .any(|word| name.contains(word))
        || name.ends_with("token")
        || name.ends_with("key")
}

/// Whether a string looks like a credential whatever its claim's name: a JWT, or a long run of key-like
/// characters (API keys such as `sk_live_...`).
fn secret_value(value: &str) -> bool {
    (value.starts_with("eyJ") && value.split('.').count() >= 3)
        || value.starts_with("sk_")
        || value.starts_with("-----BEGIN")
}

fn mask_object(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .map(|(name, value)| {
            let value = if secret_name(name) { masked(value) } else { mask_value(value) };
            (name.clone(), value)
        })
        .collect()
}

fn mask_value(value: &Value) -> Value {
    match value {
        Value::String(text) if secret_value(text) => masked(value),
        Value::Object(map) => Value::Object(mask_object(map)),
        Value::Array(items) => Value::Array(items.iter().map(mask_value).collect()),
        other => other.clone(),
    }
}

fn masked(value: &Value) -> Value {
    match value {
        Value::String(text) => Value::String(format!("[masked: {} characters]", text.chars().count())),
        Value::Null => Value::Null,
        _ => Value::String("[masked]".to_owned()),
    }
}

/// `in 59m 58s` or `3m 2s ago`.
fn relative(at: u64, now: u64) -> String {
    if at >= now { format!("in {}", span(at - now)) } else { format!("{} ago", span(now - at)) }
}

fn span(seconds: u64) -> String {
    let (days, hours, minutes, secs) =
        (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, _) => format!("{minutes}m {secs}s"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// `token verify`: builds the configured verifier and asks it.
async fn verify(token: &str, global: &Global) -> anyhow::Result<ExitCode> {
    let settings = Settings::from_env()?;
    let auth = tokio::time::timeout(VERIFY_TIMEOUT, mcp_auth::McpAuth::from_settings(&settings))
        .await
        .map_err(|_| anyhow::anyhow!("building the provider took more than {} s", VERIFY_TIMEOUT.as_secs()))?
        .context("the configuration does not build a verifier (`mcp-auth doctor` checks it line by line)")?;
    let verifier = auth.verifier();
    let verdict = tokio::time::timeout(VERIFY_TIMEOUT, verifier.verify(token))
        .await
        .map_err(|_| anyhow::anyhow!("the verifier did not answer within {} s", VERIFY_TIMEOUT.as_secs()))?;
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match verdict {
        Ok(access) => {
            output::line(
                global,
                &format!("accepted by the `{}` provider's verifier", auth.provider().name()),
            );
            output::line(global, &format!("subject: {}", access.subject.as_deref().unwrap_or("(none)")));
            if let Some(client) = &access.client_id {
                output::line(global, &format!("client: {client}"));
            }
            output::line(global, &format!("scopes: {}", access.scopes.join(" ")));
            if let Some(issuer) = &access.issuer {
                output::line(global, &format!("issuer: {issuer}"));
            }
            if !access.audience.is_empty() {
                output::line(global, &format!("audience: {}", access.audience.join(" ")));
            }
            match access.expires_at.and_then(|at| at.duration_since(SystemTime::UNIX_EPOCH).ok()) {
                Some(at) => output::line(
                    global,
                    &format!("expires: {} ({})", at.as_secs(), relative(at.as_secs(), now)),
                ),
                None => output::line(global, "expires: not said"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let (verdict, hint) = match &err {
                VerifyError::InsufficientScope { .. } => (
                    "refused (403 insufficient_scope)",
                    "the token is valid but lacks a scope MCP_AUTH_REQUIRED_SCOPES asks for",
                ),
                VerifyError::Unavailable { .. } => (
                    "undecided (503)",
                    "the verifier cannot reach its key source or upstream: `mcp-auth doctor` checks them",
                ),
                _ => ("refused (401 invalid_token)", hint_for(&err)),
            };
            output::line(global, &format!("{verdict}: {}", chain(&err)));
            output::line(global, &format!("what to check: {hint}"));
            output::line(global, &format!("expected resource: {}", auth.resource().as_str()));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// What to look at for a refused token, from the reason's words.
fn hint_for(err: &VerifyError) -> &'static str {
    let text = chain(err).to_ascii_lowercase();
    if text.contains("expired") {
        "the token has expired: get a new one (sign in again, or use the refresh token)"
    } else if text.contains("audience") {
        "the token was issued for another resource: its `aud` must be the resource URL below (or \
         MCP_AUTH_JWT_AUDIENCE); the client must ask for it with the `resource` parameter"
    } else if text.contains("issuer") {
        "the token comes from another authorization server: compare its `iss` with MCP_AUTH_AUTHKIT_DOMAIN or \
         MCP_AUTH_JWT_ISSUER"
    } else if text.contains("kid") || text.contains("key") {
        "no key in the authorization server's JWKS matches the token's `kid`: it was signed by another server or \
         with a key that was removed"
    } else if text.contains("signature") {
        "the signature does not verify: the token was altered, or signed by another server"
    } else {
        "the token is malformed or not a token this server issues: `mcp-auth token decode` shows what it holds"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.{}", engine.encode(header), engine.encode(claims), engine.encode([7u8; 64]))
    }

    #[test]
    fn decode_masks_the_signature_and_secret_claims() {
        let token = jwt(
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"sub":"user_1","exp":2000000000,"refresh_token":"rt-very-secret","nested":{"api":"sk_live_abc123"},"token_type":"Bearer","token_use":"access"}"#,
        );
        let text =
            decode(&token, SystemTime::UNIX_EPOCH + Duration::from_secs(1_999_999_000)).unwrap().join("\n");
        assert!(
            text.contains("NOT VERIFIED") && text.contains("\"kid\": \"k1\"") && text.contains("user_1"),
            "{text}"
        );
        assert!(!text.contains("rt-very-secret") && !text.contains("sk_live_abc123"), "{text}");
        assert!(
            text.contains("\"token_type\": \"Bearer\"") && text.contains("\"token_use\": \"access\""),
            "{text}"
        );
        assert!(
            text.contains("signature: 64 bytes [masked]") && !text.contains(token.split('.').nth(2).unwrap())
        );
        assert!(text.contains("expires: 2000000000 (in 16m 40s)"), "{text}");
    }

    #[test]
    fn hostile_tokens_get_clear_errors() {
        for (token, expected) in [
            ("opaque-token-value", "opaque token"),
            ("a.b", "three"),
            ("a.b.c.d.e", "encrypted JWT"),
            ("!!!.e30.AA", "header segment is not base64url"),
            ("e30.!!!.AA", "payload (claims) segment is not base64url"),
            ("e30.WzFd.AA", "not an object"),
            ("e30.e30.***", "signature segment"),
            ("bm90IGpzb24.e30.AA", "header segment is not JSON"),
        ] {
            let err = decode(token, SystemTime::now()).unwrap_err().to_string();
            assert!(err.contains(expected), "{token}: {err}");
        }
        assert!(read_token(&"a".repeat(MAX_INPUT + 1)).unwrap_err().to_string().contains("longer than"));
        assert!(read_token("  ").unwrap_err().to_string().contains("empty"));
        assert_eq!(read_token("Bearer abc\n").unwrap(), "abc");
    }
}
