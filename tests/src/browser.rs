//! A headless Chromium driven over WebDriver, for tests of the pages people see (sign-in, consent).
//!
//! [`Browser::start`] runs Debian's `chromedriver` (package `chromium-driver`) on a free loopback port,
//! waits until it answers, and opens a [`fantoccini`] session on a headless `chromium` with a fresh
//! profile. Dropping the [`Browser`] ends the session (so Chromium quits), kills `chromedriver` and removes
//! the profile; [`Browser::close`] does the same and reports errors.
//!
//! The browser is not optional: when `chromium` or `chromedriver` is missing, [`Browser::start`] fails
//! with an error that says which package to install (`.ci/run` installs both), so a test that calls it
//! fails instead of passing without having run.
//!
//! Every wait is bounded by [`WAIT`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcp_auth_tests::browser::BrowserError> {
//! use mcp_auth_tests::browser::Browser;
//!
//! let browser = Browser::start().await?;
//! browser.goto("http://127.0.0.1:9400/oauth2/authorize?...").await?;
//! browser.fill("input[name=login]", "ada@example.com").await?;
//! browser.click("button[type=submit]").await?;
//! let landed = browser.wait_for_url("http://127.0.0.1:8000/callback").await?;
//! # let _ = landed;
//! browser.close().await
//! # }
//! ```

use std::fmt;
use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Map, Value, json};
use tempfile::TempDir;
use url::Url;

/// Where Debian's `chromium` package puts the browser.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Where Debian's `chromium-driver` package puts the WebDriver server.
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The bound on every wait: for `chromedriver` to answer, for an element to appear, for a URL, for a frame
/// to load. Generous because CI machines are small and often busy compiling.
pub const WAIT: Duration = Duration::from_secs(10);

/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

/// Chromium's flags. Without the background-networking ones Chromium tries to reach Google's services
/// and, on a machine with no route out, stalls before the first page.
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// Why the browser could not do what a test asked.
///
/// Its `Debug` prints the message and its causes, so `.unwrap()`, `.expect(..)` and a test returning
/// `Result` all fail with the readable text ("chromedriver not found at ...: install chromium-driver").
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BrowserError {
    /// `chromedriver` is not installed.
    #[error(
        "chromedriver not found at {0}: install chromium-driver (apt-get install chromium chromium-driver)"
    )]
    DriverMissing(PathBuf),
    /// `chromium` is not installed.
    #[error("chromium not found at {0}: install chromium (apt-get install chromium chromium-driver)")]
    ChromiumMissing(PathBuf),
    /// A local resource the harness needs (temporary directory, free port, log file, process) failed.
    #[error("{what}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// `chromedriver` exited or never answered.
    #[error("chromedriver did not start: {reason}; its output:\n{log}")]
    DriverNotReady {
        /// What went wrong (exit status or the time waited).
        reason: String,
        /// The end of `chromedriver`'s output.
        log: String,
    },
    /// `chromedriver` answered but could not open a Chromium session.
    #[error("chromedriver could not start chromium at {path}; chromedriver's output:\n{log}", path = CHROMIUM)]
    Session {
        /// The WebDriver error.
        #[source]
        source: Box<NewSessionError>,
        /// The end of `chromedriver`'s output.
        log: String,
    },
    /// A WebDriver command failed.
    #[error("{what}")]
    Command {
        /// The command, with its arguments (selector, URL).
        what: String,
        /// The WebDriver error.
        #[source]
        source: Box<CmdError>,
    },
    /// A bounded wait ran out.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What the harness was waiting for, and what it saw last.
        what: String,
        /// How long it waited.
        waited: Duration,
    },
}

impl fmt::Debug for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// Shorthand for the harness's results.
pub type Result<T, E = BrowserError> = std::result::Result<T, E>;

fn command_error(what: impl Into<String>) -> impl FnOnce(CmdError) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Command { what, source: Box::new(source) }
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BrowserError {
    let what = what.into();
    move |source| BrowserError::Io { what, source }
}

/// What a page loaded in an `<iframe>` turned into; see [`Browser::framed_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Framed {
    /// Chromium refused to render the page in the frame: the frame holds Chromium's own error page with
    /// `ERR_BLOCKED_BY_RESPONSE` (what `X-Frame-Options` and CSP `frame-ancestors` produce), and the
    /// probe element is not there.
    Refused,
    /// The probe element was found inside the frame: the page rendered there.
    Rendered,
    /// Neither: the frame loaded something else.
    Other {
        /// The frame document's URL.
        url: String,
    },
}

/// The `chromedriver` child process, with its log; killed on drop.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    fn spawn(dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let log = dir.join("chromedriver.log");
        let out = File::create(&log).map_err(io_error(format!("creating {}", log.display())))?;
        let err = out.try_clone().map_err(io_error("duplicating the log file handle"))?;
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io_error(format!("starting {CHROMEDRIVER}")))?;
        Ok(Self { child, port, log })
    }

    /// Whether the process has exited.
    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The last lines `chromedriver` wrote, for error messages.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Polls `GET /status` until `chromedriver` says it is ready, or it exits, or [`WAIT`] runs out.
    async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(BrowserError::DriverNotReady {
                    reason: format!("it exited with {status}"),
                    log: self.log_tail(),
                });
            }
            let port = self.port;
            let answer = tokio::task::spawn_blocking(move || http_request(port, "GET", "/status")).await;
            if let Ok(Ok(body)) = answer
                && body.contains("\"ready\":true")
            {
                return Ok(());
            }
            if started.elapsed() > WAIT {
                return Err(BrowserError::DriverNotReady {
                    reason: format!("no answer on 127.0.0.1:{} within {WAIT:?}", self.port),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_error("binding 127.0.0.1:0 for a free port"))?;
    Ok(listener.local_addr().map_err(io_error("reading a bound port"))?.port())
}

/// One blocking HTTP/1.1 request to `chromedriver` on loopback, returning the body. Used before the
/// WebDriver client exists (readiness) and in `Drop` (which cannot await). chromedriver refuses HTTP/1.0
/// and keeps the connection open even when asked to close it, so the body is read by its
/// `Content-Length`.
fn http_request(port: u16, method: &str, path: &str) -> io::Result<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(1)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "chromedriver closed the connection early",
            ));
        }
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received);
        let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
            .and_then(|(_, value)| value.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if body.len() >= length {
            return Ok(body.to_owned());
        }
    }
}

/// A headless Chromium session, with the helpers the page tests need. See the [module docs](self).
///
/// Element helpers take CSS selectors and name the selector and the page in their errors.
pub struct Browser {
    client: Client,
    session_id: Option<String>,
    closed: bool,
    driver: Driver,
    /// Holds the Chromium profile and `chromedriver`'s log; declared last so it is removed after both
    /// programs have stopped.
    dir: TempDir,
}

impl fmt::Debug for Browser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Browser")
            .field("chromedriver_port", &self.driver.port)
            .field("session_id", &self.session_id)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl Browser {
    /// Starts `chromedriver` on a free loopback port and opens a headless Chromium session with a fresh
    /// profile.
    ///
    /// # Errors
    ///
    /// [`BrowserError::DriverMissing`] / [`BrowserError::ChromiumMissing`] when a package is not
    /// installed, [`BrowserError::DriverNotReady`] and [`BrowserError::Session`] (with `chromedriver`'s
    /// output) when either program fails to start, [`BrowserError::Io`] for local failures.
    pub async fn start() -> Result<Self> {
        for (path, missing) in [
            (CHROMEDRIVER, BrowserError::DriverMissing as fn(PathBuf) -> BrowserError),
            (CHROMIUM, BrowserError::ChromiumMissing),
        ] {
            if !Path::new(path).is_file() {
                return Err(missing(PathBuf::from(path)));
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("mcp-auth-chromium-")
            .tempdir()
            .map_err(io_error("creating a temporary directory for the Chromium profile"))?;
        let profile = dir.path().join("profile");
        // A port can be taken between choosing and binding it: when chromedriver exits early, try again.
        let mut attempt = 0;
        let driver = loop {
            attempt += 1;
            let mut driver = Driver::spawn(dir.path())?;
            match driver.wait_ready().await {
                Ok(()) => break driver,
                Err(_) if attempt < 3 && driver.exited() => {}
                Err(error) => return Err(error),
            }
        };
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|&a| a.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut capabilities = Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), json!({ "binary": CHROMIUM, "args": args }));
        // chromedriver speaks plain HTTP on loopback; the rustls connector is only what fantoccini offers
        // without OpenSSL (it loads the system's roots, unused here).
        let mut builder =
            ClientBuilder::rustls().map_err(io_error("loading TLS roots for the WebDriver client"))?;
        let client = builder
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .map_err(|source| BrowserError::Session { source: Box::new(source), log: driver.log_tail() })?;
        let session_id = client.session_id().await.ok().flatten();
        Ok(Self { client, session_id, closed: false, driver, dir })
    }

    /// The underlying WebDriver client, for anything the helpers do not cover.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Navigates to `url` and waits for the page to load.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Command`] when the navigation fails.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.client.goto(url).await.map_err(command_error(format!("opening {url}")))
    }

    /// The URL of the page shown (the top-level document).
    ///
    /// # Errors
    ///
    /// [`BrowserError::Command`] when WebDriver fails.
    pub async fn current_url(&self) -> Result<Url> {
        self.client.current_url().await.map_err(command_error("reading the current URL"))
    }

    /// The page's source as the browser serializes its DOM now.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Command`] when WebDriver fails.
    pub async fn source(&self) -> Result<String> {
        self.client.source().await.map_err(command_error("reading the page source"))
    }

    /// The first element matching the CSS selector, waiting up to [`WAIT`] for it to appear (a page may
    /// still be loading after a click).
    ///
    /// # Errors
    ///
    /// [`BrowserError::Timeout`] naming the selector and the page when nothing matches in time.
    pub async fn find(&self, css: &str) -> Result<Element> {
        let started = Instant::now();
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return Ok(element),
                Err(error) if error.is_no_such_element() => {}
                Err(error) => return Err(command_error(format!("finding `{css}`"))(error)),
            }
            if started.elapsed() > WAIT {
                return Err(BrowserError::Timeout {
                    what: format!("an element `{css}` on {}", self.describe_page().await),
                    waited: WAIT,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether an element matches the CSS selector right now (no waiting).
    ///
    /// # Errors
    ///
    /// [`BrowserError::Command`] when WebDriver fails (an invalid selector, a closed window).
    pub async fn exists(&self, css: &str) -> Result<bool> {
        match self.client.find(Locator::Css(css)).await {
            Ok(_) => Ok(true),
            Err(error) if error.is_no_such_element() => Ok(false),
            Err(error) => Err(command_error(format!("looking for `{css}`"))(error)),
        }
    }

    /// Clicks the element matching the CSS selector (see [`find`](Self::find) for the wait). A click that
    /// submits a form returns before the next page has loaded: wait for it with
    /// [`wait_for_url`](Self::wait_for_url) or [`find`](Self::find).
    ///
    /// # Errors
    ///
    /// [`BrowserError::Timeout`] when no element matches, [`BrowserError::Command`] when it cannot be
    /// clicked (hidden, covered).
    pub async fn click(&self, css: &str) -> Result<()> {
        self.find(css).await?.click().await.map_err(command_error(format!("clicking `{css}`")))
    }

    /// Replaces the text of the input matching the CSS selector by typing `text` into it.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Timeout`] when no element matches, [`BrowserError::Command`] when it cannot be
    /// typed into.
    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let element = self.find(css).await?;
        element.clear().await.map_err(command_error(format!("clearing `{css}`")))?;
        element.send_keys(text).await.map_err(command_error(format!("typing into `{css}`")))
    }

    /// Waits up to [`WAIT`] until the page shown has a URL starting with `prefix`, and returns it.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Timeout`] naming the prefix and the last URL seen.
    pub async fn wait_for_url(&self, prefix: &str) -> Result<Url> {
        let started = Instant::now();
        loop {
            let url = self.current_url().await?;
            if url.as_str().starts_with(prefix) {
                return Ok(url);
            }
            if started.elapsed() > WAIT {
                return Err(BrowserError::Timeout {
                    what: format!("a URL starting with {prefix}; still on {}", self.describe_page().await),
                    waited: WAIT,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The page shown, for error messages: its URL and the start of its visible text.
    async fn describe_page(&self) -> String {
        let url = self.current_url().await.map_or_else(|_| "?".to_owned(), String::from);
        let text = self
            .client
            .execute("return document.body ? document.body.innerText : '';", Vec::new())
            .await
            .ok()
            .and_then(|text| text.as_str().map(str::to_owned))
            .unwrap_or_default();
        let mut excerpt: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some((cut, _)) = excerpt.char_indices().nth(300) {
            excerpt.truncate(cut);
            excerpt.push_str("...");
        }
        format!("{url}, which says: {excerpt:?}")
    }

    /// Looks inside the `<iframe>` matching `iframe_css` on the page shown: waits up to [`WAIT`] for the
    /// frame to finish loading, then tells whether the framed page [rendered](Framed::Rendered) (an
    /// element matching `probe_css` is in it) or Chromium [refused](Framed::Refused) to show it.
    ///
    /// Pick a probe that the page has when opened directly (the login form's password field, say), and
    /// check that it does: then [`Framed::Refused`] means the framing protection worked, not that the
    /// probe was wrong. The browser is back in the top-level document afterwards.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Timeout`] when there is no such frame or it does not finish loading,
    /// [`BrowserError::Command`] when WebDriver fails.
    pub async fn framed_page(&self, iframe_css: &str, probe_css: &str) -> Result<Framed> {
        let frame = self.find(iframe_css).await?;
        frame
            .enter_frame()
            .await
            .map_err(command_error(format!("switching into the frame `{iframe_css}`")))?;
        let inside = self.inspect_frame(probe_css).await;
        let back = self.client.enter_parent_frame().await.map_err(command_error("leaving the frame"));
        let framed = inside?;
        back?;
        Ok(framed)
    }

    /// The body of [`framed_page`](Self::framed_page), run inside the frame.
    async fn inspect_frame(&self, probe_css: &str) -> Result<Framed> {
        let started = Instant::now();
        let url = loop {
            let state = self
                .client
                .execute("return [document.readyState, location.href];", Vec::new())
                .await
                .map_err(command_error("reading the frame's state"))?;
            let field = |i: usize| state.get(i).and_then(Value::as_str).unwrap_or_default().to_owned();
            let (ready, url) = (field(0), field(1));
            if ready == "complete" && url != "about:blank" {
                break url;
            }
            if started.elapsed() > WAIT {
                return Err(BrowserError::Timeout {
                    what: format!("the frame to load (state {ready:?}, at {url})"),
                    waited: WAIT,
                });
            }
            tokio::time::sleep(POLL).await;
        };
        if self.exists(probe_css).await? {
            return Ok(Framed::Rendered);
        }
        let source = self.source().await?;
        if url.starts_with("chrome-error://") && source.contains("ERR_BLOCKED_BY_RESPONSE") {
            Ok(Framed::Refused)
        } else {
            Ok(Framed::Other { url })
        }
    }

    /// Ends the session (Chromium quits), stops `chromedriver` and removes the profile.
    ///
    /// # Errors
    ///
    /// [`BrowserError::Command`] when the session could not be ended cleanly; the processes are stopped
    /// anyway.
    pub async fn close(mut self) -> Result<()> {
        let closed = self.client.clone().close().await.map_err(command_error("ending the WebDriver session"));
        self.closed = closed.is_ok();
        closed
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Killing chromedriver leaves Chromium running, so end the session first. Drop cannot await: a
        // short blocking request on loopback does it.
        if !self.closed
            && let Some(id) = &self.session_id
        {
            let _ = http_request(self.driver.port, "DELETE", &format!("/session/{id}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_message_and_its_causes() {
        let missing = BrowserError::DriverMissing(PathBuf::from(CHROMEDRIVER));
        assert_eq!(
            format!("{missing:?}"),
            "chromedriver not found at /usr/bin/chromedriver: install chromium-driver \
             (apt-get install chromium chromium-driver)"
        );
        let failed = BrowserError::Io {
            what: "starting /usr/bin/chromedriver".into(),
            source: io::Error::other("boom"),
        };
        assert_eq!(format!("{failed:?}"), "starting /usr/bin/chromedriver\n  caused by: boom");
    }
}
