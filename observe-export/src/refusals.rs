//! Events the ingestion API refused in a `207`, said at warning level with the server's
//! reason, once per kind of event per episode: a refused `trace-create` loses the trace's
//! name, session, user and tags while its observations are taken, and nothing else would say
//! so; a refused observation is counted failed, and the warning says why.
//!
//! An episode lasts until a request is taken whole; the refusals of a kind already said in
//! it go to debug level, so a server that refuses every batch does not fill the log.

/// What one `207` answer refused, by kind of event: how many, and the first reason.
#[derive(Debug, Default)]
pub(crate) struct Refused(Vec<(&'static str, usize, String)>);

impl Refused {
    /// One refused event of `kind`, for `reason` (kept only for the first of its kind).
    pub(crate) fn add(&mut self, kind: &'static str, reason: impl FnOnce() -> String) {
        match self.0.iter_mut().find(|(k, _, _)| *k == kind) {
            Some((_, count, _)) => *count += 1,
            None => self.0.push((kind, 1, reason())),
        }
    }
}

/// The kinds already said in this episode.
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    said: Vec<&'static str>,
}

impl RefusalLog {
    /// A request was taken whole: the episode ends.
    pub(crate) fn taken_whole(&mut self) {
        self.said.clear();
    }

    /// Says what one answer refused: each kind not yet said in this episode as a warning.
    pub(crate) fn say(&mut self, destination: &str, refused: Refused) {
        for (kind, count, reason) in refused.0 {
            let lost = if kind == "trace-create" {
                "their traces keep the observations that were taken, without what the trace \
                 event carries (name, session, user, tags, metadata)"
            } else {
                "they are counted failed"
            };
            if self.said.contains(&kind) {
                tracing::debug!(
                    destination,
                    "observe: the ingestion API refused {count} `{kind}` event(s): {reason}"
                );
                continue;
            }
            self.said.push(kind);
            tracing::warn!(
                destination,
                "observe: the ingestion API refused {count} `{kind}` event(s): {reason}; {lost} \
                 (later refusals of `{kind}` are logged at debug level until a request is \
                 taken whole)"
            );
        }
    }
}
