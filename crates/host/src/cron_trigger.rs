//! The cron trigger (Spin's `trigger-cron` plugin): six-field expressions, seconds first,
//! evaluated in UTC; a fresh instance per tick calling `handle-cron-event`.

use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::Engine;

use crate::app::CronJob;
use crate::bindings::cron_handler::{CronHandlerPre, Metadata};
use crate::runtime::{HostState, LoadedComponent};

/// Accepts exactly six fields (sec min hour day-of-month month day-of-week).
pub fn parse_schedule(expression: &str) -> Result<cron::Schedule, String> {
    let fields = expression.split_whitespace().count();
    if fields != 6 {
        return Err(format!(
            "cron expression '{expression}' has {fields} fields; expected 6 (seconds first)"
        ));
    }
    cron::Schedule::from_str(expression)
        .map_err(|e| format!("invalid cron expression '{expression}': {e}"))
}

pub struct CronRunner {
    job: CronJob,
    loaded: Arc<LoadedComponent>,
    pre: CronHandlerPre<HostState>,
    engine: Engine,
}

impl CronRunner {
    pub fn new(
        engine: &Engine,
        job: &CronJob,
        loaded: Arc<LoadedComponent>,
    ) -> anyhow::Result<Self> {
        let pre = CronHandlerPre::new(loaded.pre.clone())
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component '{}' has a cron trigger but does not export handle-cron-event (fermyon:spin-cron@2.0.0)",
                    job.component
                )
            })?;
        Ok(Self {
            job: job.clone(),
            loaded,
            pre,
            engine: engine.clone(),
        })
    }

    pub fn describe(&self) -> String {
        format!("{} -> {}", self.job.expression, self.job.component)
    }

    /// Runs forever; each tick in its own task (an overrunning tick does not delay the next).
    pub async fn run(self) {
        let this = Arc::new(self);
        loop {
            let now = chrono::Utc::now();
            let Some(next) = this.job.schedule.after(&now).next() else {
                tracing::warn!(
                    "cron schedule '{}' has no future ticks",
                    this.job.expression
                );
                return;
            };
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            let this2 = this.clone();
            let timestamp = u64::try_from(next.timestamp()).unwrap_or(0);
            tokio::spawn(async move {
                if let Err(e) = this2.tick(timestamp).await {
                    tracing::error!("cron component '{}' failed: {e:#}", this2.job.component);
                }
            });
        }
    }

    async fn tick(&self, timestamp: u64) -> anyhow::Result<()> {
        let mut store = self.loaded.new_store(&self.engine);
        let instance = self.pre.instantiate_async(&mut store).await?;
        match instance
            .call_handle_cron_event(&mut store, Metadata { timestamp })
            .await?
        {
            Ok(()) => Ok(()),
            Err(e) => anyhow::bail!("handler returned {e:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_seconds_first() {
        let s = parse_schedule("*/5 * * * * *").expect("valid");
        let base = chrono::DateTime::parse_from_rfc3339("2027-01-01T00:00:01Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let next = s.after(&base).next().unwrap();
        assert_eq!(next.to_rfc3339(), "2027-01-01T00:00:05+00:00");
        assert!(parse_schedule("* * * * *").is_err());
        assert!(parse_schedule("0 0 * * * * 2027").is_err());
        assert!(parse_schedule("nonsense x y z a b").is_err());
    }
}
