//! The prompt client: the cache in front, the fetching thread behind.

use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::cache::{Cache, Key, Lookup};
use super::error::PromptError;
use super::fetch::{self, Endpoint, Job};
use super::prompt::Prompt;
use super::query::PromptQuery;
use crate::http::{self, HeaderStyle};

/// Where the prompts are and how long they are cached.
///
/// ```
/// use observe_export::prompts::PromptSettings;
/// let s = PromptSettings::new("https://cloud.langfuse.com", "pk-lf-1", "sk-lf-1");
/// assert_eq!(s.cache_ttl.as_secs(), 60);
/// assert_eq!(s.timeout.as_secs(), 5);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PromptSettings {
    /// The Langfuse server (`LANGFUSE_BASE_URL`).
    pub base_url: String,
    /// `LANGFUSE_PUBLIC_KEY`.
    pub public_key: String,
    /// `LANGFUSE_SECRET_KEY`.
    pub secret_key: String,
    /// How long a fetched prompt is served before it is refreshed (60 s). Past it, the
    /// cached version is still served at once while a background refresh replaces it;
    /// `Duration::ZERO` refreshes after every call.
    pub cache_ttl: Duration,
    /// Timeout of one request to Langfuse (5 s).
    pub timeout: Duration,
}

impl PromptSettings {
    /// Settings with the default TTL (60 s) and timeout (5 s).
    pub fn new(
        base_url: impl Into<String>,
        public_key: impl Into<String>,
        secret_key: impl Into<String>,
    ) -> PromptSettings {
        PromptSettings {
            base_url: base_url.into(),
            public_key: public_key.into(),
            secret_key: secret_key.into(),
            cache_ttl: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }

    /// From `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` and `LANGFUSE_BASE_URL` (older
    /// name `LANGFUSE_HOST`; `https://cloud.langfuse.com` when neither is set), the
    /// variables observe's exporters read.
    pub fn from_env() -> Result<PromptSettings, PromptError> {
        PromptSettings::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), with the variables looked up by `var`.
    ///
    /// ```
    /// use observe_export::prompts::PromptSettings;
    /// let env = |name: &str| match name {
    ///     "LANGFUSE_PUBLIC_KEY" => Some("pk-lf-1".to_owned()),
    ///     "LANGFUSE_SECRET_KEY" => Some("sk-lf-1".to_owned()),
    ///     "LANGFUSE_HOST" => Some("http://localhost:3000".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(PromptSettings::from_vars(env)?.base_url, "http://localhost:3000");
    /// assert!(PromptSettings::from_vars(|_| None).is_err());
    /// # Ok::<(), observe_export::prompts::PromptError>(())
    /// ```
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<PromptSettings, PromptError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let key =
            |name: &str| var(name).ok_or_else(|| PromptError::Setup(format!("{name} is not set")));
        let base_url = var("LANGFUSE_BASE_URL")
            .or_else(|| var("LANGFUSE_HOST"))
            .unwrap_or_else(|| "https://cloud.langfuse.com".to_owned());
        Ok(PromptSettings::new(
            base_url,
            key("LANGFUSE_PUBLIC_KEY")?,
            key("LANGFUSE_SECRET_KEY")?,
        ))
    }
}

/// Fetches prompts from Langfuse and caches them. Cheap to clone (the clones share the cache
/// and the fetching thread, which ends when the last clone is dropped).
///
/// A prompt's first fetch waits for Langfuse (up to the timeout): from async code, use
/// [`get_async`](Self::get_async), which awaits it instead of blocking the thread. After that, `get` never waits for Langfuse: past the
/// TTL it returns the cached version and one background refresh replaces it; a failed
/// refresh keeps the cached version (with a warning) and is tried again on a later call.
///
/// ```no_run
/// use observe_export::prompts::{PromptBody, PromptClient, PromptQuery, PromptSettings};
///
/// let prompts = PromptClient::new(PromptSettings::from_env()?)?;
/// let prompt = prompts.get(
///     PromptQuery::new("summarize").fallback(PromptBody::Text("Summarize: {{text}}".into())),
/// )?;
/// let text = prompt.compile_text(&[("text", "...")]);
/// # Ok::<(), observe_export::prompts::PromptError>(())
/// ```
#[derive(Clone)]
pub struct PromptClient {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Arc<Cache>,
    jobs: Mutex<Sender<Job>>,
    cache_ttl: Duration,
}

impl std::fmt::Debug for PromptClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PromptClient")
            .field("cache_ttl", &self.inner.cache_ttl)
            .finish_non_exhaustive()
    }
}

impl PromptClient {
    /// Checks the URL and keys and starts the fetching thread (`observe-prompts`).
    pub fn new(settings: PromptSettings) -> Result<PromptClient, PromptError> {
        let setup = |e: http::SetupError| PromptError::Setup(e.to_string());
        let base = http::parse_url(settings.base_url.trim_end_matches('/')).map_err(setup)?;
        let headers = http::langfuse_headers(
            &settings.public_key,
            &settings.secret_key,
            HeaderStyle::Hyphens,
        )
        .map_err(setup)?;
        let endpoint = Endpoint {
            base,
            headers,
            timeout: settings.timeout,
        };
        let cache = Arc::new(Cache::default());
        let (jobs, receiver) = mpsc::channel();
        let thread_cache = Arc::clone(&cache);
        std::thread::Builder::new()
            .name("observe-prompts".to_owned())
            .spawn(move || fetch::run(endpoint, thread_cache, receiver))
            .map_err(|e| PromptError::Setup(format!("cannot start the prompt thread: {e}")))?;
        Ok(PromptClient {
            inner: Arc::new(Inner {
                cache,
                jobs: Mutex::new(jobs),
                cache_ttl: settings.cache_ttl,
            }),
        })
    }

    /// The prompt labelled `production`.
    pub fn get_prompt(&self, name: &str) -> Result<Prompt, PromptError> {
        self.get(PromptQuery::new(name))
    }

    /// The prompt a query names: from the cache when it holds it (fresh, or stale while a
    /// refresh runs), else fetched now, waiting on this thread; else the query's fallback,
    /// else the error.
    pub fn get(&self, query: PromptQuery) -> Result<Prompt, PromptError> {
        match self.cached(&query) {
            Some(prompt) => Ok(prompt),
            None => {
                let (reply, answer) = mpsc::channel();
                let asked = self.ask(&query, move |result| {
                    let _ = reply.send(result);
                });
                let result = if asked { answer.recv().ok() } else { None };
                settle(&query, result)
            }
        }
    }

    /// As [`get`](Self::get), but a first fetch is awaited instead of blocking the thread:
    /// for async code, on any executor.
    ///
    /// ```no_run
    /// # async fn run(prompts: observe_export::prompts::PromptClient) {
    /// use observe_export::prompts::PromptQuery;
    /// let prompt = prompts.get_async(PromptQuery::new("summarize").label("staging")).await;
    /// # }
    /// ```
    pub async fn get_async(&self, query: PromptQuery) -> Result<Prompt, PromptError> {
        if let Some(prompt) = self.cached(&query) {
            return Ok(prompt);
        }
        let (reply, answer) = futures_channel::oneshot::channel();
        let asked = self.ask(&query, move |result| {
            let _ = reply.send(result);
        });
        let result = if asked { answer.await.ok() } else { None };
        settle(&query, result)
    }

    /// The cached prompt, fresh or stale (queuing its refresh); `None` when not cached.
    fn cached(&self, query: &PromptQuery) -> Option<Prompt> {
        let key: Key = (query.name.clone(), query.selector.clone());
        match self.inner.cache.lookup(&key, Instant::now()) {
            Lookup::Fresh(prompt) => Some(prompt),
            Lookup::Stale { prompt, refresh } => {
                if refresh {
                    let job = Job {
                        key: key.clone(),
                        ttl: self.ttl(query),
                        reply: None,
                    };
                    if !self.send(job) {
                        self.inner.cache.refresh_failed(&key);
                    }
                }
                Some(prompt)
            }
            Lookup::Miss => None,
        }
    }

    /// Queues a first fetch whose answer goes to `reply`; false when the thread has stopped.
    fn ask(
        &self,
        query: &PromptQuery,
        reply: impl FnOnce(Result<Prompt, PromptError>) + Send + 'static,
    ) -> bool {
        self.send(Job {
            key: (query.name.clone(), query.selector.clone()),
            ttl: self.ttl(query),
            reply: Some(Box::new(reply)),
        })
    }

    fn ttl(&self, query: &PromptQuery) -> Duration {
        query.ttl.unwrap_or(self.inner.cache_ttl)
    }

    /// Hands a job to the fetching thread; false when it has stopped.
    fn send(&self, job: Job) -> bool {
        let jobs = self.inner.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.send(job).is_ok()
    }
}

/// A first fetch's answer (`None`: the fetching thread has stopped), or the fallback in
/// place of an error.
fn settle(
    query: &PromptQuery,
    answer: Option<Result<Prompt, PromptError>>,
) -> Result<Prompt, PromptError> {
    let result = answer.unwrap_or_else(|| {
        Err(PromptError::Unavailable {
            name: query.name.clone(),
            reason: "the prompt thread has stopped".to_owned(),
        })
    });
    result.or_else(|error| match query.fallback_prompt() {
        Some(fallback) => {
            tracing::warn!(
                "observe: using the fallback of prompt `{}`: {error}",
                query.name
            );
            Ok(fallback)
        }
        None => Err(error),
    })
}
