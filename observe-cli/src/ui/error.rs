//! Why the web view could not start or answer: the server's error and the API's, which opens
//! the store for it.

use std::net::SocketAddr;

use observe_store::{ReadError, StoreError};

/// Why the web view could not start or answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store (a file, or a PostgreSQL store) could not be opened or read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The address could not be bound (in use, not this machine's...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
