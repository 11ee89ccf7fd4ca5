//! Parsing `#[observe(...)]` into [`ObserveArgs`]. Parsing never emits code.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Ident, LitBool, LitStr};

/// The observation types `as_type` accepts: the spelling users write, and the variant of
/// `observe_runtime::model::ObservationType` it names.
const OBSERVATION_TYPES: [(&str, &str); 10] = [
    ("span", "Span"),
    ("generation", "Generation"),
    ("event", "Event"),
    ("agent", "Agent"),
    ("tool", "Tool"),
    ("chain", "Chain"),
    ("retriever", "Retriever"),
    ("evaluator", "Evaluator"),
    ("embedding", "Embedding"),
    ("guardrail", "Guardrail"),
];

const ARGUMENTS: &str = "`name`, `as_type`, `capture_input`, `capture_output` or `skip`";

/// The arguments of one `#[observe(...)]`, each `None` when not given.
#[derive(Default)]
pub(crate) struct ObserveArgs {
    /// `name = "..."`: the observation's name.
    pub(crate) name: Option<LitStr>,
    /// `as_type = "..."`: the variant of `ObservationType`, spanned at the literal.
    pub(crate) as_type: Option<Ident>,
    /// `capture_input = bool`.
    pub(crate) capture_input: Option<bool>,
    /// `capture_output = bool`.
    pub(crate) capture_output: Option<bool>,
    /// `skip(a, b)`: parameters left out of the input, as written.
    pub(crate) skip: Vec<Ident>,
    /// Whether `skip(...)` was given at all (it may be empty), to refuse a second one.
    has_skip: bool,
}

impl ObserveArgs {
    /// Parses the tokens inside `#[observe(...)]`; empty tokens give the defaults.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Self> {
        let mut args = ObserveArgs::default();
        syn::meta::parser(|meta| args.parse_one(&meta)).parse2(tokens)?;
        Ok(args)
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta) -> syn::Result<()> {
        let path = &meta.path;
        if path.is_ident("name") {
            set_once(&mut self.name, meta, "name", parse_name)
        } else if path.is_ident("as_type") {
            set_once(&mut self.as_type, meta, "as_type", parse_as_type)
        } else if path.is_ident("capture_input") {
            set_once(&mut self.capture_input, meta, "capture_input", parse_bool)
        } else if path.is_ident("capture_output") {
            set_once(&mut self.capture_output, meta, "capture_output", parse_bool)
        } else if path.is_ident("skip") {
            if self.has_skip {
                return Err(meta.error("expected only a single `skip` argument"));
            }
            self.has_skip = true;
            meta.parse_nested_meta(|inner| {
                let ident = inner.path.get_ident().ok_or_else(|| {
                    syn::Error::new_spanned(&inner.path, "expected a parameter name")
                })?;
                self.skip.push(ident.clone());
                Ok(())
            })
        } else {
            let written = path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            Err(meta.error(format_args!(
                "unknown argument `{written}`: expected {ARGUMENTS}"
            )))
        }
    }
}

/// Stores the value of `key`, refusing a second occurrence before reading its value.
fn set_once<T>(
    slot: &mut Option<T>,
    meta: &ParseNestedMeta,
    key: &str,
    parse: fn(&ParseNestedMeta) -> syn::Result<T>,
) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error(format_args!("expected only a single `{key}` argument")));
    }
    *slot = Some(parse(meta)?);
    Ok(())
}

/// Parses the value after `=`, replacing syn's bare "expected ..." with what the key wants.
fn value<T: syn::parse::Parse>(meta: &ParseNestedMeta, expected: &str) -> syn::Result<T> {
    meta.value()?
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format_args!("expected {expected}")))
}

fn parse_name(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let name: LitStr = value(meta, "a string literal: `name = \"...\"`")?;
    if name.value().is_empty() {
        return Err(syn::Error::new(name.span(), "`name` must not be empty"));
    }
    Ok(name)
}

fn parse_as_type(meta: &ParseNestedMeta) -> syn::Result<Ident> {
    let lit: LitStr = value(meta, "a string literal: `as_type = \"generation\"`")?;
    let text = lit.value();
    OBSERVATION_TYPES
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(&text))
        .map(|(_, variant)| Ident::new(variant, lit.span()))
        .ok_or_else(|| {
            let valid = OBSERVATION_TYPES
                .iter()
                .map(|(spelling, _)| format!("\"{spelling}\""))
                .collect::<Vec<_>>()
                .join(", ");
            syn::Error::new(
                lit.span(),
                format_args!("unknown `as_type` \"{text}\": expected one of {valid}"),
            )
        })
}

fn parse_bool(meta: &ParseNestedMeta) -> syn::Result<bool> {
    Ok(value::<LitBool>(meta, "`true` or `false`")?.value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn err(tokens: TokenStream) -> String {
        match ObserveArgs::parse(tokens) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_every_argument() {
        let args = ObserveArgs::parse(quote!(
            name = "fetch",
            as_type = "Tool",
            capture_input = false,
            capture_output = true,
            skip(client, self),
        ))
        .unwrap();
        assert_eq!(args.name.unwrap().value(), "fetch");
        assert_eq!(args.as_type.unwrap(), "Tool");
        assert_eq!(args.capture_input, Some(false));
        assert_eq!(args.capture_output, Some(true));
        let skip: Vec<String> = args.skip.iter().map(ToString::to_string).collect();
        assert_eq!(skip, ["client", "self"]);
    }

    #[test]
    fn empty_is_all_defaults() {
        let args = ObserveArgs::parse(TokenStream::new()).unwrap();
        assert!(args.name.is_none() && args.as_type.is_none() && args.skip.is_empty());
        assert_eq!((args.capture_input, args.capture_output), (None, None));
    }

    #[test]
    fn refuses_misuse() {
        assert!(err(quote!(nam = "x")).starts_with("unknown argument `nam`"));
        assert_eq!(
            err(quote!(name = "a", name = "b")),
            "expected only a single `name` argument"
        );
        assert_eq!(
            err(quote!(skip(a), skip(b))),
            "expected only a single `skip` argument"
        );
        assert!(err(quote!(as_type = "llm")).contains("\"generation\""));
        assert_eq!(err(quote!(name = "")), "`name` must not be empty");
        assert_eq!(err(quote!(skip(a::b))), "expected a parameter name");
    }
}
