//! The taskboard's domain events, written to the tenant's outbox and audit trail in the same
//! transaction as the change they describe.

use saas_core::events::DomainEvent;
use saas_core::prelude::*;
use serde::Serialize;

use crate::api::projects::ProjectBody;
use crate::api::tasks::TaskBody;

/// A project was created; the payload is the project.
#[derive(Debug, Serialize)]
pub struct ProjectCreated(pub ProjectBody);

/// A project was renamed; the payload is the project afterwards.
#[derive(Debug, Serialize)]
pub struct ProjectUpdated(pub ProjectBody);

/// A project was deleted, and its tasks with it.
#[derive(Debug, Serialize)]
pub struct ProjectDeleted {
    pub id: Uuid,
}

/// A task was created; the payload is the task.
#[derive(Debug, Serialize)]
pub struct TaskCreated(pub TaskBody);

/// A task changed; the payload is the task afterwards.
#[derive(Debug, Serialize)]
pub struct TaskUpdated(pub TaskBody);

/// A task was deleted.
#[derive(Debug, Serialize)]
pub struct TaskDeleted {
    pub id: Uuid,
}

impl DomainEvent for ProjectCreated {
    const TYPE: &'static str = "project.created";
    fn aggregate_id(&self) -> Uuid {
        self.0.id
    }
}

impl DomainEvent for ProjectUpdated {
    const TYPE: &'static str = "project.updated";
    fn aggregate_id(&self) -> Uuid {
        self.0.id
    }
}

impl DomainEvent for ProjectDeleted {
    const TYPE: &'static str = "project.deleted";
    fn aggregate_id(&self) -> Uuid {
        self.id
    }
}

impl DomainEvent for TaskCreated {
    const TYPE: &'static str = "task.created";
    fn aggregate_id(&self) -> Uuid {
        self.0.id
    }
}

impl DomainEvent for TaskUpdated {
    const TYPE: &'static str = "task.updated";
    fn aggregate_id(&self) -> Uuid {
        self.0.id
    }
}

impl DomainEvent for TaskDeleted {
    const TYPE: &'static str = "task.deleted";
    fn aggregate_id(&self) -> Uuid {
        self.id
    }
}
