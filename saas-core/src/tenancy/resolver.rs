//! Resolvers: how a request proves which tenant it acts for.
//!
//! A [`TenantResolver`] looks at the request head and answers "not my kind of credential"
//! (`Ok(None)`), a tenant reference, or a rejection. Every resolver declares what its answer
//! is worth ([`Proof`]): a credential *authenticates* (a signed token, a header only trusted
//! infrastructure can set); a name only *identifies* (a subdomain, a path segment: anyone can
//! type one; tenancy invariant 9, docs/src/tenancy.md). A [`ResolverChain`] resolves a request only when at least one authenticating
//! resolver names a tenant, and every resolver that names one names the *same* tenant:
//!
//! | request                                   | result |
//! |-------------------------------------------|--------|
//! | token for acme                            | acme   |
//! | token for acme, host `acme.example.com`   | acme   |
//! | token for acme, host `globex.example.com` | 401    |
//! | no token, host `globex.example.com`       | 401    |
//!
//! A name is compared with the authenticated tenant, never looked up on its own, so a flood
//! of requests naming random subdomains costs no database round trip.
//!
//! - [`JwtResolver`]: a bearer token (HS256 or RS256) with a tenant claim (authenticates).
//! - [`SubdomainResolver`]: `acme.example.com` names tenant `acme` (identifies).
//! - [`HeaderResolver`]: a header set by trusted internal infrastructure (authenticates);
//!   never installed by default, and its constructor says so.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::FromRequestParts;
use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

use super::registry::{Tenant, TenantStatus};
use super::{TenantId, pool::Tenancy};
use crate::error::{ApiError, ApiResult};

/// A reference to a tenant as a credential names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TenantRef {
    /// By id (tokens).
    Id(TenantId),
    /// By slug (subdomains).
    Slug(String),
}

/// What a resolver found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The tenant the credential names.
    pub tenant: TenantRef,
    /// The authenticated subject, when the credential carries one.
    pub subject: Option<String>,
}

/// What a resolver's answer proves about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proof {
    /// The request *names* a tenant (a subdomain, a path segment). Anyone can send any
    /// name, so a name alone never selects a tenant: it must agree with a credential.
    Identifies,
    /// The request *carries a credential* for the tenant (a verified token, a header only
    /// trusted infrastructure can set). At least one is required for every tenant request.
    Authenticates,
}

/// One way of finding the tenant of a request.
pub trait TenantResolver: Send + Sync + 'static {
    /// A short name for logs and the OpenAPI security scheme (`bearer`, `subdomain`, ...).
    fn name(&self) -> &'static str;

    /// What this resolver's answers prove. There is deliberately no default: a resolver
    /// that reads something a client can choose freely must say [`Proof::Identifies`].
    fn proof(&self) -> Proof;

    /// `Ok(None)` when the request carries no credential of this kind; `Err` (a 401) when it
    /// carries one that is invalid.
    fn resolve(&self, parts: &Parts) -> ApiResult<Option<Resolved>>;

    /// Checks the resolver's configuration once, when the app starts (a weak secret, say).
    fn check(&self) -> crate::Result<()> {
        Ok(())
    }

    /// An issuer of credentials this resolver accepts, when it can make one (HS256 JWT):
    /// the testkit uses it to act as a tenant.
    fn token_issuer(&self) -> Option<JwtIssuer> {
        None
    }
}

/// What the resolvers of a chain found in one request, split by what it proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// Answers of [`Proof::Authenticates`] resolvers; never empty.
    pub authenticated: Vec<Resolved>,
    /// Answers of [`Proof::Identifies`] resolvers: each must name the authenticated tenant.
    pub identified: Vec<Resolved>,
}

/// Several resolvers that must agree.
#[derive(Clone, Default)]
pub struct ResolverChain {
    resolvers: Vec<Arc<dyn TenantResolver>>,
}

impl std::fmt::Debug for ResolverChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.resolvers.iter().map(|r| r.name()))
            .finish()
    }
}

impl ResolverChain {
    /// An empty chain (every request is a 401 until a resolver is added).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a resolver.
    pub fn with(mut self, resolver: impl TenantResolver) -> Self {
        self.resolvers.push(Arc::new(resolver));
        self
    }

    /// The first issuer any resolver can make (see [`TenantResolver::token_issuer`]).
    pub fn token_issuer(&self) -> Option<JwtIssuer> {
        self.resolvers.iter().find_map(|r| r.token_issuer())
    }

    /// The names of the resolvers, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.resolvers.iter().map(|r| r.name()).collect()
    }

    /// Checks every resolver's configuration, and that a chain with resolvers has one that
    /// authenticates (names alone resolve no request). Run by
    /// [`super::pool::Tenancy::start`].
    pub fn check(&self) -> crate::Result<()> {
        for resolver in &self.resolvers {
            resolver.check()?;
        }
        if !self.resolvers.is_empty() && !self.can_authenticate() {
            return Err(crate::Error::misconfigured(format!(
                "the tenant resolvers {:?} only identify tenants; add one that authenticates \
                 (a JwtResolver, say): a subdomain or path alone never selects a tenant",
                self.names()
            )));
        }
        Ok(())
    }

    /// Whether any resolver authenticates: a chain without one can resolve no request.
    pub fn can_authenticate(&self) -> bool {
        self.resolvers
            .iter()
            .any(|r| r.proof() == Proof::Authenticates)
    }

    /// Runs every resolver; see the module documentation for the rules. A request that only
    /// names a tenant (a subdomain, no token) is a 401, like one that names none.
    pub fn resolve_all(&self, parts: &Parts) -> ApiResult<Credentials> {
        let mut found = Credentials {
            authenticated: Vec::new(),
            identified: Vec::new(),
        };
        for resolver in &self.resolvers {
            if let Some(resolved) = resolver.resolve(parts)? {
                match resolver.proof() {
                    Proof::Authenticates => found.authenticated.push(resolved),
                    Proof::Identifies => found.identified.push(resolved),
                }
            }
        }
        if found.authenticated.is_empty() {
            return Err(ApiError::Unauthorized(
                "no tenant credentials: send a bearer token".into(),
            ));
        }
        Ok(found)
    }
}

/// The resolved tenant of a request. Extract it in handlers that need the tenant but no
/// database access; [`super::TenantTx`] extracts it too.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    /// The tenant, active.
    pub tenant: Tenant,
    /// The authenticated subject (the token's `sub`), if any.
    pub subject: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for TenantCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        TenantCtx::of_request(parts).await.cloned()
    }
}

impl TenantCtx {
    /// The request's tenant: the one a layer or an earlier extractor already resolved, else
    /// resolved now and remembered in the request's extensions (and noted for telemetry), so
    /// that every later reader of this request sees the same resolution.
    pub(crate) async fn of_request(parts: &mut Parts) -> ApiResult<&TenantCtx> {
        if parts.extensions.get::<TenantCtx>().is_none() {
            let tenancy = parts.extensions.get::<Tenancy>().cloned().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "TenantTxLayer is not installed on this router"
                ))
            })?;
            let ctx = tenancy.resolve(parts).await?;
            crate::request_tenant::note_tenant(&parts.extensions, ctx.tenant.id);
            parts.extensions.insert(ctx);
        }
        Ok(parts
            .extensions
            .get::<TenantCtx>()
            .expect("the tenant was just remembered"))
    }
}

impl Tenancy {
    /// Resolves the request's tenant: credentials, registry lookup of the authenticated
    /// tenant, agreement of every name with it, status.
    pub async fn resolve(&self, parts: &Parts) -> ApiResult<TenantCtx> {
        let found = self.resolvers().resolve_all(parts)?;
        let mut tenant: Option<Tenant> = None;
        let mut subject = None;
        for resolved in found.authenticated {
            let this = match &resolved.tenant {
                TenantRef::Id(id) => self.tenants().get_cached(*id).await,
                TenantRef::Slug(slug) => self.tenants().get_by_slug_cached(slug).await,
            };
            let this = this.map_err(|err| match err {
                ApiError::NotFound { .. } => {
                    ApiError::Unauthorized("the credentials name an unknown tenant".into())
                }
                other => other,
            })?;
            if let Some(previous) = &tenant
                && previous.id != this.id
            {
                return Err(ApiError::Unauthorized(
                    "credentials name different tenants".into(),
                ));
            }
            subject = subject.or(resolved.subject);
            tenant = Some(this);
        }
        let tenant =
            tenant.ok_or_else(|| ApiError::Unauthorized("no tenant credentials".into()))?;
        // A name is checked against the authenticated tenant, never looked up by itself.
        for named in &found.identified {
            if !names(&tenant, &named.tenant) {
                return Err(ApiError::Unauthorized(
                    "the credentials are for another tenant than the host or path names".into(),
                ));
            }
        }
        if tenant.status == TenantStatus::Suspended {
            return Err(ApiError::TenantSuspended(tenant.id));
        }
        Ok(TenantCtx { tenant, subject })
    }
}

/// Whether `reference` names `tenant`.
fn names(tenant: &Tenant, reference: &TenantRef) -> bool {
    match reference {
        TenantRef::Id(id) => *id == tenant.id,
        TenantRef::Slug(slug) => *slug == tenant.slug,
    }
}

/// Verifies bearer JWTs and reads the tenant from a claim (`tenant_id` by default).
///
/// The algorithm is fixed at construction: tokens with `alg: none` or any other algorithm,
/// a wrong key, a missing or past `exp`, or no valid tenant claim are rejected with 401.
///
/// ```
/// use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver};
/// let resolver = JwtResolver::hs256(b"0123456789abcdef0123456789abcdef");
/// let issuer = JwtIssuer::hs256(b"0123456789abcdef0123456789abcdef");
/// let token = issuer.issue(saas_core::TenantId::new_random(), "alice", 3600).unwrap();
/// assert_eq!(token.split('.').count(), 3);
/// # let _ = resolver;
/// ```
#[derive(Clone)]
pub struct JwtResolver {
    key: DecodingKey,
    validation: Validation,
    claim: String,
    /// The shared secret, for HS256 (so tests can issue matching tokens).
    secret: Option<Vec<u8>>,
    /// The required `aud` and `iss`, for the tokens [`Self::token_issuer`] issues.
    audience: Option<String>,
    issuer: Option<String>,
}

impl std::fmt::Debug for JwtResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtResolver")
            .field("algorithms", &self.validation.algorithms)
            .field("claim", &self.claim)
            .finish()
    }
}

impl JwtResolver {
    fn with_key(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = 30;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        JwtResolver {
            key,
            validation,
            claim: "tenant_id".into(),
            secret: None,
            audience: None,
            issuer: None,
        }
    }

    /// HS256 with a shared secret (its UTF-8 or raw bytes). A secret shorter than
    /// [`MIN_HS256_SECRET`] bytes can be guessed offline from one token: the app refuses
    /// to start with one (see [`TenantResolver::check`]).
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        let mut resolver =
            Self::with_key(DecodingKey::from_secret(secret.as_ref()), Algorithm::HS256);
        resolver.secret = Some(secret.as_ref().to_vec());
        resolver
    }

    /// HS256 with the secret in an environment variable.
    pub fn hs256_from_env(var: &str) -> crate::Result<Self> {
        let secret =
            std::env::var(var).map_err(|_| crate::Error::config(var, "the variable is not set"))?;
        let resolver = Self::hs256(secret.as_bytes());
        resolver.check().map_err(|e| match e {
            crate::Error::Config { reason, .. } => crate::Error::config(var, reason),
            other => other,
        })?;
        Ok(resolver)
    }

    /// RS256 with an RSA public key in PEM.
    pub fn rs256_pem(public_key_pem: &[u8]) -> crate::Result<Self> {
        let key = DecodingKey::from_rsa_pem(public_key_pem)
            .map_err(|e| crate::Error::misconfigured(format!("invalid RSA public key: {e}")))?;
        Ok(Self::with_key(key, Algorithm::RS256))
    }

    /// Reads the tenant from another claim.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.claim = claim.into();
        self
    }

    /// Requires this audience (`aud`): a token without an `aud` claim, or with another
    /// audience, is a 401.
    pub fn audience(mut self, audience: &str) -> Self {
        self.validation.set_audience(&[audience]);
        self.audience = Some(audience.to_string());
        self.require_claim("aud");
        self
    }

    /// Requires this issuer (`iss`): a token without an `iss` claim, or from another
    /// issuer, is a 401.
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.validation.set_issuer(&[issuer]);
        self.issuer = Some(issuer.to_string());
        self.require_claim("iss");
        self
    }

    fn require_claim(&mut self, claim: &str) {
        let mut required: Vec<String> = self
            .validation
            .required_spec_claims
            .iter()
            .cloned()
            .collect();
        if !required.iter().any(|c| c == claim) {
            required.push(claim.to_string());
        }
        self.validation.set_required_spec_claims(&required);
    }

    /// Allowed clock skew for `exp`/`nbf`, in seconds (default 30).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.validation.leeway = seconds;
        self
    }

    /// Verifies a token and returns its tenant and subject.
    pub fn verify(&self, token: &str) -> ApiResult<Resolved> {
        use jsonwebtoken::errors::ErrorKind;
        let data =
            jsonwebtoken::decode::<Value>(token, &self.key, &self.validation).map_err(|e| {
                let why = match e.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired",
                    ErrorKind::InvalidSignature => "the token signature is invalid",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "the token algorithm is not accepted"
                    }
                    ErrorKind::MissingRequiredClaim(_) => "the token lacks a required claim",
                    ErrorKind::InvalidAudience => "the token audience is not accepted",
                    ErrorKind::InvalidIssuer => "the token issuer is not accepted",
                    ErrorKind::ImmatureSignature => "the token is not valid yet",
                    _ => "the token is malformed",
                };
                ApiError::Unauthorized(why.to_string())
            })?;
        let tenant = data
            .claims
            .get(&self.claim)
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<TenantId>().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized(format!("the token has no valid `{}` claim", self.claim))
            })?;
        let subject = data
            .claims
            .get("sub")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Resolved {
            tenant: TenantRef::Id(tenant),
            subject,
        })
    }
}

/// The bearer token of a request: `Ok(None)` without an Authorization header, 401 when the
/// header is not a well-formed bearer credential.
pub fn bearer_token(parts: &Parts) -> ApiResult<Option<&str>> {
    bearer_token_in(&parts.headers)
}

/// [`bearer_token`] from the headers alone.
pub fn bearer_token_in(headers: &http::HeaderMap) -> ApiResult<Option<&str>> {
    let Some(value) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not ASCII".into()))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::Unauthorized("expected `Authorization: Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::Unauthorized(
            "expected `Authorization: Bearer <token>`".into(),
        ));
    }
    Ok(Some(token.trim()))
}

/// The shortest HS256 secret the app starts with, in bytes (RFC 7518 §3.2: a key of at
/// least the hash's size, 256 bits).
pub const MIN_HS256_SECRET: usize = 32;

impl TenantResolver for JwtResolver {
    fn name(&self) -> &'static str {
        "bearer"
    }

    fn check(&self) -> crate::Result<()> {
        match &self.secret {
            Some(secret) if secret.len() < MIN_HS256_SECRET => {
                Err(crate::Error::misconfigured(format!(
                    "the HS256 secret is {} bytes; use at least {MIN_HS256_SECRET} random bytes \
                     (e.g. `openssl rand -hex 32`)",
                    secret.len()
                )))
            }
            _ => Ok(()),
        }
    }

    fn proof(&self) -> Proof {
        Proof::Authenticates
    }

    fn token_issuer(&self) -> Option<JwtIssuer> {
        self.secret.as_ref().map(|secret| {
            let mut issuer = JwtIssuer::hs256(secret);
            issuer.claim = self.claim.clone();
            issuer.audience = self.audience.clone();
            issuer.issuer = self.issuer.clone();
            issuer
        })
    }

    fn resolve(&self, parts: &Parts) -> ApiResult<Option<Resolved>> {
        match bearer_token(parts)? {
            None => Ok(None),
            Some(token) => self.verify(token).map(Some),
        }
    }
}

/// Issues HS256 tenant tokens (for an admin API or tests).
#[derive(Clone)]
pub struct JwtIssuer {
    key: EncodingKey,
    claim: String,
    audience: Option<String>,
    issuer: Option<String>,
}

impl std::fmt::Debug for JwtIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtIssuer")
            .field("claim", &self.claim)
            .finish()
    }
}

impl JwtIssuer {
    /// An issuer signing with this secret.
    pub fn hs256(secret: impl AsRef<[u8]>) -> Self {
        JwtIssuer {
            key: EncodingKey::from_secret(secret.as_ref()),
            claim: "tenant_id".into(),
            audience: None,
            issuer: None,
        }
    }

    /// Puts this audience (`aud`) in every token.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Puts this issuer (`iss`) in every token.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Signs a token for `tenant` and `subject`, valid for `ttl_seconds`.
    pub fn issue(&self, tenant: TenantId, subject: &str, ttl_seconds: u64) -> ApiResult<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), Value::from(subject));
        claims.insert(self.claim.clone(), Value::from(tenant.to_string()));
        claims.insert("iat".into(), Value::from(now));
        claims.insert("exp".into(), Value::from(now.saturating_add(ttl_seconds)));
        if let Some(audience) = &self.audience {
            claims.insert("aud".into(), Value::from(audience.as_str()));
        }
        if let Some(issuer) = &self.issuer {
            claims.insert("iss".into(), Value::from(issuer.as_str()));
        }
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing a token: {e}")))
    }
}

/// Names the tenant by the first label of the `Host` header under a base domain:
/// `acme.example.com` is tenant `acme`. Hosts outside the base domain resolve nothing.
#[derive(Debug, Clone)]
pub struct SubdomainResolver {
    base: String,
}

impl SubdomainResolver {
    /// Tenants live at `<slug>.<base_domain>`.
    pub fn new(base_domain: impl Into<String>) -> Self {
        SubdomainResolver {
            base: base_domain
                .into()
                .trim_start_matches('.')
                .to_ascii_lowercase(),
        }
    }
}

impl TenantResolver for SubdomainResolver {
    fn name(&self) -> &'static str {
        "subdomain"
    }

    fn proof(&self) -> Proof {
        Proof::Identifies
    }

    fn resolve(&self, parts: &Parts) -> ApiResult<Option<Resolved>> {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.host());
        let Some(host) = host else { return Ok(None) };
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let Some(label) = host
            .strip_suffix(&self.base)
            .and_then(|rest| rest.strip_suffix('.'))
        else {
            return Ok(None);
        };
        if super::registry::validate_slug(label).is_err() {
            return Err(ApiError::Unauthorized(format!(
                "the host names no valid tenant under {}",
                self.base
            )));
        }
        Ok(Some(Resolved {
            tenant: TenantRef::Slug(label.to_string()),
            subject: None,
        }))
    }
}

/// Reads the tenant id from a header. Only for traffic from trusted internal infrastructure
/// (a gateway that has already authenticated the caller and strips the header from outside
/// requests): anyone who can reach the app directly can set a header.
#[derive(Debug, Clone)]
pub struct HeaderResolver {
    header: http::HeaderName,
}

impl HeaderResolver {
    /// Enables the header resolver. The name says what you promise: the header cannot come
    /// from outside your network.
    pub fn trusted_internal_only(header: http::HeaderName) -> Self {
        HeaderResolver { header }
    }
}

impl TenantResolver for HeaderResolver {
    fn name(&self) -> &'static str {
        "trusted-header"
    }

    fn proof(&self) -> Proof {
        Proof::Authenticates
    }

    fn resolve(&self, parts: &Parts) -> ApiResult<Option<Resolved>> {
        let Some(value) = parts.headers.get(&self.header) else {
            return Ok(None);
        };
        let id = value
            .to_str()
            .ok()
            .and_then(|v| v.parse::<TenantId>().ok())
            .ok_or_else(|| {
                ApiError::Unauthorized(format!("header {} is not a tenant id", self.header))
            })?;
        Ok(Some(Resolved {
            tenant: TenantRef::Id(id),
            subject: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri("/v2/projects");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

    fn bearer(token: &str) -> Parts {
        parts(&[("authorization", &format!("Bearer {token}"))])
    }

    fn sign(claims: Value, alg: Algorithm, key: &EncodingKey) -> String {
        jsonwebtoken::encode(&Header::new(alg), &claims, key).unwrap()
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }

    #[test]
    fn valid_hs256_token_names_its_tenant_and_subject() {
        let tenant = TenantId::new_random();
        let token = JwtIssuer::hs256(SECRET).issue(tenant, "alice", 60).unwrap();
        let resolved = JwtResolver::hs256(SECRET)
            .resolve(&bearer(&token))
            .unwrap()
            .unwrap();
        assert_eq!(resolved.tenant, TenantRef::Id(tenant));
        assert_eq!(resolved.subject.as_deref(), Some("alice"));
    }

    fn rejected(resolver: &JwtResolver, token: &str) -> ApiError {
        resolver.resolve(&bearer(token)).unwrap_err()
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_401() {
        let resolver = JwtResolver::hs256(SECRET);
        let tenant = TenantId::new_random().to_string();
        let right = EncodingKey::from_secret(SECRET);
        let wrong = EncodingKey::from_secret(b"another-secret-another-secret-!!");
        let cases = [
            (
                "wrong key",
                sign(
                    serde_json::json!({"tenant_id": tenant, "exp": now() + 60}),
                    Algorithm::HS256,
                    &wrong,
                ),
            ),
            (
                "expired",
                sign(
                    serde_json::json!({"tenant_id": tenant, "exp": now() - 3600}),
                    Algorithm::HS256,
                    &right,
                ),
            ),
            (
                "no exp",
                sign(
                    serde_json::json!({"tenant_id": tenant}),
                    Algorithm::HS256,
                    &right,
                ),
            ),
            (
                "no tenant",
                sign(
                    serde_json::json!({"exp": now() + 60}),
                    Algorithm::HS256,
                    &right,
                ),
            ),
            (
                "bad tenant",
                sign(
                    serde_json::json!({"tenant_id": "acme", "exp": now() + 60}),
                    Algorithm::HS256,
                    &right,
                ),
            ),
            (
                "other alg",
                sign(
                    serde_json::json!({"tenant_id": tenant, "exp": now() + 60}),
                    Algorithm::HS384,
                    &right,
                ),
            ),
            ("garbage", "not.a.token".to_string()),
        ];
        for (why, token) in cases {
            let err = rejected(&resolver, &token);
            assert_eq!(err.status(), 401, "{why}: {err}");
        }
    }

    #[test]
    fn alg_none_is_rejected() {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let claims = b64.encode(
            serde_json::json!({"tenant_id": TenantId::new_random().to_string(), "exp": now() + 60})
                .to_string(),
        );
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            let err = rejected(&JwtResolver::hs256(SECRET), &token);
            assert_eq!(err.status(), 401);
        }
    }

    const RSA_PRIVATE: &[u8] = include_bytes!("../../tests/fixtures/rs256-private.pem");
    const RSA_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rs256-public.pem");
    const RSA_OTHER: &[u8] = include_bytes!("../../tests/fixtures/rs256-other-private.pem");

    #[test]
    fn rs256_accepts_its_key_and_rejects_others_and_algorithm_confusion() {
        let resolver = JwtResolver::rs256_pem(RSA_PUBLIC).unwrap();
        let tenant = TenantId::new_random();
        let claims =
            serde_json::json!({"tenant_id": tenant.to_string(), "sub": "bob", "exp": now() + 60});
        let good = sign(
            claims.clone(),
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        );
        let found = resolver.resolve(&bearer(&good)).unwrap().unwrap();
        assert_eq!(found.tenant, TenantRef::Id(tenant));

        let other = sign(
            claims.clone(),
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(RSA_OTHER).unwrap(),
        );
        assert_eq!(rejected(&resolver, &other).status(), 401);
        // The classic confusion: an HS256 token signed with the *public key* as the secret.
        let confused = sign(
            claims.clone(),
            Algorithm::HS256,
            &EncodingKey::from_secret(RSA_PUBLIC),
        );
        assert_eq!(rejected(&resolver, &confused).status(), 401);
        let expired = sign(
            serde_json::json!({"tenant_id": tenant.to_string(), "exp": now() - 3600}),
            Algorithm::RS256,
            &EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        );
        assert_eq!(rejected(&resolver, &expired).status(), 401);
        assert!(JwtResolver::rs256_pem(b"not a key").is_err());
    }

    #[test]
    fn malformed_authorization_header_is_401_and_absent_is_none() {
        let resolver = JwtResolver::hs256(SECRET);
        assert!(resolver.resolve(&parts(&[])).unwrap().is_none());
        for value in ["Basic abc", "Bearer", "Bearer ", "token"] {
            let err = resolver
                .resolve(&parts(&[("authorization", value)]))
                .unwrap_err();
            assert_eq!(err.status(), 401, "{value}");
        }
    }

    #[test]
    fn subdomain_resolves_slug_under_base_domain_only() {
        let r = SubdomainResolver::new("example.com");
        let found = r
            .resolve(&parts(&[("host", "acme.example.com:8080")]))
            .unwrap()
            .unwrap();
        assert_eq!(found.tenant, TenantRef::Slug("acme".into()));
        assert!(
            r.resolve(&parts(&[("host", "example.com")]))
                .unwrap()
                .is_none()
        );
        assert!(
            r.resolve(&parts(&[("host", "acme.evil.com")]))
                .unwrap()
                .is_none()
        );
        assert_eq!(
            r.resolve(&parts(&[("host", "x.y.example.com")]))
                .unwrap_err()
                .status(),
            401
        );
    }

    #[test]
    fn header_resolver_rejects_non_uuid_values() {
        let r = HeaderResolver::trusted_internal_only(http::HeaderName::from_static("x-tenant-id"));
        assert!(r.resolve(&parts(&[])).unwrap().is_none());
        assert_eq!(
            r.resolve(&parts(&[("x-tenant-id", "acme")]))
                .unwrap_err()
                .status(),
            401
        );
        let id = TenantId::new_random();
        let found = r
            .resolve(&parts(&[("x-tenant-id", &id.to_string())]))
            .unwrap()
            .unwrap();
        assert_eq!(found.tenant, TenantRef::Id(id));
    }

    #[test]
    fn names_debug_and_issuers_describe_the_chain_without_secrets() {
        let chain = token_and_subdomain().with(HeaderResolver::trusted_internal_only(
            http::HeaderName::from_static("x-tenant-id"),
        ));
        assert_eq!(chain.names(), vec!["bearer", "subdomain", "trusted-header"]);
        assert_eq!(
            format!("{chain:?}"),
            r#"["bearer", "subdomain", "trusted-header"]"#
        );
        let resolver = format!("{:?}", JwtResolver::hs256(SECRET));
        assert!(
            resolver.contains("HS256") && resolver.contains("tenant_id"),
            "{resolver}"
        );
        let issuer = format!("{:?}", JwtIssuer::hs256(SECRET));
        assert!(issuer.contains("tenant_id"), "{issuer}");
        for debug in [resolver, issuer] {
            assert!(!debug.contains("test-secret"), "{debug}");
        }
        // The chain's issuer signs tokens the chain accepts (the testkit acts as tenants so).
        let tenant = TenantId::new_random();
        let token = chain
            .token_issuer()
            .unwrap()
            .issue(tenant, "t", 60)
            .unwrap();
        let found = chain
            .resolve_all(&parts(&[("authorization", &format!("Bearer {token}"))]))
            .unwrap();
        assert_eq!(found.authenticated[0].tenant, TenantRef::Id(tenant));
        assert!(
            JwtResolver::rs256_pem(RSA_PUBLIC)
                .unwrap()
                .token_issuer()
                .is_none()
        );
    }

    #[test]
    fn only_a_bearer_scheme_with_a_token_is_a_bearer_token() {
        let headers = |value: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("authorization", value.parse().unwrap());
            h
        };
        assert_eq!(
            bearer_token_in(&headers("Bearer abc")).unwrap(),
            Some("abc")
        );
        assert_eq!(
            bearer_token_in(&headers("bearer abc")).unwrap(),
            Some("abc")
        );
        for bad in ["Basic abc", "Token abc", "Bearer  ", "Basic  "] {
            assert!(bearer_token_in(&headers(bad)).is_err(), "{bad}");
        }
        assert_eq!(bearer_token_in(&http::HeaderMap::new()).unwrap(), None);
    }

    #[test]
    fn the_chains_issuer_signs_tokens_its_resolver_accepts() {
        let tenant = TenantId::new_random();
        let strict = JwtResolver::hs256(SECRET).audience("app").issuer("idp");
        let chain = ResolverChain::new().with(strict.clone());
        let token = chain
            .token_issuer()
            .unwrap()
            .issue(tenant, "cli", 60)
            .unwrap();
        let found = strict.verify(&token).unwrap();
        assert_eq!(found.tenant, TenantRef::Id(tenant));
        assert_eq!(found.subject.as_deref(), Some("cli"));
        // A plain issuer's token lacks aud and iss, which the strict resolver requires.
        let plain = JwtIssuer::hs256(SECRET).issue(tenant, "cli", 60).unwrap();
        assert_eq!(strict.verify(&plain).unwrap_err().status(), 401);
        let explicit = JwtIssuer::hs256(SECRET)
            .audience("app")
            .issuer("idp")
            .issue(tenant, "cli", 60)
            .unwrap();
        assert!(strict.verify(&explicit).is_ok());
    }

    #[test]
    fn a_rejected_token_says_why() {
        let resolver = JwtResolver::hs256(SECRET).audience("app").issuer("idp");
        let key = EncodingKey::from_secret(SECRET);
        let tenant = TenantId::new_random().to_string();
        let ok = |extra: Value| {
            let mut claims = serde_json::json!({"tenant_id": tenant, "exp": now() + 60,
                                                "aud": "app", "iss": "idp"});
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            claims
        };
        let cases = [
            (
                sign(
                    ok(serde_json::json!({"exp": now() - 3600})),
                    Algorithm::HS256,
                    &key,
                ),
                "expired",
            ),
            (
                sign(
                    ok(serde_json::json!({})),
                    Algorithm::HS256,
                    &EncodingKey::from_secret(b"another-secret-another-secret-!!"),
                ),
                "signature is invalid",
            ),
            (
                sign(ok(serde_json::json!({})), Algorithm::HS384, &key),
                "algorithm",
            ),
            (
                sign(
                    serde_json::json!({"tenant_id": tenant, "exp": now() + 60, "aud": "app"}),
                    Algorithm::HS256,
                    &key,
                ),
                "lacks a required claim",
            ),
            (
                sign(
                    ok(serde_json::json!({"aud": "other"})),
                    Algorithm::HS256,
                    &key,
                ),
                "audience",
            ),
            (
                sign(
                    ok(serde_json::json!({"iss": "other"})),
                    Algorithm::HS256,
                    &key,
                ),
                "issuer",
            ),
            (
                sign(
                    ok(serde_json::json!({"nbf": now() + 3600})),
                    Algorithm::HS256,
                    &key,
                ),
                "not valid yet",
            ),
            ("garbage".to_string(), "malformed"),
        ];
        for (token, why) in cases {
            let err = rejected(&resolver, &token).to_string();
            assert!(err.contains(why), "expected {why:?}: {err}");
        }
    }

    #[test]
    fn chain_without_credentials_is_401() {
        let chain = ResolverChain::new().with(JwtResolver::hs256(SECRET));
        assert_eq!(chain.resolve_all(&parts(&[])).unwrap_err().status(), 401);
    }

    fn token_and_subdomain() -> ResolverChain {
        ResolverChain::new()
            .with(JwtResolver::hs256(SECRET))
            .with(SubdomainResolver::new("example.com"))
    }

    #[test]
    fn a_subdomain_alone_resolves_nothing() {
        let err = token_and_subdomain()
            .resolve_all(&parts(&[("host", "globex.example.com")]))
            .unwrap_err();
        assert_eq!(err.status(), 401);
        // Whatever the order of the resolvers.
        let reversed = ResolverChain::new()
            .with(SubdomainResolver::new("example.com"))
            .with(JwtResolver::hs256(SECRET));
        let err = reversed
            .resolve_all(&parts(&[("host", "globex.example.com")]))
            .unwrap_err();
        assert_eq!(err.status(), 401);
    }

    #[test]
    fn a_token_and_a_subdomain_are_split_by_what_they_prove() {
        let tenant = TenantId::new_random();
        let token = JwtIssuer::hs256(SECRET).issue(tenant, "alice", 60).unwrap();
        let found = token_and_subdomain()
            .resolve_all(&parts(&[
                ("host", "acme.example.com"),
                ("authorization", &format!("Bearer {token}")),
            ]))
            .unwrap();
        assert_eq!(found.authenticated.len(), 1);
        assert_eq!(found.authenticated[0].tenant, TenantRef::Id(tenant));
        assert_eq!(found.identified.len(), 1);
        assert_eq!(found.identified[0].tenant, TenantRef::Slug("acme".into()));
    }

    fn tenant(slug: &str) -> Tenant {
        Tenant {
            id: TenantId::new_random(),
            slug: slug.into(),
            name: slug.into(),
            tier: super::super::registry::Tier::Shared,
            placement: super::super::placement::Placement {
                server: "primary".into(),
                database: None,
                schema: None,
            },
            status: TenantStatus::Active,
            plan: "default".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_name_must_match_the_authenticated_tenant() {
        let acme = tenant("acme");
        assert!(names(&acme, &TenantRef::Slug("acme".into())));
        assert!(!names(&acme, &TenantRef::Slug("globex".into())));
        assert!(names(&acme, &TenantRef::Id(acme.id)));
        assert!(!names(&acme, &TenantRef::Id(TenantId::new_random())));
    }

    #[test]
    fn a_chain_that_only_identifies_refuses_to_start() {
        let err = ResolverChain::new()
            .with(SubdomainResolver::new("example.com"))
            .check()
            .unwrap_err();
        assert!(err.to_string().contains("only identify"), "{err}");
        assert!(token_and_subdomain().check().is_ok());
        assert!(ResolverChain::new().check().is_ok());
    }

    #[test]
    fn short_hs256_secrets_refuse_to_start() {
        let short =
            ResolverChain::new().with(JwtResolver::hs256(b"0123456789abcdef0123456789abcde"));
        assert!(short.check().unwrap_err().to_string().contains("31 bytes"));
        assert!(
            ResolverChain::new()
                .with(JwtResolver::hs256(b"0123456789abcdef0123456789abcdef"))
                .check()
                .is_ok()
        );
    }

    #[test]
    fn a_token_not_valid_yet_is_401() {
        let resolver = JwtResolver::hs256(SECRET);
        let key = EncodingKey::from_secret(SECRET);
        let tenant = TenantId::new_random().to_string();
        let later = sign(
            serde_json::json!({"tenant_id": tenant, "exp": now() + 7200, "nbf": now() + 3600}),
            Algorithm::HS256,
            &key,
        );
        assert_eq!(rejected(&resolver, &later).status(), 401);
        let now_valid = sign(
            serde_json::json!({"tenant_id": tenant, "exp": now() + 7200, "nbf": now() - 10}),
            Algorithm::HS256,
            &key,
        );
        assert!(resolver.resolve(&bearer(&now_valid)).is_ok());
    }

    #[test]
    fn a_required_audience_and_issuer_must_be_present_and_right() {
        let resolver = JwtResolver::hs256(SECRET)
            .audience("taskboard")
            .issuer("https://id.example.com");
        let key = EncodingKey::from_secret(SECRET);
        let tenant = TenantId::new_random().to_string();
        let token = |extra: Value| {
            let mut claims = serde_json::json!({"tenant_id": tenant, "exp": now() + 60});
            claims
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            sign(claims, Algorithm::HS256, &key)
        };
        let good = token(serde_json::json!({"aud": "taskboard", "iss": "https://id.example.com"}));
        assert!(resolver.resolve(&bearer(&good)).is_ok());
        for (why, claims) in [
            ("no aud, no iss", serde_json::json!({})),
            (
                "no aud",
                serde_json::json!({"iss": "https://id.example.com"}),
            ),
            ("no iss", serde_json::json!({"aud": "taskboard"})),
            (
                "other aud",
                serde_json::json!({"aud": "billing", "iss": "https://id.example.com"}),
            ),
            (
                "other iss",
                serde_json::json!({"aud": "taskboard", "iss": "https://evil.example"}),
            ),
        ] {
            assert_eq!(rejected(&resolver, &token(claims)).status(), 401, "{why}");
        }
    }
}
