//! `observe serve --forward-to URL`: what the server accepts is stored locally and also sent
//! upstream, to a Langfuse server or an OpenTelemetry collector, through observe-export's
//! exporters (the wire formats, retries, `Retry-After`, `413` halving and `207` refusals of
//! the library and of `observe push`).
//!
//! Each upstream is a [`lane`](lane::Lane) of its own: a bounded queue (records and bytes), a
//! thread that sends from it, a retry deadline per batch, and optionally the durable spool
//! that `observe push --spool` replays. So a slow or dead upstream costs only its own records
//! (spooled, else dropped and counted), never the store, the request that brought them, or
//! another upstream. Every record handed to a lane ends counted: exported, failed (refused by
//! the upstream), dropped or spooled ([`ForwardReport`]).

mod lane;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use observe_export::spool::SpoolOptions;
use observe_model::export::Batch;
use observe_model::vars;

use crate::cli_args::ForwardArgs;
use crate::push_destination::{self, Destination, Env};
use lane::Lane;
pub use lane::{LaneCounts, QueueBounds};

/// The upstreams of one server, each with its own queue and thread.
pub struct Forwarder {
    lanes: Vec<Lane>,
}

/// What one upstream did with the records it was handed, at shutdown.
#[derive(Debug, Clone)]
pub struct LaneReport {
    /// Where it sends, for people (no secret).
    pub description: String,
    /// The counts.
    pub counts: LaneCounts,
    /// Its spool directory, when it spools.
    pub spool: Option<PathBuf>,
}

/// What every upstream did, at shutdown; `Display` prints one line each.
#[derive(Debug, Clone, Default)]
pub struct ForwardReport {
    /// One per `--forward-to`, in their order.
    pub lanes: Vec<LaneReport>,
}

impl Forwarder {
    /// The upstreams `args` name, started; `None` without `--forward-to`. `store` places the
    /// default spool directory; `env` is where keys, `OBSERVE_LANGFUSE_API`,
    /// `LANGFUSE_TIMEOUT` and the collector headers come from.
    pub fn start(args: &ForwardArgs, store: &Path, env: Env<'_>) -> Result<Option<Forwarder>> {
        if args.forward_to.is_empty() {
            return Ok(None);
        }
        let spool_root = args
            .forward_spool
            .as_deref()
            .map(|dir| crate::push_spool::root(Some(Path::new(dir)), store));
        let bounds = QueueBounds {
            records: args.forward_queue_records.max(1),
            bytes: args.forward_queue_bytes.max(1),
        };
        let mut destinations = Vec::new();
        for url in &args.forward_to {
            let destination =
                upstream(url, args, env).with_context(|| format!("--forward-to {url}"))?;
            destinations.push(destination);
        }
        if spool_root.is_some() {
            // `observe push --spool` finds a destination's records by the exporter's name:
            // two upstreams of one kind would mix theirs in one directory.
            let mut names: Vec<&str> = destinations.iter().map(|d| d.exporter.name()).collect();
            names.sort_unstable();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                bail!(
                    "--forward-spool keeps one spool per kind of upstream, and two --forward-to \
                     are `{}`: spool only one of them, or run one server per upstream",
                    w[0]
                );
            }
        }
        let mut lanes = Vec::new();
        for destination in destinations {
            let spool = match &spool_root {
                None => None,
                Some(root) => {
                    let name = destination.exporter.name().to_owned();
                    let spool =
                        observe_export::spool::open_slot(root, &name, SpoolOptions::default())
                            .with_context(|| {
                                format!("the spool for {}", destination.description)
                            })?;
                    Some(spool)
                }
            };
            lanes.push(Lane::start(destination, bounds, spool));
        }
        Ok(Some(Forwarder { lanes }))
    }

    /// Where each upstream sends, for the start-up message (no secret).
    pub fn descriptions(&self) -> Vec<String> {
        self.lanes
            .iter()
            .map(|l| l.description().to_owned())
            .collect()
    }

    /// Hands `batch` to every upstream without waiting for any; `bytes` is what the request
    /// that brought it weighed (decompressed), charged against each queue's byte bound. An
    /// upstream whose queue is full spools the batch or drops it, for itself alone.
    pub fn forward(&self, batch: &Arc<Batch>, bytes: usize) {
        if batch.is_empty() {
            return;
        }
        for lane in &self.lanes {
            lane.offer(batch, bytes);
        }
    }

    /// Sends what is queued until `deadline`, then spools (or drops, counted) what is left,
    /// and reports. Batches handed over afterwards are spooled or dropped, counted.
    pub fn shutdown(&self, deadline: Instant) -> ForwardReport {
        for lane in &self.lanes {
            lane.close(deadline);
        }
        let lanes = self
            .lanes
            .iter()
            .map(|lane| {
                let (description, spool, counts) = lane.finish(deadline);
                LaneReport {
                    description,
                    counts,
                    spool,
                }
            })
            .collect();
        ForwardReport { lanes }
    }
}

impl observe_cli::serve::Forward for Forwarder {
    fn forward(&self, batch: &Arc<Batch>, bytes: usize) {
        Forwarder::forward(self, batch, bytes);
    }
}

impl crate::serve_command::Beside for Forwarder {
    fn describe(&self) -> Vec<String> {
        self.descriptions()
            .into_iter()
            .map(|d| format!("also forwarding to {d}"))
            .collect()
    }

    fn finish(&self, deadline: Instant) -> String {
        self.shutdown(deadline).to_string()
    }
}

/// Starts the upstreams `args` name and hands them every batch `server` commits; `None`
/// without `--forward-to`.
pub fn attach(
    server: &mut observe_cli::serve::ServeServer,
    args: &ForwardArgs,
    store: &Path,
) -> Result<Option<Arc<dyn crate::serve_command::Beside>>> {
    let Some(forwarder) = Forwarder::start(args, store, &push_destination::process_env)? else {
        return Ok(None);
    };
    let forwarder = Arc::new(forwarder);
    server.forward_to(Arc::clone(&forwarder) as Arc<dyn observe_cli::serve::Forward>);
    Ok(Some(forwarder))
}

impl std::fmt::Display for ForwardReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for lane in &self.lanes {
            let c = &lane.counts;
            write!(
                f,
                "forwarded to {}: {} records accepted = {} exported + {} failed + {} dropped + {} \
                 spooled",
                lane.description, c.accepted, c.exported, c.failed, c.dropped, c.spooled
            )?;
            if c.replayed + c.replay_failed > 0 {
                write!(
                    f,
                    "; {} records of an earlier run sent from the spool ({} refused)",
                    c.replayed + c.replay_failed,
                    c.replay_failed
                )?;
            }
            if let (Some(dir), true) = (&lane.spool, c.spooled > 0) {
                write!(
                    f,
                    " (in {}: sent when the server runs again and the upstream answers, or by \
                     observe push --spool)",
                    dir.display()
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// A `--forward-to` URL as a destination: a path ending in `/v1/traces` (but not Langfuse's
/// own OTLP path) is a collector's traces URL, anything else a Langfuse base URL.
fn upstream(url: &str, args: &ForwardArgs, env: Env<'_>) -> Result<Destination> {
    let url = url.trim();
    let path = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let deadline = args.forward_retry_deadline.0;
    if let Some(base) = url
        .trim_end_matches('/')
        .strip_suffix("/api/public/otel/v1/traces")
    {
        // Langfuse's OTLP endpoint given whole: its base URL is what the exporter wants.
        return langfuse(base, args, env, deadline);
    }
    if path == "v1/traces" || path.ends_with("/v1/traces") {
        return push_destination::collector_at(url, deadline, env);
    }
    langfuse(url, args, env, deadline)
}

fn langfuse(
    base_url: &str,
    args: &ForwardArgs,
    env: Env<'_>,
    deadline: Option<Duration>,
) -> Result<Destination> {
    let from_env = push_destination::langfuse_keys(env);
    let public = args
        .forward_public_key
        .clone()
        .or_else(|| from_env.as_ref().map(|k| k.0.clone()));
    let secret = args
        .forward_secret_key
        .clone()
        .or_else(|| from_env.as_ref().map(|k| k.1.clone()));
    let (Some(public), Some(secret)) = (public, secret) else {
        return Err(anyhow!(
            "a Langfuse upstream needs its project's keys: --forward-public-key (or {}) and \
             {} (or --forward-secret-key); a collector's URL ends in /v1/traces",
            vars::PUBLIC_KEY,
            vars::SECRET_KEY
        ));
    };
    push_destination::langfuse_at(
        base_url,
        args.forward_api,
        (&public, &secret),
        deadline,
        env,
    )
}

#[cfg(test)]
mod tests;
