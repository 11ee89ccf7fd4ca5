//! The futures `#[observe]` wraps around an async body: [`Instrumented`], which ends the
//! observation on completion, and [`InstrumentedOpen`], which hands it back open.

use std::future::Future;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::capture::{record_output, OutputSink};
use super::{left_open, run_entered, Span};
use crate::context::Frame;

pin_project_lite::pin_project! {
    /// The future `#[observe]` wraps around an async body. `Send` and `Sync` exactly when
    /// the body's future (and the output closure, which captures nothing) is: the span is
    /// both (see [`Span`]'s frame).
    pub struct Instrumented<F, C> {
        // Declared first so that, when dropped unfinished, the body's own observations end
        // before this one.
        #[pin]
        future: F,
        span: Span,
        on_output: Option<C>,
    }
}

impl<F, C> Instrumented<F, C> {
    #[inline]
    pub(super) fn new(future: F, span: Span, on_output: C) -> Self {
        Instrumented {
            future,
            span,
            on_output: Some(on_output),
        }
    }
}

impl<F, C> Future for Instrumented<F, C>
where
    F: Future,
    C: FnOnce(&F::Output, &mut OutputSink<'_>),
{
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let span = this.span;
        let Some(frame) = span.frame_mut() else {
            return this.future.poll(cx);
        };
        let frame: &Frame = frame;
        let future = this.future;
        let on_output = this.on_output;
        let result = run_entered(
            frame,
            true,
            || future.poll(cx),
            |poll| {
                if let Poll::Ready(value) = poll {
                    if let Some(on_output) = on_output.take() {
                        record_output(frame, value, on_output);
                    }
                }
            },
        );
        match result {
            Ok(Poll::Pending) => {
                left_open(frame);
                Poll::Pending
            }
            Ok(Poll::Ready(value)) => {
                span.finish();
                Poll::Ready(value)
            }
            Err(payload) => {
                span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future [`Span::instrument_open`](super::Span::instrument_open) returns. `Send`
    /// and `Sync` exactly when the body's future is, as [`Instrumented`].
    pub struct InstrumentedOpen<F> {
        #[pin]
        future: F,
        // `None` once handed back.
        span: Option<Span>,
    }
}

impl<F> InstrumentedOpen<F> {
    #[inline]
    pub(super) fn new(future: F, span: Span) -> Self {
        InstrumentedOpen {
            future,
            span: Some(span),
        }
    }
}

impl<F: Future> Future for InstrumentedOpen<F> {
    type Output = (F::Output, Span);

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(span) = this.span.as_mut() else {
            // Polled after completion: the body's own future says what that does.
            return this.future.poll(cx).map(|value| (value, Span::inactive()));
        };
        let Some(frame) = span.frame_mut() else {
            let value = std::task::ready!(this.future.poll(cx));
            return Poll::Ready((value, this.span.take().unwrap_or_else(Span::inactive)));
        };
        let future = this.future;
        let result = run_entered(frame, false, || future.poll(cx), |_| {});
        match result {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => {
                Poll::Ready((value, this.span.take().unwrap_or_else(Span::inactive)))
            }
            Err(payload) => {
                span.panicked(payload.as_ref());
                resume_unwind(payload)
            }
        }
    }
}
