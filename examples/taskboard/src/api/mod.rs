//! The tenant API: version 2 is current, version 1 is deprecated and served from the same
//! handlers through version changes (see [`v1`]).

pub mod audit;
pub mod projects;
pub mod tasks;
pub mod v1;

use saas_core::prelude::*;
use saas_core::versioning::Api;
use serde::Deserialize;

saas_core::api_versions! {
    /// The taskboard's API versions.
    pub const VERSIONS = {
        1 => deprecated(since = "2026-01-01", sunset = "2027-06-30",
                        docs = "https://taskboard.example/docs/api-v1-retirement"),
        2 => current,
    };
}

/// Every versioned endpoint.
pub fn api() -> Api {
    saas_core::routes!(VERSIONS;
        projects::create_project,
        projects::list_projects,
        projects::get_project,
        projects::update_project,
        projects::delete_project,
        tasks::create_task,
        tasks::list_tasks,
        tasks::get_task,
        tasks::update_task,
        tasks::delete_task,
        audit::list_audit,
    )
}

/// Checks a name or title: 1 to 200 Unicode code points.
pub fn check_text(field: &str, value: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if (1..=200).contains(&n) {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "{field} must be 1 to 200 characters, got {n}"
        )))
    }
}

/// `?limit=N&cursor=C` of list routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
