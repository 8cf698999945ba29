//! wasmtime bindings for the Spin interfaces the host implements and the trigger exports it calls.

/// Imports: `spin:postgres/postgres@4.0.0`, `fermyon:spin/{redis,key-value,variables}@2.0.0`.
pub mod imports {
    wasmtime::component::bindgen!({
        path: [
            "../../wit/deps/spin-postgres@4.0.0",
            "../../wit/deps/spin@2.0.0",
            "../../wit/deps/spin@unversioned",
            "../../wit/deps/spin-cron",
            "wit/host.wit",
        ],
        world: "todo:host/imports",
        imports: { default: async },
        with: {
            "spin:postgres/postgres.connection": crate::pg::PgConnection,
            "fermyon:spin/redis.connection": crate::redis_outbound::RedisConnection,
            "fermyon:spin/key-value.store": crate::key_value::StoreHandle,
        },
    });
}

/// Export of Redis-triggered components: `fermyon:spin/inbound-redis`.
pub mod redis_handler {
    wasmtime::component::bindgen!({
        path: [
            "../../wit/deps/spin-postgres@4.0.0",
            "../../wit/deps/spin@2.0.0",
            "../../wit/deps/spin@unversioned",
            "../../wit/deps/spin-cron",
            "wit/host.wit",
        ],
        world: "todo:host/redis-handler",
        exports: { default: async },
    });
}

/// Export of cron-triggered components: `handle-cron-event`.
pub mod cron_handler {
    wasmtime::component::bindgen!({
        path: [
            "../../wit/deps/spin-postgres@4.0.0",
            "../../wit/deps/spin@2.0.0",
            "../../wit/deps/spin@unversioned",
            "../../wit/deps/spin-cron",
            "wit/host.wit",
        ],
        world: "todo:host/cron-handler",
        exports: { default: async },
    });
}
