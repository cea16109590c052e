//! Tools gated by the roles and permissions in the caller's token: an rmcp MCP server protected by
//! AuthKit (`AuthKitProvider`) whose tools check the verified caller with `Caller::require_permission`
//! and `Caller::require_role` (from `mcp_auth_remote::rmcp`):
//!
//! | tool | who may call it | a refused caller gets |
//! |---|---|---|
//! | `list_notes` | anyone signed in | (nothing to refuse) |
//! | `delete_note` `{"id": 3}` | callers with the permission `notes:delete` | MCP error -32003 "forbidden: this operation requires the permission 'notes:delete'" |
//! | `admin_report` | callers with the role `admin` | MCP error -32003 "forbidden: this operation requires the role 'admin'" |
//!
//! AuthKit puts `role`/`roles` and `permissions` in its access tokens (set them per organization
//! membership in the WorkOS dashboard); the dev identity provider does the same from its users file.
//! A role does not imply a permission here: each tool asks for exactly what it needs.
//!
//! Configured from the environment (or a `.env` file), as `authkit_remote`:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `MCP_AUTH_AUTHKIT_DOMAIN` | (required) | your AuthKit domain, or the dev IdP's URL |
//! | `MCP_AUTH_BASE_URL` | `http://<MCP_AUTH_LISTEN>` | this server's public URL |
//! | `MCP_AUTH_LISTEN` | `127.0.0.1:8000` | the address to listen on |
//!
//! Try it against the dev IdP and its users in `crates/demo/dev-idp-users.toml` (Ada: member; Lin: member
//! with `notes:delete`; Grace: admin with `notes:delete`; passwords are their first names):
//!
//! ```sh
//! cargo run -p mcp-auth-dev-idp -- --config crates/demo/dev-idp-users.toml &
//! MCP_AUTH_AUTHKIT_DOMAIN=http://127.0.0.1:9400 just example roles_and_permissions
//! ```
//!
//! then connect the MCP Inspector to `http://127.0.0.1:8000/mcp` and sign in as each. `just example
//! roles_and_permissions --self-check` needs nothing running: it starts the dev IdP with the same users
//! and this server on free loopback ports, signs in as Ada, Lin and Grace with the rmcp client, and checks
//! every tool's outcome for each (allowed, or refused with the error above and no effect). One line per
//! check; the exit status is 0 only if all behaved.

use std::collections::BTreeMap;
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

/// The permission `delete_note` needs.
const NOTES_DELETE: &str = "notes:delete";
/// The role `admin_report` needs.
const ADMIN: &str = "admin";

/// The notes every session of this server shares, by id.
#[derive(Debug, Clone)]
struct Notes(Arc<Mutex<BTreeMap<u32, String>>>);

impl Notes {
    fn seeded() -> Self {
        let notes = [(1, "Welcome to the team"), (2, "Quarterly plan"), (3, "Old draft, please delete")];
        Self(Arc::new(Mutex::new(notes.into_iter().map(|(id, text)| (id, text.to_owned())).collect())))
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<u32, String>) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The arguments of `delete_note`.
#[derive(Debug, Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct DeleteNote {
    /// The id of the note to delete, as `list_notes` shows it.
    id: u32,
}

#[derive(Debug, Clone)]
struct NotesServer {
    notes: Notes,
}

#[tool_router]
impl NotesServer {
    #[tool(description = "List the notes, as [{id, text}]. Anyone signed in may call it.")]
    async fn list_notes(&self, _caller: Caller) -> Result<CallToolResult, ErrorData> {
        let list: Vec<Value> =
            self.notes.with(|notes| notes.iter().map(|(id, text)| json!({"id": id, "text": text})).collect());
        Ok(CallToolResult::success(vec![ContentBlock::json(list)?]))
    }

    #[tool(description = "Delete a note by id. Requires the notes:delete permission.")]
    async fn delete_note(
        &self,
        caller: Caller,
        Parameters(DeleteNote { id }): Parameters<DeleteNote>,
    ) -> Result<CallToolResult, ErrorData> {
        caller.require_permission(NOTES_DELETE)?;
        match self.notes.with(|notes| notes.remove(&id)) {
            Some(text) => {
                tracing::info!(user = %caller.user_id, id, "note deleted");
                Ok(CallToolResult::success(vec![ContentBlock::text(format!("deleted note {id}: {text}"))]))
            }
            None => Err(ErrorData::invalid_params(format!("there is no note {id}"), None)),
        }
    }

    #[tool(description = "How many notes there are and who is asking. Requires the admin role.")]
    async fn admin_report(&self, caller: Caller) -> Result<CallToolResult, ErrorData> {
        caller.require_role(ADMIN)?;
        let count = self.notes.with(|notes| notes.len());
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{count} note(s); report for {}",
            caller.user_id
        ))]))
    }
}

#[tool_handler]
impl ServerHandler for NotesServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("mcp-auth-roles-example", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "list_notes for everyone; delete_note needs notes:delete; admin_report needs admin.",
            )
    }
}

/// The notes server behind AuthKit, configured from `settings`, for a server listening on `listen`.
fn app(settings: &Settings, listen: SocketAddr) -> anyhow::Result<(Router, String)> {
    let provider = authkit_provider(settings, listen, "mcp-auth roles and permissions example")?;
    let notes = Notes::seeded();
    let app = authkit_mount(&provider, listen, move || NotesServer { notes: notes.clone() })?;
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
    tracing::info!(mcp = %mcp_url, "MCP server with role- and permission-gated tools is listening");
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
    println!("roles_and_permissions self-check: dev IdP {}, MCP server {mcp_url}", idp.url());

    let mut checks = Checks::new();
    let mut sessions = Vec::new();
    for who in ["ada", "lin", "grace"] {
        let session = checks
            .run(&format!("sign in as {who} with the rmcp client"), async {
                let (session, _) = client::sign_in(&mcp_url, &format!("{who}@example.com")).await?;
                let user: Value = serde_json::from_str(
                    &client::text_of(&client::call(&session, "list_notes").await?).unwrap_or_default(),
                )
                .context("list_notes did not answer JSON")?;
                Ok((session, format!("list_notes answered {} note(s)", user.as_array().map_or(0, Vec::len))))
            })
            .await;
        sessions.push(session);
    }
    let [Some(ada), Some(lin), Some(grace)] = sessions.as_slice() else {
        checks.skip("the tool checks", "a sign-in failed");
        server.abort();
        return checks.finish();
    };

    checks
        .run("ada (member) deletes note 3: refused, needs the permission", async {
            let detail =
                expect_forbidden(ada, "delete_note", json!({"id": 3}), "permission 'notes:delete'").await?;
            ensure!(note_ids(ada).await?.contains(&3), "the refused call deleted the note anyway");
            Ok(((), format!("{detail}; note 3 is still there")))
        })
        .await;
    checks
        .run("ada (member) asks for admin_report: refused, needs the role", async {
            Ok(((), expect_forbidden(ada, "admin_report", json!({}), "role 'admin'").await?))
        })
        .await;
    checks
        .run("lin (member with notes:delete) deletes note 3: allowed", async {
            let result = client::call_with(lin, "delete_note", json!({"id": 3})).await?;
            let text = client::text_of(&result).unwrap_or_default();
            ensure!(!note_ids(ada).await?.contains(&3), "note 3 is still listed after {text:?}");
            Ok(((), text))
        })
        .await;
    checks
        .run("lin deletes a note that does not exist: a clear invalid-params error", async {
            match client::call_with(lin, "delete_note", json!({"id": 99})).await {
                Ok(result) => bail!("answered {:?}", client::text_of(&result)),
                Err(err) => {
                    let data = client::mcp_error(&err).with_context(|| format!("not an MCP error: {err}"))?;
                    ensure!(data.message.contains("no note 99"), "unclear error: {}", data.message);
                    Ok(((), format!("{} {}", data.code.0, data.message)))
                }
            }
        })
        .await;
    checks
        .run("lin (member) asks for admin_report: refused, a permission is not a role", async {
            Ok(((), expect_forbidden(lin, "admin_report", json!({}), "role 'admin'").await?))
        })
        .await;
    checks
        .run("grace (admin) asks for admin_report: allowed", async {
            let text = client::text_of(&client::call(grace, "admin_report").await?).unwrap_or_default();
            ensure!(text.contains("2 note(s)") && text.contains("user_grace"), "unexpected report {text:?}");
            Ok(((), text))
        })
        .await;
    for session in sessions.into_iter().flatten() {
        let _ = session.cancel().await;
    }
    idp.shutdown().await;
    server.abort();
    checks.finish()
}

/// Calls `tool` and expects the forbidden MCP error naming `requirement`; answers the error as a line.
async fn expect_forbidden(
    session: &McpSession,
    tool: &'static str,
    arguments: Value,
    requirement: &str,
) -> anyhow::Result<String> {
    match client::call_with(session, tool, arguments).await {
        Ok(result) => bail!("allowed: {:?}", client::text_of(&result)),
        Err(err) => {
            let data = client::mcp_error(&err).with_context(|| format!("not an MCP error: {err}"))?;
            ensure!(data.code == FORBIDDEN, "code {} instead of {}", data.code.0, FORBIDDEN.0);
            ensure!(
                data.message.contains(requirement),
                "the error does not name {requirement}: {}",
                data.message
            );
            Ok(format!("{} {}", data.code.0, data.message))
        }
    }
}

/// The ids `list_notes` answers.
async fn note_ids(session: &McpSession) -> anyhow::Result<Vec<u64>> {
    let list: Value = serde_json::from_str(
        &client::text_of(&client::call(session, "list_notes").await?).unwrap_or_default(),
    )?;
    Ok(list.as_array().into_iter().flatten().filter_map(|note| note["id"].as_u64()).collect())
}
