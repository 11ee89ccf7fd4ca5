//! Stopping a query whose client went away: while the query runs, a thread blocks reading
//! the client's connection (a client that waits for its answer sends nothing more); when
//! the read ends, the client closed it (a tab closed, a fetch aborted), and the query is
//! interrupted instead of running to its time limit for no one.

use std::io::Read as _;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

/// Where the watched query is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// The client went away and the query was interrupted.
    Abandoned,
    Finished,
}

/// Watches one client while its query runs.
pub(super) struct ClientWatch {
    state: Arc<Mutex<State>>,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

impl ClientWatch {
    /// Starts watching `stream`; `interrupt` stops the query (called at most once, and
    /// only while it runs).
    pub(super) fn start(
        stream: &TcpStream,
        interrupt: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<ClientWatch> {
        let state = Arc::new(Mutex::new(State::Running));
        let mut reader = stream.try_clone()?;
        reader.set_read_timeout(None)?;
        let shared = Arc::clone(&state);
        let thread = std::thread::Builder::new()
            .name("observe-ui-client-watch".into())
            .spawn(move || {
                let mut scratch = [0u8; 512];
                // Bytes after the request (a pipelined one) are not an answer to wait for.
                while matches!(reader.read(&mut scratch), Ok(n) if n > 0) {}
                let mut state = shared.lock().unwrap_or_else(PoisonError::into_inner);
                if *state == State::Running {
                    *state = State::Abandoned;
                    interrupt();
                }
            })?;
        Ok(ClientWatch {
            state,
            stream: stream.try_clone()?,
            thread: Some(thread),
        })
    }

    /// Ends the watch once the query has returned; whether the client went away (and the
    /// query was interrupted for it).
    pub(super) fn finish(mut self) -> bool {
        let abandoned = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let abandoned = *state == State::Abandoned;
            *state = State::Finished;
            abandoned
        };
        // Ends the watcher's read; the answer is still written on the open write side.
        let _ = self.stream.shutdown(Shutdown::Read);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        abandoned
    }
}
