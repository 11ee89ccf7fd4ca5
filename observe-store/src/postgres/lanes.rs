//! The writer's connections. One connection runs a batch's statements one after another,
//! so the server works on one core at a time; a big batch is divided by trace
//! ([`Split`]) between several connections, each writing its share in its own
//! transaction on its own thread, so the server's half runs on as many cores.
//!
//! The first connection migrates the schema and serves every other use of the exporter;
//! the others are opened when a batch is big enough to share, and one that cannot be
//! opened is tried again after [`REOPEN_AFTER`] while the open ones carry on.
//!
//! A batch is written when every share is committed. When one fails, the batch fails and
//! is retried whole: the shares already committed are written again by the merge rules,
//! which add nothing twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use observe_model::export::Batch;
use postgres::Client;

use super::connect::connect;
use super::settings::PgSettings;
use super::share::{Share, Split};
use super::write::{PgWriter, Refused};
use super::PgStoreError;
use crate::pricing::PriceList;

/// How many connections write one batch unless told otherwise: the machine the server
/// shares with its writers often has no more than two cores.
pub(super) const DEFAULT_CONNECTIONS: usize = 2;

/// The fewest observations a connection is given: below that, a batch's round trips cost
/// more than its rows, and it stays on one connection.
const MIN_SHARE: usize = 64;

/// How long a connection that could not be opened is left closed.
const REOPEN_AFTER: Duration = Duration::from_secs(30);

/// One connection and the writer that keeps its prepared statements and buffers.
pub(super) struct Lane {
    pub(super) client: Option<Client>,
    pub(super) writer: PgWriter,
    /// When to try again to open a connection that could not be opened.
    retry_after: Option<Instant>,
}

impl Lane {
    fn new(prices: Arc<PriceList>) -> Lane {
        Lane {
            client: None,
            writer: PgWriter::new(prices),
            retry_after: None,
        }
    }

    /// Writes this connection's share of the batch; drops the connection when the failure
    /// left it unusable.
    fn write(&mut self, batch: &Batch, share: Share<'_>) -> Result<Refused, postgres::Error> {
        let Some(client) = self.client.as_mut() else {
            return Ok(Refused::default());
        };
        let written = self.writer.write(client, batch, share);
        if let Err(e) = &written {
            if client.is_closed() || lost(e) {
                self.client = None;
            }
        }
        written
    }

    /// Opens the connection (the schema is the first connection's to migrate) unless it is
    /// open or was refused a moment ago.
    fn open(&mut self, settings: &PgSettings) {
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        if self.client.is_some() || self.retry_after.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let opened = connect(settings).and_then(|mut c| {
            self.writer.prepare(&mut c)?;
            Ok(c)
        });
        match opened {
            Ok(c) => {
                self.client = Some(c);
                self.retry_after = None;
            }
            Err(e) => {
                tracing::debug!(
                    error = %settings.hide(&e.to_string()),
                    "observe store (PostgreSQL): another connection could not be opened; \
                     writing on those open"
                );
                self.retry_after = Some(Instant::now() + REOPEN_AFTER);
            }
        }
    }
}

/// All the writer's connections.
pub(super) struct Lanes {
    /// Migrates, and serves every use but the shares of big batches.
    pub(super) first: Lane,
    others: Vec<Lane>,
}

impl Lanes {
    /// `count` connections (at least one), none open yet.
    pub(super) fn new(count: usize, prices: Arc<PriceList>) -> Lanes {
        Lanes {
            first: Lane::new(Arc::clone(&prices)),
            others: (1..count.max(1))
                .map(|_| Lane::new(Arc::clone(&prices)))
                .collect(),
        }
    }

    /// Keeps the first connection and makes `count` in all (at least one).
    pub(super) fn resize(&mut self, count: usize) {
        let prices = Arc::clone(self.first.writer.prices_arc());
        self.others
            .resize_with(count.max(1) - 1, || Lane::new(Arc::clone(&prices)));
    }

    /// How many connections it may write a batch with.
    pub(super) fn count(&self) -> usize {
        1 + self.others.len()
    }

    /// Replaces the price list every connection's writer prices with.
    pub(super) fn set_prices(&mut self, prices: Arc<PriceList>) {
        for lane in std::iter::once(&mut self.first).chain(&mut self.others) {
            lane.writer.set_prices(Arc::clone(&prices));
        }
    }

    /// Writes the batch, shared between the open connections when it is big enough; the
    /// first connection must be open. Records refused are summed over the shares; the
    /// first failure of any share is the batch's.
    pub(super) fn write(
        &mut self,
        settings: &PgSettings,
        batch: &Batch,
    ) -> Result<Refused, postgres::Error> {
        if self.others.is_empty() || batch.observations.len() < 2 * MIN_SHARE {
            return self.first.write(batch, Share::ALL);
        }
        for lane in &mut self.others {
            lane.open(settings);
        }
        let mut open: Vec<&mut Lane> = std::iter::once(&mut self.first)
            .chain(self.others.iter_mut().filter(|l| l.client.is_some()))
            .collect();
        let split = Split::new(batch, open.len(), MIN_SHARE);
        if split.lanes() == 1 {
            return self.first.write(batch, Share::ALL);
        }
        open.truncate(split.lanes());
        let results = std::thread::scope(|scope| {
            let mut lanes = open.into_iter().enumerate();
            let (_, first) = lanes.next()?;
            let spawned: Vec<_> = lanes
                .map(|(i, lane)| {
                    let share = split.share(i);
                    scope.spawn(move || lane.write(batch, share))
                })
                .collect();
            let mut results = vec![first.write(batch, split.share(0))];
            for handle in spawned {
                // A share's thread runs the same code as the first; a panic there is one
                // here.
                results.push(
                    handle
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p)),
                );
            }
            Some(results)
        });
        let mut refused = Refused::default();
        for result in results.into_iter().flatten() {
            let share = result?;
            refused.records += share.records;
            if refused.first_reason.is_none() {
                refused.first_reason = share.first_reason;
            }
        }
        Ok(refused)
    }
}

/// Opens `lane`'s connection as the first: migrated, statements prepared.
pub(super) fn open_first(lane: &mut Lane, settings: &PgSettings) -> Result<(), PgStoreError> {
    if lane.client.as_ref().is_some_and(Client::is_closed) {
        lane.client = None;
    }
    if lane.client.is_none() {
        let mut c = connect(settings)?;
        super::migrate(&mut c)?;
        lane.writer.prepare(&mut c)?;
        lane.client = Some(c);
    }
    Ok(())
}

/// True when the error leaves the connection unusable (it closed, or the server ended the
/// session), so the next attempt opens a new one.
pub(super) fn lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            // 08: connection exception; 57P01..57P03: the server shut down or is starting.
            c.code().starts_with("08") || c.code().starts_with("57P")
        })
}
