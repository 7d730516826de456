vcl 4.1;
# The edge in front of a saas-core app (Varnish 7). What it does:
# - keeps only what the app opted into shared caching (`Cache-Control: ... s-maxage=N` with a
#   `Surrogate-Key` naming the tenant); everything else (`private`, `no-store`, no s-maxage on a
#   request with credentials) goes to the app every time;
# - keys every cached entry on the request's `Authorization` as well as the URL: an entry is
#   only ever served to the credential the app authorized when it filled it, so one tenant's
#   entry never reaches another tenant (or another user). The edge does not verify tokens, so it
#   does not derive the tenant from one by itself: the credential is stricter than the tenant;
# - `PURGE` with `Surrogate-Key-Tenant: tenant-<id>` and `Surrogate-Key-Purge: <keys>` (what
#   `saas_core::events::edge_purge::EdgePurger` sends from the outbox relay) bans the entries
#   that carry the tenant's key and one of the keys, from the purgers' addresses only;
# - serves stale entries for up to an hour when the app is down (grace; `Age` says how old,
#   `X-Edge-Stale: 1` says it is stale), and 10 s of stale-while-revalidate when it is up.
# The backend address below is replaced by the deployment (scripts/e2e/edge.sh, the
# Kubernetes manifest).

import std;

backend app {
    .host = "127.0.0.1";
    .port = "8080";
    .probe = {
        .url = "/livez";
        .interval = 1s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
    }
}

acl purgers {
    "127.0.0.1";
    "::1";
    "10.0.0.0"/8;
    "172.16.0.0"/12;
    "192.168.0.0"/16;
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        if (req.http.Surrogate-Key-Tenant !~ "^tenant-[0-9a-f-]+$"
            || req.http.Surrogate-Key-Purge !~ "^[A-Za-z0-9._:-]+( [A-Za-z0-9._:-]+)*$") {
            return (synth(400, "Bad purge request"));
        }
        ban("obj.http.Surrogate-Key ~ (^|\s)" + req.http.Surrogate-Key-Tenant + "(\s|$)"
            + " && obj.http.Surrogate-Key ~ (^|\s)("
            + regsuball(req.http.Surrogate-Key-Purge, " ", "|") + ")(\s|$)");
        return (synth(200, "Purged"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    if (req.http.Cookie) {
        return (pass);
    }
    # Stale while revalidating: 10 s while the app answers its probe, an hour while it does not.
    if (std.healthy(req.backend_hint)) {
        set req.grace = 10s;
    }
    # Unlike Varnish's built-in VCL, requests with credentials are looked up too: vcl_hash
    # keys them on the credential, and only opted-in responses are ever stored.
    return (hash);
}

sub vcl_hash {
    hash_data(req.url);
    if (req.http.host) {
        hash_data(req.http.host);
    } else {
        hash_data(server.ip);
    }
    if (req.http.Authorization) {
        hash_data(req.http.Authorization);
    }
    return (lookup);
}

sub vcl_hit {
    if (obj.ttl < 0s) {
        set req.http.X-Edge-Stale = "1";
    }
}

sub vcl_backend_response {
    if (bereq.http.Authorization
        && (beresp.http.Cache-Control !~ "s-maxage"
            || beresp.http.Surrogate-Key !~ "(^|\s)tenant-")) {
        # A response to a credential that the app did not opt into shared caching, for its
        # tenant: never stored.
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
    set beresp.grace = 1h;
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Edge-Cache = "HIT";
    } else {
        set resp.http.X-Edge-Cache = "MISS";
    }
    if (req.http.X-Edge-Stale) {
        set resp.http.X-Edge-Stale = "1";
    }
    # The keys name tenants and resources: for the edge, not for clients.
    unset resp.http.Surrogate-Key;
}
