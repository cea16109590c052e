//! The dev identity provider the `roles_and_permissions` and `multi_tenant` examples sign in with:
//! the users of `examples/dev-idp-users.toml`, the file their headers tell you to run the dev IdP with.

use anyhow::Context;
use mcp_auth_dev_idp::{DevIdp, DevIdpConfig, DevIdpHandle};

/// `examples/dev-idp-users.toml`.
pub const USERS_TOML: &str = include_str!("../dev-idp-users.toml");

/// Starts the dev IdP with [`USERS_TOML`] in-process for a self-check: on a free loopback port, signing
/// users in without pages (`login_hint` picks who).
///
/// # Errors
///
/// A malformed users file, or a dev IdP that cannot start.
pub async fn start_for_self_check() -> anyhow::Result<DevIdpHandle> {
    let config = DevIdpConfig::from_toml_str(USERS_TOML).context("reading examples/dev-idp-users.toml")?;
    DevIdp::builder()
        .config(config)
        .port(0)
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
