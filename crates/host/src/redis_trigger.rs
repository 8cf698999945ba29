//! The Redis trigger: one SUBSCRIBE connection per distinct address; messages on it handled one
//! at a time, in order; all components of a channel run concurrently, each in a fresh instance.
//! Losing a subscriber connection is fatal (Spin exits and lets its supervisor restart it).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use anyhow::Context as _;
use futures::StreamExt as _;
use wasmtime::Engine;

use crate::app::RedisSubscription;
use crate::bindings::redis_handler::RedisHandlerPre;
use crate::call_log::Invocation;
use crate::runtime::{HostState, LoadedComponent};

struct Handler {
    loaded: Arc<LoadedComponent>,
    pre: RedisHandlerPre<HostState>,
}

/// A connected subscriber for one address.
pub struct Subscriber {
    address: String,
    pubsub: redis::aio::PubSub,
    channels: HashMap<String, Vec<Arc<Handler>>>,
    engine: Engine,
}

/// Connects and subscribes every address; fails if any connection cannot be made.
pub async fn connect(
    engine: &Engine,
    subscriptions: &[RedisSubscription],
    components: &HashMap<String, Arc<LoadedComponent>>,
) -> anyhow::Result<Vec<Subscriber>> {
    let mut handlers: HashMap<String, Arc<Handler>> = HashMap::new();
    let mut by_address: BTreeMap<String, HashMap<String, Vec<Arc<Handler>>>> = BTreeMap::new();
    for s in subscriptions {
        let handler = match handlers.get(&s.component) {
            Some(h) => h.clone(),
            None => {
                let loaded = components
                    .get(&s.component)
                    .with_context(|| format!("component '{}' is not loaded", s.component))?
                    .clone();
                let pre = RedisHandlerPre::new(loaded.pre.clone())
                    .map_err(anyhow::Error::from)
                    .with_context(|| {
                        format!(
                            "component '{}' has a Redis trigger but does not export fermyon:spin/inbound-redis",
                            s.component
                        )
                    })?;
                let h = Arc::new(Handler { loaded, pre });
                handlers.insert(s.component.clone(), h.clone());
                h
            }
        };
        by_address
            .entry(s.address.clone())
            .or_default()
            .entry(s.channel.clone())
            .or_default()
            .push(handler);
    }
    let mut out = Vec::new();
    for (address, channels) in by_address {
        let client = redis::Client::open(address.as_str())
            .with_context(|| format!("invalid Redis trigger address {address}"))?;
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .with_context(|| format!("cannot connect the Redis trigger to {address}"))?;
        for channel in channels.keys() {
            pubsub
                .subscribe(channel)
                .await
                .with_context(|| format!("cannot SUBSCRIBE to '{channel}' on {address}"))?;
        }
        out.push(Subscriber {
            address,
            pubsub,
            channels,
            engine: engine.clone(),
        });
    }
    Ok(out)
}

impl Subscriber {
    pub fn describe(&self) -> Vec<(String, String, Vec<String>)> {
        self.channels
            .iter()
            .map(|(ch, hs)| {
                (
                    self.address.clone(),
                    ch.clone(),
                    hs.iter().map(|h| h.loaded.id().to_string()).collect(),
                )
            })
            .collect()
    }

    /// Handles messages until the connection is lost; returns that error.
    pub async fn run(self) -> anyhow::Error {
        let Subscriber {
            address,
            mut pubsub,
            channels,
            engine,
        } = self;
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let channel = msg.get_channel_name().to_string();
            let payload = msg.get_payload_bytes().to_vec();
            let Some(handlers) = channels.get(&channel) else {
                continue;
            };
            let runs = handlers.iter().map(|h| {
                let h = h.clone();
                let engine = engine.clone();
                let payload = payload.clone();
                let channel = channel.clone();
                async move {
                    if let Err(e) = handle(&engine, &h, &channel, &payload).await {
                        tracing::error!(
                            "component '{}' failed on a message from channel '{channel}' (dropped): {e:#}",
                            h.loaded.id()
                        );
                    }
                }
            });
            // One message at a time per address; its components run concurrently.
            futures::future::join_all(runs.map(tokio::spawn)).await;
        }
        anyhow::anyhow!("Redis trigger connection to {address} was lost")
    }
}

async fn handle(
    engine: &Engine,
    h: &Handler,
    channel: &str,
    payload: &Vec<u8>,
) -> anyhow::Result<()> {
    let mut store = h.loaded.new_store(engine);
    let result = async {
        let instance = h.pre.instantiate_async(&mut store).await?;
        match instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, payload)
            .await?
        {
            Ok(()) => Ok(()),
            Err(e) => anyhow::bail!("handler returned {e:?}"),
        }
    }
    .await;
    if let (Some(log), Some(calls)) = (&h.loaded.runtime.call_log, store.data_mut().take_calls()) {
        let invocation = Invocation::Redis {
            channel,
            ok: result.is_ok(),
        };
        log.write(h.loaded.id(), &invocation, &calls);
    }
    result
}
