//! The wasmtime side: engine (pooling allocator, wasmtime's compilation cache configured as
//! `spin up` configures it), one linker with every host interface, pre-instantiation, and the
//! per-instance store state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{App, ComponentConfig};
use crate::call_log::{CallLog, HostCalls};
use crate::key_value::KvStores;
use crate::outbound_http::OutboundHttpHooks;
use crate::pg::PgPools;
use crate::stdio::LogStream;

/// Shared, per-component state that outlives instances (pools, resolved config).
pub struct ComponentRuntime {
    pub config: ComponentConfig,
    pub pg_pools: PgPools,
    pub kv: Arc<KvStores>,
    /// Where host-call records go; `None` (the default) means no accounting at all.
    pub call_log: Option<Arc<CallLog>>,
}

/// The `T` of every `Store<T>`: one per instance.
pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHttpHooks,
    pub table: ResourceTable,
    pub component: Arc<ComponentRuntime>,
    /// This instance's host-call counters, present only when the call log is on.
    pub calls: Option<Box<HostCalls>>,
}

impl HostState {
    /// Counts one host call with the `((values, bytes) in, (values, bytes) out)` that `io`
    /// measures; when the call log is off, `io` is not even called.
    pub fn count_call(
        &mut self,
        interface: &'static str,
        method: &'static str,
        io: impl FnOnce() -> ((usize, usize), (usize, usize)),
    ) {
        if let Some(calls) = self.calls.as_mut() {
            let ((values_in, bytes_in), (values_out, bytes_out)) = io();
            calls
                .call(interface, method)
                .values_in(values_in, bytes_in)
                .values_out(values_out, bytes_out);
        }
    }

    /// The instance's host-call counters (outgoing HTTP included), for its record.
    pub fn take_calls(&mut self) -> Option<HostCalls> {
        let mut calls = *self.calls.take()?;
        for _ in 0..self.hooks.take_request_count() {
            calls.call(crate::call_log::OUTBOUND_HTTP, "send");
        }
        Some(calls)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// A compiled, pre-instantiated component plus its shared state.
pub struct LoadedComponent {
    pub runtime: Arc<ComponentRuntime>,
    pub pre: InstancePre<HostState>,
}

impl LoadedComponent {
    pub fn id(&self) -> &str {
        &self.runtime.config.id
    }

    /// A fresh store for one instance.
    pub fn new_store(&self, engine: &Engine) -> Store<HostState> {
        let cfg = &self.runtime.config;
        let mut wasi = WasiCtx::builder();
        wasi.stdout(LogStream::new())
            .stderr(LogStream::new())
            .envs(&cfg.environment);
        Store::new(
            engine,
            HostState {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                hooks: OutboundHttpHooks::new(self.runtime.clone()),
                table: ResourceTable::new(),
                component: self.runtime.clone(),
                calls: self.runtime.call_log.as_ref().map(|_| Box::default()),
            },
        )
    }
}

pub struct Runtime {
    pub engine: Engine,
    pub components: HashMap<String, Arc<LoadedComponent>>,
}

/// Concurrent instances the pooling allocator holds: `SPIN_WASMTIME_INSTANCE_COUNT` (the
/// variable Spin reads for the same limit), default 1000 like Spin.
fn instance_count() -> u32 {
    std::env::var("SPIN_WASMTIME_INSTANCE_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1000)
}

/// wasmtime's compilation cache, with `spin up`'s options and environment variables: on by
/// default with wasmtime's own configuration (`~/.config/wasmtime/config.toml` if it exists,
/// else the defaults: `~/.cache/wasmtime`), `--cache <file>` for another configuration file,
/// `--disable-cache` to compile every component at every start. `TODO_HOST_CACHE_DIR` (the
/// host's own) moves the cache directory, whatever the configuration says.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CacheOptions {
    /// Wasmtime cache configuration file.
    #[arg(
        long = "cache",
        env = "WASMTIME_CACHE_FILE",
        conflicts_with = "disable_cache"
    )]
    pub cache: Option<PathBuf>,
    /// Disable Wasmtime cache.
    #[arg(
        long = "disable-cache",
        env = "DISABLE_WASMTIME_CACHE",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub disable_cache: bool,
}

/// The host's override of the cache directory.
pub const CACHE_DIR_ENV: &str = "TODO_HOST_CACHE_DIR";

impl CacheOptions {
    /// The cache to give the engine, `None` when disabled. A configuration file that cannot be
    /// read or parsed, or a directory that cannot be created, is a start-up error (as in Spin).
    pub fn cache(&self) -> anyhow::Result<Option<Cache>> {
        if self.disable_cache {
            return Ok(None);
        }
        let mut config = CacheConfig::from_file(self.cache.as_deref())
            .map_err(anyhow::Error::from)
            .context("loading the wasmtime cache configuration")?;
        if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
            // wasmtime wants an absolute directory.
            let dir = std::path::absolute(PathBuf::from(dir))
                .with_context(|| format!("{CACHE_DIR_ENV} is not a usable path"))?;
            config.with_directory(dir);
        }
        Cache::new(config)
            .map(Some)
            .map_err(anyhow::Error::from)
            .context("setting up the wasmtime compilation cache")
    }
}

pub fn engine(cache: Option<Cache>) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.cache(cache);
    let n = instance_count();
    // Sized as Spin's crates/core does for its default pooling allocator (memories = n,
    // tables = 2n, core instances = 4n), including the memory it keeps resident between
    // instances (2 MiB of each linear memory, 512 KiB of each table): a new instance then
    // reuses warm pages instead of faulting them in again.
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(n)
        .total_stacks(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n)
        .total_tables(n.saturating_mul(2))
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(512 << 10)
        .max_unused_warm_slots(100);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    use crate::bindings::imports::{fermyon, spin};
    spin::postgres::postgres::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    fermyon::spin2_0_0::redis::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    fermyon::spin2_0_0::key_value::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    fermyon::spin2_0_0::variables::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |s| s)?;
    Ok(linker)
}

/// Compiles `path`; with the cache on, a component compiled before by the same wasmtime with
/// the same settings is loaded from the cache instead.
pub fn compile(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read component {}", path.display()))?;
    Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", path.display()))
}

/// Compiles every distinct `.wasm` of the app once, on as many threads as there are cores (a
/// cache hit is mostly single-threaded reading, hashing and decompressing), and logs how many
/// came from the cache.
fn compile_all(
    engine: &Engine,
    cache: Option<&Cache>,
    app: &App,
) -> anyhow::Result<HashMap<PathBuf, Component>> {
    // Each distinct source with the first component that uses it (for error messages).
    let mut sources: Vec<(&Path, &str)> = Vec::new();
    for (id, cfg) in &app.components {
        if !sources.iter().any(|(path, _)| *path == cfg.source) {
            sources.push((&cfg.source, id));
        }
    }
    let started = std::time::Instant::now();
    let hits_before = cache.map_or(0, Cache::cache_hits);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len());
    let compiled: Vec<(usize, anyhow::Result<Component>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((path, id)) = sources.get(i) else {
                            return done;
                        };
                        let result =
                            compile(engine, path).with_context(|| format!("component '{id}'"));
                        done.push((i, result));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut components = HashMap::new();
    let mut compiled = compiled;
    compiled.sort_by_key(|(i, _)| *i);
    for (i, result) in compiled {
        components.insert(sources[i].0.to_path_buf(), result?);
    }
    if components.len() != sources.len() {
        anyhow::bail!("a compilation thread panicked");
    }
    let from_cache = cache.map_or(0, Cache::cache_hits) - hits_before;
    tracing::info!(
        "{} components from {} .wasm files ready in {} ms: {from_cache} loaded from the compilation cache, {} compiled",
        app.components.len(),
        sources.len(),
        started.elapsed().as_millis(),
        sources.len().saturating_sub(from_cache),
    );
    Ok(components)
}

impl Runtime {
    pub fn load(app: &App, cache: &CacheOptions) -> anyhow::Result<Self> {
        let cache = cache.cache()?;
        let engine = engine(cache.clone())?;
        let linker = linker(&engine)?;
        let kv = Arc::new(KvStores::new(app.kv_stores.clone()));
        let call_log = CallLog::from_env()?.map(Arc::new);
        let compiled = compile_all(&engine, cache.as_ref(), app)?;
        let mut components = HashMap::new();
        for (id, cfg) in &app.components {
            let pre = linker
                .instantiate_pre(&compiled[&cfg.source])
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component '{id}' imports something this host does not provide")
                })?;
            let runtime = Arc::new(ComponentRuntime {
                config: cfg.clone(),
                pg_pools: PgPools::default(),
                kv: kv.clone(),
                call_log: call_log.clone(),
            });
            components.insert(id.clone(), Arc::new(LoadedComponent { runtime, pre }));
        }
        Ok(Self { engine, components })
    }
}
