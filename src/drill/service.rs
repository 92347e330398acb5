//! Drill lifecycle: start, stop, notes, the restore after a restart, and the task that starts
//! configured drills on time and ends every drill at its planned end.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::{Drill, NewDrill, NewNote, Note, RunningDrill, db};
use crate::config::drills::{ScheduledDrill, Timing, check_timing};
use crate::shared::AppState;
use crate::store::StoreError;

/// How often the lifecycle task looks at the clock. Planned ends and starts land within this.
const TICK: Duration = Duration::from_secs(1);
/// Longest accepted note, drill name and scenario, in characters.
pub const MAX_TEXT_CHARS: usize = 4_000;

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// A field the caller gave is refused (shown as `field: reason`).
    #[error("{field}: {0}", field = .0.field())]
    Invalid(Invalid),
    #[error("the scope matches no configured target")]
    EmptyScope,
    #[error("drill {0} is already running over some of these targets")]
    Overlap(i64),
    #[error("no drill {0}")]
    NotFound(i64),
    #[error("drill {0} has already ended")]
    Ended(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What is wrong with a field of a drill or a note: typed, so the pages can say it in the
/// reader's language while the API keeps these English messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("must not be empty")]
    EmptyName,
    #[error("must be at most 200 characters")]
    NameTooLong,
    #[error("must be at most {MAX_TEXT_CHARS} characters")]
    ScenarioTooLong,
    #[error(transparent)]
    Timing(#[from] Timing),
    #[error("must not be empty")]
    EmptyText,
    #[error("must be at most {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    #[error("no target `{0}`")]
    UnknownTarget(String),
    #[error("must be after the note's time")]
    UntilNotAfterNote,
    #[error("is more than a day before the drill started")]
    NoteTooEarly,
}

impl Invalid {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            Invalid::EmptyName | Invalid::NameTooLong => "name",
            Invalid::ScenarioTooLong => "scenario",
            Invalid::Timing(t) => t.key(),
            Invalid::EmptyText | Invalid::TextTooLong => "text",
            Invalid::UnknownTarget(_) => "expected_down.targets",
            Invalid::UntilNotAfterNote => "expected_down.until",
            Invalid::NoteTooEarly => "at",
        }
    }
}

impl From<Invalid> for DrillError {
    fn from(i: Invalid) -> Self {
        DrillError::Invalid(i)
    }
}

/// Keeps the in-memory view and the metrics in line with the store's running drills.
async fn publish(state: &AppState) -> Result<(), StoreError> {
    let running = state
        .store
        .query(|c| db::list(c, Some(true), 1_000))
        .await?;
    let list: Vec<RunningDrill> = running.iter().filter_map(super::running_view).collect();
    let cfg = state.config();
    let in_scope = cfg
        .targets
        .iter()
        .filter(|t| list.iter().any(|d| d.scope.matches(t)))
        .count();
    state.metrics.set_drills(list.len(), in_scope);
    state.drills.set(list);
    Ok(())
}

/// Tells live pages a drill started or ended (they show or drop the banner).
fn announce(state: &AppState, d: &Drill) {
    let _ = state.web_events.send(crate::events::WebEvent::Drill {
        id: d.id,
        name: d.name.clone(),
        running: d.running(),
        at: d.ended_at.unwrap_or(d.started_at),
    });
}

/// Starts a drill now. Fails when the scope covers nothing or overlaps a running drill.
pub async fn start(
    state: &AppState,
    new: NewDrill,
    by: &str,
    now: DateTime<Utc>,
) -> Result<Drill, DrillError> {
    let name = new.name.trim().to_string();
    if name.is_empty() {
        return Err(Invalid::EmptyName.into());
    }
    if name.chars().count() > 200 {
        return Err(Invalid::NameTooLong.into());
    }
    if new.scenario.chars().count() > MAX_TEXT_CHARS {
        return Err(Invalid::ScenarioTooLong.into());
    }
    check_timing(new.duration, new.interval).map_err(Invalid::Timing)?;
    let _guard = state.drills.lifecycle.lock().await;
    let cfg = state.config();
    let targets: Vec<String> = cfg
        .targets
        .iter()
        .filter(|t| new.scope.matches(t))
        .map(|t| t.id.clone())
        .collect();
    if targets.is_empty() {
        return Err(DrillError::EmptyScope);
    }
    for d in state.drills.running().iter() {
        if cfg
            .targets
            .iter()
            .any(|t| d.scope.matches(t) && new.scope.matches(t))
        {
            return Err(DrillError::Overlap(d.id));
        }
    }
    let new = NewDrill { name, ..new };
    let by_owned = by.to_string();
    let id = state
        .store
        .write_now(move |tx| db::insert(tx, &new, &by_owned, now, &targets))
        .await?;
    publish(state).await?;
    let drill = state
        .store
        .query(move |c| db::get(c, id))
        .await?
        .ok_or(DrillError::NotFound(id))?;
    tracing::info!(drill = id, name = %drill.name, targets = drill.targets, by, "drill started");
    announce(state, &drill);
    Ok(drill)
}

/// Ends a running drill at `at`.
pub async fn stop(
    state: &AppState,
    id: i64,
    by: Option<&str>,
    reason: &'static str,
    at: DateTime<Utc>,
) -> Result<Drill, DrillError> {
    let _guard = state.drills.lifecycle.lock().await;
    let by_owned = by.map(str::to_string);
    let ended = state
        .store
        .write_now(move |tx| db::end(tx, id, at, reason, by_owned.as_deref()))
        .await?;
    let drill = state
        .store
        .query(move |c| db::get(c, id))
        .await?
        .ok_or(DrillError::NotFound(id))?;
    if !ended {
        return Err(DrillError::Ended(id));
    }
    publish(state).await?;
    tracing::info!(
        drill = id,
        reason,
        by = by.unwrap_or("the planned end"),
        "drill ended"
    );
    announce(state, &drill);
    Ok(drill)
}

/// A reload changed the targets while drills run: targets added that a running drill's scope
/// holds join it (probed at its pace, tagged, counted in its report), and targets removed
/// leave it (their record so far stays); each drill's timeline says which, in one note by
/// commwatch.
pub async fn follow_reload(
    state: &AppState,
    added: &[std::sync::Arc<crate::config::Target>],
    removed: &[String],
) -> Result<(), DrillError> {
    if added.is_empty() && removed.is_empty() {
        return Ok(());
    }
    // One lifecycle change at a time: a drill starting or ending meanwhile would miss these.
    let _one_at_a_time = state.drills.lifecycle.lock().await;
    let running = state.drills.running();
    if running.is_empty() {
        return Ok(());
    }
    let stored_removed: Vec<String> = removed.to_vec();
    for d in running.iter() {
        let joined: Vec<String> = added
            .iter()
            .filter(|t| d.scope.matches(t))
            .map(|t| t.id.clone())
            .collect();
        let id = d.id;
        let in_drill: Vec<String> = {
            let list = state.store.query(move |c| db::targets(c, id)).await?;
            stored_removed
                .iter()
                .filter(|t| list.contains(t))
                .cloned()
                .collect()
        };
        if joined.is_empty() && in_drill.is_empty() {
            continue;
        }
        let mut text = Vec::new();
        if !joined.is_empty() {
            text.push(format!(
                "Cấu hình nạp lại: {} mục tiêu tham gia diễn tập ({})",
                joined.len(),
                joined.join(", ")
            ));
        }
        if !in_drill.is_empty() {
            text.push(format!(
                "Cấu hình nạp lại: {} mục tiêu rời diễn tập ({})",
                in_drill.len(),
                in_drill.join(", ")
            ));
        }
        let now = crate::time::now_ms();
        let note = NewNote {
            at: now,
            author: "commwatch".into(),
            text: text.join(". "),
            expected_targets: Vec::new(),
            expected_until: None,
        };
        let stored = joined.clone();
        state
            .store
            .write(move |tx| {
                db::add_targets(tx, id, &stored)?;
                db::insert_note(tx, id, &note, now).map(|_| ())
            })
            .await?;
        tracing::info!(
            drill = id,
            joined = joined.len(),
            left = in_drill.len(),
            "drill follows the reload"
        );
    }
    // The drills' target counts in /metrics follow the new scope.
    publish(state).await?;
    Ok(())
}

/// Adds a timeline note. Notes may be added after the end (an after-action correction).
pub async fn add_note(state: &AppState, drill_id: i64, note: NewNote) -> Result<Note, DrillError> {
    if note.text.trim().is_empty() {
        return Err(Invalid::EmptyText.into());
    }
    if note.text.chars().count() > MAX_TEXT_CHARS {
        return Err(Invalid::TextTooLong.into());
    }
    // A running drill is known in memory: notes keep coming while the database is out (the
    // write is then queued); an ended one is read from the store.
    let running = state
        .drills
        .running()
        .iter()
        .find(|d| d.id == drill_id)
        .map(|d| d.started_at);
    let started_at = match running {
        Some(at) => at,
        None => {
            state
                .store
                .query(move |c| db::get(c, drill_id))
                .await?
                .ok_or(DrillError::NotFound(drill_id))?
                .started_at
        }
    };
    let cfg = state.config();
    for t in &note.expected_targets {
        if !cfg.targets.iter().any(|c| &c.id == t) {
            return Err(Invalid::UnknownTarget(t.clone()).into());
        }
    }
    if let Some(u) = note.expected_until
        && u <= note.at
    {
        return Err(Invalid::UntilNotAfterNote.into());
    }
    if note.at < started_at - chrono::Duration::hours(24) {
        return Err(Invalid::NoteTooEarly.into());
    }
    let now = crate::time::now_ms();
    let stored = note.clone();
    let id = state
        .store
        .write_or_queue(move |tx| db::insert_note(tx, drill_id, &stored, now))
        .await?;
    Ok(Note {
        id,
        drill_id,
        at: note.at,
        author: note.author,
        text: note.text,
        expected_targets: note.expected_targets,
        expected_until: note.expected_until,
        created_at: now,
    })
}

/// What the lifecycle task remembers about configured drills between ticks.
#[derive(Debug, Default)]
pub struct Planned {
    /// Schedule keys known to have started (from this run or the store).
    started: HashSet<String>,
    /// Schedule keys already reported as unable to start, so the log says it once.
    warned: HashSet<String>,
}

/// Starts configured drills whose window has come and ends drills past their planned end.
pub async fn tick(
    state: &AppState,
    now: DateTime<Utc>,
    planned: &mut Planned,
) -> Result<(), DrillError> {
    // Planned ends first: a configured drill that follows another over the same targets can
    // then start in the same tick.
    for d in state.drills.running().iter() {
        if d.planned_end <= now {
            match stop(state, d.id, None, "planned_end", d.planned_end).await {
                Ok(_) | Err(DrillError::Ended(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let cfg = state.config();
    for s in &cfg.drills {
        if !(s.start <= now && now < s.end()) {
            continue;
        }
        let key = s.schedule_key();
        if planned.started.contains(&key) {
            continue;
        }
        let k = key.clone();
        if state
            .store
            .query(move |c| db::schedule_key_used(c, &k))
            .await?
        {
            planned.started.insert(key);
            continue;
        }
        match start(state, scheduled(s), "config", now).await {
            Ok(_) => {
                planned.started.insert(key);
            }
            Err(e @ (DrillError::Overlap(_) | DrillError::EmptyScope)) => {
                // Refused now (another drill holds the targets); try again next tick, and say so
                // once rather than every second.
                if planned.warned.insert(key) {
                    tracing::warn!(drill = %s.name, error = %e, "planned drill cannot start yet");
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn scheduled(s: &ScheduledDrill) -> NewDrill {
    NewDrill {
        name: s.name.clone(),
        scenario: s.scenario.clone(),
        scope: s.scope.clone(),
        leaders: s.leaders.clone(),
        interval: s.interval,
        duration: s.duration,
        baseline: s.baseline,
        planned_start: Some(s.start),
        schedule_key: Some(s.schedule_key()),
    }
}

/// Loads the drills that were running when the daemon stopped. Call before probing starts, so
/// the first samples are already tagged; drills whose planned end passed meanwhile end there.
pub async fn restore(state: &AppState, now: DateTime<Utc>) -> Result<(), DrillError> {
    let running = state
        .store
        .query(|c| db::list(c, Some(true), 1_000))
        .await?;
    for d in &running {
        if d.planned_end <= now {
            let id = d.id;
            let end = d.planned_end;
            state
                .store
                .write(move |tx| db::end(tx, id, end, "planned_end", None))
                .await?;
            tracing::info!(
                drill = d.id,
                "drill reached its planned end while commwatch was stopped"
            );
        } else {
            tracing::info!(drill = d.id, name = %d.name, "drill resumed after restart");
        }
    }
    publish(state).await?;
    Ok(())
}

/// The lifecycle task: ticks until shutdown.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let mut planned = Planned::default();
    let mut every = tokio::time::interval(TICK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        if let Err(e) = tick(&state, crate::time::now_ms(), &mut planned).await {
            tracing::error!(error = %e, "drill lifecycle check failed; will retry");
        }
    }
}
