use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secret = std::env::var("NOTES_JWT_SECRET")
        .context("set NOTES_JWT_SECRET to 32 random bytes or more: `openssl rand -hex 32`")?;
    // serve, migrate, tenants create|list|token, openapi export|check: `notes --help`.
    notes::app(&secret).build()?.run_cli().await
}
