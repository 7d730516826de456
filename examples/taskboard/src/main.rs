use taskboard::Settings;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (settings, generated) = Settings::from_env();
    if generated && std::env::args().nth(1).as_deref() == Some("serve") {
        println!(
            "admin token (TASKBOARD_ADMIN_TOKEN): {}",
            settings.admin_token
        );
    }
    let mut app = taskboard::app(settings);
    if let Some(limits) = taskboard::rate_limits_from_env()? {
        app = app.rate_limits(limits);
    }
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    // Domain events go to NATS JetStream when a server is configured; in-process otherwise.
    let nats = match env("TASKBOARD_NATS_URL") {
        Some(url) => {
            let config = saas_core::events::nats::NatsConfig::new(url);
            Some(saas_core::events::nats::NatsPublisher::connect(config).await?)
        }
        None => None,
    };
    // Behind an edge it purges (deploy/edge/default.vcl): project reads are kept there per
    // tenant, and every project event purges them, through the outbox like any publish.
    match env("TASKBOARD_EDGE_PURGE_URL") {
        Some(url) => {
            let ttl = match env("TASKBOARD_EDGE_TTL") {
                Some(ttl) => ttl.parse().map_err(|_| {
                    anyhow::anyhow!("TASKBOARD_EDGE_TTL must be a number of seconds, got {ttl:?}")
                })?,
                None => 60,
            };
            taskboard::edge::enable(ttl);
            let purger = saas_core::events::edge_purge::EdgePurger::new(url)?;
            let fanout = saas_core::events::edge_purge::Fanout::new().with(purger);
            app = app.publisher(match nats {
                Some(nats) => fanout.with(nats),
                None => fanout.with(saas_core::events::publish::InProcessBus::new()),
            });
        }
        None => {
            if let Some(nats) = nats {
                app = app.publisher(nats);
            }
        }
    }
    app.build()?.run_cli().await
}
