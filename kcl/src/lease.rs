//! What a lease holds, and how checkpoints compare.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A position in a shard: a sequence number (decimal string, compared numerically) and
/// a sub-sequence number inside a KPL aggregate (0 for a plain record).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExtendedSequence {
    /// The Kinesis sequence number.
    pub sequence: String,
    /// Position inside the aggregate.
    pub sub_sequence: u64,
}

impl ExtendedSequence {
    /// A position.
    pub fn new(sequence: impl Into<String>, sub_sequence: u64) -> Self {
        ExtendedSequence {
            sequence: sequence.into(),
            sub_sequence,
        }
    }
}

/// Compares two decimal sequence numbers numerically (any length).
pub fn compare_sequence(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

impl Ord for ExtendedSequence {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_sequence(&self.sequence, &other.sequence)
            .then(self.sub_sequence.cmp(&other.sub_sequence))
    }
}

impl PartialOrd for ExtendedSequence {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a lease's shard has been processed up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum Checkpoint {
    /// Nothing processed yet; start at the oldest retained record.
    TrimHorizon,
    /// Nothing processed yet; start after the newest record.
    Latest,
    /// Nothing processed yet; start at the first record that arrived at or after a
    /// time (ms since the epoch).
    AtTimestamp {
        /// Milliseconds since the epoch.
        ms: i64,
    },
    /// Every record up to and including this position is processed.
    Sequence(ExtendedSequence),
    /// The shard is closed and every record of it is processed.
    ShardEnd,
}

impl Checkpoint {
    /// Whether the shard was processed to its end.
    pub fn is_shard_end(&self) -> bool {
        matches!(self, Checkpoint::ShardEnd)
    }

    /// The position, when it is one.
    pub fn sequence(&self) -> Option<&ExtendedSequence> {
        match self {
            Checkpoint::Sequence(s) => Some(s),
            _ => None,
        }
    }

    /// Orders checkpoints for monotonicity: the initial sentinels, then positions,
    /// then SHARD_END. Two different sentinels are incomparable (`None`).
    pub fn progress_cmp(&self, other: &Checkpoint) -> Option<Ordering> {
        fn rank(c: &Checkpoint) -> u8 {
            match c {
                Checkpoint::Sequence(_) => 1,
                Checkpoint::ShardEnd => 2,
                _ => 0,
            }
        }
        match (self, other) {
            (Checkpoint::Sequence(a), Checkpoint::Sequence(b)) => Some(a.cmp(b)),
            (a, b) if rank(a) == 0 && rank(b) == 0 => (a == b).then_some(Ordering::Equal),
            (a, b) => Some(rank(a).cmp(&rank(b))),
        }
    }
}

/// One lease: who processes a shard and how far it got. Stored as JSON by the Freshet
/// stores, as an AWS KCL item by `DynamoDbLeaseStore` (feature `dynamodb`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker holding it; `None` when free.
    pub owner: Option<String>,
    /// Progress.
    pub checkpoint: Checkpoint,
    /// A prepared (two-phase) checkpoint not yet committed.
    #[serde(default)]
    pub pending_checkpoint: Option<ExtendedSequence>,
    /// Parent shards that have leases: the shard is processed only after all of them
    /// reached SHARD_END (or their leases are gone).
    #[serde(default)]
    pub parents: Vec<String>,
    /// A worker that asked the owner to hand the lease over (and for which a released
    /// lease stays reserved for a while).
    #[serde(default)]
    pub handoff_to: Option<String>,
    /// How many times the lease changed hands.
    #[serde(default)]
    pub owner_switches: u64,
    /// Bumped by every write of the owner (take, renew, checkpoint, release) but not by
    /// a handoff request: other workers measure expiry from its last change.
    #[serde(default)]
    pub heartbeat: u64,
}

impl Lease {
    /// A free lease starting at `checkpoint`.
    pub fn new(checkpoint: Checkpoint, parents: Vec<String>) -> Self {
        Lease {
            owner: None,
            checkpoint,
            pending_checkpoint: None,
            parents,
            handoff_to: None,
            owner_switches: 0,
            heartbeat: 0,
        }
    }
}

/// A lease as stored: key (shard id), compare-and-set counter and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLease {
    /// The shard id.
    pub key: String,
    /// Changes with every write; the compare-and-set token.
    pub counter: u64,
    /// The lease.
    pub lease: Lease,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_compare_numerically() {
        assert_eq!(compare_sequence("9", "10"), Ordering::Less);
        assert_eq!(compare_sequence("0010", "10"), Ordering::Equal);
        let a = ExtendedSequence::new(
            "49590338271490256608559692538361571095921575989136588898",
            3,
        );
        let b = ExtendedSequence::new(
            "49590338271490256608559692538361571095921575989136588899",
            0,
        );
        assert!(a < b);
        assert!(ExtendedSequence::new("5", 1) > ExtendedSequence::new("5", 0));
    }

    #[test]
    fn checkpoint_progress_order() {
        let s = Checkpoint::Sequence(ExtendedSequence::new("5", 0));
        assert_eq!(
            Checkpoint::TrimHorizon.progress_cmp(&s),
            Some(Ordering::Less)
        );
        assert_eq!(s.progress_cmp(&Checkpoint::ShardEnd), Some(Ordering::Less));
        assert_eq!(
            Checkpoint::TrimHorizon.progress_cmp(&Checkpoint::Latest),
            None
        );
        let json = serde_json::to_string(&Lease::new(s, vec![])).unwrap_or_default();
        assert!(json.contains("SEQUENCE"), "{json}");
    }
}
