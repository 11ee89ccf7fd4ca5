//! `observe ui`: its options, and starting the server.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use anyhow::{Context as _, Result};
use observe_cli::dashboard::Dashboard;
use observe_cli::ui::UiServer;

#[derive(clap::Args, Debug)]
pub struct UiArgs {
    /// The port to listen on (0 picks a free one)
    #[arg(long, default_value_t = 7070)]
    port: u16,
    /// The address to listen on. Anything but loopback shows your traces (prompts
    /// included) to whoever reaches this machine
    #[arg(long, value_name = "ADDR", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Open the page in the default browser
    #[arg(long)]
    open: bool,
    /// A dashboard file (TOML or YAML, by its extension: widgets of SQL and chart types)
    /// for the Dashboard page, instead of the default one
    #[arg(long, value_name = "FILE")]
    dashboard: Option<std::path::PathBuf>,
}

/// Serves the view of `db` (a store file or a PostgreSQL URL), shown in messages as
/// `location` (a URL without its password).
pub fn run(db: &Path, location: &str, args: &UiArgs) -> Result<()> {
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: listening on {}: anyone who can reach this address can read every \
             trace in {location} (prompts and outputs included); the view has no login",
            args.bind,
        );
    }
    let mut server = UiServer::bind(SocketAddr::new(args.bind, args.port), db)?;
    if let Some(file) = &args.dashboard {
        server = server.with_dashboard(Dashboard::load(file)?);
    }
    let url = server.url();
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(
            stdout,
            "observe ui: {url} (reading {location}; Ctrl-C stops)",
        )?;
        stdout.flush()?;
    }
    if args.open {
        if let Err(e) = open_browser(&url) {
            eprintln!("warning: could not open a browser ({e:#}): open {url} yourself");
        }
    }
    server.run().context("serving the web view")
}

fn open_browser(url: &str) -> Result<()> {
    let (program, args): (&str, &[&str]) = if cfg!(target_os = "macos") {
        ("open", &[])
    } else if cfg!(windows) {
        ("cmd", &["/C", "start", ""])
    } else {
        ("xdg-open", &[])
    };
    std::process::Command::new(program)
        .args(args)
        .arg(url)
        .spawn()
        .with_context(|| format!("running {program}"))?;
    Ok(())
}
