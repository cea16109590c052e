//! Scope hierarchies: a broad scope (`mcp:admin`) that implies narrower ones (`mcp:read`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Decides whether a granted scope implies a required one it is not equal to.
///
/// The MCP authorization specification says servers must account for scope hierarchies, where a broader
/// scope implies narrower ones. Scope checks in this workspace are exact by default; give one of these to
/// [`BearerAuthLayer::scope_hierarchy`](crate::BearerAuthLayer::scope_hierarchy) (and to the per-operation
/// checks, which read it from the same place) to widen them. [`ScopeImplications`] is a table; implement
/// the trait for rules of another shape (prefixes, wildcards).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::ScopeHierarchy;
///
/// /// `repo:*` implies every `repo:` scope.
/// #[derive(Debug)]
/// struct Wildcards;
///
/// impl ScopeHierarchy for Wildcards {
///     fn implies(&self, granted: &str, required: &str) -> bool {
///         granted.strip_suffix('*').is_some_and(|prefix| required.starts_with(prefix))
///     }
/// }
///
/// assert!(Wildcards.implies("repo:*", "repo:write"));
/// assert!(!Wildcards.implies("repo:*", "admin"));
/// ```
pub trait ScopeHierarchy: fmt::Debug + Send + Sync {
    /// Whether holding `granted` is enough for an operation that requires `required`. Only asked when the
    /// two strings differ; an exact match always satisfies a requirement.
    fn implies(&self, granted: &str, required: &str) -> bool;
}

impl<H: ScopeHierarchy + ?Sized> ScopeHierarchy for std::sync::Arc<H> {
    fn implies(&self, granted: &str, required: &str) -> bool {
        (**self).implies(granted, required)
    }
}

/// A scope hierarchy written as a table: each broad scope and the narrower scopes it implies,
/// transitively (if `admin` implies `write` and `write` implies `read`, then `admin` implies `read`).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::{ScopeHierarchy, ScopeImplications};
///
/// let hierarchy = ScopeImplications::new()
///     .scope_implies("mcp:admin", ["mcp:write"])
///     .scope_implies("mcp:write", ["mcp:read"]);
/// assert!(hierarchy.implies("mcp:admin", "mcp:read"));
/// assert!(!hierarchy.implies("mcp:read", "mcp:write"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct ScopeImplications {
    /// Each broad scope and every scope it implies, closed under transitivity.
    closure: BTreeMap<String, BTreeSet<String>>,
}

impl ScopeImplications {
    /// An empty table: no scope implies another.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `broad` implies each of `narrower` (and, transitively, whatever those imply).
    pub fn scope_implies<I, S>(mut self, broad: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let broad = broad.into();
        let mut added: BTreeSet<String> = BTreeSet::new();
        for scope in narrower {
            let scope = scope.into();
            if scope != broad {
                // What the narrower scope already implies comes along.
                if let Some(below) = self.closure.get(&scope) {
                    added.extend(below.iter().filter(|s| **s != broad).cloned());
                }
                added.insert(scope);
            }
        }
        // Every scope that implies `broad` now implies what `broad` gained.
        for implied in self.closure.values_mut() {
            if implied.contains(&broad) {
                implied.extend(added.iter().cloned());
            }
        }
        self.closure.entry(broad.clone()).or_default().extend(added);
        for (scope, implied) in &mut self.closure {
            implied.remove(scope);
        }
        self
    }

    /// Every scope `broad` implies, directly or not, in sorted order.
    pub fn implied_by(&self, broad: &str) -> impl Iterator<Item = &str> {
        self.closure.get(broad).into_iter().flatten().map(String::as_str)
    }
}

impl ScopeHierarchy for ScopeImplications {
    fn implies(&self, granted: &str, required: &str) -> bool {
        self.closure.get(granted).is_some_and(|implied| implied.contains(required))
    }
}

/// How granted scopes are checked against required ones: exactly, or through a [`ScopeHierarchy`].
///
/// Cheap to clone. A bearer layer with a hierarchy puts its check into each request's extensions, so
/// per-operation checks further in (the rmcp `Caller`, the MCP scope policy) judge scopes the same way;
/// [`ScopeCheck::of`] reads it back (none there means exact).
///
/// # Examples
///
/// ```
/// use mcp_auth_core::scope::{ScopeCheck, ScopeImplications};
///
/// let granted = vec!["mcp:admin".to_owned()];
/// assert_eq!(ScopeCheck::exact().missing(&["mcp:read"], &granted), ["mcp:read"]);
/// let check = ScopeCheck::with_hierarchy(ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]));
/// assert!(check.missing(&["mcp:read"], &granted).is_empty());
/// ```
#[derive(Clone, Default)]
pub struct ScopeCheck {
    hierarchy: Option<Arc<dyn ScopeHierarchy>>,
}

impl fmt::Debug for ScopeCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.hierarchy {
            Some(hierarchy) => f.debug_tuple("ScopeCheck").field(hierarchy).finish(),
            None => f.write_str("ScopeCheck(exact)"),
        }
    }
}

impl ScopeCheck {
    /// Exact matching: a requirement is met only by the same scope string (the default).
    #[must_use]
    pub fn exact() -> Self {
        Self::default()
    }

    /// Matching through `hierarchy`.
    #[must_use]
    pub fn with_hierarchy(hierarchy: impl ScopeHierarchy + 'static) -> Self {
        Self { hierarchy: Some(Arc::new(hierarchy)) }
    }

    /// Whether this check matches exactly (no hierarchy).
    #[must_use]
    pub fn is_exact(&self) -> bool {
        self.hierarchy.is_none()
    }

    /// The check a bearer layer handed on in a request's `extensions`: its hierarchy if it has one, exact
    /// matching if none is there (the layer inserts only a check with a hierarchy, which saves a copy and
    /// a map insert on every request).
    ///
    /// # Examples
    ///
    /// ```
    /// use mcp_auth_core::scope::{ScopeCheck, ScopeImplications};
    ///
    /// let mut extensions = http::Extensions::new();
    /// assert!(ScopeCheck::of(&extensions).is_exact());
    /// extensions.insert(ScopeCheck::with_hierarchy(ScopeImplications::new().scope_implies("a", ["b"])));
    /// assert!(ScopeCheck::of(&extensions).satisfies(&["a".to_owned()], "b"));
    /// ```
    #[cfg(feature = "http")]
    #[must_use]
    pub fn of(extensions: &http::Extensions) -> Self {
        extensions.get::<Self>().cloned().unwrap_or_default()
    }

    /// Whether `granted` holds `required` itself or a scope that implies it.
    #[must_use]
    pub fn satisfies(&self, granted: &[String], required: &str) -> bool {
        granted.iter().any(|have| {
            have == required || self.hierarchy.as_ref().is_some_and(|h| h.implies(have, required))
        })
    }

    /// The scopes of `required` that `granted` does not satisfy, in `required`'s order.
    #[must_use]
    pub fn missing<'a, S: AsRef<str>>(&self, required: &'a [S], granted: &[String]) -> Vec<&'a str> {
        required.iter().map(AsRef::as_ref).filter(|needed| !self.satisfies(granted, needed)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn scope_hierarchy_hook_is_off_by_default() {
        let granted = strings(&["mcp:admin"]);
        assert_eq!(ScopeCheck::default().missing(&["mcp:read"], &granted), ["mcp:read"]);
        assert!(ScopeCheck::default().missing(&["mcp:admin"], &granted).is_empty());
    }

    #[test]
    fn implications_are_transitive_in_any_order() {
        let forwards =
            ScopeImplications::new().scope_implies("admin", ["write"]).scope_implies("write", ["read"]);
        let backwards =
            ScopeImplications::new().scope_implies("write", ["read"]).scope_implies("admin", ["write"]);
        for table in [&forwards, &backwards] {
            assert!(table.implies("admin", "read"), "{table:?}");
            assert!(table.implies("admin", "write"));
            assert!(table.implies("write", "read"));
            assert!(!table.implies("read", "write"));
            assert!(!table.implies("write", "admin"));
            assert_eq!(table.implied_by("admin").collect::<Vec<_>>(), ["read", "write"]);
        }
        assert_eq!(forwards, backwards);
    }

    #[test]
    fn cycles_terminate_and_never_imply_the_scope_itself() {
        let table = ScopeImplications::new()
            .scope_implies("a", ["b"])
            .scope_implies("b", ["a"])
            .scope_implies("c", ["c"]);
        assert!(table.implies("a", "b") && table.implies("b", "a"));
        assert_eq!(table.implied_by("a").collect::<Vec<_>>(), ["b"]);
        assert_eq!(table.implied_by("c").count(), 0);
    }

    #[test]
    fn checks_through_a_hierarchy_keep_the_required_order() {
        let check =
            ScopeCheck::with_hierarchy(ScopeImplications::new().scope_implies("mcp:admin", ["mcp:read"]));
        let granted = strings(&["mcp:admin"]);
        assert_eq!(check.missing(&["mcp:write", "mcp:read", "other"], &granted), ["mcp:write", "other"]);
        assert!(check.satisfies(&granted, "mcp:admin"));
        assert!(!check.satisfies(&[], "mcp:read"));
        assert!(format!("{check:?}").contains("mcp:admin"));
    }
}

/// Property tests (issue 16): the table's closure is reachability over its rules, whatever the order they
/// were given in, and a hierarchy only ever widens what a token may do.
#[cfg(test)]
mod properties {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    const SCOPES: [&str; 5] = ["a", "b", "c", "d", "e"];

    fn rules() -> impl Strategy<Value = Vec<(usize, Vec<usize>)>> {
        prop::collection::vec((0..SCOPES.len(), prop::collection::vec(0..SCOPES.len(), 0..3)), 0..8)
    }

    fn reachable(rules: &[(usize, Vec<usize>)], from: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(scope) = stack.pop() {
            for (broad, narrower) in rules {
                if *broad == scope {
                    for next in narrower {
                        if seen.insert(*next) {
                            stack.push(*next);
                        }
                    }
                }
            }
        }
        seen.remove(&from);
        seen
    }

    fn table(rules: &[(usize, Vec<usize>)]) -> ScopeImplications {
        rules.iter().fold(ScopeImplications::new(), |table, (broad, narrower)| {
            table.scope_implies(SCOPES[*broad], narrower.iter().map(|i| SCOPES[*i]))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn implications_are_reachability_in_any_order(rules in rules()) {
            let forwards = table(&rules);
            let mut reversed = rules.clone();
            reversed.reverse();
            let backwards = table(&reversed);
            for (from, granted) in SCOPES.iter().enumerate() {
                let expected = reachable(&rules, from);
                for (to, required) in SCOPES.iter().enumerate() {
                    prop_assert_eq!(forwards.implies(granted, required), expected.contains(&to), "{:?}", rules);
                    prop_assert_eq!(backwards.implies(granted, required), expected.contains(&to), "{:?}", rules);
                }
            }
        }

        #[test]
        fn a_hierarchy_only_widens(rules in rules(), granted in prop::collection::vec(0..SCOPES.len(), 0..4),
                                   required in prop::collection::vec(0..SCOPES.len(), 0..4)) {
            let granted: Vec<String> = granted.iter().map(|i| SCOPES[*i].to_owned()).collect();
            let required: Vec<&str> = required.iter().map(|i| SCOPES[*i]).collect();
            let exact = ScopeCheck::exact().missing(&required, &granted);
            let widened = ScopeCheck::with_hierarchy(table(&rules)).missing(&required, &granted);
            prop_assert!(widened.iter().all(|scope| exact.contains(scope)), "{:?} {:?}", widened, exact);
            prop_assert!(exact.iter().all(|scope| required.contains(scope)));
            prop_assert!(exact.iter().all(|scope| !granted.iter().any(|g| g == scope)));
        }
    }
}
