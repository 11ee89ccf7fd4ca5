//! `observe ui`: a local web view of the store, served from the binary.
//!
//! [`UiServer`] binds an address, then answers `GET` requests from worker threads, each
//! with its own read-only connection to the store (the file is in WAL mode, so they read
//! alongside running writers): page workers answer the pages and the endpoints, and hand
//! the Query page's SQL to query workers of their own, so that a runaway query never holds
//! up a page. The pages are embedded files ([`assets`]); what they show comes from the
//! JSON endpoints of [`api`], documented in `docs/UI.md`. Nothing here writes to the store:
//! the connections are opened read-only and `query_only`, and only `GET` and `HEAD` are
//! answered.
//!
//! Hostile requests are refused before they cost much: a request head is read within
//! 64 KiB (414, 431), a request with a body is refused (413), API requests from another
//! site's page are refused (403, see `cross_site.rs`), a query finding every query worker
//! busy is refused at once (503), and a query whose client goes away is stopped.
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
mod client_watch;
mod cross_site;
mod dashboard;
mod error;
pub(crate) mod http;
mod query;
pub(crate) mod request;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use crate::dashboard::Dashboard;
pub use api::Api;
pub use error::UiError;
pub use query::{run as run_query, Cut, QueryLimits, QueryResult, MAX_VALUE_BYTES};

/// How many page requests are answered at once (one store connection each).
const PAGE_WORKERS: usize = 3;

/// How many queries run at once (one store connection each); one more is refused.
const QUERY_WORKERS: usize = 2;

/// Page requests read and waiting for a page worker; more are answered 503.
const PENDING_PAGES: usize = 64;

/// Connections whose request is being read or routed at once; more are closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 128;

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
    listener: TcpListener,
    addr: SocketAddr,
    db: PathBuf,
    dashboard: Arc<Dashboard>,
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
        let bind_error = |source: std::io::Error| UiError::Bind {
            addr,
            source: source.into(),
        };
        let listener = TcpListener::bind(addr).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(UiServer {
            listener,
            addr,
            db: db.to_owned(),
            dashboard: Arc::new(Dashboard::builtin()),
        })
    }

    /// Shows `dashboard` on the Dashboard page instead of the default one.
    pub fn with_dashboard(self, dashboard: Dashboard) -> UiServer {
        UiServer {
            dashboard: Arc::new(dashboard),
            ..self
        }
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
        let router = Router::start_with(&self.db, self.addr, self.dashboard)?;
        let open = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            let Ok(stream) = stream else { continue };
            // Beyond this many connections being read, more are closed at once.
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let (held, router) = (Arc::clone(&open), router.clone());
            let spawned = std::thread::Builder::new()
                .name("observe-ui-connection".into())
                .spawn(move || {
                    http::route_connection(stream, router.addr, &router.pages, &router.queries);
                    held.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                open.fetch_sub(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

/// The view's page and query workers, answering requests read by a connection thread
/// (the view's own, or `observe serve`'s, which serves the view on its port).
#[derive(Clone)]
pub(crate) struct Router {
    addr: SocketAddr,
    pages: std::sync::mpsc::SyncSender<http::PageJob>,
    queries: http::QueryDesk,
}

impl Router {
    /// Starts the workers over `db`, for a server listening on `addr`, with the default
    /// dashboard.
    #[cfg(feature = "serve")]
    pub(crate) fn start(db: &Path, addr: SocketAddr) -> Result<Router, UiError> {
        Router::start_with(db, addr, Arc::new(Dashboard::builtin()))
    }

    /// Starts the workers over `db`, for a server listening on `addr`, showing `dashboard`.
    pub(crate) fn start_with(
        db: &Path,
        addr: SocketAddr,
        dashboard: Arc<Dashboard>,
    ) -> Result<Router, UiError> {
        let (sender, jobs) = sync_channel(QUERY_WORKERS);
        let jobs = Arc::new(Mutex::new(jobs));
        let queries = http::QueryDesk {
            jobs: sender,
            busy: Arc::new(AtomicUsize::new(0)),
            workers: QUERY_WORKERS,
        };
        for _ in 0..QUERY_WORKERS {
            let api = Api::open_for_queries(db)?;
            let jobs = Arc::clone(&jobs);
            let busy = Arc::clone(&queries.busy);
            std::thread::spawn(move || http::serve_queries(&jobs, &busy, api));
        }
        let (pages, page_jobs) = sync_channel(PENDING_PAGES);
        let page_jobs = Arc::new(Mutex::new(page_jobs));
        for _ in 0..PAGE_WORKERS {
            let api = Api::open(db)?.with_dashboard(Arc::clone(&dashboard));
            let page_jobs = Arc::clone(&page_jobs);
            std::thread::spawn(move || http::serve_pages(&page_jobs, api));
        }
        Ok(Router {
            addr,
            pages,
            queries,
        })
    }

    /// Answers a `GET` or `HEAD` request already read from `stream`.
    #[cfg(feature = "serve")]
    pub(crate) fn route(&self, stream: std::net::TcpStream, request: request::Request) {
        http::route_request(stream, request, self.addr, &self.pages, &self.queries);
    }
}
