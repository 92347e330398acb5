//! The events on the bus: what the engine publishes (state changes, incidents, flapping,
//! isolation, samples) and what people cause through the web layer and drills (acknowledgements,
//! drills starting and ending). Live pages, alerting and drills subscribe; nothing here imports
//! a subsystem, so every room can publish or subscribe without pointing upward.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::state::{FlapChange, IncidentChange, Transition};

/// What the event bus carries to live pages, alerting and drills.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    StateChanged {
        target: String,
        #[serde(flatten)]
        transition: Transition,
        detail: Option<String>,
        /// The parent that explains an UNREACHABLE state.
        explained_by: Option<String>,
    },
    Incident {
        target: String,
        #[serde(flatten)]
        change: IncidentChange,
    },
    Flapping {
        target: String,
        #[serde(flatten)]
        change: FlapChange,
    },
    /// Every anchor failed at once (`isolated: true`) or one answered again.
    MonitorIsolation { isolated: bool, at: DateTime<Utc> },
    Sample {
        target: String,
        ok: bool,
        latency_seconds: f64,
    },
}

/// Events raised by the web layer itself, sent to live pages next to the engine's.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WebEvent {
    /// An officer acknowledged an incident.
    Ack {
        incident_id: i64,
        target: String,
        author: String,
        comment: String,
        at: DateTime<Utc>,
    },
    /// A drill started or ended: pages show or drop the drill banner.
    Drill {
        id: i64,
        name: String,
        running: bool,
        at: DateTime<Utc>,
    },
}
