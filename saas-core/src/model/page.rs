//! Keyset pagination: opaque cursors over model keys.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use sqlx::postgres::PgRow;

use super::{ModelKey, TenantScoped};
use crate::error::{ApiError, ApiResult};

/// The default page size when a request names none.
pub const DEFAULT_LIMIT: u32 = 50;
/// The largest page a request may ask for.
pub const MAX_LIMIT: u32 = 100;

/// An opaque cursor: the key of the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    /// Encodes a key.
    pub fn encode<K: ModelKey>(key: &K) -> Cursor {
        let json = serde_json::to_vec(key).unwrap_or_default();
        Cursor(URL_SAFE_NO_PAD.encode(json))
    }

    /// Decodes a cursor into a key; any tampering is a 422, never a 500.
    pub fn decode<K: ModelKey>(cursor: &str) -> ApiResult<K> {
        let invalid =
            || ApiError::Validation("invalid cursor: pass next_cursor back unchanged".into());
        if cursor.len() > 1024 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }

    /// The cursor's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which page to fetch.
#[derive(Debug, Clone)]
pub struct PageRequest<K> {
    /// Rows per page, 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Start after this key; `None` for the first page.
    pub after: Option<K>,
}

impl<K: ModelKey> PageRequest<K> {
    /// The first page of the default size.
    pub fn first() -> Self {
        PageRequest {
            limit: DEFAULT_LIMIT,
            after: None,
        }
    }

    /// Validates a `limit` and a `cursor` as they arrive in a query string.
    pub fn from_query(limit: Option<i64>, cursor: Option<&str>) -> ApiResult<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(l) if (1..=i64::from(MAX_LIMIT)).contains(&l) => l as u32,
            Some(l) => {
                return Err(ApiError::Validation(format!(
                    "limit must be between 1 and {MAX_LIMIT}, got {l}"
                )));
            }
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(Cursor::decode(c)?),
        };
        Ok(PageRequest { limit, after })
    }
}

/// One page of rows and the cursor of the next page, if any. It is a response body as it is
/// (`-> ApiResult<Json<Page<TaskBody>>>`): its OpenAPI schema is named `Page_TaskBody` and
/// refers to `TaskBody`, so version changes of `TaskBody` apply to its items.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The rows, in key order.
    pub items: Vec<T>,
    /// Pass this back as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

// By hand rather than derived: utoipa inlines a generic parameter's schema, and an inlined
// item has no `$ref` for version changes (which follow schema names) to find. Only utoipa's
// public traits: the schema is named after its item (`Page_TaskBody`), so each page type is
// one component.
impl<T: utoipa::ToSchema> utoipa::PartialSchema for Page<T> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
        use utoipa::openapi::{Ref, schema::SchemaType};
        ObjectBuilder::new()
            .description(Some("One page of items and the cursor of the next page."))
            .property(
                "items",
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(T::name()))
                    .description(Some("The items, in key order.")),
            )
            .required("items")
            .property(
                "next_cursor",
                ObjectBuilder::new()
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .description(Some(
                        "Pass this back as `cursor` to get the next page; `null` on the last page.",
                    )),
            )
            .into()
    }
}

impl<T: utoipa::ToSchema> utoipa::ToSchema for Page<T> {
    /// `Page_<item>`: `Page_TaskBody`.
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Page_{}", T::name()).into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((T::name().into_owned(), T::schema()));
        T::schemas(schemas);
    }
}

/// `?limit=N&cursor=C` of a list route, documented as two query parameters: take it with
/// `Query(q): Query<PageQuery>` and turn it into a [`PageRequest`] with
/// [`PageQuery::request`] (a bad limit or cursor is a 422).
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated request for keys of type `K` (see [`PageRequest::from_query`]).
    pub fn request<K: ModelKey>(&self) -> ApiResult<PageRequest<K>> {
        PageRequest::from_query(self.limit, self.cursor.as_deref())
    }
}

impl<T> Page<T> {
    /// Converts every item (for example into a response shape), keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched items: the extra one only says there is more,
    /// and the cursor is the key of the last item kept.
    pub(crate) fn from_fetched<K: ModelKey>(
        mut items: Vec<T>,
        limit: u32,
        key: impl Fn(&T) -> K,
    ) -> Page<T> {
        let has_more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if has_more {
            items.last().map(|last| Cursor::encode(&key(last)).0)
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

impl<T: TenantScoped> Page<T> {
    /// Builds a page from `limit + 1` fetched rows.
    pub(crate) fn from_rows(rows: Vec<PgRow>, limit: u32) -> ApiResult<Page<T>> {
        let items = rows
            .iter()
            .map(|row| <T as super::FromPgRow>::from_pg_row(row))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page::from_fetched(items, limit, T::key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn cursor_round_trips_single_and_composite_keys() {
        let id = Uuid::new_v4();
        let c = Cursor::encode(&id);
        assert_eq!(Cursor::decode::<Uuid>(c.as_str()).unwrap(), id);
        let key = (7_i64, "x".to_string());
        let c = Cursor::encode(&key);
        assert_eq!(Cursor::decode::<(i64, String)>(c.as_str()).unwrap(), key);
    }

    #[test]
    fn tampered_cursor_is_a_validation_error() {
        for bad in ["%%%", "bm90IGpzb24", &"A".repeat(5000)] {
            let err = Cursor::decode::<Uuid>(bad).unwrap_err();
            assert_eq!(err.status(), 422, "{bad}");
        }
    }

    #[test]
    fn limit_outside_range_is_rejected() {
        assert!(PageRequest::<Uuid>::from_query(Some(0), None).is_err());
        assert!(PageRequest::<Uuid>::from_query(Some(101), None).is_err());
        assert_eq!(
            PageRequest::<Uuid>::from_query(None, None).unwrap().limit,
            50
        );
        assert_eq!(
            PageRequest::<Uuid>::from_query(Some(100), None)
                .unwrap()
                .limit,
            100
        );
    }
}
