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

use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How long one step (a line, the exit) may take.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running program; killed if dropped before it exits.
#[derive(Debug)]
pub struct Program {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Lines<BufReader<ChildStderr>>,
    /// The stderr lines read so far.
    errors: Vec<String>,
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
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| Error::other("the program's stderr is not captured"))?;
        Ok(Program {
            child,
            stdout: BufReader::new(stdout).lines(),
            stderr: BufReader::new(stderr).lines(),
            errors: Vec::new(),
        })
    }

    /// The next line the program prints, within [`WAIT`].
    pub async fn line(&mut self) -> Result<String> {
        next_line(&mut self.stdout).await
    }

    /// Reads stderr, within [`WAIT`], up to the first line that contains
    /// `text`; that line. The lines read stay part of what
    /// [`exit`](Self::exit) returns.
    pub async fn stderr_until(&mut self, text: &str) -> Result<String> {
        loop {
            let line = next_line(&mut self.stderr).await.map_err(|e| {
                Error::new(
                    e.kind(),
                    format!(
                        "{e} before a line with {text:?}; stderr so far:\n{}",
                        self.errors.join("\n")
                    ),
                )
            })?;
            self.errors.push(line.clone());
            if line.contains(text) {
                return Ok(line);
            }
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
        while let Some(line) = self.stderr.next_line().await? {
            self.errors.push(line);
        }
        Ok((status.success(), self.errors.join("\n")))
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
