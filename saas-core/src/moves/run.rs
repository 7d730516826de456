//! The move itself: one function per step, driven in order and recorded after each, so an
//! interrupted move resumes at the step after the last one recorded.

use std::time::{Duration, Instant};

use sqlx::Connection;

use super::copy::{as_tenant, copy, verify};
use super::site::{connect, fence, remove_copy, roll_back, switch, unfence};
use super::{
    MoveEvent, MoveOptions, MoveReport, MoveRequest, MoveStep, PendingMove, TableCheck, move_lock,
    pending,
};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::TenantId;
use crate::tenancy::placement::Location;
use crate::tenancy::pool::Tenancy;
use crate::tenancy::registry::Tenant;

impl MoveStep {
    /// The step after this one (`None` after [`MoveStep::Cleaned`]).
    pub(super) fn next(self) -> Option<MoveStep> {
        let i = MoveStep::ALL.iter().position(|s| *s == self)?;
        MoveStep::ALL.get(i + 1).copied()
    }

    /// The steps still to do before the switch, after `self` was completed: the part of a
    /// move that rolls back when it fails.
    pub(super) fn left_before_switch(self) -> impl Iterator<Item = MoveStep> {
        std::iter::successors(self.next(), |s| s.next()).take_while(|s| *s < MoveStep::Switched)
    }
}

/// What a call does about a tenant's move, given the move recorded for it (if any) and what
/// the caller asked for. Decided before anything changes, from facts read once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// An earlier move to another target only has its clean-up left: finish it, then plan
    /// again as if there were no recorded move.
    FinishEarlierFirst,
    /// Resume the recorded move after its last completed step.
    Resume,
    /// The recorded move goes elsewhere and is not switched yet: refuse (409).
    Conflict,
    /// No recorded move and nothing asked for (a `resume` that found nothing).
    NothingToResume,
    /// The tenant is already where the request wants it.
    AlreadyThere,
    /// Record a new move and run it.
    Start,
}

/// `recorded`: the recorded move's last step and whether the request names its target (a
/// plain resume always does). `requested`: whether a target was asked for, and whether the
/// tenant is already there.
fn plan(recorded: Option<(MoveStep, bool)>, requested: Option<bool>) -> Plan {
    match (recorded, requested) {
        (Some((step, false)), Some(_)) if step >= MoveStep::Switched => Plan::FinishEarlierFirst,
        (Some((_, false)), Some(_)) => Plan::Conflict,
        (Some(_), _) => Plan::Resume,
        (None, None) => Plan::NothingToResume,
        (None, Some(true)) => Plan::AlreadyThere,
        (None, Some(false)) => Plan::Start,
    }
}

/// One move in progress: what it moves where, and how far it got.
struct Move<'a> {
    tenancy: &'a Tenancy,
    options: &'a MoveOptions,
    id: TenantId,
    move_id: uuid::Uuid,
    tenant: Tenant,
    source: Location,
    to: Location,
    step: MoveStep,
    tables: Vec<TableCheck>,
    /// When the source was fenced in this run (the write freeze).
    fenced_at: Option<Instant>,
}

pub(super) async fn run(
    tenancy: &Tenancy,
    id: TenantId,
    request: Option<&MoveRequest>,
    options: &MoveOptions,
    started: Instant,
) -> ApiResult<MoveReport> {
    let grace = options
        .grace
        .unwrap_or(tenancy.tenants().cache_ttl() + Duration::from_secs(1));
    let mut previous = pending(tenancy, id).await?;
    let names_target = |p: &PendingMove| request.is_none_or(|r| same_target(tenancy, id, r, &p.to));
    if let Some(p) = &previous
        && plan(Some((p.step, names_target(p))), request.map(|_| false)) == Plan::FinishEarlierFirst
    {
        tokio::time::sleep(grace.saturating_sub(p.since_step)).await;
        clean_up_locked(tenancy, id, p.move_id, &p.from, &p.to, options).await?;
        previous = None;
    }
    let tenant = tenancy.tenants().get(id).await?;
    let from = Location::of(&tenant)?;
    let wanted = request.map(|r| {
        tenancy
            .provisioner()
            .location_for(id, r.tier, r.server.as_deref())
    });
    let recorded = previous.as_ref().map(|p| (p.step, names_target(p)));
    let mut this = match plan(recorded, wanted.as_ref().map(|to| *to == from)) {
        Plan::Conflict | Plan::FinishEarlierFirst => {
            let to = previous.map(|p| p.to.to_string()).unwrap_or_default();
            return Err(ApiError::Conflict(format!(
                "this tenant has an unfinished move to {to}; resume it first"
            )));
        }
        Plan::NothingToResume => return Err(ApiError::NotFound { resource: "move" }),
        Plan::AlreadyThere => {
            return Ok(MoveReport {
                tenant,
                to: from.clone(),
                from,
                tables: Vec::new(),
                write_freeze: Duration::ZERO,
                elapsed: started.elapsed(),
                resumed: false,
            });
        }
        Plan::Resume => {
            let p = previous.expect("a resumed move is recorded");
            Move::new(tenancy, options, tenant, p.move_id, p.from, p.to, p.step)
        }
        Plan::Start => {
            let to = wanted.expect("a started move has a target");
            tenancy.provisioner().check_available(&to).await?;
            let move_id = record_start(tenancy, id, &from, &to).await?;
            options.emit(MoveEvent::Step(MoveStep::Started));
            Move::new(
                tenancy,
                options,
                tenant,
                move_id,
                from,
                to,
                MoveStep::Started,
            )
        }
    };
    let resumed = recorded.is_some();
    if this.step < MoveStep::Switched {
        this.up_to_switch().await?;
    }
    this.after_switch(grace).await?;
    let tenant = tenancy.tenants().get(id).await?;
    Ok(MoveReport {
        tenant,
        from: this.source,
        to: this.to,
        tables: this.tables,
        write_freeze: this.fenced_at.map(|t| t.elapsed()).unwrap_or_default(),
        elapsed: started.elapsed(),
        resumed,
    })
}

impl<'a> Move<'a> {
    fn new(
        tenancy: &'a Tenancy,
        options: &'a MoveOptions,
        tenant: Tenant,
        move_id: uuid::Uuid,
        source: Location,
        to: Location,
        step: MoveStep,
    ) -> Self {
        Move {
            tenancy,
            options,
            id: tenant.id,
            move_id,
            tenant,
            source,
            to,
            step,
            tables: Vec::new(),
            fenced_at: None,
        }
    }

    /// Runs the steps left before the switch, then the switch. A failure before the switch
    /// is recorded rolls the move back (fence lifted, partial copy removed).
    async fn up_to_switch(&mut self) -> ApiResult<()> {
        let result = async {
            if self.step == MoveStep::Started {
                self.options.injected(MoveStep::Started)?;
            }
            for step in self.step.left_before_switch() {
                if step > MoveStep::Fenced {
                    // Writes are frozen from the fence (or, resumed, from now) to the switch.
                    self.fenced_at.get_or_insert_with(Instant::now);
                }
                match step {
                    MoveStep::Provisioned => self.provision().await?,
                    MoveStep::Fenced => self.fence_source().await?,
                    MoveStep::Copied => self.copy_rows().await?,
                    MoveStep::Verified => self.verify_rows().await?,
                    other => unreachable!("{other:?} is not before the switch"),
                }
                self.completed(step).await?;
            }
            self.fenced_at.get_or_insert_with(Instant::now);
            switch(self.tenancy, self.id, &self.to).await
        }
        .await;
        if let Err(err) = result {
            self.roll_back_unless_switched(&err).await;
            return Err(err);
        }
        // From here on the move only goes forward: a failure leaves it recorded as switched,
        // and `resume` finishes it.
        self.options.injected(MoveStep::Switched)?;
        // The registry names the target now: lift the fence that kept it quiet.
        unfence(self.tenancy, self.id, &self.to).await?;
        self.options.emit(MoveEvent::Step(MoveStep::Switched));
        Ok(())
    }

    /// Step 1: the target exists, is migrated and knows the tenant.
    async fn provision(&mut self) -> ApiResult<()> {
        let provisioner = self.tenancy.provisioner();
        provisioner.provision(&self.to).await?;
        provisioner.register_locally(&self.to, &self.tenant).await
    }

    /// Step 2: the source refuses writes (waiting for those in flight to commit).
    async fn fence_source(&mut self) -> ApiResult<()> {
        fence(self.tenancy, self.id, &self.source).await?;
        self.fenced_at = Some(Instant::now());
        Ok(())
    }

    /// Step 3: the tenant's rows are on the target, which nothing else may write to before
    /// the switch.
    async fn copy_rows(&mut self) -> ApiResult<()> {
        fence(self.tenancy, self.id, &self.to).await?;
        copy(self.tenancy, self.id, &self.source, &self.to, self.options).await
    }

    /// Step 4: row counts and checksums agree on both sides.
    async fn verify_rows(&mut self) -> ApiResult<()> {
        self.tables = verify(self.tenancy, self.id, &self.source, &self.to).await?;
        Ok(())
    }

    /// Records `step` as done, reports it, and fails here if a test asked for it.
    async fn completed(&mut self, step: MoveStep) -> ApiResult<()> {
        sqlx::query(
            "UPDATE saas.tenant_moves SET step = $2, updated_at = now() WHERE tenant_id = $1",
        )
        .bind(self.id)
        .bind(step.as_str())
        .execute(self.tenancy.owner_pool())
        .await?;
        self.step = step;
        self.options.emit(MoveEvent::Step(step));
        self.options.injected(step)
    }

    /// The switch may have committed although its answer was lost: only a move that is
    /// recorded as not switched rolls back. Once the registry names the target, removing the
    /// target would remove the tenant's live data; it goes forward.
    async fn roll_back_unless_switched(&self, err: &ApiError) {
        let (tenancy, id) = (self.tenancy, self.id);
        match pending(tenancy, id).await {
            Ok(Some(p)) if p.move_id == self.move_id && p.step < MoveStep::Switched => {
                tracing::warn!(tenant = %id, error = %err, "tenant move failed before the switch; rolling it back");
                if let Err(undo) = roll_back(tenancy, id, &self.source, &self.to).await {
                    tracing::error!(tenant = %id, error = %undo, "rolling back the move failed; resume it");
                }
            }
            Ok(_) => {
                tracing::error!(tenant = %id, error = %err, "tenant move failed after its switch; resume it");
            }
            Err(undo) => {
                tracing::error!(tenant = %id, error = %err, state = %undo, "tenant move failed and its state is unknown; resume it");
            }
        }
    }

    /// Steps 5 and 6 after the switch: the target unfenced, pending events handed over, and
    /// the source copy removed after the grace period (now or on a background task).
    async fn after_switch(&self, grace: Duration) -> ApiResult<()> {
        let (tenancy, id) = (self.tenancy, self.id);
        // A move resumed after its switch may have stopped before lifting the target's fence.
        unfence(tenancy, id, &self.to).await?;
        if !self.source.same_database(&self.to) {
            hand_off_outbox(tenancy, id, &self.source, &self.to).await?;
        }
        if !self.options.background_cleanup {
            tokio::time::sleep(grace).await;
            return clean_up_locked(
                tenancy,
                id,
                self.move_id,
                &self.source,
                &self.to,
                self.options,
            )
            .await;
        }
        let (tenancy, source, to, options) = (
            tenancy.clone(),
            self.source.clone(),
            self.to.clone(),
            self.options.clone(),
        );
        let move_id = self.move_id;
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let result = async {
                // Another move of this tenant may run meanwhile: take turns, and clean up
                // only if this move is still the recorded one.
                let lock = move_lock(&tenancy, id, true).await?;
                let result = clean_up_locked(&tenancy, id, move_id, &source, &to, &options).await;
                if let Some(lock) = lock {
                    lock.close().await.ok();
                }
                result
            }
            .await;
            if let Err(err) = result {
                tracing::error!(tenant = %id, error = %err, "removing the moved tenant's old copy failed; resume the move");
            }
        });
        Ok(())
    }
}

/// Records a new move (step `started`) and returns its id.
async fn record_start(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
) -> ApiResult<uuid::Uuid> {
    let placement = to.placement();
    let origin = from.placement();
    let move_id = sqlx::query_scalar(
        "INSERT INTO saas.tenant_moves (tenant_id, to_tier, to_server, to_db, to_schema,
                                        from_tier, from_server, from_db, from_schema, step)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'started') RETURNING move_id",
    )
    .bind(id)
    .bind(to.tier().as_str())
    .bind(&placement.server)
    .bind(&placement.database)
    .bind(&placement.schema)
    .bind(from.tier().as_str())
    .bind(&origin.server)
    .bind(&origin.database)
    .bind(&origin.schema)
    .fetch_one(tenancy.owner_pool())
    .await?;
    Ok(move_id)
}

/// Hands the tenant's pending events from the source's outbox to the target's, after the
/// switch. The copies on the target were held (`available_at = infinity`) while the source's
/// relay kept publishing; now the events still pending at the source are taken from it (their
/// rows locked, so a relay cycle in flight finishes first) and released on the target, and the
/// held copies of events the source already published are dropped. The target commits first:
/// a crash in between can only publish an event twice (at-least-once), never lose one.
/// Idempotent.
async fn hand_off_outbox(
    tenancy: &Tenancy,
    id: TenantId,
    source: &Location,
    to: &Location,
) -> ApiResult<()> {
    let mut from_site = connect(tenancy, source).await?;
    let mut to_site = connect(tenancy, to).await?;
    let outbox = crate::events::schema::OUTBOX_TABLE;
    let (from_outbox, to_outbox) = (from_site.names.table(outbox), to_site.names.table(outbox));
    let mut taken = from_site.conn.begin().await?;
    as_tenant(&mut taken, id).await?;
    let pending: Vec<uuid::Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {from_outbox} WHERE tenant_id = $1 RETURNING id"
    )))
    .bind(id)
    .fetch_all(&mut *taken)
    .await?;
    let mut released = to_site.conn.begin().await?;
    as_tenant(&mut released, id).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {to_outbox} WHERE tenant_id = $1 AND available_at = 'infinity'
            AND NOT (id = ANY ($2))"
    )))
    .bind(id)
    .bind(&pending)
    .execute(&mut *released)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {to_outbox} SET available_at = now() WHERE tenant_id = $1 AND available_at = 'infinity'"
    )))
    .bind(id)
    .execute(&mut *released)
    .await?;
    released.commit().await?;
    taken.commit().await?;
    from_site.close().await;
    to_site.close().await;
    Ok(())
}

/// Whether a request names the target a pending move already goes to.
fn same_target(tenancy: &Tenancy, id: TenantId, request: &MoveRequest, to: &Location) -> bool {
    let wanted = tenancy
        .provisioner()
        .location_for(id, request.tier, request.server.as_deref());
    wanted.tier() == to.tier() && wanted.placement().server == to.placement().server
}

/// Removes the source copy of move `move_id` and closes the move, if it is still the
/// recorded one and the registry no longer points at the source. The caller holds the
/// tenant's move lock.
async fn clean_up_locked(
    tenancy: &Tenancy,
    id: TenantId,
    move_id: uuid::Uuid,
    source: &Location,
    to: &Location,
    options: &MoveOptions,
) -> ApiResult<()> {
    let current: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT move_id FROM saas.tenant_moves WHERE tenant_id = $1 AND step = 'switched'",
    )
    .bind(id)
    .fetch_optional(tenancy.owner_pool())
    .await?;
    if current != Some(move_id) {
        return Ok(());
    }
    let now = Location::of(&tenancy.tenants().get(id).await?)?;
    if now == *source {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "refusing to remove {source}: the registry places tenant {id} there"
        )));
    }
    remove_copy(tenancy, id, source, to).await?;
    sqlx::query("DELETE FROM saas.tenant_moves WHERE tenant_id = $1 AND move_id = $2")
        .bind(id)
        .bind(move_id)
        .execute(tenancy.owner_pool())
        .await?;
    options.emit(MoveEvent::Step(MoveStep::Cleaned));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_follow_each_other_in_order() {
        let mut walked = vec![MoveStep::Started];
        while let Some(next) = walked.last().unwrap().next() {
            walked.push(next);
        }
        assert_eq!(walked, MoveStep::ALL);
    }

    #[test]
    fn the_steps_before_the_switch_depend_on_where_a_move_stopped() {
        let left = |s: MoveStep| s.left_before_switch().collect::<Vec<_>>();
        use MoveStep::*;
        assert_eq!(left(Started), [Provisioned, Fenced, Copied, Verified]);
        assert_eq!(left(Fenced), [Copied, Verified]);
        assert_eq!(left(Verified), []);
        assert_eq!(left(Switched), []);
    }

    #[test]
    fn a_recorded_move_to_the_requested_target_resumes() {
        for step in MoveStep::ALL {
            assert_eq!(plan(Some((step, true)), Some(false)), Plan::Resume);
            assert_eq!(plan(Some((step, true)), None), Plan::Resume);
        }
    }

    #[test]
    fn a_recorded_move_elsewhere_conflicts_until_it_is_switched() {
        use MoveStep::*;
        for step in [Started, Provisioned, Fenced, Copied, Verified] {
            assert_eq!(
                plan(Some((step, false)), Some(false)),
                Plan::Conflict,
                "{step:?}"
            );
        }
        assert_eq!(
            plan(Some((Switched, false)), Some(false)),
            Plan::FinishEarlierFirst
        );
        assert_eq!(
            plan(Some((Switched, false)), Some(true)),
            Plan::FinishEarlierFirst
        );
    }

    #[test]
    fn without_a_recorded_move_the_request_decides() {
        assert_eq!(plan(None, None), Plan::NothingToResume);
        assert_eq!(plan(None, Some(true)), Plan::AlreadyThere);
        assert_eq!(plan(None, Some(false)), Plan::Start);
    }
}
