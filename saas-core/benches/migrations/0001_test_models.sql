CREATE TABLE projects (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE tasks (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id) ON DELETE CASCADE,
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL,
    title text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE memberships (
    tenant_id uuid NOT NULL REFERENCES saas.tenants (id) ON DELETE CASCADE,
    project_id uuid NOT NULL,
    member text NOT NULL,
    role text NOT NULL,
    PRIMARY KEY (tenant_id, project_id, member)
);
