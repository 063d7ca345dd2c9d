//! A private PostgreSQL per test (feature `postgres`): `initdb` in a new
//! temporary directory, `postgres` on a free port of 127.0.0.1, stopped
//! and restarted at will, shut down and removed when dropped.
//!
//! The binaries are those of `$THORN_PG_BINDIR` if set, else of the
//! newest `/usr/lib/postgresql/*/bin`, else `initdb` and `postgres` on
//! `PATH`; without them the error says to install Debian's `postgresql`
//! package. Run as root, the server runs as the `postgres` user (which
//! that package makes), since PostgreSQL refuses to run as root.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use thorn_testkit::postgres_server::PostgresServer;
//! let pg = PostgresServer::start().await?;
//! println!("connect to {}", pg.url());
//! pg.restart().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

pub use crate::local::StartError;
use crate::local::{free_port, temp_dir};

/// How long a started server has to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A `postgres` process owned by a test, with the database `postgres` and
/// the superuser `postgres` (no password, loopback only).
pub struct PostgresServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    settings: Vec<String>,
    child: Mutex<Option<Child>>,
}

impl fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresServer")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("running", &self.is_running())
            .finish()
    }
}

impl PostgresServer {
    /// Makes a new cluster and starts it, waiting until it accepts
    /// connections. For speed it runs with `fsync=off`: a stop and a
    /// restart keep every commit, a machine crash would not.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(&[]).await
    }

    /// Like [`start`](Self::start), with more server settings as
    /// name/value pairs that override the defaults, such as
    /// `[("fsync", "on")]` for a benchmark.
    pub async fn start_with(settings: &[(&str, &str)]) -> Result<Self, StartError> {
        let settings: Vec<String> = settings
            .iter()
            .flat_map(|(k, v)| ["-c".to_owned(), format!("{k}={v}")])
            .collect();
        let bin = find_bindir()?;
        let as_postgres = is_root();
        let dir = temp_dir("postgres")?;
        let data = dir.join("data");
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
        }
        let mut initdb = user_command(as_postgres, &bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        ]);
        run(&mut initdb)?;
        let mut last = None;
        for _ in 0..5 {
            let port = free_port()?;
            let server = PostgresServer {
                port,
                dir: dir.clone(),
                bin: bin.clone(),
                as_postgres,
                settings: settings.clone(),
                child: Mutex::new(None),
            };
            match server.launch().await {
                Ok(()) => return Ok(server),
                Err(e) => {
                    last = Some(e);
                    // Dropping would remove the directory: keep it for the
                    // next port.
                    std::mem::forget(server);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or_else(|| StartError("postgres did not start".into())))
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the process is running (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.child_lock().is_some()
    }

    /// Shuts the server down (fast: sessions are ended, committed data is
    /// kept) and waits for it to exit. Does nothing if it is stopped.
    pub fn stop(&self) {
        if let Some(mut child) = self.child_lock().take() {
            signal(&child, nix::sys::signal::Signal::SIGINT);
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port with the same
    /// data, waiting until it accepts connections.
    pub async fn restart(&self) -> Result<(), StartError> {
        self.stop();
        let mut last = None;
        for _ in 0..20 {
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| StartError("postgres did not restart".into())))
    }

    async fn launch(&self) -> Result<(), StartError> {
        let log = self.dir.join("postgres.log");
        let _ = std::fs::remove_file(&log);
        let out = std::fs::File::create(&log)
            .map_err(|e| StartError(format!("cannot create {}: {e}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(|e| StartError(format!("cannot open {}: {e}", log.display())))?;
        let mut command = user_command(self.as_postgres, &self.bin.join("postgres"));
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
            .args(["-c", "max_connections=200"])
            .args(&self.settings)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let mut child = command
            .spawn()
            .map_err(|e| StartError(format!("cannot run {}: {e}", self.bin.display())))?;
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("ready to accept connections") {
                *self.child_lock() = Some(child);
                return Ok(());
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(StartError(format!(
                    "postgres on port {} exited with {status}: {}",
                    self.port,
                    text.trim()
                )));
            }
            if tokio::time::Instant::now() >= deadline {
                signal(&child, nix::sys::signal::Signal::SIGQUIT);
                let _ = child.wait();
                return Err(StartError(format!(
                    "postgres on port {} was not ready within {READY_TIMEOUT:?}: {}",
                    self.port,
                    text.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn child_lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child_lock().take() {
            // Immediate shutdown: the data goes with the directory.
            signal(&child, nix::sys::signal::Signal::SIGQUIT);
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn signal(child: &Child, signal: nix::sys::signal::Signal) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal);
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// `program`, run as the `postgres` user when `as_postgres` (the process
/// becomes the program: its pid is the server's).
fn user_command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--clear-groups",
            "--",
        ])
        .arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> Result<(), StartError> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| StartError(format!("cannot run {command:?}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(StartError(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn find_bindir() -> Result<PathBuf, StartError> {
    if let Some(dir) = std::env::var_os("THORN_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|d| d.join("initdb").is_file() && d.join("postgres").is_file())
        .ok_or_else(|| {
            StartError(
                "no PostgreSQL server binaries (initdb, postgres) found: install them \
                 (`apt-get install postgresql`) or set THORN_PG_BINDIR to their directory"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::PostgresServer;

    async fn accepts(port: u16) -> bool {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_restarts_and_stops() {
        let server = PostgresServer::start().await.unwrap();
        assert!(accepts(server.port()).await);
        server.restart().await.unwrap();
        assert!(accepts(server.port()).await);
        server.stop();
        assert!(!server.is_running());
        assert!(!accepts(server.port()).await);
    }
}
