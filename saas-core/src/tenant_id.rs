//! [`TenantId`]: the identity every tenant-scoped row, key and subject carries.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A tenant's identifier: a UUID newtype that cannot be confused with other ids.
///
/// ```
/// use saas_core::TenantId;
/// let id: TenantId = "8d0c6f4e-2c3a-4d6e-9b1a-0f3e5a7c9b21".parse().unwrap();
/// assert_eq!(id.to_string(), "8d0c6f4e-2c3a-4d6e-9b1a-0f3e5a7c9b21");
/// assert!("acme".parse::<TenantId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(Uuid);

impl TenantId {
    /// Wraps a UUID.
    pub const fn from_uuid(id: Uuid) -> Self {
        TenantId(id)
    }

    /// A fresh random id (v4).
    pub fn new_random() -> Self {
        TenantId(Uuid::new_v4())
    }

    /// The underlying UUID.
    pub const fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl From<Uuid> for TenantId {
    fn from(id: Uuid) -> Self {
        TenantId(id)
    }
}

impl From<TenantId> for Uuid {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantId({})", self.0.hyphenated())
    }
}

/// Why a string is not a [`TenantId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid tenant id {input:?}: expected a UUID such as 8d0c6f4e-2c3a-4d6e-9b1a-0f3e5a7c9b21"
)]
pub struct ParseTenantIdError {
    input: String,
}

impl FromStr for TenantId {
    type Err = ParseTenantIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim())
            .map(TenantId)
            .map_err(|_| ParseTenantIdError {
                input: s.chars().take(64).collect(),
            })
    }
}

impl sqlx::Type<sqlx::Postgres> for TenantId {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Uuid as sqlx::Type<sqlx::Postgres>>::type_info()
    }

    fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
        <Uuid as sqlx::Type<sqlx::Postgres>>::compatible(ty)
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for TenantId {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <Uuid as sqlx::Encode<'q, sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for TenantId {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        <Uuid as sqlx::Decode<'r, sqlx::Postgres>>::decode(value).map(TenantId)
    }
}

impl sqlx::postgres::PgHasArrayType for TenantId {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        <Uuid as sqlx::postgres::PgHasArrayType>::array_type_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_error_names_the_input_and_the_expected_form() {
        let err = "acme".parse::<TenantId>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"acme\""), "{msg}");
        assert!(msg.contains("UUID"), "{msg}");
    }

    #[test]
    fn serde_is_a_plain_uuid_string() {
        let id = TenantId::new_random();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: TenantId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
