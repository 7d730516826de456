# The app and the CLI sign and check tenant tokens with the same secret.
export TASKBOARD_JWT_SECRET="$(openssl rand -hex 32)"
scripts/run-taskboard.sh --listen 127.0.0.1:8080 &
until curl -fs 127.0.0.1:8080/readyz >/dev/null; do sleep 1; done

# A tenant, and a token for one of its users.
scripts/run-taskboard.sh tenants create acme
TOKEN="$(scripts/run-taskboard.sh tenants token acme --subject alice)"

# Create and read a project: the token alone decides the tenant.
curl -fsS -X POST 127.0.0.1:8080/v2/projects \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
  -d '{"name": "Launch"}'
curl -fsS 127.0.0.1:8080/v2/projects -H "Authorization: Bearer $TOKEN"

# v1 still works, and says it is deprecated: see the Deprecation, Sunset and Link headers.
curl -fsS -D - -o /dev/null 127.0.0.1:8080/v1/projects -H "Authorization: Bearer $TOKEN"

kill %1
