//! The `observe` command's exit codes, in one place: scripts and agents branch on them, so
//! a number never changes meaning. docs/CLI.md ("Exit codes") lists the same table, and a
//! test holds the two equal.

use std::process::ExitCode;

/// How `observe` ended, as its exit code.
///
/// `Partial` and `Stopped` are answers, not crashes: the command ran and says something a
/// script may want to act on (a model without a price, traces a destination refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// 0: the command did what was asked.
    Success = 0,
    /// 1: the command failed: no store, a trace or session that is not there, SQL the store
    /// refused, a file it could not read...; the message is on stderr.
    Failed = 1,
    /// 2: the command line is wrong (an unknown flag or command, a bad value); the usage is
    /// on stderr.
    Usage = 2,
    /// 3: the command ran and the answer is "not everything": `observe prices` found a model
    /// with no price, `observe push` had traces refused (the rest were sent).
    Partial = 3,
    /// 4: `observe push` stopped: the destination could not be reached, or refused the
    /// first trace whole (what was sent before is marked pushed).
    Stopped = 4,
}

impl ExitStatus {
    /// Every status, in the order of their codes.
    pub const ALL: [ExitStatus; 5] = [
        ExitStatus::Success,
        ExitStatus::Failed,
        ExitStatus::Usage,
        ExitStatus::Partial,
        ExitStatus::Stopped,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitStatus;

    #[test]
    fn the_codes_never_change() {
        let codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn docs_cli_lists_every_code() {
        let docs = include_str!("../../docs/CLI.md");
        let section = docs
            .split("## Exit codes\n")
            .nth(1)
            .expect("docs/CLI.md has a section `## Exit codes`");
        let section = section.split("\n## ").next().unwrap_or(section);
        let listed: Vec<u8> = section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next()?.parse().ok())
            .collect();
        let codes: Vec<u8> = ExitStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(listed, codes, "docs/CLI.md's exit code table");
    }
}
