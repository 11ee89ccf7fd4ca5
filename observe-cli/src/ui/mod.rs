//! `observe ui`: a local web view of the store, served from the binary.
//!
//! [`UiServer`] binds an address, then answers `GET` requests from a few worker threads,
//! each with its own read-only connection to the store (the file is in WAL mode, so they
//! read alongside running writers). The pages are embedded files ([`assets`]); what they
//! show comes from the JSON endpoints of [`api`], documented in `docs/UI.md`. Nothing here
//! writes to the store: the connections are `query_only`, and only `GET` and `HEAD` are
//! answered.
//!
//! ```no_run
//! use observe_cli::ui::UiServer;
//!
//! let server = UiServer::bind("127.0.0.1:0".parse().unwrap(), ".observe/traces.db".as_ref())
//!     .unwrap();
//! println!("open {}", server.url());
//! server.run().unwrap(); // serves until the process ends
//! ```

pub mod api;
pub mod assets;
mod error;
mod http;
mod query;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use api::Api;
pub use error::UiError;
pub use query::{run as run_query, QueryLimits, QueryResult};

/// How many requests are answered at once (one store connection each).
const WORKERS: usize = 4;

/// The web view's HTTP server over one store file.
///
/// ```
/// use observe_cli::ui::UiServer;
/// use observe_store::StoreExporter;
///
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("traces.db");
/// drop(StoreExporter::open(&path).unwrap()); // a writer creates the store
/// let server = UiServer::bind("127.0.0.1:0".parse().unwrap(), &path).unwrap();
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// assert_ne!(server.local_addr().port(), 0);
/// // A file that is not there is refused before anything listens.
/// assert!(UiServer::bind("127.0.0.1:0".parse().unwrap(), &dir.path().join("none.db")).is_err());
/// ```
pub struct UiServer {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    db: PathBuf,
}

impl std::fmt::Debug for UiServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiServer")
            .field("addr", &self.addr)
            .field("db", &self.db)
            .finish()
    }
}

impl UiServer {
    /// Checks that `db` opens as a store, then listens on `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr, db: &Path) -> Result<UiServer, UiError> {
        drop(Api::open(db)?);
        let server =
            tiny_http::Server::http(addr).map_err(|source| UiError::Bind { addr, source })?;
        let addr = server.server_addr().to_ip().ok_or_else(|| UiError::Bind {
            addr,
            source: "not an IP socket".into(),
        })?;
        Ok(UiServer {
            server: Arc::new(server),
            addr,
            db: db.to_owned(),
        })
    }

    /// The address listened on (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The page's URL, e.g. `http://127.0.0.1:7070/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Answers requests until the process ends; returns early only if no worker could open
    /// the store.
    pub fn run(self) -> Result<(), UiError> {
        let mut workers = Vec::with_capacity(WORKERS);
        for _ in 0..WORKERS {
            let api = Api::open(&self.db)?;
            let server = self.server.clone();
            let addr = self.addr;
            workers.push(std::thread::spawn(move || http::serve(&server, api, addr)));
        }
        for worker in workers {
            let _ = worker.join();
        }
        Ok(())
    }
}
