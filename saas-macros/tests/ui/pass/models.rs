//! A single key, a composite key, a parent, a composite parent, a renamed column, JSON columns,
//! field markers, a custom insert struct and the `crate` override, used as an application would.

extern crate saas_core as my_core;

use saas_core::prelude::*;

/// A project.
#[derive(TenantScoped, sqlx::FromRow, serde::Serialize)]
#[tenant(table = "projects")]
pub struct Project {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub name: String,
    #[tenant(generated)]
    pub created_at: OffsetDateTime,
}

/// A board, keyed by two numbers within the tenant.
#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "boards", key(org_no, board_no))]
pub struct Board {
    pub tenant_id: TenantId,
    pub org_no: i64,
    pub board_no: i32,
    pub title: String,
}

/// A card on a board, in a project.
#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "cards", parent(project_id -> Project))]
#[tenant(parent((org_no, board_no) -> Board))]
pub struct Card {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub project_id: Uuid,
    pub org_no: i64,
    pub board_no: i32,
    #[sqlx(rename = "type")]
    pub kind: String,
    #[sqlx(json)]
    pub labels: Vec<String>,
    #[sqlx(json(nullable))]
    pub extra: Option<serde_json_like::Extra>,
}

mod serde_json_like {
    #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
    pub struct Extra {
        pub colour: String,
    }
}

/// A tag, through a renamed dependency, with markers instead of defaults.
#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "tags", crate = "my_core", new = TagFields, new_derive(Debug, Clone))]
struct Tag {
    #[tenant(tenant)]
    org: my_core::TenantId,
    #[tenant(key)]
    r#type: String,
    #[tenant(key)]
    seq: i64,
}

fn assert_send<T: Send>(_: &T) {}

/// Every typed operation type-checks, and the futures are `Send` (axum handlers need it).
async fn usage<E: TenantWriter>(tx: &mut E) -> ApiResult<()> {
    let project = Project::insert(tx, NewProject { name: "Launch".into() }).await?;
    let project = Project::get(tx, project.id).await?;
    project.update(tx).await?;
    let get = Project::get(tx, project.id);
    assert_send(&get);
    drop(get);

    let board = Board::insert(
        tx,
        NewBoard { org_no: 1, board_no: 2, title: "Roadmap".into() },
    )
    .await?;
    let key: (i64, i32) = board.key();
    Board::delete(tx, key).await?;

    let by_project = Card::list_by_project_id(tx, project.id, PageRequest::first());
    assert_send(&by_project);
    let page: Page<Card> = by_project.await?;
    let after = page.items.last().map(TenantScoped::key);
    let _: Page<Card> = Card::list_by_org_no_board_no(
        tx,
        (1, 2),
        PageRequest { limit: 10, after },
    )
    .await?;
    let _ = Card::insert(
        tx,
        NewCard {
            project_id: project.id,
            org_no: 1,
            board_no: 2,
            kind: "bug".into(),
            labels: vec![],
            extra: None,
        },
    )
    .await?;

    let fields = TagFields { r#type: "colour".into(), seq: 1 };
    let tag = Tag::insert(tx, fields.clone()).await?;
    let _: Page<Tag> = Tag::list(tx, PageRequest::first()).await?;
    let _ = (tag.org, format!("{fields:?}"));
    Ok(())
}

fn main() {
    let _ = usage::<saas_core::TenantTx>;

    let card = <Card as TenantScoped>::meta();
    assert_eq!(card.type_name, "Card");
    assert_eq!(
        card.columns,
        ["tenant_id", "id", "project_id", "org_no", "board_no", "type", "labels", "extra"]
    );
    assert_eq!(card.generated_columns, ["id"]);
    assert_eq!(card.parents.len(), 2);
    assert_eq!(card.parents[1].columns, ["org_no", "board_no"]);
    assert_eq!((card.parents[1].parent)().table, "boards");
    assert!(card.sql.insert.contains(r#""type""#), "{}", card.sql.insert);

    let board = <Board as TenantScoped>::meta();
    assert_eq!(board.key_columns, ["org_no", "board_no"]);

    let tag = <Tag as TenantScoped>::meta();
    assert_eq!(tag.tenant_column, "org");
    assert_eq!(tag.key_columns, ["type", "seq"]);
    // No updatable column: update re-reads the row.
    assert_eq!(tag.sql.update, tag.sql.get);

    let registered: Vec<&str> = saas_core::model::registered_models()
        .iter()
        .map(|m| m.table)
        .collect();
    for table in ["boards", "cards", "projects", "tags"] {
        assert!(registered.contains(&table), "{table} not registered: {registered:?}");
    }
}
