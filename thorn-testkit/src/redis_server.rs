//! A private `redis-server` per test: its own port on 127.0.0.1, its own
//! data directory, stopped and removed when dropped.
//!
//! The server writes an append-only file fsynced on every write
//! (`appendonly yes`, `appendfsync always`), so [`RedisServer::restart`]
//! comes back with every write it acknowledged.
//!
//! ```no_run
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use thorn_testkit::redis_server::RedisServer;
//! let redis = RedisServer::start().await?;
//! println!("connect to {}", redis.url());
//! redis.restart().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a started server has to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::local::StartError;
use crate::local::{free_port, temp_dir};

/// A `redis-server` process owned by a test. Killed, and its data directory
/// removed, on drop.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    binary: PathBuf,
    extra: Vec<String>,
    child: Mutex<Option<Child>>,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("dir", &self.dir)
            .field("running", &self.is_running())
            .finish()
    }
}

impl RedisServer {
    /// Starts a server on a free port of 127.0.0.1 in a new temporary
    /// directory, and waits until it answers `PING`.
    ///
    /// The binary is `$THORN_REDIS_SERVER` if set, else `redis-server` from
    /// `PATH`; when there is none the error says how to install it.
    pub async fn start() -> Result<Self, StartError> {
        Self::start_with(&[]).await
    }

    /// Like [`start`](Self::start), with more `redis-server` settings as
    /// name/value pairs that override the defaults, such as
    /// `[("appendfsync", "everysec")]` for a benchmark.
    pub async fn start_with(settings: &[(&str, &str)]) -> Result<Self, StartError> {
        let extra: Vec<String> = settings
            .iter()
            .flat_map(|(k, v)| [format!("--{k}"), (*v).to_owned()])
            .collect();
        let binary = find_binary()?;
        let dir = temp_dir("redis")?;
        let mut last = None;
        // A free port can be taken by someone else between the probe and
        // the server's bind: try a few.
        for _ in 0..5 {
            let port = free_port()?;
            match launch(&binary, &dir, port, &extra).await {
                Ok(child) => {
                    return Ok(RedisServer {
                        port,
                        dir,
                        binary,
                        extra,
                        child: Mutex::new(Some(child)),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last.unwrap_or_else(|| StartError("redis-server did not start".into())))
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the process is running (as far as this handle knows).
    pub fn is_running(&self) -> bool {
        self.child_lock().is_some()
    }

    /// Kills the server (as a crash would; acknowledged writes are on disk)
    /// and waits for it to exit. Does nothing if it is stopped.
    pub fn stop(&self) {
        if let Some(mut child) = self.take_child() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts it again on the same port with the same
    /// data, waiting until it answers `PING`.
    pub async fn restart(&self) -> Result<(), StartError> {
        self.stop();
        let mut last = None;
        // The old socket may linger for a moment after the kill.
        for _ in 0..20 {
            match launch(&self.binary, &self.dir, self.port, &self.extra).await {
                Ok(child) => {
                    *self.child_lock() = Some(child);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(last.unwrap_or_else(|| StartError("redis-server did not restart".into())))
    }

    fn child_lock(&self) -> std::sync::MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_child(&self) -> Option<Child> {
        self.child_lock().take()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn launch(
    binary: &Path,
    dir: &Path,
    port: u16,
    extra: &[String],
) -> Result<Child, StartError> {
    let port_arg = port.to_string();
    let mut child = Command::new(binary)
        .args(["--port", &port_arg, "--bind", "127.0.0.1", "--dir"])
        .arg(dir)
        .args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--logfile",
            "redis.log",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| StartError(format!("cannot run {}: {e}", binary.display())))?;
    let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(StartError(format!(
                "redis-server on port {port} exited with {status}; see {}",
                dir.join("redis.log").display()
            )));
        }
        // The server on the port must be this child: another test's
        // server may have taken the port between the probe and the bind.
        match served_by(port).await {
            Some(pid) if pid == child.id() => return Ok(child),
            Some(other) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(StartError(format!(
                    "port {port} is served by another redis-server (pid {other})"
                )));
            }
            None => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StartError(format!(
                "redis-server on port {port} did not answer PING within {READY_TIMEOUT:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The process id of the redis-server answering on `port`, once it
/// answers.
async fn served_by(port: u16) -> Option<u32> {
    let attempt = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(b"INFO server\r\n").await?;
        let mut reply = Vec::new();
        let mut buf = [0u8; 4096];
        // A bulk string: read until the field is in or the reply ends.
        loop {
            let n = stream.read(&mut buf).await?;
            reply.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&reply);
            if let Some(pid) = text
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                return Ok::<Option<u32>, io::Error>(Some(pid));
            }
            if n == 0 || text.starts_with('-') || reply.len() > 64 * 1024 {
                return Ok(None);
            }
        }
    };
    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
        Ok(Ok(pid)) => pid,
        _ => None,
    }
}

fn find_binary() -> Result<PathBuf, StartError> {
    if let Some(p) = std::env::var_os("THORN_REDIS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            StartError(
                "no redis-server found on PATH: install it (`apt-get install redis-server`) \
                 or set THORN_REDIS_SERVER to its path"
                    .into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::{RedisServer, served_by};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn starts_restarts_and_stops() {
        let server = RedisServer::start().await.unwrap();
        let first = served_by(server.port()).await;
        assert!(first.is_some());
        server.restart().await.unwrap();
        let second = served_by(server.port()).await;
        assert!(second.is_some() && second != first, "a new process");
        server.stop();
        assert!(!server.is_running());
        assert_eq!(served_by(server.port()).await, None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_port_served_by_another_server_is_not_taken_for_ours() {
        let theirs = RedisServer::start().await.unwrap();
        let binary = super::find_binary().unwrap();
        let dir = super::temp_dir("redis").unwrap();
        let refused = super::launch(&binary, &dir, theirs.port(), &[]).await;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(refused.is_err(), "launched on a taken port");
    }
}
