//! `fermyon:spin/redis@2.0.0`: one multiplexed connection per `open`, gated by
//! `allowed_outbound_hosts` (scheme `redis`); `execute` flattens nested replies like Spin.

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, FromRedisValue, Value};
use wasmtime::component::Resource;

use crate::bindings::imports::fermyon::spin2_0_0::redis::{
    self as v2, RedisParameter, RedisResult,
};
use crate::call_log::REDIS;
use crate::runtime::HostState;

pub struct RedisConnection {
    conn: MultiplexedConnection,
}

fn other(e: impl std::fmt::Display) -> v2::Error {
    v2::Error::Other(e.to_string())
}

impl HostState {
    fn redis_conn(
        &self,
        r: &Resource<RedisConnection>,
    ) -> Result<MultiplexedConnection, v2::Error> {
        self.table
            .get(r)
            .map(|c| c.conn.clone())
            .map_err(|_| v2::Error::Other("could not find connection for resource".into()))
    }
}

impl v2::Host for HostState {}

impl v2::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, v2::Error> {
        self.count_redis("open", || vec![address.as_bytes()], || (0, 0));
        let cfg = &self.component.config;
        if !cfg.allowed_hosts.allows_url(&address) {
            tracing::error!(
                "component '{}': Redis connection to a host not in allowed_outbound_hosts refused",
                cfg.id
            );
            return Err(v2::Error::InvalidAddress);
        }
        let client =
            redis::Client::open(address.as_str()).map_err(|_| v2::Error::InvalidAddress)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(other)?;
        self.table
            .push(RedisConnection { conn })
            .map_err(|_| v2::Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        c: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), v2::Error> {
        self.count_redis("publish", || vec![channel.as_bytes(), &payload], || (0, 0));
        let mut conn = self.redis_conn(&c)?;
        let () = conn.publish(&channel, &payload).await.map_err(other)?;
        Ok(())
    }

    async fn get(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result = conn.get::<_, Option<Vec<u8>>>(&key).await.map_err(other);
        self.count_redis(
            "get",
            || vec![key.as_bytes()],
            || match &result {
                Ok(Some(v)) => (1, v.len()),
                _ => (0, 0),
            },
        );
        result
    }

    async fn set(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), v2::Error> {
        self.count_redis("set", || vec![key.as_bytes(), &value], || (0, 0));
        let mut conn = self.redis_conn(&c)?;
        let () = conn.set(&key, &value).await.map_err(other)?;
        Ok(())
    }

    async fn incr(&mut self, c: Resource<RedisConnection>, key: String) -> Result<i64, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result = conn.incr(&key, 1).await.map_err(other);
        self.count_redis(
            "incr",
            || vec![key.as_bytes()],
            || (usize::from(result.is_ok()), 8),
        );
        result
    }

    async fn del(
        &mut self,
        c: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result = conn.del(&keys).await.map_err(other);
        self.count_redis(
            "del",
            || as_bytes(&keys),
            || (usize::from(result.is_ok()), 4),
        );
        result
    }

    async fn sadd(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result = conn.sadd(&key, &values).await.map_err(|e| {
            if e.kind() == redis::ErrorKind::TypeError {
                v2::Error::TypeError
            } else {
                other(e)
            }
        });
        self.count_redis(
            "sadd",
            || key_and(&key, &values),
            || (usize::from(result.is_ok()), 4),
        );
        result
    }

    async fn smembers(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result: Result<Vec<String>, _> = conn.smembers(&key).await.map_err(other);
        self.count_redis(
            "smembers",
            || vec![key.as_bytes()],
            || match &result {
                Ok(members) => (members.len(), members.iter().map(String::len).sum()),
                Err(_) => (0, 0),
            },
        );
        result
    }

    async fn srem(
        &mut self,
        c: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let result = conn.srem(&key, &values).await.map_err(other);
        self.count_redis(
            "srem",
            || key_and(&key, &values),
            || (usize::from(result.is_ok()), 4),
        );
        result
    }

    async fn execute(
        &mut self,
        c: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, v2::Error> {
        let mut conn = self.redis_conn(&c)?;
        let mut cmd = redis::cmd(&command);
        for a in &arguments {
            match a {
                RedisParameter::Int64(v) => cmd.arg(*v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let result = cmd
            .query_async::<Flattened>(&mut conn)
            .await
            .map(|f| f.0)
            .map_err(other);
        self.count_call(REDIS, "execute", || {
            let argument_bytes: usize = arguments
                .iter()
                .map(|a| match a {
                    RedisParameter::Int64(_) => 8,
                    RedisParameter::Binary(b) => b.len(),
                })
                .sum();
            let out = match &result {
                Ok(items) => (items.len(), items.iter().map(result_bytes).sum()),
                Err(_) => (0, 0),
            };
            ((1 + arguments.len(), command.len() + argument_bytes), out)
        });
        result
    }

    async fn drop(&mut self, c: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(c)?;
        Ok(())
    }
}

impl HostState {
    /// Counts one call with its arguments (each a value of its byte length) and the
    /// (values, bytes) of its result.
    fn count_redis<'a>(
        &mut self,
        method: &'static str,
        args: impl FnOnce() -> Vec<&'a [u8]>,
        out: impl FnOnce() -> (usize, usize),
    ) {
        self.count_call(REDIS, method, || {
            let args = args();
            ((args.len(), args.iter().map(|a| a.len()).sum()), out())
        });
    }
}

fn as_bytes(strings: &[String]) -> Vec<&[u8]> {
    strings.iter().map(String::as_bytes).collect()
}

fn key_and<'a>(key: &'a str, values: &'a [String]) -> Vec<&'a [u8]> {
    std::iter::once(key.as_bytes())
        .chain(values.iter().map(String::as_bytes))
        .collect()
}

fn result_bytes(result: &RedisResult) -> usize {
    match result {
        RedisResult::Nil => 0,
        RedisResult::Status(s) => s.len(),
        RedisResult::Int64(_) => 8,
        RedisResult::Binary(b) => b.len(),
    }
}

/// A reply flattened into one list, as Spin returns it.
struct Flattened(Vec<RedisResult>);

fn type_error(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "Could not convert Redis response",
        what.to_string(),
    ))
}

pub fn flatten(value: &Value, out: &mut Vec<RedisResult>) -> redis::RedisResult<()> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(v) => out.push(RedisResult::Int64(*v)),
        Value::BulkString(b) => out.push(RedisResult::Binary(b.clone())),
        Value::SimpleString(s) => out.push(RedisResult::Status(s.clone())),
        Value::Okay => out.push(RedisResult::Status("OK".to_string())),
        Value::Array(items) | Value::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Value::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Value::Boolean(b) => out.push(RedisResult::Int64(i64::from(*b))),
        Value::BigNumber(n) => out.push(RedisResult::Binary(n.to_string().into_bytes())),
        Value::Map(_) => return Err(type_error("Redis Map type is not supported")),
        Value::Attribute { .. } => return Err(type_error("Redis Attribute type is not supported")),
        Value::VerbatimString { .. } => {
            return Err(type_error(
                "Redis string with format attribute is not supported",
            ))
        }
        Value::Push { .. } => return Err(type_error("Redis Pub/Sub types are not supported")),
        Value::ServerError(e) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::ResponseError,
                "Server error",
                format!("{e:?}"),
            )))
        }
    }
    Ok(())
}

impl FromRedisValue for Flattened {
    fn from_redis_value(v: &Value) -> redis::RedisResult<Self> {
        let mut out = Vec::new();
        flatten(v, &mut out)?;
        Ok(Flattened(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(v: Value) -> redis::RedisResult<Vec<RedisResult>> {
        let mut out = Vec::new();
        flatten(&v, &mut out).map(|()| out)
    }

    #[test]
    fn nested_arrays_are_flattened() {
        // XREAD shape: [[stream, [[id, [field, value]]]]]
        let v = Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"s".to_vec()),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"1-0".to_vec()),
                Value::Array(vec![
                    Value::BulkString(b"f".to_vec()),
                    Value::BulkString(b"v".to_vec()),
                ]),
            ])]),
        ])]);
        let out = flat(v).unwrap();
        assert_eq!(out.len(), 4);
        assert!(matches!(&out[0], RedisResult::Binary(b) if b == b"s"));
        assert!(matches!(&out[3], RedisResult::Binary(b) if b == b"v"));
    }

    #[test]
    fn scalars() {
        assert!(matches!(flat(Value::Nil).unwrap()[..], [RedisResult::Nil]));
        assert!(matches!(&flat(Value::Okay).unwrap()[..], [RedisResult::Status(s)] if s == "OK"));
        assert!(matches!(
            flat(Value::Boolean(true)).unwrap()[..],
            [RedisResult::Int64(1)]
        ));
        assert!(
            matches!(&flat(Value::Double(1.5)).unwrap()[..], [RedisResult::Binary(b)] if b == b"1.5")
        );
        assert!(flat(Value::Map(vec![])).is_err());
    }
}
