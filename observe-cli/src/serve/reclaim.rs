//! Frees the records the writer has written on a thread of its own. A request of 512 spans
//! is thousands of allocations (ids, names, details, JSON texts); freeing them took the one
//! writer thread, which bounds how fast the server ingests, about a tenth of its time.
//! Here it runs beside the writer, on a channel of a few requests so that memory stays
//! bounded: a writer that gets ahead waits for the frees.

use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

use observe_model::piece::Piece;

/// Requests' records waiting to be freed, at most; beyond it the writer waits.
const WAITING: usize = 2;

/// The freeing thread, and where to send what it frees.
pub(crate) struct Reclaim {
    send: Option<SyncSender<Vec<Piece>>>,
    thread: Option<JoinHandle<()>>,
}

impl Reclaim {
    /// Starts the thread; without one (the system refused it), records are freed where
    /// they are handed over.
    pub(crate) fn start() -> Reclaim {
        let (send, receive) = sync_channel::<Vec<Piece>>(WAITING);
        let thread = std::thread::Builder::new()
            .name("observe-serve-free".to_owned())
            .spawn(move || receive.into_iter().for_each(drop))
            .ok();
        Reclaim {
            send: thread.is_some().then_some(send),
            thread,
        }
    }

    /// Frees `pieces` on the thread.
    pub(crate) fn free(&self, pieces: Vec<Piece>) {
        if let Some(send) = &self.send {
            // A thread that is gone gives them back, and they are freed here.
            drop(send.send(pieces));
        }
    }
}

impl Drop for Reclaim {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has freed what was sent.
        self.send = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use observe_model::piece::{ObservationPiece, Piece};

    use super::*;

    #[test]
    fn frees_what_it_is_given_and_stops_when_dropped() {
        let reclaim = Reclaim::start();
        assert!(reclaim.thread.is_some());
        let piece = || Piece::Observation(ObservationPiece::new("t", "o"));
        for _ in 0..10 {
            reclaim.free(vec![piece(), piece()]);
        }
        let thread = reclaim.thread.as_ref().map(|t| t.thread().id());
        drop(reclaim);
        assert!(thread.is_some());
    }
}
