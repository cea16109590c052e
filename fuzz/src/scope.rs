//! Scope parsing and scope set logic.

use mcp_auth_core::scope::{
    ScopeCheck, ScopeImplications, deserialize_scope_list, is_scope_token, join_scopes, missing_scopes,
    parse_scope_list, parse_scope_param,
};
use mcp_auth_oauth_server::{ScopePolicy, narrow_scopes};

use crate::{split_line, text};

/// The input (first line: granted scopes, second: requested) through the scope parsers and set checks.
/// What a parser returns are valid, distinct scope tokens that join and parse back (as a parameter) to
/// themselves; a
/// request narrowed from a grant stays within it; a hierarchy only ever widens what the grant satisfies.
pub fn scope_list(data: &[u8]) {
    let _ = deserialize_scope_list(&mut serde_json::Deserializer::from_slice(data));
    let (first, second) = split_line(data);
    let (Some(first), Some(second)) = (text(first), text(second)) else { return };
    let granted = parse_scope_list(first).ok();
    for list in [granted.as_ref(), parse_scope_param(first).ok().as_ref()].into_iter().flatten() {
        for (i, scope) in list.iter().enumerate() {
            assert!(is_scope_token(scope), "{scope:?} is not a scope token");
            assert!(!list[..i].contains(scope), "{scope:?} twice in {list:?}");
        }
        let joined = join_scopes(list);
        assert_eq!(&parse_scope_param(&joined).expect("a joined list parses"), list);
    }
    if let Ok(list) = parse_scope_param(first)
        && !first.is_empty()
        && first.split(' ').count() == list.len()
    {
        assert_eq!(join_scopes(&list), first, "a parameter without repeats joins back to itself");
    }
    let Some(granted) = granted else { return };
    let requested = (!second.is_empty()).then_some(second);
    if let Ok(narrowed) = narrow_scopes(requested, &granted) {
        assert!(narrowed.iter().all(|s| granted.contains(s)), "{narrowed:?} is not within {granted:?}");
    }
    if let Ok(scopes) = ScopePolicy::supported(granted.clone()).check_request(second) {
        assert!(scopes.iter().all(|s| granted.contains(s)), "{scopes:?} is not within {granted:?}");
    }
    let Ok(required) = parse_scope_param(second) else { return };
    let exact = missing_scopes(&required, &granted);
    assert_eq!(ScopeCheck::exact().missing(&required, &granted), exact);
    assert!(exact.iter().all(|s| required.iter().any(|r| r == s) && !granted.iter().any(|g| g == s)));
    // Each granted scope implies the next ones: a hierarchy satisfies at least what exact matching does,
    // and every scope after the first granted one.
    let table = granted
        .iter()
        .enumerate()
        .fold(ScopeImplications::new(), |table, (i, scope)| table.scope_implies(scope, &granted[i + 1..]));
    let widened = ScopeCheck::with_hierarchy(table).missing(&required, &granted);
    assert!(widened.iter().all(|s| exact.contains(s)), "{widened:?} vs {exact:?}");
    assert!(widened.iter().all(|s| !granted.iter().any(|g| g == s)));
}
