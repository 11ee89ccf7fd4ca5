//! `observe push --spool [DIR]`: sends what applications left in their durable spool (see
//! RELIABILITY.md) to the destinations the environment names, with progress on stderr and a
//! summary per destination on stdout. Slots another process holds are left to it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use observe_export::spool::{replay_dir, ReplaySummary, SpoolOptions};
use observe_model::vars;

use crate::cli_args::PushArgs;
use crate::output::{Format, Output};
use crate::push_destination::{self, process_env};

/// The spool's root: the directory given, else `$OBSERVE_SPOOL_DIR`, else `spool/` beside
/// the store file.
pub fn root(given: Option<&Path>, store: &Path) -> PathBuf {
    if let Some(dir) = given.filter(|d| !d.as_os_str().is_empty()) {
        return dir.to_owned();
    }
    if let Some(dir) = std::env::var_os(vars::SPOOL_DIR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    store
        .parent()
        .map_or_else(|| PathBuf::from("spool"), |p| p.join("spool"))
}

/// Pushes every destination's spool under `root`, each configured as `observe push`
/// configures it (`args`: `--endpoint`, `--base-url`, `--retry-deadline`); fails when
/// something was left unsent.
pub fn run(root: &Path, args: &PushArgs, out: &Output) -> Result<()> {
    if !root.is_dir() {
        bail!(
            "no spool at {} (set {} or pass the directory: observe push --spool DIR)",
            root.display(),
            vars::SPOOL_DIR
        );
    }
    let mut names: Vec<String> = std::fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    let mut rows = Vec::new();
    let mut left = false;
    for name in names {
        let mut exporter = match push_destination::for_spool(&name, args, &process_env) {
            Ok(d) => d.exporter,
            Err(why) => {
                eprintln!("observe push: {name}: not pushed: {why:#}");
                left = true;
                continue;
            }
        };
        let mut last = Instant::now();
        let summary = replay_dir(
            &root.join(&name),
            exporter.as_mut(),
            SpoolOptions::default(),
            &mut |p| {
                if last.elapsed() >= Duration::from_millis(500) {
                    last = Instant::now();
                    eprintln!(
                        "observe push: {name}: {} records delivered, {} left",
                        p.delivered, p.remaining
                    );
                }
            },
        );
        left |= summary.remaining > 0 || summary.stopped.is_some();
        rows.push((name, summary));
    }
    print(out, &rows)?;
    if left {
        bail!("records are left in the spool {}; run observe push --spool again once the destination answers", root.display());
    }
    Ok(())
}

fn print(out: &Output, rows: &[(String, ReplaySummary)]) -> Result<()> {
    if out.format != Format::Table {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|(name, s)| {
                serde_json::json!({
                    "destination": name,
                    "delivered": s.delivered,
                    "failed": s.failed,
                    "dropped_corrupt": s.dropped_corrupt,
                    "resent": s.resent,
                    "remaining": s.remaining,
                    "locked_slots": s.locked_slots,
                    "stopped": s.stopped,
                })
            })
            .collect();
        return out.json_value(&serde_json::Value::Array(list));
    }
    let mut text = String::new();
    for (name, s) in rows {
        text.push_str(&format!(
            "{name}: {} delivered, {} refused, {} dropped (damaged), {} resent (maybe sent \
             before), {} left{}{}\n",
            s.delivered,
            s.failed,
            s.dropped_corrupt,
            s.resent,
            s.remaining,
            if s.locked_slots > 0 {
                format!(", {} slots in use by another process", s.locked_slots)
            } else {
                String::new()
            },
            s.stopped
                .as_deref()
                .map(|why| format!(" (stopped: {why})"))
                .unwrap_or_default(),
        ));
    }
    if rows.is_empty() {
        text.push_str("the spool is empty\n");
    }
    out.text(&text)?;
    let _ = std::io::stdout().flush();
    Ok(())
}
