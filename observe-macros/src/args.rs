//! Parsing `#[observe(...)]` into [`ObserveArgs`]. Parsing never emits code.

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::{Ident, LitBool, LitStr, Path};

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

/// Every argument, as written.
const ARGUMENT_NAMES: [&str; 8] = [
    "name",
    "as_type",
    "capture_input",
    "capture_output",
    "skip",
    "stream",
    "output",
    "crate",
];

/// `as_type` spellings other SDKs use, and what they are here.
const AS_TYPE_ALIASES: [(&str, &str); 4] = [
    ("llm", "generation"),
    ("chat", "generation"),
    ("completion", "generation"),
    ("retrieval", "retriever"),
];

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
    /// `stream = bool`: observe the returned stream until consumed (`true`), or the call
    /// only (`false`); `None` decides by the returned value's traits. Spanned at the value.
    pub(crate) stream: Option<LitBool>,
    /// `output = path::to::reducer`: folds the output (`fn(&mut A, &Item)`).
    pub(crate) output: Option<Path>,
    /// `crate = "path"`: where the runtime is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
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
        } else if path.is_ident("stream") {
            set_once(&mut self.stream, meta, "stream", |m| {
                value::<LitBool>(m, "`true` or `false`")
            })
        } else if path.is_ident("output") {
            set_once(&mut self.output, meta, "output", |m| {
                value::<Path>(m, "a function path: `output = path::to::reducer`")
            })
        } else if path.is_ident("crate") {
            set_once(&mut self.krate, meta, "crate", parse_crate)
        } else {
            let written = path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect::<Vec<_>>()
                .join("::");
            let hint = match closest(&written, ARGUMENT_NAMES.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!(
                    "expected one of {}",
                    ARGUMENT_NAMES
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            Err(meta.error(format_args!("unknown argument `{written}`: {hint}")))
        }
    }
}

/// The candidate nearest to `written`, if it is a plausible slip (a few edits away).
fn closest<'a>(written: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let written = written.to_ascii_lowercase();
    candidates
        .map(|c| (edit_distance(&written, c), c))
        .filter(|(d, c)| *d <= (c.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over bytes (argument names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (row[j + 1] + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// `crate = "path"` (as tracing and fastrace spell it) or `crate = path`.
fn parse_crate(meta: &ParseNestedMeta) -> syn::Result<Path> {
    let value = meta.value()?;
    if value.peek(LitStr) {
        let lit: LitStr = value.parse()?;
        lit.parse::<Path>().map_err(|_| {
            syn::Error::new(
                lit.span(),
                "expected a crate path: `crate = \"my_crate::observe\"`",
            )
        })
    } else {
        value.parse::<Path>().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a crate path: `crate = \"my_crate::observe\"`",
            )
        })
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
    if let Some((_, variant)) = OBSERVATION_TYPES
        .iter()
        .find(|(spelling, _)| spelling.eq_ignore_ascii_case(&text))
    {
        return Ok(Ident::new(variant, lit.span()));
    }
    let lower = text.to_ascii_lowercase();
    let suggestion = AS_TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == lower)
        .map(|(alias, meant)| format!("an {alias} call is a `\"{meant}\"` here"))
        .or_else(|| {
            closest(&lower, OBSERVATION_TYPES.iter().map(|(s, _)| *s))
                .map(|near| format!("did you mean \"{near}\"?"))
        });
    let valid = OBSERVATION_TYPES
        .iter()
        .map(|(spelling, _)| format!("\"{spelling}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let message = match suggestion {
        Some(hint) => format!("unknown `as_type` \"{text}\": {hint} (expected one of {valid})"),
        None => format!("unknown `as_type` \"{text}\": expected one of {valid}"),
    };
    Err(syn::Error::new(lit.span(), message))
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
    fn parses_stream_output_result_and_crate() {
        let args = ObserveArgs::parse(quote!(
            stream = true,
            output = reducers::join,
            crate = "my_sdk::observe",
        ))
        .unwrap();
        assert!(args.stream.unwrap().value);
        let path = |p: &Path| quote!(#p).to_string();
        assert_eq!(path(&args.output.unwrap()), "reducers :: join");
        assert_eq!(path(&args.krate.unwrap()), "my_sdk :: observe");
        let bare = ObserveArgs::parse(quote!(crate = my_sdk)).unwrap();
        assert_eq!(path(&bare.krate.unwrap()), "my_sdk");
    }

    #[test]
    fn empty_is_all_defaults() {
        let args = ObserveArgs::parse(TokenStream::new()).unwrap();
        assert!(args.name.is_none() && args.as_type.is_none() && args.skip.is_empty());
        assert_eq!((args.capture_input, args.capture_output), (None, None));
    }

    #[test]
    fn refuses_misuse() {
        assert_eq!(
            err(quote!(nam = "x")),
            "unknown argument `nam`: did you mean `name`?"
        );
        assert_eq!(
            err(quote!(capture_ouput = true)),
            "unknown argument `capture_ouput`: did you mean `capture_output`?"
        );
        assert!(err(quote!(zzz = 1)).starts_with("unknown argument `zzz`: expected one of `name`"));
        assert_eq!(
            err(quote!(nmae = "x")),
            "unknown argument `nmae`: did you mean `name`?"
        );
        assert!(err(quote!(as_type = "llm")).contains("a `\"generation\"` here"));
        assert!(err(quote!(as_type = "generaton")).contains("did you mean \"generation\"?"));
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
