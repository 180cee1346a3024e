//! Kinesis Video Streams on Freshet: the control plane (`/createStream`, ...), PutMedia
//! ingest of Matroska into the engine (one fragment per cluster, acknowledged once
//! durable), and playback: GetMedia, ListFragments, GetMediaForFragmentList, HLS
//! (fragmented MP4) and GetClip (MP4), H.264 without re-encoding.
//!
//! ```no_run
//! # fn main() -> Result<(), String> {
//! let engine = freshet_storage::Engine::open(freshet_storage::EngineConfig::new("data"))
//!     .map_err(|e| e.to_string())?;
//! let video = freshet_video::VideoService::open(engine, freshet_video::VideoConfig::default())?;
//! # let _ = video; Ok(()) }
//! ```

pub mod archive;
pub mod control;
pub mod ebml;
pub mod error;
pub mod fragment;
pub mod hls;
pub mod ingest;
pub mod media;
pub mod mkv;
pub mod mp4;
pub mod params;
pub mod persist;
pub mod service;
pub mod store;

pub use service::{VideoConfig, VideoService};
