-- The one table of the isolation tests' own app (tests/isolation_leaks.rs); the framework adds
-- row-level security and the request role's grants.
CREATE TABLE notes (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    body text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
