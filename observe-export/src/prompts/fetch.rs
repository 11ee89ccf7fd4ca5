//! The thread that talks to Langfuse's prompt API: first fetches (a caller waits for the
//! answer) and background refreshes, one at a time, in the order asked. It owns the
//! blocking HTTP client, which may be neither built nor dropped inside an async runtime.

use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use reqwest::blocking::Client as HttpClient;
use reqwest::header::HeaderMap;

use super::cache::{Cache, Key};
use super::error::PromptError;
use super::prompt::Prompt;
use super::query::Selector;

/// Hands a first fetch's answer to the caller waiting for it (on a thread or a future).
pub(crate) type Reply = Box<dyn FnOnce(Result<Prompt, PromptError>) + Send>;

/// One request for the thread.
pub(crate) struct Job {
    pub(crate) key: Key,
    pub(crate) ttl: Duration,
    /// A first fetch's caller; a refresh has no one waiting.
    pub(crate) reply: Option<Reply>,
}

/// Where prompts come from.
pub(crate) struct Endpoint {
    pub(crate) base: reqwest::Url,
    pub(crate) headers: HeaderMap,
    pub(crate) timeout: Duration,
}

impl Endpoint {
    /// `{base}/api/public/v2/prompts/{name}?label=..|version=..`, the name one path segment
    /// (a folder's `/` encoded, as the API asks).
    fn url(&self, name: &str, selector: &Selector) -> Result<reqwest::Url, PromptError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| PromptError::Setup(format!("`{}` cannot be a base URL", self.base)))?
            .pop_if_empty()
            .extend(["api", "public", "v2", "prompts", name]);
        match selector {
            Selector::Label(label) => url.query_pairs_mut().append_pair("label", label),
            Selector::Version(version) => url
                .query_pairs_mut()
                .append_pair("version", &version.to_string()),
        };
        Ok(url)
    }
}

/// Runs until every client handle is dropped.
pub(crate) fn run(endpoint: Endpoint, cache: Arc<Cache>, jobs: Receiver<Job>) {
    let client = HttpClient::builder()
        .timeout(endpoint.timeout)
        .connect_timeout(endpoint.timeout)
        .user_agent(concat!("rust-observe/", env!("CARGO_PKG_VERSION")))
        .redirect(crate::http::same_origin_redirects())
        .build()
        .map_err(|e| e.to_string());
    for job in jobs {
        let (name, selector) = &job.key;
        let result = match &client {
            Ok(client) => fetch(client, &endpoint, name, selector),
            Err(reason) => Err(PromptError::Unavailable {
                name: name.clone(),
                reason: format!("the HTTP client cannot be built: {reason}"),
            }),
        };
        match &result {
            Ok(prompt) => cache.store(job.key.clone(), prompt.clone(), job.ttl),
            Err(error) if job.reply.is_none() => {
                tracing::warn!(
                    "observe: prompt refresh failed, the cached version stays in use: {error}"
                );
                cache.refresh_failed(&job.key);
            }
            Err(_) => {}
        }
        if let Some(reply) = job.reply {
            // The caller may have given up; the answer is cached all the same.
            reply(result);
        }
    }
}

fn fetch(
    client: &HttpClient,
    endpoint: &Endpoint,
    name: &str,
    selector: &Selector,
) -> Result<Prompt, PromptError> {
    let unavailable = |reason: String| PromptError::Unavailable {
        name: name.to_owned(),
        reason,
    };
    let url = endpoint.url(name, selector)?;
    let response = client
        .get(url)
        .headers(endpoint.headers.clone())
        .send()
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status().as_u16();
    match status {
        200 => {
            let body = response.bytes().map_err(|e| unavailable(e.to_string()))?;
            Prompt::from_api(&body).map_err(|e| PromptError::InvalidResponse {
                name: name.to_owned(),
                reason: e.to_string(),
            })
        }
        404 => Err(PromptError::NotFound {
            name: name.to_owned(),
            selector: selector.to_string(),
        }),
        401 | 403 => Err(PromptError::Unauthorized { status }),
        _ => Err(unavailable(format!("HTTP status {status}"))),
    }
}
