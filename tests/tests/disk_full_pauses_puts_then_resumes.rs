//! Disk full: a server on a 64 MiB tmpfs with a free-space watermark is filled through
//! boto3 puts until 503s come; every acknowledged record stays readable; once a filler
//! file is removed, puts resume by themselves. Skipped (with the reason printed) where
//! `mount -t tmpfs` is refused.

use std::path::{Path, PathBuf};
use std::process::Command;

use freshet_tests::python::run_resource_limits;
use freshet_tests::Server;

/// A tmpfs mounted on a temporary directory; unmounted on drop.
struct Tmpfs {
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = temp.path().join("mnt");
        std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir, _temp: temp })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn disk_full_pauses_puts_then_resumes() {
    let fs = match Tmpfs::mount("64m") {
        Ok(fs) => fs,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![7u8; 24 << 20]).unwrap_or_else(|e| panic!("filler: {e}"));
    let mut server = Server::start_in(
        &fs.path().join("data"),
        &[
            "--min-free-bytes",
            &(8u64 << 20).to_string(),
            "--segment-bytes",
            &(2u64 << 20).to_string(),
        ],
    );
    let filler_arg = filler.to_string_lossy().to_string();
    let out = run_resource_limits(&server, "diskfull", &[&filler_arg]);
    println!("{out}");
    assert!(server.stop(), "clean shutdown:\n{}", server.log());
}
