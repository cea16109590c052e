//! [`MetricsCapture`]: runs async code under a thread-local debugging recorder and reads back what it
//! recorded, for tests that check the [`metrics`](crate::metrics) a crate records.

use std::future::Future;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// A thread-local [`DebuggingRecorder`]: [`run`](Self::run) drives a future on a current-thread runtime
/// with the recorder installed for this thread only (so tests running in parallel do not see each other's
/// metrics), and [`take`](Self::take) reads what was recorded since the last `take`.
///
/// # Examples
///
/// ```
/// use mcp_auth_core::metrics::{self, AuthOutcome, REQUESTS_TOTAL};
/// use mcp_auth_core::testkit::MetricsCapture;
///
/// let capture = MetricsCapture::new();
/// capture.run(async { metrics::record_auth(AuthOutcome::Missing) });
/// let recorded = capture.take();
/// assert_eq!(recorded.counter(REQUESTS_TOTAL, &[("outcome", "missing")]), 1);
/// assert_eq!(recorded.counter(REQUESTS_TOTAL, &[("outcome", "accepted")]), 0);
/// ```
pub struct MetricsCapture {
    recorder: DebuggingRecorder,
    snapshotter: Snapshotter,
}

impl std::fmt::Debug for MetricsCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsCapture").finish_non_exhaustive()
    }
}

impl Default for MetricsCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsCapture {
    /// A capture with nothing recorded.
    #[must_use]
    pub fn new() -> Self {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        Self { recorder, snapshotter }
    }

    /// Runs `future` to completion on a fresh current-thread runtime (time and I/O enabled), with this
    /// capture's recorder installed for the current thread.
    ///
    /// # Panics
    ///
    /// When the runtime cannot be built (a test helper).
    pub fn run<F: Future>(&self, future: F) -> F::Output {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread tokio runtime");
        ::metrics::with_local_recorder(&self.recorder, || runtime.block_on(future))
    }

    /// What was recorded since the last call (counters restart from zero, histograms are emptied).
    #[must_use]
    pub fn take(&self) -> Recorded {
        let series = self
            .snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels =
                    key.labels().map(|label| (label.key().to_owned(), label.value().to_owned())).collect();
                Series { name: key.name().to_owned(), labels, value }
            })
            .collect();
        Recorded { series }
    }
}

/// The metrics a [`MetricsCapture`] recorded.
#[derive(Debug)]
pub struct Recorded {
    series: Vec<Series>,
}

#[derive(Debug)]
struct Series {
    name: String,
    labels: Vec<(String, String)>,
    value: DebugValue,
}

impl Series {
    fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.name == name
            && labels.iter().all(|(key, value)| self.labels.iter().any(|(k, v)| k == key && v == value))
    }
}

impl Recorded {
    /// The sum of the counters named `name` whose labels include every pair in `labels` (`&[]` sums
    /// them all); 0 when none was recorded.
    #[must_use]
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series
            .iter()
            .filter(|series| series.matches(name, labels))
            .map(|series| match series.value {
                DebugValue::Counter(value) => value,
                _ => 0,
            })
            .sum()
    }

    /// How many values the histograms named `name` whose labels include every pair in `labels` received.
    #[must_use]
    pub fn histogram_count(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.series
            .iter()
            .filter(|series| series.matches(name, labels))
            .map(|series| match &series.value {
                DebugValue::Histogram(values) => values.len(),
                _ => 0,
            })
            .sum()
    }

    /// Every label set recorded under `name`, each as sorted `key=value` pairs, for checking that no
    /// label carries what it must not.
    #[must_use]
    pub fn label_sets(&self, name: &str) -> Vec<Vec<(String, String)>> {
        self.series
            .iter()
            .filter(|series| series.name == name)
            .map(|series| {
                let mut labels = series.labels.clone();
                labels.sort();
                labels
            })
            .collect()
    }
}
