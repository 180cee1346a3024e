//! A real PostgreSQL server for the tests (the Redshift destination loads into it): a
//! fresh cluster in a temporary directory, listening on 127.0.0.1 on a free port and on
//! a Unix socket inside that directory, with `fsync=on` and a password role the
//! delivery stream's configuration can carry as AWS's does:
//!
//! ```no_run
//! let pg = freshet_tests::postgres::Postgres::start();
//! pg.psql("CREATE TABLE events (id int NOT NULL, name text)");
//! let destination = pg.redshift_destination("events", "JSON 'auto'"); // ClusterJDBCURL, Username, Password, CopyCommand
//! pg.restart(); // an immediate stop (as a crash) and a start on the same port
//! assert_eq!(pg.psql("SELECT count(*) FROM events"), "0");
//! ```
//!
//! The binaries come from `/usr/lib/postgresql/<highest version>/bin` (Debian's
//! `postgresql` package; `scripts/prereqs.sh` installs it), else from `PATH`. PostgreSQL
//! refuses to run as root, so under root the server runs as the `postgres` user.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The role the tests (and delivery streams) connect as, over TCP with a password.
pub const USER: &str = "freshet";
/// Its password.
pub const PASSWORD: &str = "freshet-pg-password";
/// The database it owns (where `psql` runs).
pub const DATABASE: &str = "freshet";
/// The cluster's superuser (Unix socket, trust).
pub const SUPERUSER: &str = "postgres";

/// How long a start (recovery included) may take.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How many free ports to try when another process takes the one picked.
const PORT_ATTEMPTS: usize = 5;

/// A running PostgreSQL cluster. Stopped (immediately) on drop, its directory removed.
#[derive(Debug)]
pub struct Postgres {
    /// Its TCP port on 127.0.0.1 (kept across [`Postgres::restart`]).
    pub port: u16,
    /// The temporary directory holding the data directory (`data`), the socket
    /// directory (`sock`) and the server's log (`postgres.log`).
    pub dir: TempDir,
    bin: PathBuf,
    /// `Some("postgres")` when we are root: the server runs as that user.
    run_as: Option<String>,
}

/// The directory of PostgreSQL's server binaries (`initdb`, `pg_ctl`): the highest
/// version under `/usr/lib/postgresql/*/bin`, else where `initdb` is on `PATH`.
pub fn bin_dir() -> PathBuf {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(|p| p.parse().ok())
                .collect::<Option<_>>()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
            return dir;
        }
    }
    panic!(
        "PostgreSQL's initdb was found neither under /usr/lib/postgresql/*/bin nor on PATH: \
         run scripts/prereqs.sh (apt-get install postgresql postgresql-client)"
    );
}

/// `psql`: next to the server binaries, else on `PATH`.
fn psql_binary(bin: &Path) -> PathBuf {
    let beside = bin.join("psql");
    if beside.is_file() {
        beside
    } else {
        PathBuf::from("psql")
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `id -u USER` and `id -g USER`.
fn user_ids(user: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, user])
            .output()
            .unwrap_or_else(|e| panic!("id {flag} {user}: {e}"));
        assert!(
            out.status.success(),
            "there is no user {user} to run PostgreSQL as (PostgreSQL refuses to run as \
             root; Debian's postgresql package creates the user)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("id {flag} {user}: {e}"))
    };
    (id("-u"), id("-g"))
}

/// A directory every user may pass through (all its ancestors `o+x`), for a data
/// directory another user owns: the temporary directory if it is one, else `/tmp`.
fn traversable_temp_base() -> PathBuf {
    let base = std::env::temp_dir();
    let traversable = base.ancestors().all(|d| {
        std::fs::metadata(d)
            .map(|m| m.permissions().mode() & 0o001 != 0)
            .unwrap_or(false)
    });
    if traversable {
        base
    } else {
        PathBuf::from("/tmp")
    }
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("local_addr: {e}"))
        .port()
}

impl Postgres {
    /// Creates a cluster in a new temporary directory, starts it on a free port, and
    /// creates the role [`USER`] (password [`PASSWORD`]) owning the database
    /// [`DATABASE`].
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let run_as = is_root().then(|| SUPERUSER.to_string());
        let dir = tempfile::Builder::new()
            .prefix("freshet-pg-")
            .tempdir_in(traversable_temp_base())
            .unwrap_or_else(|e| panic!("tempdir: {e}"));
        let sock = dir.path().join("sock");
        std::fs::create_dir(&sock).unwrap_or_else(|e| panic!("mkdir {}: {e}", sock.display()));
        if let Some(user) = &run_as {
            let (uid, gid) = user_ids(user);
            for d in [dir.path(), sock.as_path()] {
                std::os::unix::fs::chown(d, Some(uid), Some(gid))
                    .unwrap_or_else(|e| panic!("chown {}: {e}", d.display()));
            }
        }
        let mut pg = Postgres {
            port: 0,
            dir,
            bin,
            run_as,
        };
        let data = pg.data_dir();
        pg.run_checked(
            pg.command(&pg.bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"])
                .args(["--auth-local=trust", "--auth-host=scram-sha-256"]),
            "initdb",
        );
        let conf = format!(
            "\n# Freshet tests\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = on\npassword_encryption = 'scram-sha-256'\n",
            pg.socket_dir().display()
        );
        pg.append_conf(&conf);
        let mut attempts = 0;
        loop {
            attempts += 1;
            pg.port = free_port();
            pg.append_conf(&format!("port = {}\n", pg.port));
            match pg.try_start() {
                Ok(()) => break,
                Err(log) if attempts < PORT_ATTEMPTS && log.contains("could not bind") => continue,
                Err(log) => panic!("PostgreSQL did not start:\n{log}"),
            }
        }
        pg.psql_as(
            SUPERUSER,
            "postgres",
            &format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"),
        );
        pg.psql_as(
            SUPERUSER,
            "postgres",
            &format!("CREATE DATABASE {DATABASE} OWNER {USER}"),
        );
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn append_conf(&self, text: &str) {
        use std::io::Write;
        let path = self.data_dir().join("postgresql.conf");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        f.write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }

    /// `program` run as the server's user, in the temporary directory.
    fn command(&self, program: &Path) -> Command {
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(self.dir.path()).stdin(Stdio::null());
        cmd
    }

    fn run_checked(&self, cmd: &mut Command, what: &str) -> Output {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
        assert!(
            out.status.success(),
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `pg_ctl start`, waiting (bounded) until the server accepts connections; on
    /// failure, the log.
    fn try_start(&self) -> Result<(), String> {
        let timeout = START_TIMEOUT.as_secs().to_string();
        let out = self
            .command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", &timeout, "start"])
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log()
            ));
        }
        // pg_ctl waited for the server to be ready; make sure TCP answers too.
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        while std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "PostgreSQL does not answer on {addr}:\n{}",
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Starts the (stopped) server again on its port, waiting until it is ready
    /// (crash recovery included).
    pub fn start_again(&self) {
        if let Err(log) = self.try_start() {
            panic!("PostgreSQL did not start again:\n{log}");
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`: no checkpoint, the next
    /// start recovers from the WAL, as after a crash). Connections break.
    pub fn stop(&self) {
        let _ = self
            .command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// [`Postgres::stop`] then [`Postgres::start_again`].
    pub fn restart(&self) {
        self.stop();
        self.start_again();
    }

    /// `postgresql://freshet:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// `jdbc:postgresql://127.0.0.1:PORT/freshet` (a `ClusterJDBCURL`).
    pub fn jdbc_url(&self) -> String {
        format!("jdbc:postgresql://127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// A `RedshiftDestinationConfiguration` loading into `table` of [`DATABASE`] with
    /// `copy_options` (none when empty), with this server's URL and credentials and a
    /// placeholder role; the caller adds `S3Configuration`.
    pub fn redshift_destination(&self, table: &str, copy_options: &str) -> serde_json::Value {
        let mut copy = serde_json::json!({ "DataTableName": table });
        if !copy_options.is_empty() {
            copy["CopyOptions"] = serde_json::Value::from(copy_options);
        }
        serde_json::json!({
            "RoleARN": "arn:aws:iam::123456789012:role/firehose-redshift",
            "ClusterJDBCURL": self.jdbc_url(),
            "Username": USER,
            "Password": PASSWORD,
            "CopyCommand": copy,
        })
    }

    /// Runs `sql` with `psql` as [`USER`] in [`DATABASE`] (over the Unix socket) and
    /// returns its output unaligned, without headers, the trailing newline trimmed.
    /// Panics when the SQL fails.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_as(USER, DATABASE, sql)
    }

    /// [`Postgres::psql`] as the superuser, in `db`.
    pub fn psql_superuser(&self, db: &str, sql: &str) -> String {
        self.psql_as(SUPERUSER, db, sql)
    }

    fn psql_as(&self, user: &str, db: &str, sql: &str) -> String {
        let out = Command::new(psql_binary(&self.bin))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .arg("-h")
            .arg(self.socket_dir())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                user,
                "-d",
                db,
                "-c",
                sql,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run psql: {e}"));
        assert!(
            out.status.success(),
            "psql failed on {sql:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
