//! Waiting for a state instead of for a time.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` every 200 ms until it returns `Ok`, or panics with its last complaint after
/// `timeout`. Tests wait for the state they assert on this way, never for a fixed time: on a
/// loaded machine the state arrives later, and the test is slower instead of failing.
pub async fn eventually<F, Fut, T>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(complaint) if Instant::now() > deadline => {
                panic!("timed out after {timeout:?} waiting for {what}: {complaint}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
