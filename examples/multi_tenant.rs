//! Multi-tenant tools: each caller sees only their organization's data. An rmcp MCP server protected by
//! AuthKit (`AuthKitProvider`) keeps notes per organization in memory; `list_notes` and `add_note` work
//! on the organization of the caller's token (the `org_id` claim AuthKit issues for the session's
//! organization, read as `Caller::organization_id`), never on one named in the arguments, so no
//! argument can reach another tenant's notes. A caller whose token names no organization gets a clear MCP
//! error (-32003, "this tool needs an organization...").
//!
//! | tool | what it does |
//! |---|---|
//! | `list_notes` | the notes of the caller's organization, as `{organization, notes}` |
//! | `add_note` `{"text": "..."}` | adds a note (1 to 1,000 characters) to the caller's organization |
//!
//! Configured from the environment (or a `.env` file), as `authkit_remote`:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_AUTHKIT_DOMAIN` | (required) | your AuthKit domain, or the dev IdP's URL |
//! | `MCP_AUTH_BASE_URL` | `http://<MCP_AUTH_LISTEN>` | this server's public URL |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//!
//! Try it against the dev IdP and its users in `crates/demo/dev-idp-users.toml` (Ada and Lin in
//! `org_analytical`, Grace in `org_babbage`, Tim in none; passwords are their first names):
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --config crates/demo/dev-idp-users.toml &
//! MCP_AUTH_AUTHKIT_DOMAIN=http://127.0.0.1:9400 just example multi_tenant
//! ```
//!
//! then connect the MCP Inspector to `http://127.0.0.1:8000/mcp`. `just example multi_tenant
//! --self-check` needs nothing running: it starts the dev IdP with the same users and this server on free
//! loopback ports, signs in as Ada, Lin, Grace and Tim with the rmcp client, and checks that each sees
//! only their own organization's notes and that Tim is refused. One line per check; the exit status is 0
//! only if all behaved.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, bail, ensure};
use axum::Router;
use mcp_auth_core::settings::Settings;
use mcp_auth_examples::checks::Checks;
use mcp_auth_examples::client::{self, McpSession};
use mcp_auth_examples::run::{self, Mode};
use mcp_auth_examples::server::{authkit_mount, authkit_provider};
use mcp_auth_remote::rmcp::{Caller, FORBIDDEN};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::{Value, json};

/// The longest note `add_note` takes, in characters.
const MAX_NOTE_CHARS: usize = 1_000;

/// Notes by organization id, shared by every session of this server.
#[derive(Debug, Clone, Default)]
struct TenantNotes(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl TenantNotes {
    fn seeded() -> Self {
        let store = Self::default();
        store.add("org_analytical", "Analytical: engine design review on Monday".to_owned());
        store.add("org_babbage", "Babbage: payroll figures, confidential".to_owned());
        store
    }

    fn list(&self, org: &str) -> Vec<String> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).get(org).cloned().unwrap_or_default()
    }

    fn add(&self, org: &str, text: String) -> usize {
        let mut notes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let list = notes.entry(org.to_owned()).or_default();
        list.push(text);
        list.len()
    }
}

/// The arguments of `add_note`.
#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct AddNote {
    /// The note, 1 to 1,000 characters.
    text: String,
}

#[derive(Debug, Clone)]
struct TenantServer {
    notes: TenantNotes,
}

/// The caller's organization, from their token; an MCP error when it names none.
fn organization(caller: &Caller) -> Result<&str, ErrorData> {
    caller.organization_id.as_deref().ok_or_else(|| {
        ErrorData::new(
            FORBIDDEN,
            "this tool needs an organization: sign in to one (the access token has no org_id)",
            Some(json!({"required": "organization"})),
        )
    })
}

#[tool_router]
impl TenantServer {
    #[tool(description = "List the notes of your organization.")]
    async fn list_notes(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        let org = organization(&caller)?;
        let answer = json!({"organization": org, "notes": self.notes.list(org)});
        Ok(CallToolResult::success(vec![ContentBlock::json(answer)?]))
    }

    #[tool(description = "Add a note (1 to 1,000 characters) to your organization.")]
    async fn add_note(
        &self,
        caller: Caller,
        Parameters(AddNote { text }): Parameters<AddNote>,
    ) -> Result<CallToolResult, ErrorData> {
        let org = organization(&caller)?;
        let length = text.trim().chars().count();
        if length == 0 || length > MAX_NOTE_CHARS {
            return Err(ErrorData::invalid_params(
                format!("a note has 1 to {MAX_NOTE_CHARS} characters, this one {length}"),
                None,
            ));
        }
        let count = self.notes.add(org, text.trim().to_owned());
        tracing::info!(user = %caller.user_id, org, "note added");
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "added to {org}, which has {count} note(s)"
        ))]))
    }
}

#[tool_handler]
impl ServerHandler for TenantServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-multi-tenant-example", env!("CARGO_PKG_VERSION")))
            .with_instructions("Notes of your organization: list_notes and add_note.")
    }
}

/// The tenant notes server behind AuthKit, configured from `settings`, for a server listening on `listen`.
fn app(settings: &Settings, listen: SocketAddr) -> anyhow::Result<(Router, String)> {
    let provider = authkit_provider(settings, listen, "mcp-auth multi-tenant example")?;
    let notes = TenantNotes::seeded();
    let app = authkit_mount(&provider, listen, move || TenantServer { notes: notes.clone() })?;
    Ok((app, provider.resource().to_string()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mode = Mode::from_args()?;
    run::init_tracing(mode);
    if mode == Mode::SelfCheck {
        return self_check().await;
    }
    let settings = Settings::from_env()?;
    let listen = run::listen_address(&settings)?;
    let (app, mcp_url) = app(&settings, listen)?;
    tracing::info!(mcp = %mcp_url, "multi-tenant MCP server is listening");
    run::serve(listen, app).await
}

async fn self_check() -> anyhow::Result<()> {
    let idp = mcp_auth_examples::dev_idp::start_for_self_check().await?;
    let (listener, address, base_url) = run::loopback_listener().await?;
    let settings = Settings::from_pairs([
        ("MCP_AUTH_AUTHKIT_DOMAIN", idp.url()),
        ("MCP_AUTH_BASE_URL", base_url.as_str()),
    ]);
    let (app, mcp_url) = app(&settings, address)?;
    let server = run::spawn(listener, app);
    println!("multi_tenant self-check: dev IdP {}, MCP server {mcp_url}", idp.url());

    let mut checks = Checks::new();
    let mut sessions = Vec::new();
    for who in ["ada", "lin", "grace", "tim"] {
        let session = checks
            .run(&format!("sign in as {who} with the rmcp client"), async {
                let (session, _) = client::sign_in(&mcp_url, &format!("{who}@example.com")).await?;
                Ok((session, "connected".to_owned()))
            })
            .await;
        sessions.push(session);
    }
    let [Some(ada), Some(lin), Some(grace), Some(tim)] = sessions.as_slice() else {
        checks.skip("the tenant checks", "a sign-in failed");
        server.abort();
        return checks.finish();
    };

    checks
        .run("ada adds a note to her organization", async {
            let result =
                client::call_with(ada, "add_note", json!({"text": "ada: the analytical plan"})).await?;
            let text = client::text_of(&result).unwrap_or_default();
            ensure!(text.contains("org_analytical"), "added elsewhere: {text}");
            Ok(((), text))
        })
        .await;
    checks
        .run("grace adds a note to hers", async {
            let result =
                client::call_with(grace, "add_note", json!({"text": "grace: compiler notes"})).await?;
            let text = client::text_of(&result).unwrap_or_default();
            ensure!(text.contains("org_babbage"), "added elsewhere: {text}");
            Ok(((), text))
        })
        .await;
    checks
        .run("ada sees org_analytical's notes and none of org_babbage's", async {
            expect_notes(
                ada,
                "org_analytical",
                &["engine design review", "ada: the analytical plan"],
                &["payroll", "grace:"],
            )
            .await
        })
        .await;
    checks
        .run("grace sees org_babbage's notes and none of org_analytical's", async {
            expect_notes(
                grace,
                "org_babbage",
                &["payroll", "grace: compiler notes"],
                &["engine design", "ada:"],
            )
            .await
        })
        .await;
    checks
        .run("lin, in ada's organization, sees ada's note", async {
            expect_notes(lin, "org_analytical", &["ada: the analytical plan"], &["grace:"]).await
        })
        .await;
    for tool in ["list_notes", "add_note"] {
        checks
            .run(&format!("tim (no organization) calls {tool}: refused, needs an organization"), async {
                match client::call_with(tim, tool, json!({"text": "tim: anyone there?"})).await {
                    Ok(result) => bail!("allowed: {:?}", client::text_of(&result)),
                    Err(err) => {
                        let data =
                            client::mcp_error(&err).with_context(|| format!("not an MCP error: {err}"))?;
                        ensure!(data.code == FORBIDDEN, "code {} instead of {}", data.code.0, FORBIDDEN.0);
                        ensure!(data.message.contains("needs an organization"), "unclear: {}", data.message);
                        Ok(((), format!("{} {}", data.code.0, data.message)))
                    }
                }
            })
            .await;
    }
    checks
        .run("ada adds an empty note: a clear invalid-params error", async {
            match client::call_with(ada, "add_note", json!({"text": "   "})).await {
                Ok(result) => bail!("allowed: {:?}", client::text_of(&result)),
                Err(err) => {
                    let data = client::mcp_error(&err).with_context(|| format!("not an MCP error: {err}"))?;
                    ensure!(data.message.contains("1 to 1000 characters"), "unclear: {}", data.message);
                    Ok(((), format!("{} {}", data.code.0, data.message)))
                }
            }
        })
        .await;
    for session in sessions.into_iter().flatten() {
        let _ = session.cancel().await;
    }
    idp.shutdown().await;
    server.abort();
    checks.finish()
}

/// Lists the caller's notes and expects `org`, every one of `present` and none of `absent` (substrings).
async fn expect_notes(
    session: &McpSession,
    org: &str,
    present: &[&str],
    absent: &[&str],
) -> anyhow::Result<((), String)> {
    let text = client::text_of(&client::call(session, "list_notes").await?).unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).context("list_notes did not answer JSON")?;
    ensure!(answer["organization"] == org, "the notes of {} instead of {org}", answer["organization"]);
    let notes: Vec<&str> =
        answer["notes"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for wanted in present {
        ensure!(notes.iter().any(|note| note.contains(wanted)), "missing {wanted:?} in {notes:?}");
    }
    for unwanted in absent {
        ensure!(
            !notes.iter().any(|note| note.contains(unwanted)),
            "another tenant's {unwanted:?} in {notes:?}"
        );
    }
    Ok(((), text))
}
