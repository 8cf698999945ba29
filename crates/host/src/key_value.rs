//! `fermyon:spin/key-value@2.0.0`: SQLite-file stores (Spin's default, same table layout),
//! in-memory SQLite stores (a `spin` store without `path`, as in Spin) and Redis stores from the
//! runtime config. A component may open only its declared labels.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use wasmtime::component::Resource;

use crate::app::KvBackend;
use crate::bindings::imports::fermyon::spin2_0_0::key_value::{self as kv, Error};
use crate::call_log::KEY_VALUE;
use crate::runtime::HostState;

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Redis(MultiplexedConnection),
}

pub struct StoreHandle {
    label: String,
    backend: Backend,
}

/// App-wide store registry; connections are opened on first use and shared.
pub struct KvStores {
    config: HashMap<String, KvBackend>,
    sqlite: Mutex<HashMap<PathBuf, Arc<Mutex<rusqlite::Connection>>>>,
    /// In-memory databases by label: each lives as long as the host process.
    memory: Mutex<HashMap<String, Arc<Mutex<rusqlite::Connection>>>>,
    redis: tokio::sync::Mutex<HashMap<String, MultiplexedConnection>>,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl KvStores {
    pub fn new(config: HashMap<String, KvBackend>) -> Self {
        Self {
            config,
            sqlite: Mutex::new(HashMap::new()),
            memory: Mutex::new(HashMap::new()),
            redis: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    async fn backend(&self, label: &str) -> Result<Backend, Error> {
        match self.config.get(label) {
            None => Err(Error::NoSuchStore),
            Some(KvBackend::Sqlite(path)) => {
                let mut map = self.sqlite.lock().map_err(other)?;
                if let Some(c) = map.get(path) {
                    return Ok(Backend::Sqlite(c.clone()));
                }
                let conn = open_sqlite(path).map_err(other)?;
                let conn = Arc::new(Mutex::new(conn));
                map.insert(path.clone(), conn.clone());
                Ok(Backend::Sqlite(conn))
            }
            Some(KvBackend::SqliteInMemory) => {
                let mut map = self.memory.lock().map_err(other)?;
                if let Some(c) = map.get(label) {
                    return Ok(Backend::Sqlite(c.clone()));
                }
                let conn = rusqlite::Connection::open_in_memory()
                    .and_then(|conn| create_table(&conn).map(|()| conn))
                    .map_err(other)?;
                let conn = Arc::new(Mutex::new(conn));
                map.insert(label.to_string(), conn.clone());
                Ok(Backend::Sqlite(conn))
            }
            Some(KvBackend::Redis(url)) => {
                let mut map = self.redis.lock().await;
                if let Some(c) = map.get(url) {
                    return Ok(Backend::Redis(c.clone()));
                }
                let client = redis::Client::open(url.as_str()).map_err(other)?;
                let conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(other)?;
                map.insert(url.clone(), conn.clone());
                Ok(Backend::Redis(conn))
            }
        }
    }
}

fn open_sqlite(path: &PathBuf) -> rusqlite::Result<rusqlite::Connection> {
    if let Some(dir) = path.parent() {
        // A failure here surfaces as the open error below.
        let _ = std::fs::create_dir_all(dir);
    }
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    create_table(&conn)?;
    Ok(conn)
}

fn create_table(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        );",
    )
}

impl StoreHandle {
    fn sqlite<T>(
        &self,
        c: &Arc<Mutex<rusqlite::Connection>>,
        f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<T>,
    ) -> Result<T, Error> {
        let conn = c.lock().map_err(other)?;
        f(&conn, &self.label).map_err(other)
    }
}

impl HostState {
    fn store(&self, r: &Resource<StoreHandle>) -> Result<&StoreHandle, Error> {
        self.table.get(r).map_err(other)
    }
}

impl kv::Host for HostState {}

impl kv::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Resource<StoreHandle>, Error> {
        self.count_call(KEY_VALUE, "open", || ((1, label.len()), (0, 0)));
        if !self.component.config.key_value_stores.contains(&label) {
            return Err(Error::AccessDenied);
        }
        let backend = self.component.kv.backend(&label).await?;
        self.table
            .push(StoreHandle { label, backend })
            .map_err(|_| Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        s: Resource<StoreHandle>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let result = self.kv_get(&s, &key).await;
        self.count_call(KEY_VALUE, "get", || {
            let out = match &result {
                Ok(Some(v)) => (1, v.len()),
                _ => (0, 0),
            };
            ((1, key.len()), out)
        });
        result
    }

    async fn set(
        &mut self,
        s: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        self.count_call(KEY_VALUE, "set", || ((2, key.len() + value.len()), (0, 0)));
        let store = self.store(&s)?;
        match &store.backend {
            Backend::Sqlite(c) => store.sqlite(c, |conn, label| {
                conn.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?
                .execute(rusqlite::params![label, key, value])
                .map(|_| ())
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let () = conn.set(&key, &value).await.map_err(other)?;
                Ok(())
            }
        }
    }

    async fn delete(&mut self, s: Resource<StoreHandle>, key: String) -> Result<(), Error> {
        self.count_call(KEY_VALUE, "delete", || ((1, key.len()), (0, 0)));
        let store = self.store(&s)?;
        match &store.backend {
            Backend::Sqlite(c) => store.sqlite(c, |conn, label| {
                conn.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .execute(rusqlite::params![label, key])
                    .map(|_| ())
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                let () = conn.del(&key).await.map_err(other)?;
                Ok(())
            }
        }
    }

    async fn exists(&mut self, s: Resource<StoreHandle>, key: String) -> Result<bool, Error> {
        let result = self.kv_exists(&s, &key).await;
        self.count_call(KEY_VALUE, "exists", || {
            ((1, key.len()), (usize::from(result.is_ok()), 1))
        });
        result
    }

    async fn get_keys(&mut self, s: Resource<StoreHandle>) -> Result<Vec<String>, Error> {
        let result = self.kv_get_keys(&s).await;
        self.count_call(KEY_VALUE, "get-keys", || {
            let out = match &result {
                Ok(keys) => (keys.len(), keys.iter().map(String::len).sum()),
                Err(_) => (0, 0),
            };
            ((0, 0), out)
        });
        result
    }

    async fn drop(&mut self, s: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}

impl HostState {
    async fn kv_get(
        &mut self,
        s: &Resource<StoreHandle>,
        key: &str,
    ) -> Result<Option<Vec<u8>>, Error> {
        let store = self.store(s)?;
        match &store.backend {
            Backend::Sqlite(c) => store.sqlite(c, |conn, label| {
                use rusqlite::OptionalExtension;
                conn.prepare_cached(
                    "SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2",
                )?
                .query_row(rusqlite::params![label, key], |row| {
                    row.get::<_, Vec<u8>>(0)
                })
                .optional()
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                conn.get::<_, Option<Vec<u8>>>(key).await.map_err(other)
            }
        }
    }

    async fn kv_exists(&mut self, s: &Resource<StoreHandle>, key: &str) -> Result<bool, Error> {
        let store = self.store(s)?;
        match &store.backend {
            Backend::Sqlite(c) => store.sqlite(c, |conn, label| {
                conn.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
                )?
                .query_row(rusqlite::params![label, key], |row| row.get::<_, bool>(0))
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                conn.exists(key).await.map_err(other)
            }
        }
    }

    async fn kv_get_keys(&mut self, s: &Resource<StoreHandle>) -> Result<Vec<String>, Error> {
        let store = self.store(s)?;
        match &store.backend {
            Backend::Sqlite(c) => store.sqlite(c, |conn, label| {
                let mut stmt =
                    conn.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?;
                let keys = stmt
                    .query_map(rusqlite::params![label], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(keys)
            }),
            Backend::Redis(conn) => {
                let mut conn = conn.clone();
                conn.keys("*").await.map_err(other)
            }
        }
    }
}
