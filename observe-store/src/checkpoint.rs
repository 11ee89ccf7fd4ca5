//! Checkpoints on a thread of their own: the WAL is copied into the database file beside
//! the writer, not on the thread that writes the batches.
//!
//! Why: on a file holding a million observations, a batch dirties pages all over the
//! indexes keyed by random ids and by user, and the copy of those pages into the file (and
//! its `fsync`) took about a third of the writer's time when SQLite ran it after a commit,
//! on the exporting thread. Here a second connection copies the WAL once it holds
//! [`FIRST_PAGES`], and again after each [`STEP_PAGES`] more, so the writer's own checkpoint
//! (SQLite's automatic one, kept at [`LIMIT_PAGES`] so that the WAL still restarts and stays
//! bounded) finds only the last few batches left to copy. A short run whose WAL stays under
//! [`FIRST_PAGES`] is copied once, when the store closes, as before.
//!
//! Nothing changes for durability: a checkpoint from another connection is the same SQLite
//! operation, safe against a process killed at any point (the WAL is kept until the
//! checkpoint that copies it has synced the file).

use std::ffi::c_int;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, OpenFlags};

/// Pages in the WAL at which the checkpointing thread first copies them (about 32 MB): the
/// first copy covers many batches, so a page they all changed (an index's last page, a
/// trace row updated twice) is copied once, and a run that writes less than this does no
/// more work than with SQLite's own checkpoint (the copy happens when the store closes).
const FIRST_PAGES: c_int = LIMIT_PAGES / 5 * 4;

/// Pages written to the WAL after which the checkpointing thread copies them again (about
/// 4 MB): small enough that little is left for the writer at [`LIMIT_PAGES`].
const STEP_PAGES: c_int = 1_000;

/// Pages in the WAL after which the writer checkpoints itself after a commit (about 40 MB),
/// as SQLite's automatic checkpoint would: what the other thread has copied already is not
/// copied again, and once all is copied the next batch starts the WAL over.
pub(crate) const LIMIT_PAGES: c_int = 10_000;

/// What the writer tells the checkpointing thread.
#[derive(Default)]
struct Signal {
    /// Pages were written since the last checkpoint started.
    pending: bool,
    /// The store is closing.
    stop: bool,
}

#[derive(Default)]
struct Shared {
    signal: Mutex<Signal>,
    wake: Condvar,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut Signal)) {
        change(&mut self.signal.lock().unwrap_or_else(PoisonError::into_inner));
        self.wake.notify_one();
    }

    /// Waits for work; `false` once the store is closing.
    fn wait(&self) -> bool {
        let mut signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        while !signal.pending && !signal.stop {
            signal = self
                .wake
                .wait(signal)
                .unwrap_or_else(PoisonError::into_inner);
        }
        signal.pending = false;
        !signal.stop
    }
}

/// The checkpointing thread of one writer; stopped and joined when dropped.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `path` beside the `writer` connection, which it hooks to be told
    /// of each commit. `None` (the writer then checkpoints by itself, as SQLite does by
    /// default) when the file is not in WAL mode or the thread cannot start.
    pub(crate) fn start(writer: &mut Connection, path: &Path) -> Option<Checkpointer> {
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .ok()?;
        if !mode.eq_ignore_ascii_case("wal") {
            return None;
        }
        let conn = match open(path) {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "observe store: checkpoints stay on the writer");
                return None;
            }
        };
        let shared = Arc::new(Shared::default());
        let thread = std::thread::Builder::new()
            .name("observe-store-checkpoint".into())
            .spawn({
                let shared = shared.clone();
                let path = path.to_owned();
                move || run(&conn, &shared, &path)
            })
            .ok()?;
        let checkpointer = Checkpointer {
            shared,
            thread: Some(thread),
        };
        let shared = checkpointer.shared.clone();
        let mut signalled_at: c_int = 0;
        // Replaces SQLite's automatic checkpoint, which is the same hook.
        let hooked = writer.wal_hook(Some(move |wal: &mut Wal, pages: c_int| {
            if pages >= LIMIT_PAGES {
                // Busy when the other thread is copying: the next commit tries again. The
                // commit has happened either way, so no error is returned.
                let _ = wal.checkpoint();
                return Ok(());
            }
            if pages < signalled_at {
                signalled_at = 0; // the WAL started over
            }
            if pages >= FIRST_PAGES && pages - signalled_at >= STEP_PAGES {
                signalled_at = pages;
                shared.update(|s| s.pending = true);
            }
            Ok(())
        }));
        // Without the hook the thread is never woken, and SQLite's own checkpoint stays.
        hooked.ok().map(|()| checkpointer)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.update(|s| s.stop = true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The checkpointing connection: it never writes rows, so it needs no migration.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(crate::connection_settings::BUSY_TIMEOUT)?;
    // Reads the file's header: until then the connection does not know the file is in WAL
    // mode, and a checkpoint through it does nothing.
    conn.query_row("PRAGMA journal_mode", [], |r| r.get::<_, String>(0))?;
    Ok(conn)
}

fn run(conn: &Connection, shared: &Shared, path: &Path) {
    let mut warned = false;
    while shared.wait() {
        // PASSIVE: copies what no reader still needs, without waiting for anyone.
        match conn.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE) {
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            Err(e) if !warned => {
                warned = true;
                tracing::warn!(path = %path.display(), error = %e, "observe store: checkpoint failed; the writer will retry it");
            }
            Err(_) => {}
        }
    }
}
