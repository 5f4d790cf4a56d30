//! The `#[tracedeck::test]` attribute. Use it through the `tracedeck` crate
//! (feature `macros`, on by default): the generated code calls
//! `::tracedeck::__private`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, ItemFn, Lit, MetaNameValue, Token};

/// A test with its own cassette: an `async fn` that gets a model backed by
/// the cassette key `<module path>/<test name>` under `tests/cassettes/`.
///
/// ```no_run
/// use std::sync::Arc;
/// use tracedeck::{Model, ModelRequest, Script, ScriptedModel};
///
/// /// The model to record from (in a real project, an `OpenAi::from_env(..)`).
/// fn live_model() -> ScriptedModel {
///     ScriptedModel::new(Script::text("Paris"))
/// }
///
/// #[tracedeck::test(live = live_model())]
/// async fn knows_the_capital(model: Arc<dyn Model>) -> Result<(), tracedeck::ModelError> {
///     let answer = model.generate(ModelRequest::new("gpt-4o-mini").user("Capital of France?")).await?;
///     assert_eq!(answer.text, "Paris");
///     Ok(())
/// }
/// ```
///
/// The test runs through a
/// [`CassetteModel`](https://docs.rs/tracedeck/latest/tracedeck/replay/struct.CassetteModel.html)
/// in the mode [`Mode::from_env`](https://docs.rs/tracedeck/latest/tracedeck/replay/enum.Mode.html#method.from_env)
/// picks (`Replay` when `CI` is set, `Auto` locally, `TRACEDECK_MODE`
/// overrides):
///
/// - **Key**: the module path (`::` becomes `/`; the crate's name is dropped
///   in unit tests, kept in an integration test, where it is the file's
///   name) then the function's name, characters a key cannot hold turned
///   into `_`. `async fn knows_the_capital` in `tests/geo.rs` replays
///   `tests/cassettes/geo/knows_the_capital/`. A test made by a
///   `macro_rules!` gets the name the macro gave it.
/// - **Replay** runs on a paused clock (current-thread runtime, like
///   `#[tokio::test(start_paused = true)]`): recorded parts arrive at their
///   recorded offsets, instantly and exactly. A call with no recording fails
///   with a `CassetteMiss` naming the key and, when nothing is recorded under
///   it, the store's keys nearest to it.
/// - **Record / Auto** run on the real clock, so live calls are timed truly,
///   and record into the key's folder. The live model is built only then.
/// - At the end the cassette is flushed; the test fails if a recording was
///   lost, if the body returned `Err` (`-> Result<_, E>` with `E: Debug`), or
///   on any panic.
///
/// The function takes one argument, the model (`Arc<dyn Model>`), or none.
/// The body runs inside one root span keyed by the test's key, so each run
/// is one trace, one cassette file; a call made in a task spawned with
/// `tokio::spawn` has no parent and is not part of it: spawn with
/// `tracedeck::spawn` to carry the test's span along.
///
/// # Arguments
///
/// - `live = <expr>`: the live model, any expression whose value implements
///   `tracedeck::Model` (evaluated only when a call may go live). Without
///   it the test only replays: `Auto` runs as `Replay`, and `Record` or
///   `Passthrough` fail saying how to add one.
/// - `dir = "<path>"`: the cassette folder, relative to the package's
///   manifest folder (default `tests/cassettes`); any `AsRef<Path>` expression.
/// - `mode = "replay"` (or `"record"`, `"auto"`, `"passthrough"`, or a
///   `tracedeck::Mode` expression): pins the mode; `TRACEDECK_MODE` is then
///   not read.
///
/// Other attributes (`#[ignore]`, `#[should_panic]`, docs) are kept.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// What the attribute's arguments say.
#[derive(Default)]
struct Args {
    live: Option<Expr>,
    dir: Option<Expr>,
    mode: Option<TokenStream2>,
}

const MODES: [(&str, &str); 4] = [
    ("replay", "Replay"),
    ("record", "Record"),
    ("auto", "Auto"),
    ("passthrough", "Passthrough"),
];

fn parse_args(args: TokenStream2) -> syn::Result<Args> {
    let pairs = Punctuated::<MetaNameValue, Token![,]>::parse_terminated.parse2(args)?;
    let mut parsed = Args::default();
    for pair in pairs {
        let name = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let slot_taken = match name.as_str() {
            "live" => parsed.live.replace(pair.value).is_some(),
            "dir" => parsed.dir.replace(pair.value).is_some(),
            "mode" => parsed.mode.replace(mode_tokens(&pair.value)?).is_some(),
            _ => {
                return Err(syn::Error::new(
                    pair.path.span(),
                    "unknown argument: #[tracedeck::test] takes `live = <model expression>`, \
                     `dir = \"<cassette folder>\"` and `mode = \"replay\"|\"record\"|\"auto\"|\"passthrough\"`",
                ));
            }
        };
        if slot_taken {
            return Err(syn::Error::new(
                pair.path.span(),
                format!("`{name}` is given twice"),
            ));
        }
    }
    Ok(parsed)
}

/// A mode given as a string is checked here; any other expression must be a
/// `tracedeck::Mode`.
fn mode_tokens(value: &Expr) -> syn::Result<TokenStream2> {
    if let Expr::Lit(ExprLit {
        lit: Lit::Str(text),
        ..
    }) = value
    {
        let wanted = text.value();
        let Some((_, variant)) = MODES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted.trim()))
        else {
            return Err(syn::Error::new(
                text.span(),
                format!(
                    "unknown mode `{wanted}`: use \"replay\", \"record\", \"auto\" or \"passthrough\""
                ),
            ));
        };
        let variant = syn::Ident::new(variant, text.span());
        return Ok(quote!(::tracedeck::Mode::#variant));
    }
    Ok(quote!(#value))
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let args = parse_args(args)?;
    let mut function: ItemFn = syn::parse2(item)?;
    let sig = &function.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            "#[tracedeck::test] needs an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            sig.generics.span(),
            "#[tracedeck::test] functions cannot be generic",
        ));
    }
    if let Some(receiver @ FnArg::Receiver(_)) = sig.inputs.first() {
        return Err(syn::Error::new(
            receiver.span(),
            "#[tracedeck::test] functions cannot take `self`",
        ));
    }
    if sig.inputs.len() > 1 {
        return Err(syn::Error::new(
            sig.inputs.span(),
            "#[tracedeck::test] functions take one argument, the model \
             (`model: Arc<dyn tracedeck::Model>`), or none",
        ));
    }
    let takes_model = sig.inputs.len() == 1;
    let ident = sig.ident.clone();
    let name = ident.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
    let vis = function.vis.clone();
    // The attributes go on the generated test; the body keeps none.
    let attrs = std::mem::take(&mut function.attrs);

    let call_site = Span::call_site();
    let mut spec = quote_spanned! {call_site=>
        ::tracedeck::__private::TestSpec::new(
            ::core::env!("CARGO_MANIFEST_DIR"),
            ::core::module_path!(),
            ::core::env!("CARGO_CRATE_NAME"),
            ::core::option_env!("CARGO_TARGET_TMPDIR").is_some(),
            #name,
        )
    };
    if let Some(dir) = &args.dir {
        spec = quote!(#spec.dir(#dir));
    }
    if let Some(mode) = &args.mode {
        spec = quote!(#spec.mode(#mode));
    }
    if let Some(live) = &args.live {
        spec = quote!(#spec.live(move || #live));
    }
    let call = if takes_model {
        quote!(|model| #ident(model))
    } else {
        quote!(|_model| #ident())
    };
    Ok(quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #ident() {
            ::tracedeck::__require_testing!();
            #function
            #spec.run(#call)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn expand_str(args: &str, item: &str) -> Result<String, String> {
        expand(args.parse().unwrap(), item.parse().unwrap())
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expands_to_a_plain_test_calling_the_runtime() {
        let out = expand_str(
            r#"live = make(), dir = "fixtures", mode = "Replay""#,
            "#[ignore] async fn answers(model: Arc<dyn Model>) -> Result<(), E> { Ok(()) }",
        )
        .unwrap();
        assert!(
            out.starts_with("# [ignore] # [:: core :: prelude :: v1 :: test] fn answers ()"),
            "{out}"
        );
        assert!(
            out.contains("async fn answers (model : Arc < dyn Model >)"),
            "{out}"
        );
        assert!(out.contains(". dir (\"fixtures\")"), "{out}");
        assert!(
            out.contains(". mode (:: tracedeck :: Mode :: Replay)"),
            "{out}"
        );
        assert!(out.contains(". live (move || make ())"), "{out}");
        assert!(out.contains(". run (| model | answers (model))"), "{out}");
        assert!(out.contains("\"answers\""), "{out}");
    }

    #[test]
    fn a_body_without_argument_ignores_the_model() {
        let out = expand_str("", "async fn r#plain() {}").unwrap();
        assert!(out.contains(". run (| _model | r#plain ())"), "{out}");
        assert!(out.contains("\"plain\""), "{out}");
        assert!(!out.contains(". live"), "{out}");
    }

    #[test]
    fn mistakes_are_compile_errors_that_say_what_is_allowed() {
        let cases = [
            ("", "fn not_async() {}", "needs an `async fn`"),
            ("", "async fn two(a: A, b: B) {}", "take one argument"),
            ("", "async fn generic<T>() {}", "cannot be generic"),
            ("liv = x()", "async fn t() {}", "unknown argument"),
            (
                "mode = \"recrod\"",
                "async fn t() {}",
                "unknown mode `recrod`",
            ),
            (
                "dir = \"a\", dir = \"b\"",
                "async fn t() {}",
                "`dir` is given twice",
            ),
        ];
        for (args, item, expected) in cases {
            let err = expand_str(args, item).unwrap_err();
            assert!(err.contains(expected), "{args} {item}: {err}");
        }
    }
}
