//! [`VersionedApi`]'s constructor and check: the documents are built here, above the
//! versioning layer, which receives them as data (so `versioning` never depends on `openapi`).

use crate::versioning::changes::Changes;
use crate::versioning::{Api, VersionedApi, VersioningConfig};

use super::document::{current_components, document};

impl VersionedApi {
    /// Builds the documents of every version.
    pub fn new(api: Api, options: VersioningConfig) -> VersionedApi {
        let changes = Changes::registered();
        let documents = api
            .versions
            .iter()
            .map(|v| {
                (
                    v.version,
                    document(
                        &api,
                        v.version,
                        &options.negotiation,
                        &changes,
                        &options.docs,
                    ),
                )
            })
            .collect();
        let current = current_components(&api);
        VersionedApi::from_parts(
            api,
            options,
            changes,
            documents,
            current,
            super::serve::routes,
        )
    }

    /// Checks every endpoint's declaration (as `routes!` does at compile time, for an API
    /// assembled without it), then what the compiler cannot: the newest declared version is
    /// served by at least one endpoint and is not deprecated, and every registered version
    /// change applies to some endpoint (see [`unused_changes`](super::document::unused_changes)).
    pub fn check(&self) -> Result<(), String> {
        // What `routes!` checks at compile time, again for an `Api` assembled by hand: the
        // versions each endpoint lives in, its cache policy (never `public` on a tenant
        // route, caching only on GET) and its `If-Match` requirement (writes only).
        for entry in &self.api().endpoints {
            if let Some(problem) = entry.decl.check(&self.api().versions) {
                return Err(format!(
                    "endpoint `{}` ({} {}): {problem}",
                    entry.decl.name, entry.decl.method, entry.decl.path
                ));
            }
        }
        let unused: Vec<String> = super::document::unused_changes(self.api(), self.changes())
            .into_iter()
            .map(|change| {
                let (input, output) = ((change.input)().0, (change.output)().0);
                if change.from > change.to {
                    format!(
                        "the version change from {from} to {to} turning `{input}` into `{output}` \
                     applies to no endpoint: none living in version {to} or earlier declares a \
                     response whose body contains `{input}`, so its clients would get the \
                     current shape; declare the body (`responses((status = 200, body = \
                     {input}))`) or remove the change",
                        from = change.from,
                        to = change.to,
                    )
                } else {
                    format!(
                        "the version change from {from} to {to} turning `{input}` into `{output}` \
                     applies to no endpoint: none living in version {from} or earlier declares \
                     a request body containing `{output}`; declare it (`request_body = \
                     {output}`) or remove the change",
                        from = change.from,
                        to = change.to,
                    )
                }
            })
            .collect();
        if !unused.is_empty() {
            return Err(unused.join("; "));
        }
        let newest = self
            .api()
            .versions
            .versions
            .last()
            .ok_or("no versions declared")?;
        if newest.deprecated.is_some() {
            return Err(format!(
                "the newest version {} is deprecated",
                newest.version
            ));
        }
        if !self
            .api()
            .endpoints
            .iter()
            .any(|e| e.decl.lives_in(&newest.version))
        {
            return Err(format!(
                "no endpoint lives in the newest declared version {}: the router would not serve it",
                newest.version
            ));
        }
        Ok(())
    }
}
