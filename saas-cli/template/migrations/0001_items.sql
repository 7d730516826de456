-- The tenant column leads the primary key; the framework adds row-level security, its
-- policies and the request role's grants when it migrates.
CREATE TABLE items (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id),
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    done boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id)
);
