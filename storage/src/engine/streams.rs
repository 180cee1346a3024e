//! Stream lifecycle and settings: create, delete, describe, list, tags, retention,
//! mode, encryption and monitoring.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{lock, read, shard_dir, stream_dir, write, Engine, Shard, Stream};
use crate::catalog::{
    shard_key, stream_key, Batch, Encryption, ShardRecord, StreamMode, StreamRecord,
};
use crate::error::{Error, Result};
use crate::hash_key::even_ranges;
use crate::log::{LogConfig, ShardLog};
use crate::sequence::SequenceNumber;
use crate::types::*;
use crate::validate;

impl Engine {
    pub(crate) fn log_config(&self) -> LogConfig {
        super::log_config(&self.inner.cfg)
    }

    pub(crate) fn open_shard_log(
        &self,
        stream: &Stream,
        name: &str,
        rec: &ShardRecord,
    ) -> Result<Arc<ShardLog>> {
        ShardLog::open(
            &self.inner.cfg.fs,
            &shard_dir(&stream.dir, rec.index),
            format!("{name}/{}", shard_id(rec.index)),
            self.log_config(),
            rec.start_offset,
            None,
            Arc::clone(&self.inner.flusher),
        )
    }

    /// Creates a stream of `shard_count` shards that split the hash-key space evenly.
    pub fn create_stream(&self, req: CreateStream) -> Result<StreamDescription> {
        validate::stream_name(&req.name)?;
        self.create_named_stream(req, true)
    }

    /// Creates a stream that service `owner` owns (a delivery stream's buffer, say):
    /// named `{owner}:{req.name}` ([`Engine::owned_stream`]), which no Kinesis client
    /// can name; left out of [`Engine::list_streams`] and of the shard limit. Every
    /// other call takes its full name.
    pub fn create_owned_stream(
        &self,
        owner: &str,
        mut req: CreateStream,
    ) -> Result<StreamDescription> {
        req.name = validate::owned_stream_name(owner, &req.name)?;
        self.create_named_stream(req, false)
    }

    /// The full name of `owner`'s stream `name`.
    pub fn owned_stream(owner: &str, name: &str) -> Result<String> {
        validate::owned_stream_name(owner, name)
    }

    /// The names (without the owner) of the streams `owner` owns, sorted.
    pub fn list_owned_streams(&self, owner: &str) -> Result<Vec<String>> {
        self.check_open()?;
        let prefix = format!("{owner}{}", validate::OWNED_SEPARATOR);
        Ok(read(&self.inner.streams)
            .keys()
            .filter_map(|k| k.strip_prefix(&prefix).map(str::to_string))
            .collect())
    }

    fn create_named_stream(&self, req: CreateStream, limited: bool) -> Result<StreamDescription> {
        self.check_open()?;
        if req.shard_count == 0 {
            return Err(Error::InvalidShardCount {
                requested: req.shard_count,
            });
        }
        let _admin = lock(&self.inner.admin);
        if read(&self.inner.streams).contains_key(&req.name) {
            return Err(Error::StreamExists { stream: req.name });
        }
        if limited {
            self.check_shard_limit(req.shard_count as usize)?;
        }
        let now = self.now_ms();
        let mut batch = Batch::default();
        let uid = self.inner.catalog.next_stream_uid(&mut batch)?;
        let meta = StreamRecord {
            name: req.name.clone(),
            uid,
            created_ms: now,
            active_at_ms: now + req.activation_delay_ms.max(0),
            retention_hours: self.inner.cfg.default_retention_hours,
            mode: req.mode,
            encryption: None,
            shard_level_metrics: Vec::new(),
            tags: req.tags,
            next_shard_index: u64::from(req.shard_count),
            scaling_ops_ms: Vec::new(),
        };
        let dir = stream_dir(&self.inner.cfg.data_dir, uid);
        let stream = Stream {
            meta: RwLock::new(meta.clone()),
            shards: RwLock::default(),
            routing: RwLock::default(),
            dir,
        };
        let mut shards = super::ShardTable::default();
        for (i, range) in even_ranges(req.shard_count).into_iter().enumerate() {
            let rec = ShardRecord {
                index: i as u64,
                range,
                parent: None,
                adjacent_parent: None,
                created_ms: now,
                end_offset: None,
                closed_ms: None,
                start_offset: 0,
            };
            batch.put(&shard_key(uid, rec.index), &rec)?;
            let log = match self.open_shard_log(&stream, &req.name, &rec) {
                Ok(log) => log,
                Err(e) => {
                    let _ = self.inner.cfg.fs.remove_dir_all(&stream.dir);
                    return Err(e);
                }
            };
            shards.insert(rec.index, Arc::new(Shard::new(rec, log)));
        }
        batch.put(&stream_key(&req.name), &meta)?;
        if let Err(e) = self.inner.catalog.write(batch) {
            let _ = self.inner.cfg.fs.remove_dir_all(&stream.dir);
            return Err(e);
        }
        *write(&stream.shards) = shards;
        stream.rebuild_routing();
        let stream = Arc::new(stream);
        write(&self.inner.streams).insert(req.name.clone(), Arc::clone(&stream));
        Ok(self.describe(&stream))
    }

    /// Deletes a stream and its data.
    pub fn delete_stream(&self, name: &str) -> Result<()> {
        let stream = self.stream(name)?;
        let _admin = lock(&self.inner.admin);
        let uid = read(&stream.meta).uid;
        let mut batch = Batch::default();
        batch.delete(&stream_key(name));
        batch.delete_prefix(&format!("shard/{uid:016x}/"));
        batch.delete_prefix(&format!("lease/{uid:016x}/"));
        self.inner.catalog.write(batch)?;
        write(&self.inner.streams).remove(name);
        for shard in read(&stream.shards).values() {
            let _ = shard.log.close();
            // Tailing cursors waiting on the shard wake and find the stream gone.
            shard.log.notify_subscribers();
        }
        // Readers holding slices of the logs keep them; the files go now. A crash here
        // leaves a directory that the next open removes.
        if let Err(e) = self.inner.cfg.fs.remove_dir_all(&stream.dir) {
            tracing::warn!(dir = %stream.dir.display(), error = %e, "could not remove a deleted stream's files");
        }
        Ok(())
    }

    pub(crate) fn describe(&self, stream: &Stream) -> StreamDescription {
        let meta = read(&stream.meta).clone();
        let now = self.now_ms();
        let shards = read(&stream.shards)
            .values()
            .map(|s| describe_shard(&s.record()))
            .collect();
        StreamDescription {
            status: super::summary::status_of(&meta, now),
            name: meta.name,
            uid: meta.uid,
            created_ms: meta.created_ms,
            retention_hours: meta.retention_hours,
            mode: meta.mode,
            encryption: meta.encryption,
            shard_level_metrics: meta.shard_level_metrics,
            shards,
        }
    }

    /// Describes a stream, its retained shards included.
    pub fn describe_stream(&self, name: &str) -> Result<StreamDescription> {
        let stream = self.stream(name)?;
        Ok(self.describe(&stream))
    }

    /// Names of all streams, sorted (streams a service owns are not listed).
    pub fn list_streams(&self) -> Result<Vec<String>> {
        self.check_open()?;
        Ok(read(&self.inner.streams)
            .keys()
            .filter(|k| !validate::is_owned(k))
            .cloned()
            .collect())
    }

    /// Tags of a stream.
    pub fn list_tags(&self, name: &str) -> Result<BTreeMap<String, String>> {
        Ok(read(&self.stream(name)?.meta).tags.clone())
    }

    fn update_meta(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamRecord) -> Result<()>,
    ) -> Result<()> {
        let stream = self.stream(name)?;
        let _admin = lock(&self.inner.admin);
        let mut meta = read(&stream.meta).clone();
        change(&mut meta)?;
        let mut batch = Batch::default();
        batch.put(&stream_key(name), &meta)?;
        self.inner.catalog.write(batch)?;
        *write(&stream.meta) = meta;
        Ok(())
    }

    /// Adds or overwrites tags (at most 50 per stream, as AWS allows).
    pub fn add_tags(&self, name: &str, tags: BTreeMap<String, String>) -> Result<()> {
        self.update_meta(name, |m| {
            let mut merged = m.tags.clone();
            merged.extend(tags);
            if merged.len() > 50 {
                return Err(Error::TagLimitExceeded {
                    stream: name.to_string(),
                    tags: merged.len(),
                    limit: 50,
                });
            }
            m.tags = merged;
            Ok(())
        })
    }

    /// Removes tags by key (absent keys are ignored).
    pub fn remove_tags(&self, name: &str, keys: &[String]) -> Result<()> {
        self.update_meta(name, |m| {
            for k in keys {
                m.tags.remove(k);
            }
            Ok(())
        })
    }

    /// Sets the retention period. `increase` selects the AWS rule of the calling action
    /// (IncreaseStreamRetentionPeriod refuses a smaller value, Decrease a larger one).
    pub fn set_retention(&self, name: &str, hours: u32, increase: bool) -> Result<()> {
        if !(MIN_RETENTION_HOURS..=MAX_RETENTION_HOURS).contains(&hours) {
            return Err(Error::RetentionOutOfRange {
                hours,
                min: MIN_RETENTION_HOURS,
                max: MAX_RETENTION_HOURS,
            });
        }
        self.update_meta(name, |m| {
            if increase && hours < m.retention_hours {
                return Err(Error::RetentionShorterThanCurrent {
                    stream: name.to_string(),
                    requested: hours,
                    current: m.retention_hours,
                });
            }
            if !increase && hours > m.retention_hours {
                return Err(Error::RetentionLongerThanCurrent {
                    stream: name.to_string(),
                    requested: hours,
                    current: m.retention_hours,
                });
            }
            m.retention_hours = hours;
            Ok(())
        })
    }

    /// Sets an owned stream's retention, 0 to [`MAX_RETENTION_HOURS`]: services keep
    /// data for less than Kinesis' shortest 24 hours (Kinesis Video: 0 to 23 hours), in
    /// either direction. A Kinesis stream's name is refused ([`Engine::set_retention`]
    /// keeps Kinesis' rules for those).
    pub fn set_owned_retention(&self, name: &str, hours: u32) -> Result<()> {
        if !validate::is_owned(name) || hours > MAX_RETENTION_HOURS {
            return Err(Error::RetentionOutOfRange {
                hours,
                min: if validate::is_owned(name) {
                    0
                } else {
                    MIN_RETENTION_HOURS
                },
                max: MAX_RETENTION_HOURS,
            });
        }
        self.update_meta(name, |m| {
            m.retention_hours = hours;
            Ok(())
        })
    }

    /// Switches between provisioned and on-demand capacity.
    pub fn set_stream_mode(&self, name: &str, mode: StreamMode) -> Result<()> {
        self.update_meta(name, |m| {
            m.mode = mode;
            Ok(())
        })
    }

    /// Records server-side encryption settings (`None` stops it).
    pub fn set_encryption(&self, name: &str, encryption: Option<Encryption>) -> Result<()> {
        self.update_meta(name, |m| {
            m.encryption = encryption;
            Ok(())
        })
    }

    /// Enables (`enable`) or disables shard-level metrics; returns (before, after).
    pub fn set_enhanced_monitoring(
        &self,
        name: &str,
        metrics: &[String],
        enable: bool,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let mut out = (Vec::new(), Vec::new());
        self.update_meta(name, |m| {
            out.0 = m.shard_level_metrics.clone();
            let all = SHARD_LEVEL_METRICS;
            let expanded: Vec<String> = if metrics.iter().any(|x| x == "ALL") {
                all.iter().map(|s| s.to_string()).collect()
            } else {
                metrics.to_vec()
            };
            let mut set: std::collections::BTreeSet<String> =
                m.shard_level_metrics.iter().cloned().collect();
            for x in expanded {
                if enable {
                    set.insert(x);
                } else {
                    set.remove(&x);
                }
            }
            m.shard_level_metrics = set.into_iter().collect();
            out.1 = m.shard_level_metrics.clone();
            Ok(())
        })?;
        Ok(out)
    }

    /// Fails with [`Error::ShardLimitExceeded`] when `additional` more open shards would
    /// pass the configured account limit.
    pub(crate) fn check_shard_limit(&self, additional: usize) -> Result<()> {
        let open = self.open_shard_count()?;
        let limit = self.inner.cfg.shard_limit;
        if open + additional > limit {
            return Err(Error::ShardLimitExceeded {
                open,
                requested: additional,
                limit,
            });
        }
        Ok(())
    }

    /// Number of open shards across all streams (streams a service owns do not count).
    pub fn open_shard_count(&self) -> Result<usize> {
        self.check_open()?;
        Ok(read(&self.inner.streams)
            .iter()
            .filter(|(name, _)| !validate::is_owned(name))
            .map(|(_, s)| read(&s.routing).open.len())
            .sum())
    }
}

pub(crate) fn describe_shard(rec: &ShardRecord) -> ShardDescription {
    ShardDescription {
        shard_id: shard_id(rec.index),
        index: rec.index,
        range: rec.range,
        parent_shard_id: rec.parent.map(shard_id),
        adjacent_parent_shard_id: rec.adjacent_parent.map(shard_id),
        starting_sequence_number: SequenceNumber::new(rec.index, 0),
        ending_sequence_number: rec
            .end_offset
            .map(|end| SequenceNumber::new(rec.index, end.max(1) - 1)),
        created_ms: rec.created_ms,
        closed_ms: rec.closed_ms,
    }
}
