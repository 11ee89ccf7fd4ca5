//! `observe serve`: its options, the start lines, and stopping on SIGTERM or SIGINT.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use observe_cli::serve::{Keys, Limits, ServeConfig, ServeServer};
use observe_model::vars;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// The address to listen on; anything but loopback requires keys
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// The public key SDKs must send (Basic auth user); with --secret-key
    #[arg(
        long,
        env = vars::SERVE_PUBLIC_KEY,
        requires = "secret_key",
        conflicts_with = "keys"
    )]
    public_key: Option<String>,
    /// The secret key SDKs must send (Basic auth password); with --public-key
    #[arg(
        long,
        env = vars::SERVE_SECRET_KEY,
        hide_env_values = true,
        requires = "public_key",
        conflicts_with = "keys"
    )]
    secret_key: Option<String>,
    /// Several projects: a file of `project public-key secret-key` lines
    #[arg(long, value_name = "FILE")]
    keys: Option<PathBuf>,
    /// Seconds a stop waits for the accepted requests to be written
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    drain_timeout: f64,
    /// The most a request body may take on the wire (413 beyond)
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// The most a request body may take once inflated (413 beyond)
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_inflated_bytes)]
    max_inflated_bytes: usize,
    /// The most the write queue holds, in inflated request bytes (429 beyond)
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().queue_bytes)]
    queue_bytes: usize,
    /// How many requests may be read and decoded at once (503 beyond)
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_ingesting)]
    max_ingesting: usize,
}

impl ServeArgs {
    fn keys(&self) -> Result<Keys> {
        if let Some(file) = &self.keys {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the keys file {}", file.display()))?;
            return Keys::parse_file(&text)
                .with_context(|| format!("in the keys file {}", file.display()));
        }
        Ok(match (&self.public_key, &self.secret_key) {
            (Some(public), Some(secret)) => Keys::single(public, secret),
            _ => Keys::open(),
        })
    }

    fn config(&self, db: PathBuf) -> Result<ServeConfig> {
        if !(self.drain_timeout.is_finite() && self.drain_timeout >= 0.0) {
            bail!("--drain-timeout takes a number of seconds, 0 or more");
        }
        let mut config = ServeConfig::new(db, SocketAddr::new(self.bind, self.port));
        config.keys = self.keys()?;
        config.drain_timeout = Duration::from_secs_f64(self.drain_timeout);
        config.limits = Limits {
            max_body_bytes: self.max_body_bytes,
            max_inflated_bytes: self.max_inflated_bytes,
            queue_bytes: self.queue_bytes,
            max_ingesting: self.max_ingesting.max(1),
        };
        Ok(config)
    }
}

/// What runs beside the server (`--forward-to`): started once it is bound, finished once
/// it has drained.
pub trait Beside {
    /// One line each for the start-up message.
    fn describe(&self) -> Vec<String>;
    /// Finishes by `deadline`; what it did, for the stop message.
    fn finish(&self, deadline: std::time::Instant) -> String;
}

/// Starts `beside` on the bound server.
pub type Attach<'a> = &'a dyn Fn(&mut ServeServer) -> Result<Option<std::sync::Arc<dyn Beside>>>;

/// The store `observe serve` writes: `--db`, else `OBSERVE_STORE_URL` (a PostgreSQL URL),
/// else `OBSERVE_STORE_PATH`, else `.observe/traces.db`.
pub fn store(db: Option<PathBuf>) -> PathBuf {
    db.or_else(|| {
        std::env::var_os(vars::STORE_URL)
            .filter(|url| !url.is_empty())
            .map(PathBuf::from)
    })
    .unwrap_or_else(observe_store::default_store_path)
}

/// What `--forward-spool` without a directory puts its spool beside: the store file, or,
/// for a PostgreSQL store (a URL, not a place on disk), the default store file.
#[cfg(feature = "push")]
pub fn spool_anchor(db: &std::path::Path) -> PathBuf {
    match observe_store::is_postgres_url(db.as_os_str()) {
        true => PathBuf::from(observe_store::DEFAULT_STORE_PATH),
        false => db.to_owned(),
    }
}

pub fn run(db: PathBuf, args: &ServeArgs, attach: Attach<'_>) -> Result<()> {
    let mut server = ServeServer::bind(args.config(db)?)?;
    let beside = attach(&mut server)?;
    print_start(&server)?;
    for line in beside.iter().flat_map(|b| b.describe()) {
        println!("observe serve: {line}");
    }
    stop_on_signals(&server)?;
    let summary = server.run().context("serving")?;
    println!("observe serve: stopped: {summary}");
    if let Some(beside) = beside {
        // It gets the drain timeout too; what it cannot finish by then it says.
        let deadline = std::time::Instant::now() + Duration::from_secs_f64(args.drain_timeout);
        print!("{}", beside.finish(deadline));
    }
    if summary.requests_unwritten > 0 {
        bail!(
            "the drain timeout passed with {} requests unwritten (they were not \
             acknowledged; their clients send them again)",
            summary.requests_unwritten
        );
    }
    Ok(())
}

/// The URL, the store, the auth mode, and the lines that point an application at it.
fn print_start(server: &ServeServer) -> Result<()> {
    let url = server.url();
    let config = server.config();
    let (auth, public, secret) = match config.keys.pairs() {
        [] => (
            "no keys: loopback only, any key accepted".to_owned(),
            "pk-lf-local",
            "sk-lf-local",
        ),
        [pair] => (
            format!(
                "Basic auth, key {} for project {}",
                pair.public, pair.project
            ),
            pair.public.as_str(),
            "<its secret key>",
        ),
        pairs @ [first, ..] => (
            format!("Basic auth, {} key pairs (one per project)", pairs.len()),
            first.public.as_str(),
            "<its secret key>",
        ),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "observe serve: {url} (store {}; {auth})",
        server.store_location()
    )?;
    writeln!(out, "Point a Langfuse SDK at it:")?;
    writeln!(out, "  export LANGFUSE_HOST={url} LANGFUSE_BASE_URL={url}")?;
    writeln!(out, "  export LANGFUSE_PUBLIC_KEY={public}")?;
    writeln!(out, "  export LANGFUSE_SECRET_KEY={secret}")?;
    writeln!(
        out,
        "OpenTelemetry SDKs: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT={url}/v1/traces; web view: {url}/"
    )?;
    writeln!(
        out,
        "SIGTERM or Ctrl-C stops, after writing what was accepted"
    )?;
    out.flush()?;
    Ok(())
}

/// The first SIGTERM or SIGINT stops the server (which then drains the queue).
#[cfg(unix)]
fn stop_on_signals(server: &ServeServer) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals =
        signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).context("handling signals")?;
    let stopper = server.stopper();
    std::thread::Builder::new()
        .name("observe-serve-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                eprintln!("observe serve: stopping: writing what was accepted");
                stopper.stop();
            }
        })
        .context("starting the signal thread")?;
    Ok(())
}

/// Elsewhere the process ends on Ctrl-C without draining; every acknowledged request
/// was committed before its answer, so nothing acknowledged is lost.
#[cfg(not(unix))]
fn stop_on_signals(_server: &ServeServer) -> Result<()> {
    Ok(())
}
