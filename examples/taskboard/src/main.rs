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
    taskboard::app(settings).run_cli().await
}
