//! A program under test (feature `program`): a binary started with the
//! variables a test gives it and nothing else, its output read line by
//! line, stopped with SIGTERM as a service manager stops it, each step
//! bounded in time.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use thorn_testkit::program::Program;
//! let mut program = Program::start("target/debug/my_service", &[("THORN_DISPATCHER", "default")])?;
//! assert_eq!(program.line().await?, "listening");
//! program.terminate()?;
//! let (ok, stderr) = program.exit().await?;
//! assert!(ok, "{stderr}");
//! # Ok(()) }
//! ```

use std::ffi::OsStr;
use std::io::{Error, ErrorKind, Result};
use std::process::Stdio;
use std::time::Duration;

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How long one step (a line, the exit) may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running program; killed if dropped before it exits. Its stderr is
/// read as it comes (so a chatty program never blocks on a full pipe) and
/// kept.
#[derive(Debug)]
pub struct Program {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Stderr>,
    drain: JoinHandle<()>,
}

/// The stderr lines read so far, and a signal for each new one.
#[derive(Debug, Default)]
struct Stderr {
    lines: Mutex<Vec<String>>,
    more: Notify,
}

impl Stderr {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads `from` into `to` until it ends; runs on the test's runtime.
async fn drain(mut from: Lines<BufReader<ChildStderr>>, to: Arc<Stderr>) {
    while let Ok(Some(line)) = from.next_line().await {
        to.lines().push(line);
        to.more.notify_waiters();
    }
    to.more.notify_waiters();
}

impl Program {
    /// Starts `path` with the variables `vars` only (the test's own
    /// environment is not passed on), stdout and stderr captured. Call it
    /// within a tokio runtime: a task of it reads stderr.
    pub fn start(path: impl AsRef<OsStr>, vars: &[(&str, &str)]) -> Result<Program> {
        Self::start_with(path, &[], vars)
    }

    /// Starts `path` with the arguments `args` and the variables `vars`
    /// only, as [`start`](Self::start) does.
    pub fn start_with(
        path: impl AsRef<OsStr>,
        args: &[&str],
        vars: &[(&str, &str)],
    ) -> Result<Program> {
        let mut child = Command::new(path)
            .args(args)
            .env_clear()
            .envs(vars.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::other("the program's stdout is not captured"))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::other("the program's stderr is not captured"))?;
        let kept = Arc::new(Stderr::default());
        let drain = tokio::spawn(drain(BufReader::new(stderr).lines(), Arc::clone(&kept)));
        Ok(Program {
            child,
            stdout: BufReader::new(stdout).lines(),
            stderr: kept,
            drain,
        })
    }

    /// The next line the program prints, within [`WAIT`].
    pub async fn line(&mut self) -> Result<String> {
        next_line(&mut self.stdout).await
    }

    /// Waits, within [`WAIT`], for a stderr line that contains `text`
    /// (looking from the first line on); that line.
    pub async fn stderr_until(&mut self, text: &str) -> Result<String> {
        let find = async {
            loop {
                let more = self.stderr.more.notified();
                if let Some(line) = self.stderr.lines().iter().find(|l| l.contains(text)) {
                    return Some(line.clone());
                }
                if self.drain.is_finished() {
                    return None;
                }
                more.await;
            }
        };
        let so_far = || self.stderr.lines().join("\n");
        match tokio::time::timeout(WAIT, find).await {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Error::new(
                ErrorKind::UnexpectedEof,
                format!("stderr ended before a line with {text:?}:\n{}", so_far()),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::TimedOut,
                format!(
                    "no line with {text:?} within the wait; stderr so far:\n{}",
                    so_far()
                ),
            )),
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) -> Result<()> {
        let id = self
            .child
            .id()
            .ok_or_else(|| Error::other("the program has already exited"))?;
        let pid = i32::try_from(id).map_err(Error::other)?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .map_err(Error::other)
    }

    /// Waits, within [`WAIT`], for the program to exit: whether it
    /// succeeded, and what it printed to stderr.
    pub async fn exit(mut self) -> Result<(bool, String)> {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::TimedOut,
                    "the program did not exit within the wait",
                )
            })??;
        // Whatever was still in the pipe.
        let _ = tokio::time::timeout(WAIT, &mut self.drain).await;
        let stderr = self.stderr.lines().join("\n");
        Ok((status.success(), stderr))
    }
}

/// The next line of `lines`, within [`WAIT`].
async fn next_line<R: AsyncBufRead + Unpin>(lines: &mut Lines<R>) -> Result<String> {
    match tokio::time::timeout(WAIT, lines.next_line()).await {
        Err(_) => Err(Error::new(ErrorKind::TimedOut, "no line within the wait")),
        Ok(Ok(Some(line))) => Ok(line),
        Ok(Ok(None)) => Err(Error::new(
            ErrorKind::UnexpectedEof,
            "the program's output ended",
        )),
        Ok(Err(e)) => Err(e),
    }
}
