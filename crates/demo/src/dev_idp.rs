//! The dev identity provider as the demo and the examples' self-checks start it: with the demo's two
//! users ([`with_demo_users`]), with the users of `crates/demo/dev-idp-users.toml` for the
//! `roles_and_permissions` and `multi_tenant` examples (the file their headers tell you to run the dev
//! IdP with), or as the AuthKit stand-in upstream of the OAuth proxy for `workos_proxy` and `production`.

use anyhow::Context;
use mcp_auth_dev_idp::{DevClient, DevIdp, DevIdpBuilder, DevIdpConfig, DevIdpHandle, DevUser};

use crate::server::NOTES_WRITE;

/// The demo's users and scope: Ada (`user_ada`, `ada@example.com`, password `ada`, a member) and Grace
/// (`user_grace`, `grace@example.com`, password `grace`, an admin with the `demo:reset` permission), both
/// in `org_analytical`; the `notes:write` scope advertised for the step-up; Ada signed in when
/// auto-approve meets no `login_hint`.
pub fn with_demo_users(builder: DevIdpBuilder) -> DevIdpBuilder {
    builder
        .user(
            DevUser::new("user_ada", "ada@example.com")
                .name("Ada Lovelace")
                .org_id("org_analytical")
                .roles(["member"])
                .password("ada"),
        )
        .user(
            DevUser::new("user_grace", "grace@example.com")
                .name("Grace Hopper")
                .org_id("org_analytical")
                .roles(["admin"])
                .permissions(["demo:reset"])
                .password("grace"),
        )
        .scope(NOTES_WRITE)
        .default_user("user_ada")
}

/// `crates/demo/dev-idp-users.toml`: the users of the `roles_and_permissions` and `multi_tenant` examples.
pub const USERS_TOML: &str = include_str!("../dev-idp-users.toml");

/// Starts the dev IdP with [`USERS_TOML`] in-process for a self-check: on a free loopback port, signing
/// users in without pages (`login_hint` picks who).
///
/// # Errors
///
/// A malformed users file, or a dev IdP that cannot start.
pub async fn start_for_self_check() -> anyhow::Result<DevIdpHandle> {
    let config = DevIdpConfig::from_toml_str(USERS_TOML).context("reading dev-idp-users.toml")?;
    DevIdp::builder()
        .config(config)
        .port(0)
        .auto_approve(true)
        .start()
        .await
        .context("starting the dev identity provider")
}

/// The confidential client the OAuth proxy signs in with upstream, in the self-checks (`--self-check`
/// of `workos_proxy` and `production`).
pub const PROXY_CLIENT_ID: &str = "mcp-proxy";
/// Its secret: a development value for an in-process dev IdP on loopback.
pub const PROXY_CLIENT_SECRET: &str = "self-check-proxy-secret";

/// Starts the dev IdP as the AuthKit stand-in upstream of an OAuth proxy, for a self-check: on a free
/// loopback port, signing Ada (`user_ada`, `ada@example.com`, a member) in without pages, with one
/// confidential client ([`PROXY_CLIENT_ID`], [`PROXY_CLIENT_SECRET`]) whose only redirect URI is the
/// proxy's `callback_url`.
///
/// # Errors
///
/// A dev IdP that cannot start.
pub async fn start_as_proxy_upstream(callback_url: &str) -> anyhow::Result<DevIdpHandle> {
    DevIdp::builder()
        .user(DevUser::new("user_ada", "ada@example.com").name("Ada Lovelace").roles(["member"]))
        .client(DevClient::confidential(PROXY_CLIENT_ID, PROXY_CLIENT_SECRET, [callback_url]))
        .auto_approve(true)
        .start()
        .await
        .context("starting the dev identity provider")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_file_parses_and_has_the_users_the_examples_sign_in_as() {
        let config = DevIdpConfig::from_toml_str(USERS_TOML).unwrap();
        let ids: Vec<&str> = config.users.iter().map(|user| user.id.as_str()).collect();
        assert_eq!(ids, ["user_ada", "user_lin", "user_grace", "user_tim"]);
    }
}
