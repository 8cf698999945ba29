//! The cron trigger (Spin's `trigger-cron` plugin): a fresh instance per tick calling
//! `handle-cron-event`.
//!
//! Schedules are parsed and evaluated exactly as the plugin does: it schedules with
//! `tokio-cron-scheduler` 0.13, which parses every expression with `croner` 2.1
//! (`Cron::new(expr).with_seconds_required().with_dom_and_dow().parse()`) and evaluates it in
//! UTC. So: six fields, seconds first (five or seven are refused); weekdays `0`-`7` with `0` and
//! `7` = Sunday and `1` = Monday, names `SUN`..`SAT` and `JAN`..`DEC` in any case; `?` = `*`;
//! `L` (last day of the month; `5L` = last Friday), `#` (`1#2` = second Monday) and `W`
//! (nearest weekday) accepted; `@hourly`, `@daily`, ... accepted; when neither day-of-month nor
//! day-of-week is `*`, both must match.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, DurationRound as _, Utc};
use wasmtime::Engine;

use crate::app::CronJob;
use crate::bindings::cron_handler::{CronHandlerPre, Metadata};
use crate::call_log::Invocation;
use crate::runtime::{HostState, LoadedComponent};

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
}

/// Parses `expression` with the options Spin's cron trigger uses; what it refuses makes
/// `spin up` fail to start, so it is a start-up error here too.
pub fn parse_schedule(expression: &str) -> Result<Schedule, String> {
    croner::Cron::new(expression)
        .with_seconds_required()
        .with_dom_and_dow()
        .parse()
        .map(|cron| Schedule { cron })
        .map_err(|e| {
            format!(
                "invalid cron expression '{expression}': {e} (Spin's cron trigger takes six \
                 fields, seconds first, e.g. \"*/5 * * * * *\")"
            )
        })
}

impl Schedule {
    /// The first tick strictly after `instant` (whole seconds, UTC), as the plugin's scheduler
    /// computes each next tick (`iter_after(now)`).
    pub fn next_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let whole_second = instant
            .duration_trunc(chrono::TimeDelta::seconds(1))
            .unwrap_or(instant);
        self.cron.find_next_occurrence(&whole_second, false).ok()
    }
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
    /// The tick's `timestamp` is its scheduled second (the plugin reads the clock when its
    /// scheduler, which polls every 500 ms, starts the job: the same second or a little later).
    pub async fn run(self) {
        let this = Arc::new(self);
        let mut last_tick: Option<DateTime<Utc>> = None;
        loop {
            let now = Utc::now();
            // Never the same tick twice, even if the wall clock is seen a little behind the
            // timer that woke us.
            let from = last_tick.map_or(now, |last| last.max(now));
            let Some(next) = this.job.schedule.next_after(from) else {
                tracing::warn!(
                    "cron schedule '{}' has no future ticks",
                    this.job.expression
                );
                return;
            };
            let wait = (next - now).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            last_tick = Some(next);
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
        let result = async {
            let instance = self.pre.instantiate_async(&mut store).await?;
            match instance
                .call_handle_cron_event(&mut store, Metadata { timestamp })
                .await?
            {
                Ok(()) => Ok(()),
                Err(e) => anyhow::bail!("handler returned {e:?}"),
            }
        }
        .await;
        if let (Some(log), Some(calls)) =
            (&self.loaded.runtime.call_log, store.data_mut().take_calls())
        {
            let invocation = Invocation::Cron {
                schedule: &self.job.expression,
                ok: result.is_ok(),
            };
            log.write(self.loaded.id(), &invocation, &calls);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .with_timezone(&Utc)
    }

    /// 2027-01-01 is a Friday.
    const FROM: &str = "2027-01-01T10:30:15.400Z";

    #[test]
    fn next_fire_times_as_spins_cron_trigger_computes_them() {
        let table = [
            ("*/5 * * * * *", "2027-01-01T10:30:20Z"),
            ("* * * * * *", "2027-01-01T10:30:16Z"),
            ("0 */15 * * * *", "2027-01-01T10:45:00Z"),
            ("30 10-12/2 * * * *", "2027-01-01T11:10:30Z"),
            ("0,20,40 31 10 * * *", "2027-01-01T10:31:00Z"),
            // Weekdays: 1 = Monday, 0 and 7 = Sunday (the `cron` crate reads 1 as Sunday).
            ("0 0 9 * * 1", "2027-01-04T09:00:00Z"),
            ("0 0 9 * * 0", "2027-01-03T09:00:00Z"),
            ("0 0 9 * * 7", "2027-01-03T09:00:00Z"),
            ("0 0 9 * * 6", "2027-01-02T09:00:00Z"),
            ("0 0 12 * * 5", "2027-01-01T12:00:00Z"),
            ("0 0 9 * * MON", "2027-01-04T09:00:00Z"),
            ("0 0 9 * * sun", "2027-01-03T09:00:00Z"),
            ("0 0 9 * * Sat", "2027-01-02T09:00:00Z"),
            ("0 0 9 * * MON-FRI", "2027-01-04T09:00:00Z"),
            ("0 0 9 * * 1-5", "2027-01-04T09:00:00Z"),
            ("0 0 8 * * SAT,SUN", "2027-01-02T08:00:00Z"),
            ("0 0 8 * * SAT-SUN", "2027-01-02T08:00:00Z"),
            ("0 0 8 * * 6-7", "2027-01-02T08:00:00Z"),
            ("0 0 12 * * 5-7", "2027-01-01T12:00:00Z"),
            ("0 0 9 * * */2", "2027-01-02T09:00:00Z"),
            ("0 0 9 ? * MON", "2027-01-04T09:00:00Z"),
            // Day of month, months, names.
            ("0 0 0 1 * *", "2027-02-01T00:00:00Z"),
            ("0 0 9 1 FEB *", "2027-02-01T09:00:00Z"),
            ("0 0 9 1 jul *", "2027-07-01T09:00:00Z"),
            ("0 0 9 29 2 *", "2028-02-29T09:00:00Z"),
            // Day of month AND day of week: the next Friday the 13th.
            ("0 0 9 13 * FRI", "2027-08-13T09:00:00Z"),
            // L, #, W.
            ("0 0 0 L * *", "2027-01-31T00:00:00Z"),
            ("0 0 0 L 2 *", "2027-02-28T00:00:00Z"),
            ("0 0 9 * * 5L", "2027-01-29T09:00:00Z"),
            ("0 0 9 * * FRIL", "2027-01-29T09:00:00Z"),
            ("0 0 9 * * 1#2", "2027-01-11T09:00:00Z"),
            ("0 0 9 * * MON#1", "2027-01-04T09:00:00Z"),
            ("0 0 9 16W * *", "2027-01-15T09:00:00Z"),
            // Nicknames (seconds prepended).
            ("@hourly", "2027-01-01T11:00:00Z"),
            ("@daily", "2027-01-02T00:00:00Z"),
            ("@weekly", "2027-01-03T00:00:00Z"),
            ("@monthly", "2027-02-01T00:00:00Z"),
        ];
        let from = utc(FROM);
        let mut wrong = Vec::new();
        for (expression, expected) in table {
            let schedule = parse_schedule(expression).unwrap_or_else(|e| panic!("{e}"));
            let next = schedule.next_after(from).map(|t| t.to_rfc3339());
            if next.as_deref() != Some(&utc(expected).to_rfc3339()) {
                wrong.push(format!("{expression}: expected {expected}, got {next:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn ticks_are_strictly_after_the_instant_and_in_whole_seconds() {
        let every_second = parse_schedule("* * * * * *").unwrap();
        let at_a_tick = utc("2027-01-01T10:30:15Z");
        assert_eq!(
            every_second.next_after(at_a_tick),
            Some(utc("2027-01-01T10:30:16Z"))
        );
        let weekly = parse_schedule("0 0 9 * * MON").unwrap();
        let mut t = utc(FROM);
        let mut ticks = Vec::new();
        for _ in 0..3 {
            t = weekly.next_after(t).unwrap();
            ticks.push(t.to_rfc3339());
        }
        assert_eq!(
            ticks,
            [
                "2027-01-04T09:00:00+00:00",
                "2027-01-11T09:00:00+00:00",
                "2027-01-18T09:00:00+00:00"
            ]
        );
    }

    #[test]
    fn expressions_spin_refuses() {
        for expression in [
            "",
            "* * * * *",
            "0 0 0 * * * 2027",
            "60 * * * * *",
            "0 60 * * * *",
            "0 0 24 * * *",
            "0 0 0 0 * *",
            "0 0 0 32 * *",
            "0 0 0 * 0 *",
            "0 0 0 * 13 *",
            "0 0 9 * * 8",
            "0 0 9 * * 1#6",
            "0 0 9 * * 1#0",
            "0 5L * * * *",
            "0 0 9 * * MONDAY",
            "nonsense x y z a b",
        ] {
            let result = parse_schedule(expression);
            assert!(
                result.is_err(),
                "'{expression}' must be refused: {result:?}"
            );
        }
        let message = parse_schedule("* * * * *").unwrap_err();
        assert!(message.contains("seconds"), "{message}");
    }
}
