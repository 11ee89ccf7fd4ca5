//! Carrying the context into work that runs elsewhere: spawned tasks, blocking pools,
//! threads.
//!
//! A future polled inside an observation inherits the context by itself. Work handed to an
//! executor or a thread does not: it runs later, from another stack. Capture the context
//! where the work is created and attach it where the work runs:
//!
//! ```
//! use observe_runtime::{observe, Context, FutureExt};
//!
//! #[observe]
//! async fn child() {}
//!
//! #[observe]
//! async fn parent() {
//!     // a spawned task whose observations are children of `parent`:
//!     let task = child().in_current_trace();
//!     # let _ = task;
//!     // a thread:
//!     let ctx = Context::current();
//!     std::thread::spawn(move || ctx.run(|| { /* #[observe] calls here are children */ }))
//!         .join()
//!         .unwrap();
//! }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use sync_wrapper::SyncWrapper;

use crate::context::{with_current, Frame};

/// A captured context: the trace and observation that new work should hang under.
#[must_use]
pub struct Context {
    frame: Option<Frame>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field(
                "trace_id",
                &self
                    .frame
                    .as_ref()
                    .and_then(|f| f.trace.as_ref())
                    .map(|t| t.id),
            )
            .field("parent", &self.frame.as_ref().and_then(|f| f.span_id))
            .finish()
    }
}

impl Context {
    /// The context here; empty outside any observation or client scope.
    pub fn current() -> Context {
        Context {
            frame: with_current(|f| f.map(Frame::carried)),
        }
    }

    /// A context around a frame made elsewhere in the crate (an incoming trace).
    #[cfg_attr(not(feature = "propagation"), allow(dead_code))]
    pub(crate) fn from_frame(frame: Option<Frame>) -> Context {
        Context { frame }
    }

    /// The trace this context continues, if any.
    ///
    /// ```
    /// assert_eq!(observe_runtime::Context::current().trace_id(), None);
    /// ```
    pub fn trace_id(&self) -> Option<crate::model::TraceId> {
        self.frame.as_ref()?.trace.as_ref().map(|t| t.id)
    }

    /// Runs a closure inside this context.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.frame {
            Some(frame) => frame.enter(f),
            None => f(),
        }
    }

    /// Wraps a future so that every poll runs inside this context.
    pub fn attach<F: Future>(self, future: F) -> WithContext<F> {
        WithContext {
            frame: SyncWrapper::new(self.frame),
            future,
        }
    }
}

pin_project_lite::pin_project! {
    /// A future that runs inside a captured context; see [`Context::attach`].
    ///
    /// `Send` and `Sync` exactly when `F` is: the frame is reached only through `&mut`
    /// (in `poll`), so it sits in a [`SyncWrapper`].
    pub struct WithContext<F> {
        frame: SyncWrapper<Option<Frame>>,
        #[pin]
        future: F,
    }
}

impl<F> WithContext<F> {
    pub(crate) fn new(frame: Frame, future: F) -> Self {
        WithContext {
            frame: SyncWrapper::new(Some(frame)),
            future,
        }
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let future = this.future;
        match this.frame.get_mut() {
            Some(frame) => frame.enter(|| future.poll(cx)),
            None => future.poll(cx),
        }
    }
}

/// Attaches the current context to a future, for `tokio::spawn` and the like.
pub trait FutureExt: Future + Sized {
    /// The future, running inside the context current where this is called.
    fn in_current_trace(self) -> WithContext<Self> {
        Context::current().attach(self)
    }
}

impl<F: Future> FutureExt for F {}

/// `tokio::spawn`, with the spawned task a child of the current observation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let answer = observe_runtime::spawn(async { 42 }).await.unwrap();
/// assert_eq!(answer, 42);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(future.in_current_trace())
}

/// `tokio::task::spawn_blocking`, with the closure a child of the current observation.
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn spawn_blocking<F, R>(f: F) -> tokio::task::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    tokio::task::spawn_blocking(move || ctx.run(f))
}

/// `std::thread::spawn`, with the thread's work a child of the current observation.
///
/// ```
/// let handle = observe_runtime::spawn_thread(|| 1 + 1);
/// assert_eq!(handle.join().unwrap(), 2);
/// ```
pub fn spawn_thread<F, R>(f: F) -> std::thread::JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let ctx = Context::current();
    std::thread::spawn(move || ctx.run(f))
}
