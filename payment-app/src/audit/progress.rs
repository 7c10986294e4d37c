//! The audit's progress on standard error (standard output is the
//! report's): a bar redrawn in place on a terminal, a line per check in a
//! log, or nothing.

use std::io::Write;

use super::Mode;

/// Whether and how a run shows its progress, on standard error (standard
/// output is the report's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// A bar redrawn in place, for a terminal.
    Bar,
    /// A line per check, for a log.
    Lines,
}

/// The progress of a run on standard error: which check runs, of how many.
pub(super) struct Bar {
    how: Progress,
    mode: Mode,
    done: usize,
    total: usize,
}

impl Bar {
    pub(super) fn new(how: Progress, mode: Mode, total: usize) -> Self {
        Bar { how, mode, done: 0, total }
    }

    /// Says `name` starts. Write errors are ignored: progress is a courtesy.
    #[allow(clippy::print_stderr)]
    pub(super) fn step(&mut self, name: &str) {
        let mode = match self.mode {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
            Mode::Chain => "chain",
        };
        let mut err = std::io::stderr().lock();
        match self.how {
            Progress::Off => {}
            Progress::Lines => {
                let _ = writeln!(err, "audit ({mode}): {}/{} {name}", self.done + 1, self.total);
            }
            Progress::Bar => {
                const WIDTH: usize = 30;
                let filled = WIDTH * self.done / self.total.max(1);
                let _ = write!(
                    err,
                    "\r\x1b[2Kaudit ({mode}) [{}{}] {}/{} {name}",
                    "=".repeat(filled),
                    " ".repeat(WIDTH - filled),
                    self.done + 1,
                    self.total
                );
                let _ = err.flush();
            }
        }
        self.done += 1;
    }

    pub(super) fn finish(&mut self) {
        if self.how == Progress::Bar {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}
