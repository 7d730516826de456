//! The taskboard's domain events, written to the tenant's outbox and audit trail in the same
//! transaction as the change they describe.

use saas_core::events::DomainEvent;
use saas_core::prelude::*;
use serde::Serialize;

use crate::api::projects::ProjectBody;
use crate::api::tasks::TaskBody;

/// A project was created; the payload is the project.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "project.created", aggregate = "0.id")]
pub struct ProjectCreated(pub ProjectBody);

/// A project was renamed; the payload is the project afterwards.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "project.updated", aggregate = "0.id")]
pub struct ProjectUpdated(pub ProjectBody);

/// A project was deleted, and its tasks with it.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "project.deleted")]
pub struct ProjectDeleted {
    pub id: Uuid,
}

/// A task was created; the payload is the task.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "task.created", aggregate = "0.id")]
pub struct TaskCreated(pub TaskBody);

/// A task changed; the payload is the task afterwards.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "task.updated", aggregate = "0.id")]
pub struct TaskUpdated(pub TaskBody);

/// A task was deleted.
#[derive(Debug, Serialize, DomainEvent)]
#[event(name = "task.deleted")]
pub struct TaskDeleted {
    pub id: Uuid,
}
