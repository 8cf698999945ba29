//! The wasmtime side: engine (pooling allocator), one linker with every host interface,
//! compilation (cached on disk), pre-instantiation, and the per-instance store state.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::app::{App, ComponentConfig};
use crate::key_value::KvStores;
use crate::outbound_http::OutboundHttpHooks;
use crate::pg::PgPools;
use crate::stdio::LogStream;

/// Shared, per-component state that outlives instances (pools, resolved config).
pub struct ComponentRuntime {
    pub config: ComponentConfig,
    pub pg_pools: PgPools,
    pub kv: Arc<KvStores>,
}

/// The `T` of every `Store<T>`: one per instance.
pub struct HostState {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHttpHooks,
    pub table: ResourceTable,
    pub component: Arc<ComponentRuntime>,
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

pub fn engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
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

/// Where compiled artifacts are cached: `$TODO_HOST_CACHE_DIR`, else `~/.cache/todo-host`.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TODO_HOST_CACHE_DIR") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache").join("todo-host"))
}

/// Compiles `path`, or loads the artifact cached under the hash of the wasm bytes and the
/// engine's compatibility hash.
pub fn compile(engine: &Engine, path: &Path) -> anyhow::Result<Component> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read component {}", path.display()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let engine_hash = hasher.finish();
    let wasm_hash = hex::encode(Sha256::digest(&bytes));
    let cached = cache_dir().map(|d| d.join(format!("{wasm_hash}-{engine_hash:016x}.cwasm")));
    if let Some(cached) = &cached {
        if cached.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // compatibility hash (it is in the name), in a cache directory only this tool writes.
            match unsafe { Component::deserialize_file(engine, cached) } {
                Ok(c) => return Ok(c),
                Err(e) => tracing::warn!("ignoring unusable cache entry {}: {e}", cached.display()),
            }
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", path.display()))?;
    if let Some(cached) = &cached {
        let write = || -> anyhow::Result<()> {
            let dir = cached.parent().context("cache path has no parent")?;
            std::fs::create_dir_all(dir)?;
            let tmp = dir.join(format!(".{}.tmp", std::process::id()));
            std::fs::write(&tmp, component.serialize()?)?;
            std::fs::rename(&tmp, cached)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::warn!("cannot cache compiled component: {e}");
        }
    }
    Ok(component)
}

impl Runtime {
    pub fn load(app: &App) -> anyhow::Result<Self> {
        let engine = engine()?;
        let linker = linker(&engine)?;
        let kv = Arc::new(KvStores::new(app.kv_stores.clone()));
        let mut components = HashMap::new();
        for (id, cfg) in &app.components {
            let component =
                compile(&engine, &cfg.source).with_context(|| format!("component '{id}'"))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("component '{id}' imports something this host does not provide")
                })?;
            let runtime = Arc::new(ComponentRuntime {
                config: cfg.clone(),
                pg_pools: PgPools::default(),
                kv: kv.clone(),
            });
            components.insert(id.clone(), Arc::new(LoadedComponent { runtime, pre }));
        }
        Ok(Self { engine, components })
    }
}
