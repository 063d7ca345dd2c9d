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

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How long one step (a line, the exit) may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running program; killed if dropped before it exits.
#[derive(Debug)]
pub struct Program {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Program {
    /// Starts `path` with the variables `vars` only (the test's own
    /// environment is not passed on), stdout and stderr captured.
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
        Ok(Program {
            child,
            stdout: BufReader::new(stdout).lines(),
        })
    }

    /// The next line the program prints, within [`WAIT`].
    pub async fn line(&mut self) -> Result<String> {
        match tokio::time::timeout(WAIT, self.stdout.next_line()).await {
            Err(_) => Err(Error::new(ErrorKind::TimedOut, "no line within the wait")),
            Ok(Ok(Some(line))) => Ok(line),
            Ok(Ok(None)) => Err(Error::new(
                ErrorKind::UnexpectedEof,
                "the program's output ended",
            )),
            Ok(Err(e)) => Err(e),
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
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            err.read_to_string(&mut stderr).await?;
        }
        Ok((status.success(), stderr))
    }
}
