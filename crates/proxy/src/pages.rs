//! The proxy's pages: consent and errors. Plain HTML forms that work without JavaScript, served with the
//! kit's anti-framing and no-store headers.

use axum::http::StatusCode;
use axum::response::Response;
use mcp_auth_oauth_server::{AuthorizationRequest, ClientOrigin, OAuthError, html_escape, html_page};

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;\
         line-height:1.5}}code{{background:#f3f3f3;padding:0 .2rem}}.err{{color:#a00}}\
         .verified{{color:#070}}.unverified{{color:#a60}}button{{margin-right:.5rem;padding:.4rem 1rem}}</style>\
         </head><body><h1>{title}</h1>{body}</body></html>",
        title = html_escape(title),
    )
}

/// An error page (never a redirect: used while the client or redirect URI is not trusted).
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!("<p class=\"err\">{}</p>", html_escape(message));
    html_page(status, page("Authorization error", &body))
}

/// The page for a store or server failure, naming no internals.
pub(crate) fn failure_page(error: &OAuthError) -> Response {
    if error.status() == StatusCode::SERVICE_UNAVAILABLE {
        error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is briefly unavailable; try again in a moment.",
        )
    } else {
        error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on the server; start again.")
    }
}

/// What the consent page shows and posts back.
pub(crate) struct ConsentView<'a> {
    pub(crate) action: &'a str,
    pub(crate) transaction_id: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) request: &'a AuthorizationRequest,
    pub(crate) resource: &'a str,
    pub(crate) upstream_scopes: &'a [String],
}

/// The consent page: the client's name and how it is known (a verified domain for a metadata document
/// client, "unverified" for a self-registered one), where the code goes, and the scopes.
pub(crate) fn consent_page(view: &ConsentView<'_>) -> Response {
    let request = view.request;
    let client = &request.client;
    let identity = match client.origin {
        ClientOrigin::MetadataDocument => {
            let host = crate::MetadataDocuments::verified_host(client).unwrap_or_default();
            format!("<p class=\"verified\">Verified domain: <strong>{}</strong></p>", html_escape(&host))
        }
        ClientOrigin::Configured => {
            "<p class=\"verified\">A client configured by this server's operator.</p>".to_owned()
        }
        _ => {
            "<p class=\"unverified\">This client registered itself; its name is not verified.</p>".to_owned()
        }
    };
    let scopes = if request.scopes.is_empty() {
        "<li>(no specific scopes)</li>".to_owned()
    } else {
        request.scopes.iter().map(|s| format!("<li><code>{}</code></li>", html_escape(s))).collect()
    };
    let upstream = if view.upstream_scopes.is_empty() {
        String::new()
    } else {
        let scopes: Vec<String> =
            view.upstream_scopes.iter().map(|s| format!("<code>{}</code>", html_escape(s))).collect();
        format!(
            "<p>You will sign in with your identity provider, which is asked for {}.</p>",
            scopes.join(", ")
        )
    };
    let body = format!(
        "<p><strong>{name}</strong> wants to access <code>{resource}</code> on your behalf.</p>{identity}\
         <p>After you sign in, you will be sent to <strong>{host}</strong> \
         (<code>{redirect_uri}</code>).</p>\
         <p>It asks for:</p><ul>{scopes}</ul>{upstream}\
         <form method=\"post\" action=\"{action}\">\
         <input type=\"hidden\" name=\"transaction\" value=\"{transaction}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <p><label><input type=\"checkbox\" name=\"remember\" value=\"yes\"> Remember this decision for this client</label></p>\
         <button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\" id=\"deny\">Deny</button></form>",
        name = html_escape(client.display_name()),
        resource = html_escape(view.resource),
        host = html_escape(&request.redirect_host()),
        redirect_uri = html_escape(&request.redirect_uri),
        upstream = upstream,
        action = html_escape(view.action),
        transaction = html_escape(view.transaction_id),
        csrf = html_escape(view.csrf),
    );
    html_page(StatusCode::OK, page("Allow access?", &body))
}
