-- Lead the primary key with tenant_id; the framework adds row-level security, the policies
-- and the grants when it migrates.
CREATE TABLE notes (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id),
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    body text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
