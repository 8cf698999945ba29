//! A deadline for outbound calls, kept by the component itself.
//!
//! Spin gives a component no socket timeouts it can set through spin-sdk (its `http::send`
//! passes no `request-options`, and Spin's own defaults are 600 s per phase), so a model that
//! accepts the connection and then never answers would hold the request for ten minutes. The
//! component therefore races each outbound step against a `wasi:clocks/monotonic-clock`
//! pollable on spin-sdk's executor; when the deadline wins, the request's future is dropped,
//! which drops its `future-incoming-response` and makes the host abandon the request. This
//! works the same on Spin 3.x, 4.x, the SpinKube shim and the local host.

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::{select, Either};
use wasi::clocks::monotonic_clock;

#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// Monotonic-clock nanoseconds.
    at: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedOut;

impl Deadline {
    pub fn after(budget: Duration) -> Deadline {
        let nanos = u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX);
        Deadline {
            at: monotonic_clock::now().saturating_add(nanos),
        }
    }

    /// Runs `work` until it finishes or the deadline passes.
    pub async fn run<F: Future>(&self, work: F) -> Result<F::Output, TimedOut> {
        if monotonic_clock::now() >= self.at {
            return Err(TimedOut);
        }
        let work = pin!(work);
        let sleep = Sleep {
            at: self.at,
            registration: None,
        };
        match select(work, sleep).await {
            Either::Left((output, _)) => Ok(output),
            Either::Right(((), _)) => Err(TimedOut),
        }
    }
}

/// Ready once the monotonic clock reaches `at`.
struct Sleep {
    at: u64,
    /// Dropping it withdraws the pollable from the executor.
    registration: Option<spin_executor::CancelOnDropToken>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if monotonic_clock::now() >= self.at {
            self.registration = None;
            return Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.at);
        self.registration =
            Some(spin_executor::push_waker_and_get_token(pollable, cx.waker().clone()).into());
        Poll::Pending
    }
}
