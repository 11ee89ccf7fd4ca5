//! `observe`: sessions, traces, reports and SQL over the local store.

#![forbid(unsafe_code)]

mod cli_args;
mod exit_status;
mod failures;
mod generations;
mod listings;
mod output;
mod prices;
#[cfg(feature = "push")]
mod push_destination;
#[cfg(feature = "push")]
mod push_spool;
#[cfg(feature = "push")]
mod push_store;
#[cfg(feature = "serve")]
mod serve_command;
#[cfg(all(feature = "push", feature = "serve"))]
mod serve_forward;
mod shown_ids;
mod sql_commands;
mod store_file;
mod timeseries_report;
mod tree_depth;
mod tree_json;
mod trees;
#[cfg(feature = "ui")]
mod ui_command;

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use cli_args::{Cli, Command};
use exit_status::ExitStatus;
use observe_model::view::escape_control;
use observe_store::{default_store_path, Reader};
use output::{Format, Output};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // `--help` and `--version` are answers; anything else is a wrong command line.
            let status = if e.use_stderr() {
                ExitStatus::Usage
            } else {
                ExitStatus::Success
            };
            return status.into();
        }
    };
    match run(cli) {
        Ok(()) => ExitStatus::Success.into(),
        Err(e) => {
            let message = format!("error: {e:#}\n");
            let _ = std::io::stderr().write_all(escape_control_lines(&message).as_bytes());
            exit_code(&e)
        }
    }
}

/// [`ExitStatus::Failed`] for an error; a command that stopped part way says its own status.
fn exit_code(error: &anyhow::Error) -> ExitCode {
    #[cfg(feature = "push")]
    if let Some(incomplete) = error.downcast_ref::<push_store::Incomplete>() {
        return incomplete.exit_status().into();
    }
    let _ = error;
    ExitStatus::Failed.into()
}

/// An error message made safe for the terminal, keeping its line breaks.
fn escape_control_lines(text: &str) -> String {
    text.split('\n')
        .map(|line| escape_control(line).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Commands that need no store run first; `migrate` opens it as a writer, the rest read it.
fn run(cli: Cli) -> Result<()> {
    let out = Output {
        format: match (cli.json, cli.jsonl) {
            (_, true) => Format::JsonLines,
            (true, false) => Format::Json,
            (false, false) => Format::Table,
        },
    };
    let path = cli.db.clone().unwrap_or_else(default_store_path);
    if cli.project.is_some() && !reads_one_project(&cli.command) {
        anyhow::bail!(
            "--project applies to sessions, session, traces, trace, report and query \
             (`observe ui` takes `project=NAME` in its JSON endpoints' URLs)"
        );
    }
    match cli.command {
        Command::Query(args) if args.translate => sql_commands::print_translation(&out, &args),
        Command::Report(args) if args.timeseries && args.show_sql => {
            timeseries_report::print_sql(&out, &args)
        }
        Command::Report(args) if args.show_sql => sql_commands::print_report_sql(&out, &args),
        Command::Migrate => store_file::migrate(&path, &out),
        #[cfg(feature = "push")]
        Command::Push(args) => match &args.spool {
            Some(dir) => push_spool::run(&push_spool::root(Some(dir), &path), &args, &out),
            None => push_store::run(&path, &out, &args),
        },
        Command::Prices(args) => prices::run(&out, &path, &args),
        #[cfg(all(feature = "serve", feature = "push"))]
        Command::Serve { serve, forward } => {
            let db = serve_command::store(cli.db.clone());
            let anchor = serve_command::spool_anchor(&db);
            serve_command::run(db, &serve, &|server| {
                serve_forward::attach(server, &forward, &anchor)
            })
        }
        #[cfg(all(feature = "serve", not(feature = "push")))]
        Command::Serve { serve } => {
            serve_command::run(serve_command::store(cli.db.clone()), &serve, &|_| Ok(None))
        }
        #[cfg(feature = "ui")]
        Command::Ui(args) => {
            // Opened once here so a store that is missing or unreadable is said before
            // the server starts; its location as messages show it (no password).
            let location = store_file::open_reader(&path)?.location();
            ui_command::run(&path, &location, &args)
        }
        command => {
            let mut reader = store_file::open_reader(&path)?;
            reader.set_project(cli.project.as_deref())?;
            read(&mut reader, &out, command)
        }
    }
}

/// The commands `--project` limits to one project's rows.
fn reads_one_project(command: &Command) -> bool {
    matches!(
        command,
        Command::Sessions { .. }
            | Command::Session { .. }
            | Command::Traces { .. }
            | Command::Trace { .. }
            | Command::Report(_)
            | Command::Query(_)
    )
}

fn read(store: &mut Reader, out: &Output, command: Command) -> Result<()> {
    match command {
        Command::Sessions { limit } => listings::sessions(store, out, limit),
        Command::Session { id, tree } => trees::session(store, out, &id, &tree),
        Command::Traces { filters, limit } => listings::traces(store, out, &filters, limit),
        Command::Trace { id, tree } => trees::trace(store, out, &id, &tree),
        Command::Report(args) if args.timeseries => timeseries_report::run(store, out, &args),
        Command::Report(args) => sql_commands::report(store, out, &args),
        Command::Query(args) => sql_commands::query(store, out, &args),
        Command::Migrate | Command::Prices(_) => {
            unreachable!("handled before the store is opened for reading")
        }
        #[cfg(feature = "push")]
        Command::Push(_) => unreachable!("handled before the store is opened for reading"),
        #[cfg(feature = "serve")]
        Command::Serve { .. } => unreachable!("handled before the store is opened for reading"),
        #[cfg(feature = "ui")]
        Command::Ui(_) => unreachable!("handled before the store is opened for reading"),
    }
}
