//! The `export` command: payments, ledger entries or events over an
//! interval, as CSV or JSON lines, streamed from the replica (the read
//! policy: the primary when the replica is down or behind) to standard
//! output or a file, in flat memory, with its progress on standard error
//! when that is a terminal. Also what the HTTP CSV of an account's entries
//! is made of.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::AsyncWrite;

use crate::db::export::{Export, statement};
use crate::db::{self, Db};
use crate::domain::Currency;
use crate::error::{Error, Result};

/// The `COPY` statement of `export`, with the currencies its amounts are
/// in: the account's when it names one (which must exist), else every
/// account's.
pub async fn prepare(db: &Db, export: &Export) -> Result<String> {
    let currencies: Vec<Currency> = match export.account {
        Some(id) => {
            let account =
                db.read_one(|pool| db::accounts::get(pool, id)).await?.ok_or(Error::UnknownAccount(id))?;
            vec![account.currency]
        }
        None => db.read(db::export::currencies).await?,
    };
    Ok(statement(export, &currencies))
}

/// Runs `export` into `out`; returns the bytes written. The replica's
/// state is checked first, so a process that only exports does not start
/// on the primary by default.
pub async fn run<W>(db: &Db, export: &Export, out: &mut W) -> Result<u64>
where
    W: AsyncWrite + Unpin,
{
    db.replica_state().await;
    let statement = prepare(db, export).await?;
    db.read_copy(&statement, out).await
}

/// A standard writer (standard output, a file) as an async one, writing
/// in place: the command's runtime has nothing else to do meanwhile, and
/// the bytes come from PostgreSQL no faster than they are written.
pub struct Blocking<W>(pub W);

impl<W> std::fmt::Debug for Blocking<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Blocking")
    }
}

impl<W: Write + Unpin> AsyncWrite for Blocking<W> {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }
}

/// A writer that counts what goes through it and shows it on standard
/// error: lines (rows, but for line breaks inside CSV fields) and bytes,
/// redrawn in place at most a few times a second.
pub struct Progress<W> {
    inner: W,
    show: bool,
    bytes: u64,
    lines: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl<W> std::fmt::Debug for Progress<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("bytes", &self.bytes)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

const REDRAW: Duration = Duration::from_millis(250);

impl<W> Progress<W> {
    pub fn new(inner: W, show: bool) -> Self {
        Progress { inner, show, bytes: 0, lines: 0, started: Instant::now(), drawn: None }
    }

    /// Draws the line (write errors are ignored: progress is a courtesy).
    #[allow(clippy::print_stderr)]
    fn draw(&mut self, last: bool) {
        if !self.show || (!last && self.drawn.is_some_and(|at| at.elapsed() < REDRAW)) {
            return;
        }
        self.drawn = Some(Instant::now());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let mib = self.bytes as f64 / (1024.0 * 1024.0);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kexport: {} lines, {mib:.1} MiB, {:.1} MiB/s, {secs:.0} s{}",
            self.lines,
            mib / secs,
            if last { "\n" } else { "" }
        );
        let _ = err.flush();
    }

    /// Ends the progress line.
    pub fn finish(&mut self) {
        self.draw(true);
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Progress<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = polled {
            self.bytes += n as u64;
            self.lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
            self.draw(false);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
