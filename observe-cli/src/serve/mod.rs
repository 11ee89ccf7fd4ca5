//! `observe serve`: a local Langfuse. One port takes OTLP/HTTP traces (Langfuse's
//! `/api/public/otel/v1/traces` and a collector's `/v1/traces`, protobuf or JSON, gzip or
//! not) and Langfuse's legacy `/api/public/ingestion` and `/api/public/scores`, answers the
//! SDKs' start-up calls (`/api/public/health`, `/api/public/projects`), and serves the web
//! view of `observe ui` on every other path.
//!
//! A request goes from its socket to the store through bounded steps: its head within
//! 64 KiB, its body within [`Limits::max_body_bytes`] (checked on `Content-Length` before a
//! byte is read), inflated within [`Limits::max_inflated_bytes`], decoded on its
//! connection's thread (at most [`Limits::max_ingesting`] at once), then queued for the
//! one writer within [`Limits::queue_bytes`] (429 with `Retry-After` beyond). The writer
//! commits what is queued in one transaction and only then are those requests answered
//! 200: an acknowledged span is on disk, whatever happens to the process next.
//!
//! ```no_run
//! use observe_cli::serve::{ServeConfig, ServeServer};
//!
//! let config = ServeConfig::new(".observe/traces.db".into(), "127.0.0.1:3000".parse().unwrap());
//! let server = ServeServer::bind(config).unwrap();
//! println!("listening on {}", server.url());
//! let summary = server.run().unwrap(); // until a Stopper stops it
//! println!("{summary}");
//! ```

mod auth;
mod body;
mod counts;
mod forward;
mod otlp;
mod queue;
mod reclaim;
mod routes;
mod store;
mod writer;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use observe_store::StoreError;

pub use auth::{AuthRefusal, KeyPair, Keys, KeysError, DEFAULT_PROJECT};
pub use counts::Summary;
pub use forward::Forward;

use crate::ui::{Router, UiError, MAX_CONNECTIONS};
use body::BodyLimits;
use counts::Counts;
use queue::WriteQueue;
use store::ServeStore;

/// The bounds of the path from socket to store. At most `max_ingesting` requests are
/// held at once while read and decoded (each its body, its inflated body and its decoded
/// observations), and the queue holds at most `queue_bytes` of inflated requests.
///
/// ```
/// use observe_cli::serve::Limits;
///
/// let limits = Limits::default();
/// assert!(limits.max_body_bytes <= limits.max_inflated_bytes);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most a request body may take on the wire (413 beyond).
    pub max_body_bytes: usize,
    /// The most a body may take once inflated (413 beyond; a gzip bomb stops there).
    pub max_inflated_bytes: usize,
    /// The most the write queue holds, in inflated request bytes (429 beyond).
    pub queue_bytes: usize,
    /// How many requests may be read and decoded at once (503 beyond).
    pub max_ingesting: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 8 << 20,
            max_inflated_bytes: 32 << 20,
            queue_bytes: 64 << 20,
            max_ingesting: 4,
        }
    }
}

/// What a server serves and how.
#[derive(Clone)]
pub struct ServeConfig {
    /// The store file (created if missing), or a PostgreSQL URL (`postgres://...`,
    /// feature `postgres`; migrated if needed).
    pub db: PathBuf,
    /// The address to listen on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// The key pairs taken; none means any key, on loopback only.
    pub keys: Keys,
    /// The bounds of the path to the store.
    pub limits: Limits,
    /// How long a stop waits for the queue to be written.
    pub drain_timeout: Duration,
}

impl std::fmt::Debug for ServeConfig {
    /// `db` without the password a PostgreSQL URL may carry.
    ///
    /// ```
    /// use observe_cli::serve::ServeConfig;
    ///
    /// let config = ServeConfig::new("postgres://u:pw@db/o".into(), "127.0.0.1:0".parse().unwrap());
    /// assert!(!format!("{config:?}").contains("pw"));
    /// ```
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field(
                "db",
                &observe_model::redact::url(&self.db.to_string_lossy()),
            )
            .field("addr", &self.addr)
            .field("keys", &self.keys)
            .field("limits", &self.limits)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl ServeConfig {
    /// A server on `addr` over `db`, with no keys, the default limits and a 5 s drain.
    ///
    /// ```
    /// use observe_cli::serve::ServeConfig;
    ///
    /// let config = ServeConfig::new("t.db".into(), "127.0.0.1:0".parse().unwrap());
    /// assert!(config.keys.is_open());
    /// ```
    pub fn new(db: PathBuf, addr: SocketAddr) -> ServeConfig {
        ServeConfig {
            db,
            addr,
            keys: Keys::open(),
            limits: Limits::default(),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a server could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Listening beyond loopback with no keys would let anyone write (and read) the store.
    #[error(
        "refusing to listen on {addr} without keys: anyone reaching it could write and read \
         your traces; add --public-key and --secret-key (or --keys FILE, or set \
         OBSERVE_SERVE_PUBLIC_KEY and OBSERVE_SERVE_SECRET_KEY), or --bind 127.0.0.1"
    )]
    KeysRequired {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The store could not be opened for writing.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The PostgreSQL store could not be reached or migrated (a wrong password, a newer
    /// schema...).
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(#[from] observe_store::postgres::PgStoreError),
    /// `--db` names a PostgreSQL store and this build has no PostgreSQL client.
    #[error(
        "--db names a PostgreSQL store, and this observe was built without the `postgres` \
         feature: install it with `cargo install observe-cli --features postgres`"
    )]
    NoPostgres,
    /// The web view's workers could not start.
    #[error(transparent)]
    Ui(#[from] UiError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the writer thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A bound server, ready to [`run`](ServeServer::run).
///
/// ```
/// use observe_cli::serve::{ServeConfig, ServeError, ServeServer};
///
/// let dir = tempfile::tempdir().unwrap();
/// let db = dir.path().join("traces.db");
/// let server = ServeServer::bind(ServeConfig::new(db.clone(), "127.0.0.1:0".parse().unwrap()))
///     .unwrap();
/// assert!(server.url().starts_with("http://127.0.0.1:"));
/// let stopper = server.stopper();
/// let running = std::thread::spawn(move || server.run().unwrap());
/// stopper.stop();
/// assert_eq!(running.join().unwrap().spans_written, 0);
///
/// // Beyond loopback, keys are required.
/// let open = ServeConfig::new(db, "0.0.0.0:0".parse().unwrap());
/// assert!(matches!(ServeServer::bind(open), Err(ServeError::KeysRequired { .. })));
/// ```
pub struct ServeServer {
    listener: TcpListener,
    addr: SocketAddr,
    config: ServeConfig,
    store: ServeStore,
    /// The web view, over the store written (a file, or PostgreSQL).
    ui: Router,
    stop: Arc<AtomicBool>,
    forward: Option<Arc<dyn Forward>>,
}

impl std::fmt::Debug for ServeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeServer")
            .field("addr", &self.addr)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Stops a running server from another thread (a signal handler's, a test's).
#[derive(Clone, Debug)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    /// Where to connect to wake the accepting thread.
    wake: SocketAddr,
}

impl Stopper {
    /// Asks the server to stop: it accepts nothing more, writes what it queued (within
    /// its drain timeout), and [`ServeServer::run`] returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accepting thread waits in accept(): a connection wakes it to see the flag.
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

impl ServeServer {
    /// Opens (creating it if needed) the store, starts the web view's workers over it and
    /// listens on the configured address. A PostgreSQL store is connected to and migrated
    /// here, so a wrong URL or password stops the start with its reason; the web view
    /// reads it as `observe ui --db postgres://...` does.
    pub fn bind(config: ServeConfig) -> Result<ServeServer, ServeError> {
        if !config.addr.ip().is_loopback() && config.keys.is_open() {
            return Err(ServeError::KeysRequired { addr: config.addr });
        }
        let store = ServeStore::open(&config.db)?;
        let bind_error = |source| ServeError::Bind {
            addr: config.addr,
            source,
        };
        let listener = TcpListener::bind(config.addr).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let ui = Router::start(&config.db, addr)?;
        Ok(ServeServer {
            listener,
            addr,
            config,
            store,
            ui,
            stop: Arc::new(AtomicBool::new(false)),
            forward: None,
        })
    }

    /// Hands every committed batch to `forward` as well (`observe serve --forward-to`).
    pub fn forward_to(&mut self, forward: Arc<dyn Forward>) {
        self.forward = Some(forward);
    }

    /// The address listened on (with the port picked when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:3000`, which is what `LANGFUSE_HOST` takes.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration served.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Where it writes, to show: the store file, or the PostgreSQL URL without its
    /// password.
    ///
    /// ```
    /// use observe_cli::serve::{ServeConfig, ServeServer};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let db = dir.path().join("traces.db");
    /// let server = ServeServer::bind(ServeConfig::new(db, "127.0.0.1:0".parse().unwrap())).unwrap();
    /// assert!(server.store_location().ends_with("traces.db"));
    /// ```
    pub fn store_location(&self) -> String {
        self.store.location()
    }

    /// A handle that stops [`run`](ServeServer::run).
    pub fn stopper(&self) -> Stopper {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Stopper {
            stop: Arc::clone(&self.stop),
            wake: SocketAddr::new(ip, self.addr.port()),
        }
    }

    /// Serves until stopped, then writes what was queued (within the drain timeout) and
    /// says what was done.
    pub fn run(self) -> Result<Summary, ServeError> {
        let limits = self.config.limits;
        let queue = Arc::new(WriteQueue::new(limits.queue_bytes));
        let counts = Arc::new(Counts::default());
        let (written, writer_done) = std::sync::mpsc::channel::<()>();
        let forwarding = self.forward.is_some();
        {
            let (queue, counts, store) = (Arc::clone(&queue), Arc::clone(&counts), self.store);
            let forward = self.forward;
            std::thread::Builder::new()
                .name("observe-serve-writer".into())
                .spawn(move || {
                    writer::run(&queue, store, &counts, forward.as_deref());
                    // The store is closed (its WAL checkpointed) before this is said.
                    drop(written);
                })
                .map_err(ServeError::Thread)?;
        }
        let shared = Arc::new(routes::Shared {
            keys: self.config.keys.clone(),
            limits: BodyLimits {
                body: limits.max_body_bytes,
                inflated: limits.max_inflated_bytes,
            },
            max_ingesting: limits.max_ingesting,
            ingesting: AtomicUsize::new(0),
            queue: Arc::clone(&queue),
            counts: Arc::clone(&counts),
            ui: self.ui,
            addr: self.addr,
            forwarding,
        });
        let open = Arc::new(AtomicUsize::new(0));
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else {
                // Out of file descriptors, most likely: give connections time to end.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                open.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            let (held, shared) = (Arc::clone(&open), Arc::clone(&shared));
            let spawned = std::thread::Builder::new()
                .name("observe-serve-connection".into())
                .spawn(move || {
                    routes::serve_connection(stream, &shared);
                    held.fetch_sub(1, Ordering::SeqCst);
                });
            if spawned.is_err() {
                open.fetch_sub(1, Ordering::SeqCst);
            }
        }
        drop(self.listener);
        let deadline = Instant::now() + self.config.drain_timeout;
        queue.close();
        let drained = writer_done
            .recv_timeout(self.config.drain_timeout)
            .is_err_and(|e| e == std::sync::mpsc::RecvTimeoutError::Disconnected);
        // Requests whose data was written are still being answered: give them the rest of
        // the deadline, so that their clients do not send them again.
        while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut summary = counts.summary();
        if !drained {
            summary.requests_unwritten = u64::try_from(queue.len()).unwrap_or(u64::MAX);
        }
        Ok(summary)
    }
}
