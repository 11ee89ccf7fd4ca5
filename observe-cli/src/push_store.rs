//! `observe push` from the store: the traces a selection names, not yet pushed to the
//! destination, sent one trace per batch through observe-export's exporters (a few requests
//! in flight at once), and each marked pushed in the store once the destination accepted all
//! of its records.
//!
//! One trace per batch, because a destination that refuses part of a batch (a `207`) says
//! how many records it refused, not which: with a trace per batch the refused trace is
//! known, stays unmarked, and the next push sends it again.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use anyhow::Result;
use observe_model::export::{Batch, ExportError};
use observe_model::view::escape_control;
use observe_store::queries::TraceSelection;
use observe_store::{PushLedger, Store};
use serde_json::json;

use crate::cli_args::PushArgs;
use crate::exit_status::ExitStatus;
use crate::listings::parse_when;
use crate::output::{Format, Output};
use crate::push_destination::{self, Destination};
use crate::store_file;

/// How often progress is written while traces are sent.
const PROGRESS_EVERY: usize = 100;

/// Requests in flight at once, each on an exporter of its own: with one trace per request,
/// the server's round trip would otherwise set the pace.
const IN_FLIGHT: usize = 4;

/// A push that did not send everything it selected: the summary is printed, and the
/// command exits with [`Incomplete::exit_status`].
#[derive(Debug, thiserror::Error)]
pub enum Incomplete {
    /// The destination refused some traces (whole or in part); the rest were sent.
    #[error("{destination} refused {traces} trace(s); they are not marked pushed, and the next push sends them again: {first}")]
    Refused {
        /// Where to.
        destination: String,
        /// How many traces.
        traces: usize,
        /// The first refusal.
        first: String,
    },
    /// The destination could not be reached (or gave up, or refused the first trace whole,
    /// as it does with wrong keys): the push stopped there.
    #[error("{destination}: {reason}; {unsent} trace(s) not sent (what was sent before is marked pushed)")]
    Stopped {
        /// Where to.
        destination: String,
        /// What went wrong.
        reason: String,
        /// Traces left unsent.
        unsent: usize,
    },
}

impl Incomplete {
    /// [`ExitStatus::Partial`] when the destination refused some traces,
    /// [`ExitStatus::Stopped`] when it stopped the push.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Incomplete::Refused { .. } => ExitStatus::Partial,
            Incomplete::Stopped { .. } => ExitStatus::Stopped,
        }
    }
}

/// What a push did (or, on a dry run, would do).
#[derive(Debug, Default)]
struct Summary {
    destination: String,
    dry_run: bool,
    selected: usize,
    already_pushed: usize,
    sent_traces: usize,
    sent_observations: usize,
    sent_scores: usize,
    refused_traces: usize,
    refused_records: usize,
    unsent_traces: usize,
}

impl Summary {
    fn to_json(&self) -> serde_json::Value {
        json!({
            "destination": self.destination,
            "dry_run": self.dry_run,
            "selected": self.selected,
            "already_pushed": self.already_pushed,
            "sent": {
                "traces": self.sent_traces,
                "observations": self.sent_observations,
                "scores": self.sent_scores,
            },
            "refused": { "traces": self.refused_traces, "records": self.refused_records },
            "not_sent": self.unsent_traces,
        })
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run { "would send" } else { "sent" };
        write!(
            f,
            "{}: {verb} {} trace(s) ({} observations, {} scores)",
            self.destination, self.sent_traces, self.sent_observations, self.sent_scores
        )?;
        if self.refused_traces > 0 {
            write!(
                f,
                ", {} refused ({} records)",
                self.refused_traces, self.refused_records
            )?;
        }
        if self.unsent_traces > 0 {
            write!(f, ", {} not sent", self.unsent_traces)?;
        }
        write!(
            f,
            ", {} skipped as already pushed ({} selected)",
            self.already_pushed, self.selected
        )
    }
}

/// Runs `observe push` on the store at `path`.
pub fn run(path: &Path, out: &Output, args: &PushArgs) -> Result<()> {
    let selection = selection(args)?;
    let destination = push_destination::from_args(args, &push_destination::process_env)?;
    // Opened first, so that a store this command cannot write stops it before anything is
    // sent: a trace sent and not marked would be sent again by the next push.
    // It brings an older file to the current schema, as the store's writer does.
    let mut ledger = match args.dry_run {
        true => None,
        false => Some(store_file::open_ledger(path)?),
    };
    let store = store_file::open(path)?;
    let selected = store.selected_trace_ids(&selection)?;
    for id in &selection.trace_ids {
        if !selected.contains(id) {
            eprintln!(
                "observe push: --trace {}: no such trace in the store, or the other options leave it out",
                escape_control(id)
            );
        }
    }
    let pushed = store.pushed_trace_ids(&destination.key)?;
    let todo: Vec<&str> = selected
        .iter()
        .map(String::as_str)
        .filter(|id| !pushed.contains(*id))
        .collect();
    let mut summary = Summary {
        destination: destination.description.clone(),
        dry_run: args.dry_run,
        selected: selected.len(),
        already_pushed: selected.len() - todo.len(),
        ..Summary::default()
    };
    let outcome = match &mut ledger {
        None => count_only(&store, &todo, destination.sends_scores, &mut summary),
        Some(ledger) => {
            let mut destinations = vec![destination];
            while destinations.len() < IN_FLIGHT.min(todo.len()) {
                destinations.push(push_destination::from_args(
                    args,
                    &push_destination::process_env,
                )?);
            }
            let sent = send(path, ledger, &mut destinations, &todo, &mut summary);
            for mut d in destinations {
                let _ = d.exporter.shutdown();
            }
            sent
        }
    };
    match out.format {
        Format::Table => out.text(&format!("{}\n", escape_control(&summary.to_string())))?,
        Format::Json | Format::JsonLines => out.json_value(&summary.to_json())?,
    }
    outcome
}

/// The command line's selection as the store takes it.
fn selection(args: &PushArgs) -> Result<TraceSelection> {
    Ok(TraceSelection {
        session: args.session.clone(),
        user: args.user.clone(),
        tag: args.tag.clone(),
        since: args
            .since
            .as_deref()
            .map(|s| parse_when("--since", s))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|s| parse_when("--until", s))
            .transpose()?,
        trace_ids: args
            .traces
            .iter()
            .map(|t| t.trim().to_lowercase())
            .collect(),
    })
}

/// The records of one trace, as the exporters take them; its scores only for a destination
/// that takes scores (they are not counted as sent otherwise).
fn trace_batch(store: &Store, trace_id: &str, scores: bool) -> Result<Batch> {
    let scores = match scores {
        true => store.export_scores(trace_id)?,
        false => Vec::new(),
    };
    Ok(Batch {
        observations: store
            .export_observations(trace_id)?
            .into_iter()
            .map(Box::new)
            .collect(),
        scores: scores.into_iter().map(Box::new).collect(),
    })
}

/// A dry run: counts what would be sent.
fn count_only(store: &Store, todo: &[&str], scores: bool, summary: &mut Summary) -> Result<()> {
    for id in todo {
        let batch = trace_batch(store, id, scores)?;
        summary.sent_traces += 1;
        summary.sent_observations += batch.observations.len();
        summary.sent_scores += batch.scores.len();
    }
    Ok(())
}

/// What one worker did with one trace.
struct Outcome<'t> {
    id: &'t str,
    observations: usize,
    scores: usize,
    /// Reading the trace failed (`Err` outside), or its export did (`Err` inside).
    sent: Result<Result<(), ExportError>>,
    /// The export failed in a way that stops the push ([`stops_the_push`]).
    stops: bool,
}

/// Sends the traces of `todo`, [`IN_FLIGHT`] at a time (one exporter each, as many as
/// `destinations` holds), and marks each accepted one as its answer comes; stops taking new
/// traces once the destination is unreachable.
fn send(
    path: &Path,
    ledger: &mut PushLedger,
    destinations: &mut [Destination],
    todo: &[&str],
    summary: &mut Summary,
) -> Result<()> {
    let Some(first) = destinations.first() else {
        return Ok(());
    };
    let (key, description) = (first.key.clone(), first.description.clone());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let accepted = AtomicBool::new(false);
    let mut failure: Option<anyhow::Error> = None;
    let mut stopped: Option<String> = None;
    let mut first_refusal: Option<String> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for destination in destinations.iter_mut() {
            let tx = tx.clone();
            let shared = Shared {
                next: &next,
                stop: &stop,
                accepted: &accepted,
            };
            scope.spawn(move || worker(path, destination, todo, shared, &tx));
        }
        drop(tx);
        let mut done = 0;
        for outcome in rx {
            done += 1;
            let Outcome {
                id,
                observations,
                scores,
                sent,
                stops,
            } = outcome;
            match sent {
                Err(read) => {
                    stop.store(true, Ordering::Relaxed);
                    failure.get_or_insert(read);
                }
                Ok(Ok(())) => match ledger.mark_pushed(&key, &[id]) {
                    Ok(()) => {
                        summary.sent_traces += 1;
                        summary.sent_observations += observations;
                        summary.sent_scores += scores;
                    }
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e.into());
                    }
                },
                Ok(Err(err)) if stops => {
                    stopped.get_or_insert_with(|| err.to_string());
                }
                Ok(Err(err)) => {
                    let records = observations + scores;
                    let refused = err.failed_of(records);
                    eprintln!(
                        "observe push: trace {id}: {refused} of its {records} records refused: {}",
                        escape_control(&err.to_string())
                    );
                    summary.refused_traces += 1;
                    summary.refused_records += refused;
                    first_refusal.get_or_insert_with(|| err.to_string());
                }
            }
            if done % PROGRESS_EVERY == 0 && done < todo.len() {
                eprintln!("observe push: {done}/{} traces", todo.len());
            }
        }
    });
    summary.unsent_traces = todo.len() - summary.sent_traces - summary.refused_traces;
    if let Some(failure) = failure {
        return Err(failure);
    }
    if let Some(reason) = stopped {
        return Err(Incomplete::Stopped {
            destination: description,
            reason,
            unsent: summary.unsent_traces,
        }
        .into());
    }
    match first_refusal {
        None => Ok(()),
        Some(first) => Err(Incomplete::Refused {
            destination: description,
            traces: summary.refused_traces,
            first,
        }
        .into()),
    }
}

/// What the workers share: the next trace to take, whether to stop taking, and whether
/// the destination accepted any trace yet.
#[derive(Clone, Copy)]
struct Shared<'a> {
    next: &'a AtomicUsize,
    stop: &'a AtomicBool,
    accepted: &'a AtomicBool,
}

/// Takes the next trace of `todo` until none is left or the push stops: reads it from its
/// own connection to the store, sends it, and hands the outcome to the thread that marks.
/// A failure that stops the push stops it here at once, so that no worker takes another
/// trace after its own request failed so.
fn worker<'t>(
    path: &Path,
    destination: &mut Destination,
    todo: &[&'t str],
    shared: Shared<'_>,
    outcomes: &mpsc::Sender<Outcome<'t>>,
) {
    let store = Store::open(path);
    while !shared.stop.load(Ordering::Relaxed) {
        let Some(&id) = todo.get(shared.next.fetch_add(1, Ordering::Relaxed)) else {
            return;
        };
        let batch = match &store {
            Ok(store) => trace_batch(store, id, destination.sends_scores),
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        let outcome = match batch {
            Ok(batch) => {
                let sent = destination.exporter.export(&batch);
                let stops = match &sent {
                    Ok(()) => {
                        shared.accepted.store(true, Ordering::Relaxed);
                        false
                    }
                    Err(err) => stops_the_push(err, shared.accepted.load(Ordering::Relaxed)),
                };
                Outcome {
                    id,
                    observations: batch.observations.len(),
                    scores: batch.scores.len(),
                    sent: Ok(sent),
                    stops,
                }
            }
            Err(read) => Outcome {
                id,
                observations: 0,
                scores: 0,
                sent: Err(read),
                stops: true,
            },
        };
        if outcome.stops {
            shared.stop.store(true, Ordering::Relaxed);
        }
        if outcomes.send(outcome).is_err() {
            return;
        }
    }
}

/// An unreachable destination stops the push (the rest would wait out the same deadline
/// each), and so does one that refuses a trace whole before it accepted any (wrong keys, a
/// wrong URL): refusing every trace one by one would tell nothing more.
fn stops_the_push(err: &ExportError, accepted_any: bool) -> bool {
    match err {
        ExportError::Unavailable { .. } => true,
        ExportError::Rejected { .. } => !accepted_any,
        _ => false,
    }
}
