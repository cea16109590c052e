//! The self-check runner every example's `--self-check` uses: one line per check with its outcome and
//! timing, and a summary that fails unless every check behaved.

use std::future::Future;
use std::time::Instant;

use anyhow::bail;

/// Runs named checks, prints one line for each, and counts the failures.
#[derive(Debug)]
pub struct Checks {
    passed: usize,
    failed: usize,
    started: Instant,
}

impl Default for Checks {
    fn default() -> Self {
        Self::new()
    }
}

impl Checks {
    /// No check run yet; the clock starts now.
    #[must_use]
    pub fn new() -> Self {
        Self { passed: 0, failed: 0, started: Instant::now() }
    }

    /// Runs one check. It answers its value (for later checks) and a one-line detail on success; a
    /// failure is printed with its cause and counted, and `None` is returned.
    pub async fn run<T, F>(&mut self, name: &str, check: F) -> Option<T>
    where
        F: Future<Output = anyhow::Result<(T, String)>>,
    {
        let started = Instant::now();
        let outcome = check.await;
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        match outcome {
            Ok((value, detail)) => {
                self.passed += 1;
                println!("[ok]   {name} ({millis:.1} ms): {detail}");
                Some(value)
            }
            Err(err) => {
                self.failed += 1;
                println!("[FAIL] {name} ({millis:.1} ms): {err:#}");
                None
            }
        }
    }

    /// Counts a check that could not run because an earlier one failed.
    pub fn skip(&mut self, name: &str, because: &str) {
        self.failed += 1;
        println!("[FAIL] {name}: not run, {because}");
    }

    /// Prints the summary.
    ///
    /// # Errors
    ///
    /// When any check failed (so the process exits non-zero).
    pub fn finish(self) -> anyhow::Result<()> {
        let total = self.started.elapsed().as_secs_f64() * 1000.0;
        println!("\n{} passed, {} failed ({total:.0} ms in all)", self.passed, self.failed);
        if self.failed > 0 || self.passed == 0 {
            bail!("{} check(s) failed", self.failed);
        }
        Ok(())
    }
}

/// Steps 4 and 5 of both demo modes, for a session signed in as Ada (a member): `whoami` answers her, and
/// the admin-only tool refuses her.
pub(crate) async fn member_steps(steps: &mut Checks, session: &crate::client::McpSession) {
    use anyhow::{bail, ensure};

    use crate::client;

    steps
        .run("4. call whoami", async {
            let user = client::whoami(session).await?;
            ensure!(user["user_id"] == "user_ada", "unexpected user {user}");
            Ok(((), user.to_string()))
        })
        .await;
    steps
        .run("5. call admin_reset as a member (must be refused)", async {
            match client::call(session, "admin_reset").await {
                Ok(result) => bail!("a member was allowed: {:?}", client::text_of(&result)),
                Err(err) => Ok(((), format!("refused: {err:#}"))),
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use anyhow::anyhow;

    use super::*;

    #[tokio::test]
    async fn a_failed_or_skipped_check_fails_the_run() {
        let mut checks = Checks::new();
        assert_eq!(checks.run("good", async { Ok((7, "fine".to_owned())) }).await, Some(7));
        assert!(checks.finish().is_ok());

        let mut checks = Checks::new();
        let failed: Option<()> = checks.run("bad", async { Err(anyhow!("broken")) }).await;
        assert!(failed.is_none());
        assert!(checks.finish().is_err());

        let mut checks = Checks::new();
        checks.skip("later", "sign-in failed");
        assert!(checks.finish().is_err());
        assert!(Checks::new().finish().is_err(), "a run with no check proves nothing");
    }
}
