//! The benchmark `bench/realtime.sh` runs (`#[ignore]`: not part of the suite). Figures go to
//! stderr.

use std::time::{Duration, Instant};

use serde_json::json;
use todo_e2e::sse::{open_stream, sse_client, Item, Sse};
use todo_e2e::stats::{env_or, percentile};
use todo_e2e::{spawn_app_with, AppOptions, TestApp};

use crate::{start_fanout, topic_of, WAIT};

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "n={} p50={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(*samples.last().unwrap())
    )
}

/// (RSS in KiB, CPU ticks user+system) of a process, from /proc.
fn process_usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

/// API response -> SSE frame latency, sequentially: one `PUT` at a time, the next only after
/// its frame arrived.
async fn measure_latency(
    app: &TestApp,
    stream: &mut Sse,
    task_path: &str,
    events: usize,
    label: &str,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(events);
    let mut api = Vec::with_capacity(events);
    let mut from_request = Vec::with_capacity(events);
    for i in 0..events {
        let title = format!("{label} {i}");
        let sent = Instant::now();
        let response = app
            .put("alice", task_path, &json!({ "title": title }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
        let answered = Instant::now();
        let (_, _, data) = stream.next_event(WAIT).await;
        let received = Instant::now();
        assert_eq!(topic_of(&data), "task-updated");
        assert_eq!(data["data"]["title"], title.as_str());
        api.push(answered - sent);
        from_request.push(received - sent);
        latencies.push(received.saturating_duration_since(answered));
    }
    eprintln!("[{label}] API PUT round trip: {}", summary(api));
    eprintln!(
        "[{label}] request sent -> SSE frame received: {}",
        summary(from_request)
    );
    latencies
}

/// `bench/realtime.sh` runs this. Figures go to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with bench/realtime.sh"]
async fn bench_realtime_latency_and_idle_streams() {
    let events: usize = env_or("RT_BENCH_EVENTS", 1000);
    let idle_streams: usize = env_or("RT_BENCH_IDLE_STREAMS", 1000);
    let idle_seconds: u64 = env_or("RT_BENCH_IDLE_SECONDS", 30);
    let app = spawn_app_with(AppOptions {
        variables: vec![("sse_lifetime_seconds".into(), "1800".into())],
    })
    .await;
    let workers = start_fanout(&app).await;
    let client = sse_client();
    let mut stream = open_stream(&app, &client, "alice").await;
    let task = app.create_task("alice", json!({"title": "bench"})).await;
    stream.next_event(WAIT).await;
    let path = format!("/api/alice/tasks/{}", task["id"].as_str().unwrap());
    measure_latency(&app, &mut stream, &path, 20, "warm-up").await;

    let latencies = measure_latency(&app, &mut stream, &path, events, "latency").await;
    eprintln!(
        "RESULT latency API response -> SSE frame received: {}",
        summary(latencies)
    );

    // The idle streams go to a host of their own that runs only `realtime` (as it should be
    // deployed: every open stream holds a wasm instance, and a host process, like Spin, allows
    // 1,000 concurrent instances in all, so streams sharing a process with the API would
    // starve it).
    let sse_host = app.host_builder().component("realtime").spawn();
    let pid = sse_host.pid();
    let (rss_before, _) = process_usage(pid);
    let opening = Instant::now();
    let mut idle = Vec::new();
    let mut failure = None;
    'open: for batch in (0..idle_streams).collect::<Vec<_>>().chunks(50) {
        let opened = futures::future::join_all(batch.iter().map(|i| {
            let user = format!("idle-{}", i % 100);
            let request = client
                .get(format!("{}/api/sse/{user}", sse_host.base_url()))
                .bearer_auth(app.token(&user));
            async move { Sse::try_open(request).await }
        }))
        .await;
        for result in opened {
            match result {
                Ok(sse) => idle.push(sse),
                Err(e) => {
                    failure = Some(e);
                    break 'open;
                }
            }
        }
    }
    eprintln!(
        "opened {} idle streams in {:?}",
        idle.len(),
        opening.elapsed()
    );
    let report_failure = |what: &str, e: &str| {
        eprintln!("RESULT {what}: {e}");
        for line in sse_host
            .output()
            .lines()
            .filter(|l| l.contains("ERROR"))
            .take(2)
        {
            eprintln!("RESULT host log: {line}");
        }
    };
    if let Some(e) = &failure {
        report_failure(&format!("opening stream #{} failed", idle.len() + 1), e);
    } else {
        // One more than the streams: shows whether the instance limit is reached.
        let extra = client
            .get(format!("{}/api/sse/idle-0", sse_host.base_url()))
            .bearer_auth(app.token("idle-0"));
        match Sse::try_open(extra).await {
            Ok(sse) => {
                eprintln!("RESULT stream #{} opened too", idle.len() + 1);
                drop(sse);
            }
            Err(e) => report_failure(&format!("stream #{} refused", idle.len() + 1), &e),
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (rss_open, ticks_start) = process_usage(pid);
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_seconds)).await;
    let (rss_after, ticks_end) = process_usage(pid);
    let seconds = measured.elapsed().as_secs_f64();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let cpu = (ticks_end - ticks_start) as f64 / ticks_per_second / seconds * 100.0;
    eprintln!(
        "RESULT realtime-only host with {} idle open streams: RSS {} MiB (before opening {} MiB, after {:.0} s idle {} MiB), CPU {:.1} % of one core over {:.0} s idle",
        idle.len(),
        rss_open / 1024,
        rss_before / 1024,
        seconds,
        rss_after / 1024,
        cpu,
        seconds
    );

    let (mut open, mut with_keepalive) = (0, 0);
    for sse in idle.iter_mut() {
        let (mut ended, mut keepalive) = (false, false);
        while let Some(item) = sse.try_next_item() {
            match item {
                Item::Comment(_) => keepalive = true,
                Item::End => ended = true,
                _ => {}
            }
        }
        open += usize::from(!ended);
        with_keepalive += usize::from(keepalive);
    }
    eprintln!(
        "RESULT {open} of {} idle streams still open, {with_keepalive} received keep-alives",
        idle.len()
    );

    let under_load = measure_latency(&app, &mut stream, &path, 200, "with idle streams").await;
    eprintln!(
        "RESULT latency with {} idle streams open: {}",
        idle.len(),
        summary(under_load)
    );
    drop(idle);
    drop(sse_host);
    drop(workers);
    assert!(failure.is_none(), "{failure:?}");
}
