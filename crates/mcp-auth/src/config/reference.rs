//! `docs/configuration.md`, generated from [`catalog::VARIABLES`](super::catalog::VARIABLES).

use std::fmt::Write;

use super::catalog::{Group, VARIABLES};

const INTRO: &str = "\
# Configuration reference

<!-- Generated from crates/mcp-auth/src/config/catalog.rs: run `just config-docs` after changing it. A test
     fails when this file and the table differ. -->

`mcp_auth::from_env()` builds the provider `MCP_AUTH_PROVIDER` names over the store `MCP_AUTH_STORE` names.
Every setting below can come from three places, highest first:

1. the process environment (`MCP_AUTH_BASE_URL=https://mcp.example.com`);
2. a `.env` file in the working directory, same names;
3. a TOML file: the path in `MCP_AUTH_CONFIG`, else `mcp-auth.toml` in the working directory when it
   exists. A key is the variable's name without `MCP_AUTH_`, in lower case (`base_url = \"...\"`), or
   grouped in a table by its first word (`[jwt]` then `issuer = \"...\"`); any other key is refused.
   Lists can be TOML arrays.

A blank value counts as unset in every layer. In `.env`, quote a secret holding `$` with single quotes
(`'...'`): unquoted or double-quoted, `$NAME` is replaced by that variable.

An error names the variable, or the key and the file it was set in, says what is wrong and shows an example;
it never repeats the value, which may be a secret. An unknown key in the TOML file is an error (with the
nearest known key); an unknown `MCP_AUTH_*` variable is logged as a warning.

```toml
# mcp-auth.toml: an MCP server behind Keycloak, state in Redis.
provider = \"jwt\"
base_url = \"https://mcp.example.com\"
store = \"redis\"

[jwt]
issuer = \"https://login.example.com/realms/main\"
algorithms = [\"RS256\", \"ES256\"]

[redis]
url = \"redis://redis.internal:6379\"
```
";

/// The configuration reference, as Markdown: what `docs/configuration.md` holds.
///
/// # Examples
///
/// ```
/// let doc = mcp_auth::config::reference();
/// assert!(doc.contains("| `MCP_AUTH_JWT_ISSUER` | `jwt_issuer` |"));
/// ```
#[must_use]
pub fn reference() -> String {
    let mut doc = String::from(INTRO);
    for group in Group::ALL {
        let _ = write!(doc, "\n## {}\n\n", group.title());
        doc.push_str("| variable | TOML key | values | default | example | meaning |\n");
        doc.push_str("|---|---|---|---|---|---|\n");
        for variable in VARIABLES.iter().filter(|variable| variable.group == group) {
            let key = if variable.in_file {
                format!("`{}`", variable.key())
            } else {
                "(environment only)".to_owned()
            };
            let _ = writeln!(
                doc,
                "| `{}` | {key} | {} | {} | `{}` | {} |",
                variable.var(),
                variable.kind,
                cell(variable.default),
                variable.example,
                cell(variable.description),
            );
        }
    }
    doc
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
