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
    // Domain events go to NATS JetStream when a server is configured; in-process otherwise.
    if let Some(url) = std::env::var("TASKBOARD_NATS_URL")
        .ok()
        .filter(|u| !u.is_empty())
    {
        let config = saas_core::events::nats::NatsConfig::new(url);
        app = app.publisher(saas_core::events::nats::NatsPublisher::connect(config).await?);
    }
    app.build()?.run_cli().await
}
