//! The queue between the connections and the store's one writer, bounded in bytes: a
//! request that does not fit is refused at once (the connection answers 429 with
//! `Retry-After`), so a burst costs at most the bound, never the machine's memory.

use std::collections::VecDeque;
use std::sync::mpsc::Sender;
use std::sync::{Condvar, Mutex, PoisonError};

use observe_model::model::Observation;
use observe_model::piece::Piece;

/// What became of a job once the writer took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Committed to the store.
    Committed,
    /// The store could not be written; nothing of the job is in it.
    Failed(String),
}

/// What one accepted request brought.
pub(crate) enum Records {
    /// Whole spans (OTLP): stored, and handed to the forwarders as they are.
    Spans(Vec<Observation>),
    /// Pieces with the sender's own ids (the legacy ingestion and scores APIs): stored only.
    Pieces(Vec<Piece>),
}

impl Records {
    /// How many records the request brought.
    pub(crate) fn len(&self) -> usize {
        match self {
            Records::Spans(spans) => spans.len(),
            Records::Pieces(pieces) => pieces.len(),
        }
    }

    /// True when the request brought nothing to store.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One accepted request: its records, the project they belong to, and where the writer
/// says what became of them.
pub(crate) struct Job {
    pub(crate) project: String,
    pub(crate) records: Records,
    /// What the job counts for against the bound (its inflated body's size).
    pub(crate) bytes: usize,
    pub(crate) done: Sender<Outcome>,
}

/// Why a job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue holds its bound already.
    Full,
    /// The server is stopping.
    Closed,
}

struct State {
    jobs: VecDeque<Job>,
    bytes: usize,
    closed: bool,
}

/// A FIFO of jobs holding at most `limit` bytes (one job larger than that is still taken
/// when the queue is empty, so that no request the body limits allow waits forever).
pub(crate) struct WriteQueue {
    state: Mutex<State>,
    ready: Condvar,
    limit: usize,
}

impl WriteQueue {
    pub(crate) fn new(limit: usize) -> WriteQueue {
        WriteQueue {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                bytes: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            limit,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, or gives the reason it was refused.
    pub(crate) fn push(&self, job: Job) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        if !state.jobs.is_empty() && state.bytes.saturating_add(job.bytes) > self.limit {
            return Err(Refused::Full);
        }
        state.bytes += job.bytes;
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits for jobs and takes them, up to about `max_bytes` (at least one); `None` once
    /// the queue is closed and empty.
    pub(crate) fn take(&self, max_bytes: usize) -> Option<Vec<Job>> {
        let mut state = self.lock();
        while state.jobs.is_empty() {
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        let mut taken = Vec::new();
        let mut bytes = 0usize;
        while let Some(job) = state.jobs.front() {
            if !taken.is_empty() && bytes.saturating_add(job.bytes) > max_bytes {
                break;
            }
            bytes += job.bytes;
            taken.extend(state.jobs.pop_front());
        }
        state.bytes -= bytes;
        Some(taken)
    }

    /// Refuses jobs from now on; the writer still takes those queued.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }

    /// The jobs queued and not taken.
    pub(crate) fn len(&self) -> usize {
        self.lock().jobs.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::channel;

    use super::*;

    fn job(bytes: usize) -> Job {
        Job {
            project: "p".to_owned(),
            records: Records::Pieces(Vec::new()),
            bytes,
            done: channel().0,
        }
    }

    #[test]
    fn the_bound_refuses_what_does_not_fit_and_close_drains() {
        let queue = WriteQueue::new(100);
        // A job over the bound is taken while the queue is empty...
        assert_eq!(queue.push(job(150)), Ok(()));
        // ...and nothing more until it is taken.
        assert_eq!(queue.push(job(1)), Err(Refused::Full));
        assert_eq!(queue.take(1000).unwrap().len(), 1);
        assert_eq!(queue.push(job(60)), Ok(()));
        assert_eq!(queue.push(job(40)), Ok(()));
        assert_eq!(queue.push(job(1)), Err(Refused::Full));
        // Taking stops at the batch size, but always takes one.
        assert_eq!(queue.take(10).unwrap().len(), 1);
        queue.close();
        assert_eq!(queue.push(job(1)), Err(Refused::Closed));
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.take(1000).unwrap().len(), 1);
        assert!(queue.take(1000).is_none());
    }
}
