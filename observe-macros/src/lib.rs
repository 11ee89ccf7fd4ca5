//! The `#[observe]` attribute of `observe-runtime`.
//!
//! Depend on `observe-runtime`, which re-exports the attribute as
//! `observe_runtime::observe`; this crate alone is of no use, since the code the attribute
//! writes calls into `observe_runtime::__private`.
//!
//! The crate is split as tracing-attributes is: `args` parses the attribute into a plain
//! struct, `expand` writes the instrumented function, and this file holds the entry point
//! and the documentation.

#![forbid(unsafe_code)]

mod args;
mod expand;

use proc_macro::TokenStream;

/// Records every call of the function as an observation (a Langfuse span, generation,
/// tool call...), nested under the observation that was current when it was called.
///
/// ```
/// use observe_runtime::observe;
///
/// #[observe(name = "fetch_page", as_type = "tool", skip(api_key))]
/// async fn fetch(url: &str, api_key: &str) -> Result<String, std::io::Error> {
///     Ok(format!("<html>{url}</html>"))
/// }
/// ```
///
/// # Arguments
///
/// All are optional; a bare `#[observe]` is fine.
///
/// | argument | meaning | default |
/// | --- | --- | --- |
/// | `name = "..."` | the observation's name | the function's name |
/// | `as_type = "..."` | `"span"`, `"generation"`, `"event"`, `"agent"`, `"tool"`, `"chain"`, `"retriever"`, `"evaluator"`, `"embedding"` or `"guardrail"` | `"span"` |
/// | `capture_input = bool` | record the arguments | the client's setting |
/// | `capture_output = bool` | record the return value | the client's setting |
/// | `skip(a, b, ...)` | leave these parameters out of the input | none |
/// | `stream = bool` | observe a returned stream until consumed (`true`), or only the call (`false`) | by the value's traits |
/// | `output = path::to::reducer` | fold the output with `fn(&mut A, &Item)` (`A: Default + Serialize`) | see *Output* |
/// | `crate = "path"` | where the runtime is, for a crate that re-exports it | `::observe_runtime` |
///
/// Misuse is a compile error that points at the offending token: an unknown (with "did you
/// mean" for a near miss) or repeated argument, an `as_type` that is none of the above (`"llm"`
/// points at `"generation"`), a `skip` of a name that is not a parameter, `stream = true` on a
/// function that returns no stream, and the attribute on anything but a function with a body
/// (or on a `const fn`).
///
/// # Input
///
/// A JSON object keyed by parameter name, in declaration order: `{"url": "https://..."}`.
/// Left out are `self` (in any form: `&self`, `&mut self`, `self`, `self: Arc<Self>`), the
/// parameters named in `skip(...)`, and parameters that are not a plain identifier, such
/// as `(a, b): (i32, i32)` or `_` (to record those, bind them to a name). A function left
/// with no parameter to record records no input at all.
///
/// Each value is recorded by the best means its type offers, chosen at compile time with
/// no bound forced on your types: its `serde::Serialize` form when it has one, else its
/// `Debug` text, else its type name. For a generic parameter `T` the choice follows the
/// bounds that are in scope (`T: Serialize` records JSON, `T: Debug` records text).
///
/// Nothing is serialized when input capture is off; the capture happens before the body
/// runs, borrowing the arguments, so it never moves them. What the caller's thread does is
/// kept small: a number, `bool` or `char` is copied and short text (`&str`, `String`,
/// `Cow<str>`) has its bytes copied, and the client's worker thread writes their JSON;
/// other values are serialized on the caller's thread, since only there can they be read.
///
/// # Output
///
/// The return value, recorded the same way. When the returned value's type is a `Result`,
/// under any name (`Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`, your own
/// `type ToolResult<T> = Result<T, ToolError>`), the `Ok` value is the output, and an `Err`
/// sets the level to `ERROR` with the error's `Display` text (else its `Debug` text) as
/// status message, whether output capture is on or not. The type decides, at compile time;
/// not its spelling. A function that returns `()` or `Ok(())` records no output.
///
/// With `output = reducer`, the output is what `reducer` folds into a `Default` accumulator:
/// the items of a returned stream, or the (`Ok`) value once.
///
/// # Streams and iterators
///
/// A function that returns a stream (`impl Stream<Item = T>`, `Pin<Box<dyn Stream<..>>>`,
/// `BoxStream<'a, T>`, an `async fn` returning one) or an iterator (`impl Iterator<Item = T>`,
/// `Box<dyn Iterator<..>>`) is observed until the stream is consumed, not until it is
/// returned. The value's traits decide (a `Stream` or an `Iterator`), where the signature lets
/// a wrapper stand in for it: an `impl Trait` or a boxed `dyn`. A named type such as
/// `std::vec::IntoIter<T>` stays that type and is observed as a value; `stream = false`
/// observes only the call for an `impl Iterator` too.
///
/// The observation ends when the stream is exhausted (output: text items such as `String`,
/// `&str`, `Cow<str>` and your [`TextChunk`] types concatenated, other items a JSON array),
/// at an `Err` item (level `ERROR`), on a panic, or when the stream is dropped unfinished
/// (`WARNING`, `cancelled`, metadata `items`). Observed calls made while the stream is polled
/// are its children; the first item of a generation stamps its time to first token. See
/// `observe_runtime::ObserveStreamExt` for streams no annotated function returned.
///
/// [`TextChunk`]: https://docs.rs/observe-runtime/latest/observe_runtime/trait.TextChunk.html
///
/// ```
/// use observe_runtime::observe;
///
/// // Open until the caller has taken every word; its output is "a b ".
/// #[observe(as_type = "generation")]
/// fn answer(prompt: &str) -> impl Iterator<Item = String> + '_ {
///     prompt.split(' ').map(|w| format!("{w} "))
/// }
/// assert_eq!(answer("a b").count(), 2);
/// ```
///
/// # What is observed
///
/// - An `async fn`: from its first poll to its completion. A future dropped unfinished ends
///   its observation with level `WARNING`, status `cancelled`.
/// - A plain `fn` whose last expression is an `async` block, or `Box::pin` of one, as in
///   the methods `#[async_trait]` writes: that future, the same way. Put `#[observe]` on
///   the method inside the `#[async_trait]` impl; the attribute on the impl runs first.
///   Statements before that block run at the call, but the input is taken when the future
///   first runs: a parameter those statements move must be named in `skip(...)`.
/// - Any other `fn`: the call. A panic is recorded (level `ERROR`) and then goes on. A
///   `fn` returning `!` is observed until it panics; an `async fn` returning `!` is refused.
///
/// Functions of any shape work: methods with any receiver, generics, lifetimes, `where`
/// clauses, `impl Trait` arguments and return types, `async fn` in traits, early `return`
/// and `?`. The signature is kept as written; only the body changes.
///
/// The code the attribute writes names the runtime as `::observe_runtime`, so the crate
/// that uses it must depend on `observe-runtime` under that name, unless `crate = "path"`
/// says where it is (`crate = "my_sdk::observe"` for a crate that re-exports it).
///
/// ```
/// use observe_runtime::observe;
/// use std::sync::Arc;
///
/// struct Agent {
///     model: String,
/// }
///
/// impl Agent {
///     #[observe(as_type = "agent")]
///     async fn run(self: Arc<Self>, task: &str) -> Result<String, String> {
///         if task.is_empty() {
///             return Err("empty task".to_owned());
///         }
///         let plan = self.plan(task)?;
///         Ok(format!("{} via {}", plan, self.model))
///     }
///
///     #[observe(as_type = "chain", capture_output = false)]
///     fn plan(&self, task: &str) -> Result<String, String> {
///         Ok(task.to_uppercase())
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn observe(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    args::ObserveArgs::parse(args.into())
        .and_then(|args| expand::expand(args, item.clone()))
        .unwrap_or_else(|error| {
            // Keep the item as written, so that one mistake gives one error rather than a
            // cascade of "cannot find function" at every call.
            let mut tokens = error.to_compile_error();
            tokens.extend(item);
            tokens
        })
        .into()
}
