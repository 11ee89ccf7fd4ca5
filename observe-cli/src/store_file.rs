//! Opening the store file: read-only for every reading command, as a writer for
//! `observe migrate`, with errors that say what to do.

use std::path::Path;

use anyhow::Result;
use observe_store::{
    ReadError, Reader, Store, StoreError, StoreExporter, DEFAULT_STORE_PATH, SCHEMA_VERSION,
};

use crate::output::Output;

fn missing_store(path: &Path) -> anyhow::Error {
    let shown = if path == Path::new(DEFAULT_STORE_PATH) {
        DEFAULT_STORE_PATH.to_owned()
    } else {
        path.display().to_string()
    };
    anyhow::anyhow!(
        "no store at {shown} — run your app with observe \
         (e.g. `cargo run --example content_analysis`) or pass --db"
    )
}

/// Opens the store the reading commands read: a file, or a PostgreSQL URL; with an error
/// that says what to do.
pub fn open_reader(path: &Path) -> Result<Reader> {
    match Reader::open(path.as_os_str()) {
        Ok(reader) => Ok(reader),
        Err(ReadError::Store(StoreError::NotFound { .. })) => Err(missing_store(path)),
        Err(e) => Err(e.into()),
    }
}

/// Refuses a PostgreSQL URL given to a command that works on files only (without showing
/// the URL, which may hold a password).
fn file_only(path: &Path) -> Result<()> {
    if observe_store::is_postgres_url(path.as_os_str()) {
        anyhow::bail!(
            "this command works on store files only; --db names a PostgreSQL store (its \
             writers migrate it, and sessions, traces, trace, report, query and ui read it)"
        );
    }
    Ok(())
}

/// Opens the store file read-only (commands that read files only), with an error that
/// says what to do.
pub fn open(path: &Path) -> Result<Store> {
    file_only(path)?;
    match Store::open(path) {
        Ok(store) => Ok(store),
        Err(StoreError::NotFound { .. }) => Err(missing_store(path)),
        Err(e) => Err(e.into()),
    }
}

/// Opens the store to remember what `observe push` sent, with an error that says what to
/// do when it is missing.
#[cfg(feature = "push")]
pub fn open_ledger(path: &Path) -> Result<observe_store::PushLedger> {
    file_only(path)?;
    match observe_store::PushLedger::open(path) {
        Ok(ledger) => Ok(ledger),
        Err(StoreError::NotFound { .. }) => Err(missing_store(path)),
        Err(e) => Err(e.into()),
    }
}

/// Opens the store as a writer does, which brings an older file to the current schema.
pub fn migrate(path: &Path, out: &Output) -> Result<()> {
    file_only(path)?;
    if !path.is_file() {
        return Err(missing_store(path));
    }
    // A foreign file is refused before a writer could add tables to it.
    match Store::open(path) {
        Ok(store) if store.schema_version() == SCHEMA_VERSION => {
            return out.text(&format!(
                "{} is already at schema version {SCHEMA_VERSION}\n",
                path.display()
            ))
        }
        // Readers take a file a version behind as it is; the writer still updates it.
        Ok(_) | Err(StoreError::OlderSchema { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    drop(StoreExporter::open(path)?);
    out.text(&format!(
        "{} migrated to schema version {SCHEMA_VERSION}\n",
        path.display()
    ))
}
