//! `todo-host`: a minimal, faithful local Spin host. See `SPIN-HOST-CONTRACT.md`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use todo_host::{app, cron_trigger, http_trigger, inspect, pg, redis_trigger, routing, runtime};

#[derive(Parser)]
#[command(
    name = "todo-host",
    version,
    about = "Runs a Spin application (spin.toml) locally"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the application (like `spin up`).
    Up(UpArgs),
    /// Print the application as JSON, for scripts: its variables, the components with their
    /// triggers, variables, allowed outbound hosts and key-value labels, and the HTTP routes.
    /// Validates what `up` validates before it needs variable values, and fails the same way.
    Inspect(InspectArgs),
}

#[derive(clap::Args)]
struct InspectArgs {
    /// The application manifest.
    #[arg(
        short = 'f',
        long = "from",
        alias = "file",
        default_value = "spin.toml"
    )]
    manifest: PathBuf,
    /// Runtime configuration (key-value stores, variable providers).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Only these components (and the routes of their triggers), as with `up`.
    #[arg(short = 'c', long = "component-id")]
    component_id: Vec<String>,
    /// Also report what the HTTP trigger does with this request path (repeatable):
    /// `route_answers`.
    #[arg(long = "route", value_name = "PATH")]
    routes: Vec<String>,
    /// Also resolve the variables as `up` does (environment, `.env`, defaults; failing as `up`
    /// fails) and report the expanded allowed outbound hosts and, for every URL in the
    /// configuration, where it points and whether the component may connect there:
    /// `resolved`. Secret values are never printed.
    #[arg(long)]
    resolve: bool,
    /// Also say whether component ID may open URL (a PostgreSQL connection string, a
    /// `redis://` or `https://` URL ...), as the host would decide at run time (repeatable;
    /// implies --resolve): `connect_answers`. The URL itself is not printed.
    #[arg(long = "connect", value_name = "ID=URL")]
    connect: Vec<String>,
}

#[derive(clap::Args)]
struct UpArgs {
    /// The application manifest.
    #[arg(
        short = 'f',
        long = "from",
        alias = "file",
        default_value = "spin.toml"
    )]
    manifest: PathBuf,
    /// Runtime configuration (key-value stores, variable providers).
    #[arg(long)]
    runtime_config_file: Option<PathBuf>,
    /// Address the HTTP trigger listens on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: SocketAddr,
    /// Run only these components (and only the triggers that name them).
    #[arg(short = 'c', long = "component-id")]
    component_id: Vec<String>,
    #[command(flatten)]
    cache: runtime::CacheOptions,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TODO_HOST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("todo_host=info,warn")),
        )
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Up(args) => runtime.block_on(up(args)),
        Command::Inspect(args) => inspect(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct PathAnswer<'a> {
        path: &'a str,
        #[serde(flatten)]
        answer: inspect::RouteAnswer,
    }
    #[derive(serde::Serialize)]
    struct Report<'a> {
        #[serde(flatten)]
        app: &'a inspect::AppInfo,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        route_answers: Vec<PathAnswer<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resolved: Option<inspect::Resolved>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        connect_answers: Vec<inspect::ConnectAnswer>,
    }
    let info = inspect::describe(
        &args.manifest,
        args.runtime_config_file.as_deref(),
        &args.component_id,
    )?;
    let mut connect_answers = Vec::new();
    let resolved = if args.resolve || !args.connect.is_empty() {
        let env = |k: &str| std::env::var(k).ok();
        let app = app::load(&app::LoadOptions {
            manifest_path: &args.manifest,
            runtime_config: args.runtime_config_file.as_deref(),
            only_components: &args.component_id,
            env: &env,
        })?;
        for query in &args.connect {
            let (component, address) = query
                .split_once('=')
                .with_context(|| format!("--connect '{query}': expected ID=URL"))?;
            connect_answers.push(inspect::ConnectAnswer::new(&app, component, address)?);
        }
        Some(inspect::Resolved::new(&info, &app))
    } else {
        None
    };
    let report = Report {
        app: &info,
        route_answers: args
            .routes
            .iter()
            .map(|path| PathAnswer {
                path,
                answer: info.route(path),
            })
            .collect(),
        resolved,
        connect_answers,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

async fn up(args: UpArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    pg::ZeroRowQuery::from_env().map_err(anyhow::Error::msg)?;
    let env = |k: &str| std::env::var(k).ok();
    let app = app::load(&app::LoadOptions {
        manifest_path: &args.manifest,
        runtime_config: args.runtime_config_file.as_deref(),
        only_components: &args.component_id,
        env: &env,
    })?;

    let rt = tokio::task::block_in_place(|| runtime::Runtime::load(&app, &args.cache))?;
    let engine = rt.engine.clone();

    // HTTP trigger.
    let mut http_task = None;
    if !app.http_routes.is_empty() {
        let router = routing::Router::build(
            &app.http_base,
            app.http_routes
                .iter()
                .map(|r| (r.component.as_str(), r.route.as_str())),
        )?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let bound = listener.local_addr()?;
        let trigger = Arc::new(http_trigger::HttpTrigger::new(
            engine.clone(),
            router,
            &rt.components,
            bound,
            &app.http_base,
        )?);
        println!("Serving http://{bound}");
        println!("Available Routes:");
        for (route, component) in trigger.router().routes() {
            let (path, suffix) = match route.strip_suffix(" (wildcard)") {
                Some(p) => (p.to_string(), " (wildcard)"),
                None => (route.clone(), ""),
            };
            println!("  {component}: http://{bound}{path}{suffix}");
        }
        http_task = Some(tokio::spawn(trigger.serve(listener)));
    }

    // Redis trigger.
    let subscribers = redis_trigger::connect(&engine, &app.redis, &rt.components).await?;
    let mut redis_tasks = tokio::task::JoinSet::new();
    for s in subscribers {
        for (address, channel, components) in s.describe() {
            println!(
                "Subscribed to Redis channel '{channel}' at {address}: {}",
                components.join(", ")
            );
        }
        redis_tasks.spawn(s.run());
    }

    // Cron trigger.
    for job in &app.cron {
        let loaded = rt
            .components
            .get(&job.component)
            .with_context(|| format!("component '{}' is not loaded", job.component))?
            .clone();
        let runner = cron_trigger::CronRunner::new(&engine, job, loaded)?;
        println!("Cron schedule {}", runner.describe());
        tokio::spawn(runner.run());
    }

    println!(
        "todo-host: ready (application '{}', {} components, started in {} ms)",
        app.name,
        rt.components.len(),
        started.elapsed().as_millis()
    );

    let http_done = async {
        match http_task {
            Some(t) => t.await,
            None => std::future::pending().await,
        }
    };
    let redis_lost = async {
        match redis_tasks.join_next().await {
            Some(Ok(e)) => e,
            Some(Err(e)) => anyhow::anyhow!("Redis trigger task failed: {e}"),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = http_done => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.context("HTTP trigger stopped")),
            Err(e) => Err(anyhow::anyhow!("HTTP trigger task failed: {e}")),
        },
        e = redis_lost => Err(e),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("todo-host: interrupted, shutting down");
            Ok(())
        }
    }
}
