//! boto3's `kinesisvideo`, `kinesis-video-media` and `kinesis-video-archived-media`
//! clients and the AWS CLI, unchanged, drive Kinesis Video on a real `freshet serve`:
//! the control plane and its AWS errors, real H.264 from ffmpeg sent with PutMedia and
//! played back frame for frame (ffprobe) through GetMedia's every start selector,
//! ListFragments and GetMediaForFragmentList, bad Matroska (4006), timecodes going back
//! (4004), a producer stopping mid-fragment, no retention; and after a restart the
//! fragments all play back again (`tests/python/video_streams.py`).

use std::time::Instant;

use freshet_tests::python;

#[test]
fn boto3_and_awscli_drive_kinesis_video_and_every_frame_comes_back() {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let data = work.path().join("data");
    let aws = python::venv().join("bin").join("aws");
    let aws = aws.to_string_lossy().into_owned();
    python::run_script_across_restart(&data, &[], "video_streams.py", |endpoint, restarted| {
        let mode = if restarted { "restarted" } else { "main" };
        vec![mode.into(), endpoint, aws.clone()]
    });
    eprintln!("video_streams took {:.1?}", started.elapsed());
}
