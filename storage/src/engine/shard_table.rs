//! A stream's retained shards by index, in a dense table: shard indexes are handed out
//! in order and retention removes the oldest first, so a lookup is an offset into a
//! deque, whatever the number of shards the stream retains.

use std::collections::VecDeque;
use std::sync::Arc;

use super::Shard;

/// Retained shards by index (see the module docs).
#[derive(Debug)]
pub(crate) struct ShardTable<T = Arc<Shard>> {
    /// Index of the first slot.
    base: u64,
    slots: VecDeque<Option<T>>,
    len: usize,
}

impl<T> Default for ShardTable<T> {
    fn default() -> Self {
        ShardTable {
            base: 0,
            slots: VecDeque::new(),
            len: 0,
        }
    }
}

impl<T> ShardTable<T> {
    /// The shard with this index.
    pub(crate) fn get(&self, index: u64) -> Option<&T> {
        let at = usize::try_from(index.checked_sub(self.base)?).ok()?;
        self.slots.get(at)?.as_ref()
    }

    /// Whether a shard with this index is retained.
    pub(crate) fn contains(&self, index: u64) -> bool {
        self.get(index).is_some()
    }

    /// Adds (or replaces) a shard.
    pub(crate) fn insert(&mut self, index: u64, shard: T) {
        if self.slots.is_empty() {
            self.base = index;
        }
        while index < self.base {
            self.slots.push_front(None);
            self.base -= 1;
        }
        let Ok(at) = usize::try_from(index - self.base) else {
            return;
        };
        while self.slots.len() <= at {
            self.slots.push_back(None);
        }
        if let Some(slot) = self.slots.get_mut(at) {
            if slot.replace(shard).is_none() {
                self.len += 1;
            }
        }
    }

    /// Removes a shard; empty slots at either end are dropped.
    pub(crate) fn remove(&mut self, index: u64) -> Option<T> {
        let at = usize::try_from(index.checked_sub(self.base)?).ok()?;
        let removed = self.slots.get_mut(at)?.take();
        if removed.is_some() {
            self.len -= 1;
        }
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        while matches!(self.slots.back(), Some(None)) {
            self.slots.pop_back();
        }
        removed
    }

    /// The shards, by index.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Number of retained shards.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::ShardTable;

    #[test]
    fn dense_by_index_and_trimmed_at_both_ends() {
        let mut t: ShardTable<u64> = ShardTable::default();
        for i in [5u64, 6, 7, 9] {
            t.insert(i, i * 10);
        }
        t.insert(3, 30);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(9), Some(&90));
        assert_eq!(t.get(8), None);
        assert_eq!(t.get(2), None);
        assert_eq!(t.get(u64::MAX), None);
        assert_eq!(
            t.values().copied().collect::<Vec<_>>(),
            [30, 50, 60, 70, 90]
        );
        assert_eq!(t.remove(3), Some(30));
        assert_eq!(t.remove(3), None);
        assert_eq!(t.remove(5), Some(50));
        assert_eq!(t.get(6), Some(&60));
        assert_eq!(t.remove(9), Some(90));
        assert!(t.contains(7) && !t.contains(9));
        assert_eq!(t.len(), 2);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [60, 70]);
        t.insert(10, 100);
        assert_eq!(t.values().copied().collect::<Vec<_>>(), [60, 70, 100]);
    }
}
