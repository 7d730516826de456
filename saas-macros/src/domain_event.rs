//! `#[derive(DomainEvent)]`: parse the `#[event(...)]` attributes, check them, expand the impl.
//!
//! ```text
//! #[derive(DomainEvent, Serialize)]
//! #[event(name = "project.created", version = 1)]   // version defaults to 1
//! struct ProjectCreated { #[event(aggregate)] id: Uuid, name: String }
//!
//! #[derive(DomainEvent, Serialize)]
//! #[event(name = "task.updated", aggregate = "0.id")] // a path into the value
//! struct TaskUpdated(TaskBody);
//! ```
//! Without either form, a field named `id` is the aggregate.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitInt, LitStr, Member, Path};

use crate::ctxt::Ctxt;

/// The checked input.
#[derive(Debug)]
struct Event {
    ident: syn::Ident,
    generics: syn::Generics,
    name: String,
    version: i32,
    aggregate: Vec<Member>,
    krate: Path,
}

/// Expands the derive; every mistake is reported at once.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(e) => return e.to_compile_error(),
    };
    match parse(&input) {
        Ok(event) => expand(&event),
        Err(e) => e.to_compile_error(),
    }
}

/// Event type names: dotted lowercase words (`project.created`), safe as NATS subject tokens.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let parts: Vec<&str> = name.split('.').collect();
    let word_ok = |w: &&str| {
        !w.is_empty()
            && w.starts_with(|c: char| c.is_ascii_lowercase())
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    };
    if name.len() > 200 {
        return Err("the event name is longer than 200 bytes".into());
    }
    if parts.len() < 2 || !parts.iter().all(word_ok) {
        return Err(format!(
            "`{name}` is not an event name: expected dotted lowercase words, `<aggregate>.<verb>`"
        ));
    }
    Ok(())
}

fn parse_path(text: &str, span: Span) -> Result<Vec<Member>, String> {
    text.split('.')
        .map(|part| {
            if let Ok(index) = part.parse::<u32>() {
                Ok(Member::Unnamed(syn::Index { index, span }))
            } else {
                syn::parse_str::<syn::Ident>(part)
                    .map(Member::Named)
                    .map_err(|_| format!("`{text}` is not a field path like `id` or `0.id`"))
            }
        })
        .collect()
}

fn parse(input: &DeriveInput) -> syn::Result<Event> {
    let mut cx = Ctxt::new();
    let mut name: Option<LitStr> = None;
    let mut version: Option<LitInt> = None;
    let mut aggregate: Option<(Vec<Member>, Span)> = None;
    let mut krate: Option<Path> = None;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("event")) {
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(|i| i.to_string()).unwrap_or_default();
            match key.as_str() {
                "name" | "version" | "aggregate" | "crate" => {}
                _ => {
                    return Err(meta.error(
                        "unknown key\n       help: expected `name = \"...\"`, `version = N`, `aggregate = \"field.path\"` or `crate = \"...\"`",
                    ));
                }
            }
            let duplicate = match key.as_str() {
                "name" => name.is_some(),
                "version" => version.is_some(),
                "aggregate" => aggregate.is_some(),
                _ => krate.is_some(),
            };
            if duplicate {
                return Err(meta.error(format!("duplicate key `{key}`")));
            }
            match key.as_str() {
                "name" => name = Some(meta.value()?.parse()?),
                "version" => version = Some(meta.value()?.parse()?),
                "aggregate" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    match parse_path(&lit.value(), lit.span()) {
                        Ok(path) => aggregate = Some((path, lit.span())),
                        Err(e) => return Err(syn::Error::new_spanned(&lit, e)),
                    }
                }
                _ => {
                    let lit: LitStr = meta.value()?.parse()?;
                    krate = Some(lit.parse()?);
                }
            }
            Ok(())
        });
        if let Err(e) = result {
            cx.push(e);
        }
    }

    // A field marked `#[event(aggregate)]`, or one named `id`.
    let fields: Vec<&syn::Field> = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(f) => f.named.iter().collect(),
            Fields::Unnamed(f) => f.unnamed.iter().collect(),
            Fields::Unit => Vec::new(),
        },
        _ => {
            cx.error(
                &input.ident,
                "DomainEvent can only be derived for structs",
                "wrap the enum in a struct per event type",
            );
            Vec::new()
        }
    };
    let mut marked: Vec<Member> = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        for attr in field.attrs.iter().filter(|a| a.path().is_ident("event")) {
            let result = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("aggregate") {
                    marked.push(match &field.ident {
                        Some(ident) => Member::Named(ident.clone()),
                        None => Member::Unnamed(syn::Index {
                            index: i as u32,
                            span: Span::call_site(),
                        }),
                    });
                    Ok(())
                } else {
                    Err(meta
                        .error("unknown key\n       help: on a field, write `#[event(aggregate)]`"))
                }
            });
            if let Err(e) = result {
                cx.push(e);
            }
        }
    }
    let aggregate = match (aggregate, marked.len()) {
        (Some((path, _)), 0) => Some(path),
        (None, 1) => Some(marked),
        (Some((_, span)), _) => {
            cx.error_at(
                span,
                "the aggregate is given twice",
                "keep either `aggregate = \"...\"` or the `#[event(aggregate)]` field",
            );
            None
        }
        (None, 0) => {
            let id = fields
                .iter()
                .find_map(|f| f.ident.as_ref().filter(|i| *i == "id"));
            match id {
                Some(id) => Some(vec![Member::Named(id.clone())]),
                None => {
                    cx.error(
                        &input.ident,
                        "no aggregate id: events of one aggregate are published in order, so the framework must know it",
                        "mark the field with `#[event(aggregate)]`, name it `id`, or write `#[event(aggregate = \"0.id\")]`",
                    );
                    None
                }
            }
        }
        (None, _) => {
            cx.error(
                &input.ident,
                "more than one field is marked `#[event(aggregate)]`",
                "mark exactly one",
            );
            None
        }
    };

    let name_value = match &name {
        Some(lit) => {
            if let Err(e) = check_name(&lit.value()) {
                cx.error(lit, e, "write e.g. `name = \"project.created\"`");
            }
            lit.value()
        }
        None => {
            cx.error(
                &input.ident,
                "missing event name",
                "add `#[event(name = \"<aggregate>.<verb>\")]`",
            );
            String::new()
        }
    };
    let version_value = match &version {
        Some(lit) => match lit.base10_parse::<i32>() {
            Ok(v) if v >= 1 => v,
            _ => {
                cx.error(
                    lit,
                    "the version must be a positive integer",
                    "write `version = 1`",
                );
                1
            }
        },
        None => 1,
    };
    cx.finish()?;
    Ok(Event {
        ident: input.ident.clone(),
        generics: input.generics.clone(),
        name: name_value,
        version: version_value,
        aggregate: aggregate.unwrap_or_default(),
        krate: krate.unwrap_or_else(|| syn::parse_quote!(::saas_core)),
    })
}

fn expand(event: &Event) -> TokenStream {
    let Event {
        ident,
        generics,
        name,
        version,
        aggregate,
        krate,
    } = event;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    quote! {
        const _: () = {
            impl #impl_generics #krate::__private::DomainEvent for #ident #ty_generics #where_clause {
                const TYPE: &'static str = #name;
                const VERSION: i32 = #version;
                fn aggregate_id(&self) -> #krate::__private::Uuid {
                    ::core::convert::Into::into(self #(.#aggregate)*)
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(input: TokenStream) -> String {
        let input: DeriveInput = syn::parse2(input).unwrap();
        match parse(&input) {
            Ok(_) => String::new(),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn event_names_are_dotted_lowercase_words() {
        assert!(check_name("project.created").is_ok());
        assert!(check_name("billing.invoice_paid.v2").is_ok());
        for bad in [
            "project",
            "Project.created",
            "project..created",
            ".created",
            "a.b c",
            "a.*",
            "a.>",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_aggregate_comes_from_a_path_a_marked_field_or_id() {
        let expand_of = |input: TokenStream| {
            let input: DeriveInput = syn::parse2(input).unwrap();
            expand(&parse(&input).unwrap()).to_string()
        };
        let by_path = expand_of(quote! {
            #[event(name = "task.updated", aggregate = "0.id")]
            struct TaskUpdated(TaskBody);
        });
        assert!(by_path.contains("self . 0 . id"), "{by_path}");
        let marked = expand_of(quote! {
            #[event(name = "note.added", version = 3)]
            struct NoteAdded { #[event(aggregate)] note: Uuid, text: String }
        });
        assert!(marked.contains("self . note"), "{marked}");
        assert!(marked.contains("VERSION : i32 = 3i32"), "{marked}");
        let by_id = expand_of(quote! {
            #[event(name = "project.deleted")]
            struct ProjectDeleted { id: Uuid }
        });
        assert!(by_id.contains("self . id"), "{by_id}");
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let all = errors(quote! {
            #[event(name = "Created", version = 0, colour = "red")]
            struct Bad { #[event(aggregate)] a: Uuid, #[event(aggregate)] b: Uuid }
        });
        for expected in [
            "unknown key",
            "more than one field is marked",
            "is not an event name",
            "positive integer",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        let missing = errors(quote! { struct Quiet { x: u32 } });
        assert!(missing.contains("no aggregate id"), "{missing}");
        assert!(missing.contains("missing event name"), "{missing}");
        let twice = errors(quote! {
            #[event(name = "a.b", aggregate = "x")]
            struct Twice { #[event(aggregate)] x: Uuid }
        });
        assert!(twice.contains("the aggregate is given twice"), "{twice}");
    }
}
