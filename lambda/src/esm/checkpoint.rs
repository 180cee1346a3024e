//! Where a mapping stands in each shard, durably (`svc/lambda/checkpoint/{uuid}/{shard}`).

use serde::{Deserialize, Serialize};

/// A shard's checkpoint: every record before `next_offset` was handled (delivered,
/// filtered out, or sent to the on-failure destination).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The next record to handle.
    pub next_offset: u64,
    /// The closed shard was read to its end.
    #[serde(default)]
    pub finished: bool,
    /// An open tumbling window: its start (ms) and the state the function returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowState>,
    /// The end (ms) of the last tumbling window closed: a record that arrived before it
    /// but is read after (a put acknowledged just as its window closed) goes to the
    /// next window; a closed window never opens again.
    #[serde(default)]
    pub windows_closed_until_ms: i64,
}

/// A tumbling window in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// Start, ms since the epoch (a multiple of the window's length).
    pub start_ms: i64,
    /// The function's last returned state.
    pub state: serde_json::Value,
}
