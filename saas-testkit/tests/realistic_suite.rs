//! 200 database-isolated tests of the realistic benchmark schema (40 tables, 120 migrations,
//! citext and pgcrypto, seed rows; `fixtures/realistic`, written by
//! `fixtures/generate_realistic.py`): each takes a database of its own, writes and reads.
//! Its wall time is the suite target of the guide's performance chapter:
//! `cargo test -p saas-testkit --test realistic_suite`.

use saas_testkit::TestDb;
use sqlx::{Connection, Row};

static REALISTIC: sqlx::migrate::Migrator = sqlx::migrate!("fixtures/realistic");

async fn write_and_read(n: u32) {
    let db = TestDb::from_template(Some(&REALISTIC)).await.unwrap();
    let mut conn = db.owner_conn().await.unwrap();
    // The database is the template's copy: seeded, and nothing another test wrote.
    let plans: i64 = sqlx::query_scalar("SELECT count(*) FROM plans")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(plans, 12);
    let tenant = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO saas.tenants (id, slug, name) VALUES ($1, $2, 'Suite')")
        .bind(tenant)
        .bind(format!("suite-{n}"))
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO accounts (tenant_id, name, email) VALUES ($1, $2, $3)")
        .bind(tenant)
        .bind(format!("account {n}"))
        .bind(format!("Owner{n}@Example.COM"))
        .execute(&mut conn)
        .await
        .unwrap();
    // citext: the e-mail matches whatever its case.
    let row = sqlx::query("SELECT name FROM accounts WHERE email = $1::citext")
        .bind(format!("owner{n}@example.com"))
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>("name"), format!("account {n}"));
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(accounts, 1, "another test's rows are visible");
    conn.close().await.ok();
}

macro_rules! suite {
    ($($name:ident = $n:expr),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                write_and_read($n).await;
            }
        )*
    };
}

macro_rules! tens {
    ($($prefix:ident $base:expr),* $(,)?) => {
        $(
            mod $prefix {
                use super::write_and_read;
                suite!(
                    t0 = $base, t1 = $base + 1, t2 = $base + 2, t3 = $base + 3, t4 = $base + 4,
                    t5 = $base + 5, t6 = $base + 6, t7 = $base + 7, t8 = $base + 8,
                    t9 = $base + 9,
                );
            }
        )*
    };
}

tens!(
    s000 0, s010 10, s020 20, s030 30, s040 40, s050 50, s060 60, s070 70, s080 80, s090 90,
    s100 100, s110 110, s120 120, s130 130, s140 140, s150 150, s160 160, s170 170, s180 180,
    s190 190,
);
