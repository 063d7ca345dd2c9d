//! Waiting for SIGINT or SIGTERM.

/// The stop signals, listened for from the moment this is made: a signal
/// that arrives before [`received`](Self::received) is awaited is not
/// lost.
pub(crate) struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    /// Starts listening.
    pub(crate) fn listen() -> Self {
        StopSignal {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok(),
        }
    }

    /// Returns when the process is asked to stop (Ctrl-C, or SIGTERM on
    /// Unix).
    pub(crate) async fn received(self) {
        #[cfg(unix)]
        if let Some(mut term) = self.term {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Returns when the process is asked to stop.
pub(crate) async fn stop_requested() {
    StopSignal::listen().received().await;
}
