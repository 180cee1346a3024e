//! The producer's picture of a stream's open shards, for predicting where a hash key
//! lands.

use std::sync::Arc;

use crate::types::{HashKeyRange, Shard};

/// Open shards sorted by their first hash key.
#[derive(Debug, Clone, Default)]
pub struct ShardMap {
    /// (range, shard id) of every open shard, by range start.
    open: Vec<(HashKeyRange, Arc<str>)>,
    /// Ranges of every listed shard, open or closed, by id.
    all: Vec<(String, HashKeyRange)>,
    /// Bumped on each reload.
    pub generation: u64,
}

impl ShardMap {
    /// A map of `shards` (as `ListShards` returns them).
    pub fn new(shards: &[Shard], generation: u64) -> Self {
        let mut open: Vec<(HashKeyRange, Arc<str>)> = shards
            .iter()
            .filter(|s| s.is_open())
            .map(|s| (s.hash_key_range, Arc::from(s.shard_id.as_str())))
            .collect();
        open.sort_by_key(|(r, _)| r.start);
        let all = shards
            .iter()
            .map(|s| (s.shard_id.clone(), s.hash_key_range))
            .collect();
        ShardMap {
            open,
            all,
            generation,
        }
    }

    /// The open shard owning `hash_key`, if the map knows one.
    pub fn predict(&self, hash_key: u128) -> Option<&Arc<str>> {
        let i = self.open.partition_point(|(r, _)| r.start <= hash_key);
        let (range, id) = self.open.get(i.checked_sub(1)?)?;
        range.contains(hash_key).then_some(id)
    }

    /// Whether `shard_id` is open in this map.
    pub fn is_open(&self, shard_id: &str) -> bool {
        self.open.iter().any(|(_, id)| &**id == shard_id)
    }

    /// The hash-key range of any listed shard.
    pub fn range_of(&self, shard_id: &str) -> Option<HashKeyRange> {
        self.all
            .iter()
            .find(|(id, _)| id == shard_id)
            .map(|(_, r)| *r)
    }

    /// Whether no open shard is known.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(id: &str, start: u128, end: u128, open: bool) -> Shard {
        Shard {
            shard_id: id.into(),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            hash_key_range: HashKeyRange { start, end },
            starting_sequence_number: "0".into(),
            ending_sequence_number: (!open).then(|| "1".into()),
        }
    }

    #[test]
    fn predicts_by_range() {
        let m = ShardMap::new(
            &[
                shard("c", 100, u128::MAX, true),
                shard("a", 0, 49, true),
                shard("b", 50, 99, true),
                shard("old", 0, 99, false),
            ],
            1,
        );
        let p = |k| m.predict(k).map(|s| s.to_string());
        assert_eq!(p(0).as_deref(), Some("a"));
        assert_eq!(p(49).as_deref(), Some("a"));
        assert_eq!(p(50).as_deref(), Some("b"));
        assert_eq!(p(u128::MAX).as_deref(), Some("c"));
        assert!(!m.is_open("old"));
        assert_eq!(m.range_of("old"), Some(HashKeyRange { start: 0, end: 99 }));
        let gap = ShardMap::new(&[shard("a", 10, 20, true)], 2);
        assert_eq!(gap.predict(5), None);
        assert_eq!(gap.predict(21), None);
        assert!(ShardMap::default().is_empty());
    }
}
