//! The OpenAPI operation of an `#[endpoint]`, built from what the macro read off the handler.
//!
//! `#[endpoint]` does not hand the handler to `utoipa::path`: it reads the extractors, the
//! return type and the attribute, and emits calls to [`OperationSpec`] and the schema
//! functions below. Everything here uses utoipa's public traits (`ToSchema`, `PartialSchema`,
//! `IntoParams`, `IntoResponses`) and its public document model, so a utoipa release that
//! changes its macro internals cannot break an application, and a body type without a schema
//! is reported by one error naming the type (the [`BodySchema`] bound).

use utoipa::openapi::path::{
    Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::openapi::{ContentBuilder, Deprecated, Ref, RefOr, Required, ResponseBuilder};
use utoipa::{IntoParams, IntoResponses, PartialSchema, ToSchema};

/// The schemas an operation refers to, as [`Endpoint::schemas`](crate::versioning::Endpoint)
/// collects them.
pub type Schemas = Vec<(String, RefOr<Schema>)>;

/// A type used as a body (or a parameter) of an `#[endpoint]`: what the generated code asks
/// for, so a type without `utoipa::ToSchema` gets an error that says so.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is a body of an `#[endpoint]` but does not derive `utoipa::ToSchema`",
    label = "this type has no OpenAPI schema",
    note = "add `#[derive(utoipa::ToSchema)]` to `{Self}`: the API's document describes it with its schema"
)]
pub trait BodySchema: ToSchema {}
impl<T: ToSchema + ?Sized> BodySchema for T {}

/// What an operation needs of a component schema `T`. One function hands out all of it, so a
/// `T` without `ToSchema` is one error (the same diagnostic at each use is reported once).
#[allow(missing_debug_implementations)]
pub struct Component {
    /// `{"$ref": "#/components/schemas/<name>"}`.
    pub reference: RefOr<Schema>,
    /// The schema itself, written in place (`inline(T)` in the attribute).
    pub schema: fn() -> RefOr<Schema>,
    /// Adds `T`'s schema and every schema it refers to.
    pub collect: fn(&mut Schemas),
    /// Adds the schemas `T` refers to, without `T` itself (for `inline(T)`).
    pub nested: fn(&mut Schemas),
}

/// The [`Component`] of `T`.
pub fn component<T: BodySchema>() -> Component {
    Component {
        reference: RefOr::Ref(Ref::from_schema_name(T::name())),
        schema: T::schema,
        collect: |out| {
            out.push((T::name().into_owned(), T::schema()));
            T::schemas(out);
        },
        nested: T::schemas,
    }
}

/// A type written in place in the document: numbers, `bool`, strings, `Uuid`, dates and
/// times, JSON values, and `Option`s of them (a parameter of type `Option<T>` is
/// not required).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a scalar the OpenAPI document can write in place",
    label = "not a number, string, `Uuid`, date or time",
    note = "give `{Self}` a schema with `#[derive(utoipa::ToSchema)]` and refer to it, or use \
            an `IntoParams` struct for several parameters"
)]
pub trait Scalar {
    /// The schema.
    fn scalar() -> RefOr<Schema>;
}

macro_rules! scalar_from_utoipa {
    ($($ty:ty),*) => {$(
        impl Scalar for $ty {
            fn scalar() -> RefOr<Schema> {
                <$ty as PartialSchema>::schema()
            }
        }
    )*};
}

scalar_from_utoipa!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    bool,
    f32,
    f64,
    String,
    str,
    char,
    serde_json::Value
);

fn string_format(format: KnownFormat) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(format)))
            .build(),
    ))
}

impl Scalar for uuid::Uuid {
    fn scalar() -> RefOr<Schema> {
        string_format(KnownFormat::Uuid)
    }
}

impl Scalar for time::OffsetDateTime {
    fn scalar() -> RefOr<Schema> {
        string_format(KnownFormat::DateTime)
    }
}

impl Scalar for time::PrimitiveDateTime {
    fn scalar() -> RefOr<Schema> {
        string_format(KnownFormat::DateTime)
    }
}

impl Scalar for time::Date {
    fn scalar() -> RefOr<Schema> {
        string_format(KnownFormat::Date)
    }
}

impl<T: Scalar> Scalar for Option<T> {
    fn scalar() -> RefOr<Schema> {
        T::scalar()
    }
}

/// A scalar's schema written in place.
pub fn inline<T: Scalar + ?Sized>() -> RefOr<Schema> {
    T::scalar()
}

/// An array of `items`.
pub fn array(items: RefOr<Schema>) -> RefOr<Schema> {
    RefOr::T(Schema::Array(ArrayBuilder::new().items(items).build()))
}

/// Where a parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum In {
    /// A `{name}` of the path.
    Path,
    /// The query string.
    Query,
    /// A request header.
    Header,
    /// A cookie.
    Cookie,
}

impl In {
    fn utoipa(self) -> ParameterIn {
        match self {
            In::Path => ParameterIn::Path,
            In::Query => ParameterIn::Query,
            In::Header => ParameterIn::Header,
            In::Cookie => ParameterIn::Cookie,
        }
    }
}

/// An operation under construction; `#[endpoint]` calls one method per part it found.
pub struct OperationSpec {
    builder: OperationBuilder,
}

impl std::fmt::Debug for OperationSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationSpec").finish_non_exhaustive()
    }
}

impl OperationSpec {
    /// An operation with the given `operationId` (the handler's name unless overridden).
    pub fn new(operation_id: &str) -> OperationSpec {
        OperationSpec {
            builder: OperationBuilder::new().operation_id(Some(operation_id)),
        }
    }

    /// The one-line summary (the first paragraph of the handler's doc comment).
    pub fn summary(&mut self, summary: &str) -> &mut Self {
        self.map(|b| b.summary(Some(summary)))
    }

    /// The description (the rest of the doc comment, or `description = ".."`).
    pub fn description(&mut self, description: &str) -> &mut Self {
        self.map(|b| b.description(Some(description)))
    }

    /// A tag grouping the operation in the document.
    pub fn tag(&mut self, tag: &str) -> &mut Self {
        self.map(|b| b.tag(tag))
    }

    /// Marks the operation deprecated (the handler carries `#[deprecated]`).
    pub fn deprecated(&mut self) -> &mut Self {
        self.map(|b| b.deprecated(Some(Deprecated::True)))
    }

    /// One parameter. Path parameters are always required; others are required unless their
    /// type is an `Option`.
    pub fn param(
        &mut self,
        name: &str,
        location: In,
        schema: RefOr<Schema>,
        required: bool,
        description: Option<&str>,
    ) -> &mut Self {
        let required = if required || location == In::Path {
            Required::True
        } else {
            Required::False
        };
        let parameter: Parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(location.utoipa())
            .required(required)
            .description(description)
            .schema(Some(schema))
            .build();
        self.map(|b| b.parameter(parameter))
    }

    /// The parameters of an `IntoParams` type, read from `location` unless the type says
    /// where (`#[into_params(parameter_in = ..)]`).
    pub fn params<P: IntoParams>(&mut self, location: Option<In>) -> &mut Self {
        let params = P::into_params(|| location.map(In::utoipa));
        self.map(|b| b.parameters(Some(params)))
    }

    /// The request body: required, one content type.
    pub fn request_body(
        &mut self,
        content_type: &str,
        schema: RefOr<Schema>,
        description: Option<&str>,
    ) -> &mut Self {
        let body = RequestBodyBuilder::new()
            .description(description)
            .content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            )
            .required(Some(Required::True))
            .build();
        self.map(|b| b.request_body(Some(body)))
    }

    /// One response: `status` is a code (`"201"`), a range (`"4XX"`) or `"default"`; a body
    /// when the response has one.
    pub fn response(
        &mut self,
        status: &str,
        description: &str,
        body: Option<(&str, RefOr<Schema>)>,
    ) -> &mut Self {
        let mut response = ResponseBuilder::new().description(description);
        if let Some((content_type, schema)) = body {
            response = response.content(
                content_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            );
        }
        let response = response.build();
        self.map(|b| b.response(status, response))
    }

    /// The responses of an `IntoResponses` type.
    pub fn responses<R: IntoResponses>(&mut self) -> &mut Self {
        let responses = R::responses();
        self.map(|mut b| {
            for (status, response) in responses {
                b = b.response(status, response);
            }
            b
        })
    }

    /// The finished operation.
    pub fn finish(self) -> Operation {
        self.builder.build()
    }

    fn map(&mut self, f: impl FnOnce(OperationBuilder) -> OperationBuilder) -> &mut Self {
        let builder = std::mem::take(&mut self.builder);
        self.builder = f(builder);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Thing {
        id: uuid::Uuid,
        parts: Vec<Part>,
    }

    #[derive(utoipa::ToSchema)]
    #[allow(dead_code)]
    struct Part {
        name: String,
    }

    #[derive(utoipa::IntoParams)]
    #[allow(dead_code)]
    struct Paging {
        /// How many.
        limit: Option<i64>,
    }

    #[test]
    fn an_operation_has_each_part_it_was_given() {
        let mut op = OperationSpec::new("create_thing");
        op.summary("Creates a thing.")
            .tag("things")
            .param(
                "id",
                In::Path,
                inline::<uuid::Uuid>(),
                false,
                Some("The owner"),
            )
            .params::<Paging>(Some(In::Query))
            .request_body("application/json", component::<Thing>().reference, None)
            .response(
                "201",
                "Created",
                Some(("application/json", array(component::<Thing>().reference))),
            )
            .response("204", "", None);
        let value = serde_json::to_value(op.finish()).unwrap();
        assert_eq!(value["operationId"], "create_thing");
        assert_eq!(value["summary"], "Creates a thing.");
        assert_eq!(value["tags"], json!(["things"]));
        assert_eq!(
            value["parameters"][0],
            json!({"name": "id", "in": "path", "required": true, "description": "The owner",
                   "schema": {"type": "string", "format": "uuid"}})
        );
        assert_eq!(value["parameters"][1]["name"], "limit");
        assert_eq!(value["parameters"][1]["in"], "query");
        assert_eq!(value["parameters"][1]["required"], false);
        assert_eq!(
            value["requestBody"],
            json!({"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}},
                   "required": true})
        );
        assert_eq!(
            value["responses"]["201"]["content"]["application/json"]["schema"],
            json!({"type": "array", "items": {"$ref": "#/components/schemas/Thing"}})
        );
        // An empty description is left out; the document fills in the status's reason.
        assert_eq!(value["responses"]["204"], json!({}));
    }

    #[test]
    fn collected_schemas_include_the_nested_ones() {
        let mut out = Schemas::new();
        (component::<Thing>().collect)(&mut out);
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Thing", "Part"]);
    }
}
