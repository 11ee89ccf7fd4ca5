//! Turning [`ObserveArgs`] and the function into the instrumented function.
//!
//! Expansion never parses arguments, and holds no behaviour: the code it writes calls
//! `::observe_runtime::__private` by absolute path, as `docs/MACRO_CONTRACT.md` describes.
//! The function keeps its signature; only its body changes, in one of three ways:
//!
//! - `async fn`: `span.instrument(async move { body }, on_output).await`;
//! - a plain `fn` whose tail expression is an `async` block, or `Box::pin` of one (what
//!   `#[async_trait]` writes): that block is instrumented, so the observation covers the
//!   future's execution rather than its construction;
//! - any other `fn`: `span.in_scope(move || body, on_output)`.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    AttrStyle, Expr, ExprAsync, FnArg, GenericArgument, Ident, Item, ItemFn, LitBool, Pat,
    PathArguments, ReturnType, Stmt, Type, TypeParamBound,
};

use crate::args::ObserveArgs;

/// Instruments `item`, which must be a function with a body.
pub(crate) fn expand(args: ObserveArgs, item: TokenStream) -> syn::Result<TokenStream> {
    let function = match syn::parse2::<Item>(item.clone())? {
        Item::Fn(function) => function,
        _ => {
            return Err(syn::Error::new_spanned(
                item_header(item),
                "`#[observe]` can only be applied to a function with a body",
            ))
        }
    };
    if let Some(constness) = &function.sig.constness {
        return Err(syn::Error::new(
            constness.span,
            "`#[observe]` cannot be applied to a `const fn`",
        ));
    }
    let body = Body::of(&function);
    let output = body.output(&function);
    if let (Output::Never(never), Body::AsyncFn | Body::ReturnsAsyncBlock { .. }) = (&output, &body)
    {
        return Err(syn::Error::new_spanned(
            never,
            "`#[observe]` does not support a future whose output is `!`",
        ));
    }
    let observation = Observation::new(args, &function, &body)?;
    observation.instrument(&function, &body, &output)
}

/// How the function produces its result, which decides what gets instrumented.
enum Body<'a> {
    /// `async fn`: its body is the future.
    AsyncFn,
    /// A plain `fn` whose tail expression (statement `index`) is an `async` block, bare or
    /// passed to `Box::pin` (`wrapper`).
    ReturnsAsyncBlock {
        index: usize,
        wrapper: Option<&'a Expr>,
        block: &'a ExprAsync,
    },
    /// Any other `fn`: the call itself is observed.
    Sync,
}

impl<'a> Body<'a> {
    /// Finds the shape of `function`'s body, detecting `#[async_trait]` output as
    /// tracing-attributes does: the last statement is `async move {..}` or
    /// `Box::pin(async move {..})`.
    fn of(function: &'a ItemFn) -> Self {
        if function.sig.asyncness.is_some() {
            return Body::AsyncFn;
        }
        let stmts = &function.block.stmts;
        let Some((index, Stmt::Expr(tail, None))) = stmts.iter().enumerate().next_back() else {
            return Body::Sync;
        };
        match tail {
            Expr::Async(block) => Body::ReturnsAsyncBlock {
                index,
                wrapper: None,
                block,
            },
            Expr::Call(call) if call.args.len() == 1 && is_box_pin(&call.func) => {
                match &call.args[0] {
                    Expr::Async(block) => Body::ReturnsAsyncBlock {
                        index,
                        wrapper: Some(&call.func),
                        block,
                    },
                    _ => Body::Sync,
                }
            }
            _ => Body::Sync,
        }
    }

    /// What the observed code produces: the return type, or the `Output` of the future the
    /// function returns.
    fn output(&self, function: &'a ItemFn) -> Output<'a> {
        let declared = match &function.sig.output {
            ReturnType::Default => return Output::Unit,
            ReturnType::Type(_, ty) => &**ty,
        };
        let produced = match self {
            Body::ReturnsAsyncBlock { .. } => future_output(declared),
            Body::AsyncFn | Body::Sync => Some(declared),
        };
        match produced {
            Some(ty) if is_unit(ty) => Output::Unit,
            Some(ty) if matches!(strip_groups(ty), Type::Never(_)) => Output::Never(ty),
            Some(ty) => Output::Declared(ty),
            None => Output::Unknown,
        }
    }
}

/// The type of the observed code's result, as far as the signature tells.
enum Output<'a> {
    /// `()`: nothing to record.
    Unit,
    /// `!`: the function never returns (a sync `fn` only).
    Never(&'a Type),
    /// The written type.
    Declared(&'a Type),
    /// A future whose `Output` the signature does not spell (a type alias, say).
    Unknown,
}

/// What may stand in for a returned stream.
#[derive(Clone, Copy)]
enum Wrap {
    /// The return type is `impl Trait`: an `Observed` wrapper will do.
    Any,
    /// A named type: only that type (a boxed `dyn` stream, boxed again).
    SameType,
    /// A named type said to be a stream (`stream = true`): it must be a boxed `dyn` one.
    BoxedOnly,
    /// A named type with an `impl Trait` argument (`Result<impl Stream, E>`,
    /// `Option<impl Stream>`): the stream in it may become an `Observed` wrapper.
    Inside,
}

/// What the attribute and the signature say about one observed function.
struct Observation {
    name: String,
    /// The `ObservationType` variant.
    kind: Ident,
    capture_input: Option<bool>,
    capture_output: Option<bool>,
    /// The parameters that go into the input object, in order.
    inputs: Vec<Ident>,
    /// `stream = ...` as written.
    stream: Option<LitBool>,
    /// `output = reducer`.
    reducer: Option<syn::Path>,
    /// `crate::__private` of the runtime: `::observe_runtime::__private` unless
    /// `crate = "..."` says where it is re-exported.
    private: TokenStream,
}

impl Observation {
    fn new(args: ObserveArgs, function: &ItemFn, body: &Body) -> syn::Result<Self> {
        let sig = &function.sig;
        let params: Vec<&Ident> = sig.inputs.iter().filter_map(param_ident).collect();
        check_skips(&args.skip, sig, &params)?;
        let inputs = params
            .into_iter()
            .filter(|p| !args.skip.iter().any(|s| s.unraw() == p.unraw()))
            // #[async_trait] renames destructured and `_` parameters to `__argN`; they are
            // left out, as destructured parameters are everywhere else.
            .filter(|p| {
                !matches!(body, Body::ReturnsAsyncBlock { .. }) || !is_async_trait_positional(p)
            })
            .cloned()
            .collect();
        let krate = match &args.krate {
            Some(path) => quote!(#path),
            None => quote!(::observe_runtime),
        };
        Ok(Observation {
            name: args
                .name
                .map_or_else(|| sig.ident.unraw().to_string(), |n| n.value()),
            kind: args
                .as_type
                .unwrap_or_else(|| Ident::new("Span", Span::call_site())),
            capture_input: args.capture_input,
            capture_output: args.capture_output,
            inputs,
            stream: args.stream,
            reducer: args.output,
            private: quote!(#krate::__private),
        })
    }

    /// Whether the returned value goes through `Returned`, which keeps the observation
    /// open while a returned stream is consumed. The traits of the value decide what
    /// happens; the signature only says whether a wrapper can stand in for the value: an
    /// `impl Trait`, a boxed `dyn`, or a `...Stream` alias (`BoxStream<'a, T>`). A named type
    /// such as `Vec<T>` stays exactly that type.
    fn observes_returned_stream(&self, body: &Body, output: &Output) -> syn::Result<Option<Wrap>> {
        let explicit = self.stream.as_ref().map(|lit| (lit.value, lit.span()));
        let ty = match output {
            Output::Declared(ty) if !matches!(body, Body::ReturnsAsyncBlock { .. }) => ty,
            _ => {
                return match explicit {
                    Some((true, span)) => Err(syn::Error::new(
                        span,
                        "`stream = true` needs a function that returns a stream or an \
                         iterator (`-> impl Stream<Item = T>`, `-> impl Iterator<Item = T>`, \
                         a boxed one, or an `async fn` returning one)",
                    )),
                    _ => Ok(None),
                };
            }
        };
        let wrap = match strip_groups(ty) {
            Type::ImplTrait(_) => Wrap::Any,
            ty if has_impl_trait_argument(ty) => Wrap::Inside,
            _ => Wrap::SameType,
        };
        Ok(match explicit {
            Some((true, _)) if matches!(wrap, Wrap::SameType) => Some(Wrap::BoxedOnly),
            Some((true, _)) => Some(wrap),
            Some((false, _)) => None,
            None => (matches!(wrap, Wrap::Inside) || may_hold_a_stream(ty)).then_some(wrap),
        })
    }

    /// The whole instrumented function.
    fn instrument(
        &self,
        function: &ItemFn,
        body: &Body,
        output: &Output,
    ) -> syn::Result<TokenStream> {
        let ItemFn {
            attrs,
            vis,
            sig,
            block,
        } = function;
        let (outer_attrs, inner_attrs): (Vec<_>, Vec<_>) = attrs
            .iter()
            .partition(|attr| matches!(attr.style, AttrStyle::Outer));
        let wrap = self.observes_returned_stream(body, output)?;
        let on_output = self.on_output(output, wrap.is_some());
        let edge = match output {
            Output::Declared(ty) => Some(inference_edge(ty)),
            Output::Unit | Output::Never(_) | Output::Unknown => None,
        };
        // `let x: ! = ..` is unstable, so a diverging closure says its type instead.
        let closure_type = match output {
            Output::Never(ty) => Some(quote!(-> #ty)),
            _ => None,
        };
        let span = local("__observe_span");
        let enter = self.enter(quote!(Span));
        let stmts = &block.stmts;

        let new_body = match body {
            Body::AsyncFn if wrap.is_some() => {
                let returned = self.returned(on_output, wrap);
                quote! {
                    #enter
                    let __observe_returned =
                        #span.instrument_open(async move { #edge #(#stmts)* }).await;
                    #returned
                }
            }
            Body::Sync if wrap.is_some() => {
                let returned = self.returned(on_output, wrap);
                quote! {
                    #enter
                    let __observe_returned =
                        #span.in_scope_open(move || #closure_type { #edge #(#stmts)* });
                    #returned
                }
            }
            Body::AsyncFn => quote! {
                #enter
                #span.instrument(async move { #edge #(#stmts)* }, #on_output).await
            },
            Body::Sync => {
                // A plain `fn` that returns its value: the span may be light (see
                // `SyncSpan`), since it ends before the function returns.
                let enter = self.enter(quote!(SyncSpan));
                quote! {
                    #enter
                    #span.in_scope(move || #closure_type { #edge #(#stmts)* }, #on_output)
                }
            }
            Body::ReturnsAsyncBlock {
                index,
                wrapper,
                block: async_block,
            } => {
                let ExprAsync {
                    attrs,
                    async_token,
                    capture,
                    block: inner,
                } = async_block;
                let inner_stmts = &inner.stmts;
                let instrumented = quote! {
                    async move {
                        #enter
                        #span.instrument(
                            #(#attrs)* #async_token #capture { #edge #(#inner_stmts)* },
                            #on_output,
                        ).await
                    }
                };
                let tail = match wrapper {
                    Some(func) => quote!(#func(#instrumented)),
                    None => instrumented,
                };
                let before = &block.stmts[..*index];
                quote!(#(#before)* #tail)
            }
        };
        Ok(quote! {
            #(#outer_attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #new_body
            }
        })
    }

    /// Ends the observation by the returned value's type: now, or when the returned stream
    /// ends. `__observe_returned` holds the value and the open observation.
    fn returned(&self, on_output: TokenStream, wrap: Option<Wrap>) -> TokenStream {
        let private = &self.private;
        let value = local("__observe_value");
        let open = local("__observe_open");
        let on_item = self.on_item();
        // One check, so that a function that returns no stream meets one error that says
        // so, and every level below stays in scope to keep the rest of the expansion valid.
        let check = match (&self.stream, wrap) {
            (Some(lit), Some(Wrap::BoxedOnly)) if lit.value => {
                quote_spanned!(lit.span()=> #private::require_boxed_stream(&#value);)
            }
            (Some(lit), Some(Wrap::Inside)) if lit.value => {
                quote_spanned!(lit.span()=> #private::require_inner_stream(&#value);)
            }
            (Some(lit), _) if lit.value => {
                quote_spanned!(lit.span()=> #private::require_stream(&#value);)
            }
            _ => TokenStream::new(),
        };
        // Only an `impl Trait` can be an `Observed` wrapper; a named type stays itself, so
        // the levels that make one are not in scope for it.
        let levels = match wrap {
            Some(Wrap::Any) => quote! {
                use #private::{
                    ObserveBoxed as _, ObserveIterator as _, ObserveStream as _,
                    ObserveValue as _,
                };
            },
            Some(Wrap::Inside) => quote! {
                use #private::{ObserveOkStream as _, ObserveSomeStream as _, ObserveValue as _};
            },
            _ => quote!(use #private::{ObserveBoxed as _, ObserveValue as _};),
        };
        quote! {
            let (#value, #open) = __observe_returned;
            #check
            {
                #levels
                (&&&&#private::Returned::new(#value)).observe_returned(#open, #on_output, #on_item)
            }
        }
    }

    /// The closure that records one item of a returned stream: its text or value (or the
    /// reducer's fold), and an `Err` item as the error that ends the observation.
    fn on_item(&self) -> TokenStream {
        let private = &self.private;
        let item = local("__observe_item");
        let sink = local("__observe_sink");
        let ok = local("__observe_ok");
        let error = local("__observe_error");
        let record_ok = match (&self.reducer, self.capture_output) {
            (_, Some(false)) => quote!({}),
            (Some(reducer), _) => quote!(#sink.fold(#reducer, #ok)),
            (None, _) => quote! {{
                use #private::{
                    ChunkDebug as _, ChunkOpaque as _, ChunkSerialize as _, ChunkText as _,
                };
                (&&&&#private::Chunk(#ok)).record_chunk(#sink)
            }},
        };
        let record_error = self.record_error(&sink, &error);
        quote! {
            |#item, #sink| {
                use #private::AsResult as _;
                #[allow(unused_variables)]
                match (&&#private::ResultOf(#item)).as_result() {
                    ::core::result::Result::Ok(#ok) => #record_ok,
                    ::core::result::Result::Err(#error) => #record_error,
                }
            }
        }
    }

    fn record_error(&self, sink: &Ident, error: &Ident) -> TokenStream {
        let private = &self.private;
        quote! {
            #sink.error({
                use #private::{ErrorDebug as _, ErrorDisplay as _, ErrorOpaque as _};
                (&&&#private::ErrorText(#error)).error_text()
            })
        }
    }

    /// `let __observe_span = <span_type>::enter(..);` (`Span`, or `SyncSpan` for a plain
    /// `fn` whose observation ends before it returns), then the input capture.
    fn enter(&self, span_type: TokenStream) -> TokenStream {
        let private = &self.private;
        let span = local("__observe_span");
        let name = &self.name;
        let kind = &self.kind;
        let capture_input = option_bool(self.capture_input);
        let capture_output = option_bool(self.capture_output);
        let input = self.capture_input();
        let mutability = input.as_ref().map(|_| quote!(mut));
        quote! {
            let #mutability #span = #private::#span_type::enter({
                static __OBSERVE_META: #private::Meta =
                    #private::Meta::new(
                        #name,
                        #private::ObservationType::#kind,
                        #capture_input,
                        #capture_output,
                    );
                &__OBSERVE_META
            });
            #input
        }
    }

    /// Fills the input object when the span wants it; `None` when nothing can go in it.
    fn capture_input(&self) -> Option<TokenStream> {
        if self.inputs.is_empty() || self.capture_input == Some(false) {
            return None;
        }
        let private = &self.private;
        let span = local("__observe_span");
        let writer = local("__observe_input");
        let idents = &self.inputs;
        // Each key as the JSON before its value, so the writer copies it in one piece.
        let keys = self.inputs.iter().enumerate().map(|(i, p)| {
            let open = if i == 0 { '{' } else { ',' };
            format!("{open}\"{}\":", p.unraw())
        });
        let capture_traits = self.capture_traits();
        Some(quote! {
            // Reading a `_name` parameter is the point here, not a slip.
            #[allow(clippy::used_underscore_binding)]
            if #span.wants_input() {
                #capture_traits
                let mut #writer = #private::InputWriter::new();
                #(
                    (&&&&&#private::Capture(&#idents))
                        .capture_into(#keys, &mut #writer);
                )*
                #span.set_input(#writer);
            }
        })
    }

    /// The autoref levels of `Capture`, imported for the block that calls them.
    fn capture_traits(&self) -> TokenStream {
        let private = &self.private;
        quote! {
            use #private::{
                CaptureDebug as _, CaptureOpaque as _, CaptureScalar as _,
                CaptureSerialize as _, CaptureText as _,
            };
        }
    }

    /// The closure that records the result: the value, or for a `Result` (recognised by
    /// its type, whatever alias names it) the `Ok` value and the `Err` as error.
    fn on_output(&self, output: &Output, streams: bool) -> TokenStream {
        if matches!(output, Output::Unit | Output::Never(_)) {
            return quote!(|_, _| {});
        }
        let private = &self.private;
        let value = local("__observe_output");
        let sink = local("__observe_sink");
        let ok = local("__observe_ok");
        let error = local("__observe_error");
        let capture = self.capture_output != Some(false);
        let capture_traits = self.capture_traits();
        let record_ok = match &self.reducer {
            // With a stream, the reducer folds items: the value itself is no item.
            _ if !capture => quote!({}),
            Some(_) if streams => quote!({}),
            // Folded only when output capture is on.
            Some(reducer) => quote! {
                if #sink.captures() {
                    #capture_traits
                    let mut __observe_acc = ::core::default::Default::default();
                    (#reducer)(&mut __observe_acc, #ok);
                    (&&&&&#private::Capture(&__observe_acc)).capture_output(#sink)
                }
            },
            None => quote! {
                if !(&&#private::UnitOf(#ok)).is_unit() {
                    #capture_traits
                    (&&&&&#private::Capture(#ok)).capture_output(#sink)
                }
            },
        };
        let record_error = self.record_error(&sink, &error);
        quote! {
            |#value, #sink| {
                use #private::{AsResult as _, IsUnit as _};
                #[allow(unused_variables)]
                match (&&#private::ResultOf(#value)).as_result() {
                    ::core::result::Result::Ok(#ok) => #record_ok,
                    ::core::result::Result::Err(#error) => #record_error,
                }
            }
        }
    }
}

/// Refuses a `skip` entry that names no parameter, listing the names it could be.
fn check_skips(skips: &[Ident], sig: &syn::Signature, params: &[&Ident]) -> syn::Result<()> {
    let Some(unknown) = skips.iter().find(|skipped| {
        if *skipped == "self" {
            sig.receiver().is_none()
        } else {
            !params.iter().any(|p| p.unraw() == skipped.unraw())
        }
    }) else {
        return Ok(());
    };
    let receiver = sig.receiver().map(|_| "`self`".to_owned());
    let names: Vec<String> = receiver
        .into_iter()
        .chain(params.iter().map(|p| format!("`{p}`")))
        .collect();
    let expected = match names.as_slice() {
        [] => "it has no named parameter".to_owned(),
        [one] => format!("expected {one}"),
        many => format!("expected one of {}", many.join(", ")),
    };
    Err(syn::Error::new(
        unknown.span(),
        format_args!(
            "`{unknown}` is not a parameter of `{}`: {expected}",
            sig.ident
        ),
    ))
}

/// An identifier of the macro's own, resolved at the macro's definition site so that the
/// user's body can neither see nor shadow it.
fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

fn option_bool(value: Option<bool>) -> TokenStream {
    match value {
        Some(b) => quote!(::core::option::Option::Some(#b)),
        None => quote!(::core::option::Option::None),
    }
}

/// The name of a parameter bound to a plain identifier (`x`, `mut x`, `ref x`, `x @ ..`);
/// `None` for `self` and for destructuring or `_` patterns, which are not captured.
fn param_ident(arg: &FnArg) -> Option<&Ident> {
    match arg {
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(pat) => Some(&pat.ident),
            _ => None,
        },
        FnArg::Receiver(_) => None,
    }
}

/// `__arg0`, `__arg1`...: the names `#[async_trait]` gives to non-identifier parameters.
fn is_async_trait_positional(ident: &Ident) -> bool {
    ident
        .to_string()
        .strip_prefix("__arg")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A statement that makes the observed block's type the declared one before its body is
/// checked, so that `?` and `return` infer their types from the signature. Borrowed from
/// tracing-attributes. `impl Trait` is replaced with `_`, which a `let` accepts.
fn inference_edge(ty: &Type) -> TokenStream {
    let mut erased = ty.clone();
    ImplTraitEraser.visit_type_mut(&mut erased);
    quote_spanned! {ty.span()=>
        #[allow(
            unknown_lints,
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::let_with_type_underscore,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let __observe_fake_return: #erased = loop {};
            return __observe_fake_return;
        }
    }
}

/// Replaces every `impl Trait` with `_`.
struct ImplTraitEraser;

impl VisitMut for ImplTraitEraser {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(impl_trait) = ty {
            *ty = Type::Infer(syn::TypeInfer {
                underscore_token: syn::Token![_](impl_trait.span()),
            });
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

/// Looks through the invisible and round parentheses macros may leave around a type.
fn strip_groups(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Group(group) => ty = &group.elem,
            Type::Paren(paren) => ty = &paren.elem,
            _ => return ty,
        }
    }
}

fn is_unit(ty: &Type) -> bool {
    matches!(strip_groups(ty), Type::Tuple(tuple) if tuple.elems.is_empty())
}

/// Whether a value of type `ty` may be a stream that a wrapper can stand in for: an
/// `impl Trait`, a type with a `dyn` in it (`Pin<Box<dyn Stream<..>>>`), or a path whose last
/// segment ends in `Stream` (`BoxStream<'a, T>`, an alias of a boxed `dyn`).
fn may_hold_a_stream(ty: &Type) -> bool {
    match strip_groups(ty) {
        Type::ImplTrait(_) | Type::TraitObject(_) => true,
        Type::Path(path) => path.path.segments.iter().any(|segment| {
            segment.ident.to_string().ends_with("Stream")
                || match &segment.arguments {
                    PathArguments::AngleBracketed(arguments) => {
                        arguments.args.iter().any(|arg| match arg {
                            GenericArgument::Type(ty) => {
                                matches!(strip_groups(ty), Type::TraitObject(_) | Type::Path(_))
                                    && may_hold_a_stream(ty)
                            }
                            _ => false,
                        })
                    }
                    _ => false,
                }
        }),
        _ => false,
    }
}

/// Whether `ty` is a path with an `impl Trait` among its type arguments:
/// `Result<impl Stream<Item = T>, E>`, `Option<impl Stream<Item = T>>`, `io::Result<impl ..>`.
fn has_impl_trait_argument(ty: &Type) -> bool {
    let Type::Path(path) = strip_groups(ty) else {
        return false;
    };
    path.path.segments.iter().any(|segment| match &segment.arguments {
        PathArguments::AngleBracketed(arguments) => arguments.args.iter().any(|arg| {
            matches!(arg, GenericArgument::Type(ty) if matches!(strip_groups(ty), Type::ImplTrait(_)))
        }),
        _ => false,
    })
}

/// The `Output` of the `Future` a return type names, looking inside type arguments:
/// `Pin<Box<dyn Future<Output = T> + Send>>` and `impl Future<Output = T>` give `T`.
fn future_output(ty: &Type) -> Option<&Type> {
    match strip_groups(ty) {
        Type::Path(path) => path.path.segments.iter().find_map(|segment| {
            let PathArguments::AngleBracketed(arguments) = &segment.arguments else {
                return None;
            };
            arguments.args.iter().find_map(|arg| match arg {
                GenericArgument::Type(ty) => future_output(ty),
                _ => None,
            })
        }),
        Type::TraitObject(object) => bounds_output(object.bounds.iter()),
        Type::ImplTrait(impl_trait) => bounds_output(impl_trait.bounds.iter()),
        _ => None,
    }
}

fn bounds_output<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
    bounds.find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(arguments) = &last.arguments else {
            return None;
        };
        arguments.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// True for a path ending in `Box::pin`.
fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(path) = func else {
        return false;
    };
    let mut segments = path.path.segments.iter().rev();
    matches!(
        (segments.next(), segments.next()),
        (Some(pin), Some(boxed)) if pin.ident == "pin" && boxed.ident == "Box"
    )
}

/// The item's tokens up to its body (`pub struct Foo`), without attributes: what an error
/// about the item as a whole underlines.
fn item_header(item: TokenStream) -> TokenStream {
    let mut tokens = item.into_iter();
    let mut header = TokenStream::new();
    while let Some(token) = tokens.next() {
        match &token {
            TokenTree::Punct(p) if p.as_char() == '#' && header.is_empty() => {
                tokens.next(); // the attribute's `[...]`
            }
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => break,
            TokenTree::Punct(p) if matches!(p.as_char(), ';' | '=') => break,
            _ => token.to_tokens(&mut header),
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn expand_str(args: TokenStream, item: TokenStream) -> String {
        let args = ObserveArgs::parse(args).unwrap();
        expand(args, item).unwrap().to_string()
    }

    /// The tokens of an optional type, to compare without syn's `extra-traits`.
    fn text(ty: Option<&Type>) -> Option<String> {
        ty.map(|ty| ty.to_token_stream().to_string())
    }

    #[test]
    fn finds_the_output_of_a_returned_future() {
        let boxed: Type = parse_quote!(
            ::core::pin::Pin<Box<dyn ::core::future::Future<Output = Result<u8, E>> + Send + 'a>>
        );
        assert_eq!(
            text(future_output(&boxed)).as_deref(),
            Some("Result < u8 , E >")
        );
        let opaque: Type = parse_quote!(impl Future<Output = u8> + Send);
        assert_eq!(text(future_output(&opaque)).as_deref(), Some("u8"));
        assert!(future_output(&parse_quote!(BoxFuture<'static, u8>)).is_none());
    }

    #[test]
    fn sees_which_return_types_may_hold_a_stream() {
        let yes: [Type; 4] = [
            parse_quote!(impl Stream<Item = String> + Send),
            parse_quote!(Pin<Box<dyn Stream<Item = u8> + Send + 'a>>),
            parse_quote!(BoxStream<'static, u8>),
            parse_quote!(Box<dyn Iterator<Item = u8>>),
        ];
        assert!(yes.iter().all(may_hold_a_stream));
        let no: [Type; 3] = [
            parse_quote!(Result<String, E>),
            parse_quote!(Vec<u8>),
            parse_quote!(&'a str),
        ];
        assert!(!no.iter().any(may_hold_a_stream));
    }

    #[test]
    fn sees_an_impl_trait_inside_a_result_or_option() {
        let yes: [Type; 3] = [
            parse_quote!(Result<impl Stream<Item = String> + Send, Error>),
            parse_quote!(Option<impl Stream<Item = u8>>),
            parse_quote!(std::io::Result<impl Stream<Item = u8>>),
        ];
        assert!(yes.iter().all(has_impl_trait_argument));
        let no: [Type; 3] = [
            parse_quote!(impl Stream<Item = u8>),
            parse_quote!(Result<Vec<u8>, E>),
            parse_quote!(Pin<Box<dyn Stream<Item = u8>>>),
        ];
        assert!(!no.iter().any(has_impl_trait_argument));
    }

    #[test]
    fn detects_what_async_trait_writes() {
        let function: ItemFn = parse_quote! {
            fn run<'life0, 'async_trait>(&'life0 self, __arg1: (i32, i32))
                -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = u8> + Send + 'async_trait>>
            {
                Box::pin(async move { let __self = self; 1 })
            }
        };
        let body = Body::of(&function);
        assert!(matches!(
            body,
            Body::ReturnsAsyncBlock {
                index: 0,
                wrapper: Some(_),
                ..
            }
        ));
        assert!(matches!(body.output(&function), Output::Declared(_)));
        let observation = Observation::new(ObserveArgs::default(), &function, &body).unwrap();
        assert!(observation.inputs.is_empty(), "__arg1 is left out");
    }

    #[test]
    fn emitted_code_names_the_runtime_by_absolute_path_only() {
        let code = expand_str(
            quote!(as_type = "tool", skip(key)),
            quote! {
                async fn fetch(url: &str, key: &str) -> Result<String, Error> { todo!() }
            },
        );
        assert!(code.contains(":: observe_runtime :: __private :: Span :: enter"));
        assert!(code.contains("ObservationType :: Tool"));
        assert_eq!(
            code.matches("observe_runtime").count(),
            code.matches(":: observe_runtime :: __private ::").count()
        );
        // Each key is emitted as the JSON text before its value.
        assert!(code.contains(r#""{\"url\":""#), "{code}");
        assert!(!code.contains(r#"\"key\""#), "{code}");
    }

    #[test]
    fn crate_argument_replaces_the_runtime_path() {
        let code = expand_str(
            quote!(crate = "my_sdk::observe"),
            quote! {
                fn tokens(n: u8) -> impl Iterator<Item = u8> { 0..n }
            },
        );
        assert!(!code.contains("observe_runtime"), "{code}");
        assert!(code.contains("my_sdk :: observe :: __private :: Returned :: new"));
        assert!(code.contains("in_scope_open"));
    }

    #[test]
    fn item_header_stops_at_the_body() {
        let header = item_header(quote!(
            #[derive(Debug)]
            pub struct Agent {
                name: String,
            }
        ));
        assert_eq!(header.to_string(), "pub struct Agent");
    }
}
