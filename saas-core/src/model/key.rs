//! Keys of tenant-scoped models: single columns or tuples for composite keys.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::{Encode, Postgres, Type};
use uuid::Uuid;

use super::PgQuery;
use crate::tenancy::TenantId;

/// One key column's Rust type. Implement it for your own key newtypes.
pub trait KeyPart:
    Clone
    + Send
    + Sync
    + Serialize
    + DeserializeOwned
    + for<'e> Encode<'e, Postgres>
    + Type<Postgres>
    + 'static
{
}

impl KeyPart for Uuid {}
impl KeyPart for i16 {}
impl KeyPart for i32 {}
impl KeyPart for i64 {}
impl KeyPart for String {}
impl KeyPart for TenantId {}
impl KeyPart for time::OffsetDateTime {}

/// A model key: a [`KeyPart`] or a tuple of them, bound as consecutive parameters.
pub trait ModelKey: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    /// Binds the key's values in column order.
    fn bind_to<'q>(&self, query: PgQuery<'q>) -> PgQuery<'q>;
}

impl<T: KeyPart> ModelKey for T {
    fn bind_to<'q>(&self, query: PgQuery<'q>) -> PgQuery<'q> {
        query.bind(self.clone())
    }
}

macro_rules! tuple_key {
    ($($name:ident : $idx:tt),+) => {
        impl<$($name: KeyPart),+> ModelKey for ($($name,)+) {
            fn bind_to<'q>(&self, query: PgQuery<'q>) -> PgQuery<'q> {
                query$(.bind(self.$idx.clone()))+
            }
        }
    };
}

tuple_key!(A: 0, B: 1);
tuple_key!(A: 0, B: 1, C: 2);
tuple_key!(A: 0, B: 1, C: 2, D: 3);
