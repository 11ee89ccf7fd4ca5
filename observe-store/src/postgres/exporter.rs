//! The PostgreSQL store as a destination: batches written by [`PgWriter`](super::write) on
//! one connection or, when big, shared between several ([`super::lanes`]), the connections
//! opened (and the schema migrated) on first use and opened again when lost, and a batch
//! retried, within a deadline, while the server cannot be reached.

use std::sync::Arc;
use std::time::{Duration, Instant};

use observe_model::export::{Batch, ExportContext, ExportError, Exporter};
use postgres::Client;

use super::lanes::{lost, open_first, Lanes, DEFAULT_CONNECTIONS};
use super::settings::PgSettings;
use super::PgStoreError;
use crate::pricing::PriceList;

/// The exporter's name in logs and counters.
const NAME: &str = "postgres";

/// How long one batch is retried while the server cannot be reached, and the waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PgRetry {
    /// Longest time spent on one batch, all attempts and waits included.
    pub deadline: Duration,
    /// Wait before the first retry; doubled after each.
    pub initial_backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for PgRetry {
    /// 30 s per batch, waits from 200 ms to 5 s.
    ///
    /// ```
    /// let r = observe_store::postgres::PgRetry::default();
    /// assert_eq!(r.deadline.as_secs(), 30);
    /// ```
    fn default() -> Self {
        PgRetry {
            deadline: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Writes every batch it is given into the store on a PostgreSQL server; see the
/// [module docs](crate::postgres).
///
/// Several processes on several hosts may write one database at once: each batch is one
/// transaction, and writers lock the trace rows they touch in trace-id order, so they wait
/// for each other rather than deadlock. A big batch is divided by trace between
/// [`with_connections`](PgExporter::with_connections) connections writing at once (two
/// unless told otherwise), so the server works on it with as many cores.
///
/// ```no_run
/// use observe_model::export::{Batch, Exporter};
/// use observe_store::postgres::{PgExporter, PgSettings};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let settings = PgSettings::from_url("postgres://observe@db.internal/observe")?;
/// let mut exporter = PgExporter::connect(settings)?;
/// exporter.write(&Batch::default())?;
/// # Ok(())
/// # }
/// ```
pub struct PgExporter {
    settings: PgSettings,
    lanes: Lanes,
    retry: PgRetry,
    context: ExportContext,
}

impl std::fmt::Debug for PgExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgExporter")
            .field("settings", &self.settings)
            .field("connected", &self.lanes.first.client.is_some())
            .field("connections", &self.lanes.count())
            .finish()
    }
}

impl PgExporter {
    /// An exporter that connects on its first batch (a server down at start delays only
    /// this destination's records).
    ///
    /// ```
    /// use observe_store::postgres::{PgExporter, PgSettings};
    /// let settings = PgSettings::from_url_with_env("postgres://u:pw@db/observe", |_| None).unwrap();
    /// let exporter = PgExporter::new(settings);
    /// assert!(!format!("{exporter:?}").contains("pw"));
    /// ```
    pub fn new(settings: PgSettings) -> PgExporter {
        PgExporter {
            settings,
            lanes: Lanes::new(DEFAULT_CONNECTIONS, PriceList::default_list()),
            retry: PgRetry::default(),
            context: ExportContext::default(),
        }
    }

    /// Connects now and brings the database to the current schema: an error says at once
    /// that the server is unreachable, the password wrong, or the database newer.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), observe_store::postgres::PgStoreError> {
    /// use observe_store::postgres::{PgExporter, PgSettings};
    /// let exporter = PgExporter::connect(PgSettings::from_url("postgres:")?)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connect(settings: PgSettings) -> Result<PgExporter, PgStoreError> {
        let mut exporter = PgExporter::new(settings);
        exporter.open()?;
        Ok(exporter)
    }

    /// Sets how long a batch is retried while the server cannot be reached.
    ///
    /// ```
    /// use std::time::Duration;
    /// use observe_store::postgres::{PgExporter, PgRetry, PgSettings};
    /// let settings = PgSettings::from_url_with_env("postgres://db/observe", |_| None).unwrap();
    /// let exporter = PgExporter::new(settings).with_retry(PgRetry {
    ///     deadline: Duration::from_secs(5),
    ///     ..PgRetry::default()
    /// });
    /// # drop(exporter);
    /// ```
    #[must_use]
    pub fn with_retry(mut self, retry: PgRetry) -> PgExporter {
        self.retry = retry;
        self
    }

    /// Sets how many connections may write one batch at once (at least one; two unless
    /// set). Each takes the records of whole traces, in its own transaction; a batch of
    /// fewer than 128 observations stays on one. More connections than the server has
    /// cores only add waiting.
    ///
    /// ```
    /// use observe_store::postgres::{PgExporter, PgSettings};
    /// let settings = PgSettings::from_url_with_env("postgres://db/observe", |_| None).unwrap();
    /// let exporter = PgExporter::new(settings).with_connections(1);
    /// assert!(format!("{exporter:?}").contains("connections: 1"));
    /// ```
    #[must_use]
    pub fn with_connections(mut self, connections: usize) -> PgExporter {
        self.lanes.resize(connections);
        self
    }

    /// Adds or overrides model prices, as [`crate::StoreExporter::with_prices`] does.
    ///
    /// ```
    /// use observe_store::postgres::{PgExporter, PgSettings};
    /// use observe_store::pricing::PriceList;
    /// let settings = PgSettings::from_url_with_env("postgres://db/observe", |_| None).unwrap();
    /// let exporter = PgExporter::new(settings).with_prices(PriceList::new());
    /// # drop(exporter);
    /// ```
    #[must_use]
    pub fn with_prices(mut self, prices: PriceList) -> PgExporter {
        let list = PriceList::clone(&PriceList::default_list()).overriding(prices);
        self.lanes.set_prices(Arc::new(list));
        self
    }

    /// Where it writes (the URL without its password).
    ///
    /// ```
    /// use observe_store::postgres::{PgExporter, PgSettings};
    /// let settings = PgSettings::from_url_with_env("postgres://u:pw@db:5432/observe", |_| None).unwrap();
    /// assert_eq!(PgExporter::new(settings).settings().to_string(), "postgres://u@db:5432/observe");
    /// ```
    pub fn settings(&self) -> &PgSettings {
        &self.settings
    }

    /// Writes one batch in one transaction, once, with no retry (for tools and tests).
    /// Records the server refuses for their values are left out and reported as
    /// [`PgStoreError::Refused`]; the rest of the batch is stored.
    pub fn write(&mut self, batch: &Batch) -> Result<(), PgStoreError> {
        self.open()?;
        match self.lanes.write(&self.settings, batch) {
            Ok(refused) if refused.records == 0 => Ok(()),
            Ok(refused) => Err(PgStoreError::Refused {
                refused: refused.records,
                reason: refused.first_reason.unwrap_or_default(),
            }),
            Err(e) => Err(PgStoreError::Postgres(e)),
        }
    }

    /// Runs `work` on the connection (opened and migrated first when needed) with the
    /// exporter's prices; a connection the failure left unusable is dropped, to be opened
    /// again by the next call.
    pub(super) fn on_connection<T>(
        &mut self,
        work: impl FnOnce(&mut Client, &PriceList) -> Result<T, postgres::Error>,
    ) -> Result<T, PgStoreError> {
        self.open()?;
        // `open` leaves a connection or returns its error.
        let first = &mut self.lanes.first;
        let Some(client) = first.client.as_mut() else {
            return Err(PgStoreError::Url {
                reason: "no connection could be kept open".to_owned(),
            });
        };
        work(client, first.writer.prices()).map_err(|e| {
            if first.client.as_ref().is_none_or(Client::is_closed) || lost(&e) {
                first.client = None;
            }
            PgStoreError::Postgres(e)
        })
    }

    /// Keeps the first connection open, or opens a new one (migrated, staging tables
    /// made).
    fn open(&mut self) -> Result<(), PgStoreError> {
        open_first(&mut self.lanes.first, &self.settings)
    }

    /// The time left for the current batch.
    fn deadline(&self, started: Instant) -> Instant {
        let own = started + self.retry.deadline;
        match self.context.remaining() {
            Some(left) => own.min(Instant::now() + left),
            None => own,
        }
    }
}

/// True when trying the batch again may succeed: the server could not be reached or was
/// busy; false for a refusal that will not change (permissions, a newer schema).
fn transient(e: &PgStoreError) -> bool {
    match e {
        PgStoreError::Connect { source, .. } => source
            .as_db_error()
            .is_none_or(|db| db.code().code().starts_with("57P") || db.code().code() == "53300"),
        PgStoreError::Postgres(e) => {
            e.as_db_error().is_none()
                || lost(e)
                || e.code().is_some_and(|c| {
                    // 40: serialization failure, deadlock; 53: out of resources.
                    c.code().starts_with("40") || c.code().starts_with("53")
                })
        }
        _ => false,
    }
}

impl Exporter for PgExporter {
    fn name(&self) -> &str {
        NAME
    }

    /// Retries a batch while the server is unreachable, until [`PgRetry::deadline`] or the
    /// pipeline's; records the server refuses come back as [`ExportError::Partial`].
    fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let error = match self.write(batch) {
                Ok(()) => return Ok(()),
                Err(PgStoreError::Refused { refused, reason }) => {
                    return Err(ExportError::Partial {
                        destination: NAME.to_owned(),
                        refused,
                        message: reason,
                    })
                }
                Err(e) => e,
            };
            let message = self.settings.hide(&error.to_string());
            if !transient(&error) {
                return Err(ExportError::Rejected {
                    destination: NAME.to_owned(),
                    message,
                });
            }
            let wait = self
                .retry
                .initial_backoff
                .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
                .min(self.retry.max_backoff);
            if Instant::now() + wait >= self.deadline(started) {
                return Err(ExportError::Unavailable {
                    destination: NAME.to_owned(),
                    message,
                });
            }
            tracing::debug!(attempt, error = %message, "observe store (PostgreSQL): retrying");
            self.context.count_retry();
            attempt += 1;
            std::thread::sleep(wait);
        }
    }

    fn retries(&self) -> u64 {
        self.context.retried()
    }

    /// A server across the network: what it could not take may wait in the spool.
    fn remote(&self) -> bool {
        true
    }

    fn attach(&mut self, context: ExportContext) {
        self.context = context;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::connect::connect;
    use crate::postgres::write::is_data_error;

    #[test]
    fn data_errors_are_not_transient() {
        assert!(!transient(&PgStoreError::NewerSchema {
            found: 9,
            supported: 1
        }));
        assert!(!transient(&PgStoreError::Url {
            reason: String::new()
        }));
    }

    #[test]
    fn the_data_error_test_needs_a_server_code() {
        // Without a server there is no SQLSTATE: such an error is never taken for bad data
        // (which would write the batch record by record instead of retrying it).
        let settings =
            PgSettings::from_url_with_env("postgres://127.0.0.1:1/x?sslmode=disable", |_| None)
                .unwrap();
        let Err(PgStoreError::Connect { source, .. }) = connect(&settings) else {
            panic!("nothing listens on port 1");
        };
        assert!(!is_data_error(&source));
        assert!(transient(&PgStoreError::Connect {
            target: String::new(),
            reason: String::new(),
            source
        }));
    }
}
