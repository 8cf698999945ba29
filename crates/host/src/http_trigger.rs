//! The HTTP trigger: Spin routing and `spin-*` headers, a fresh instance per request from a
//! pre-instantiated component, streamed responses.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView as _;

use crate::call_log::{CallLog, HostCalls, Invocation};
use crate::routing::{path_match_header, RouteMatch, Router};
use crate::runtime::{HostState, LoadedComponent};

pub const HEALTH_PATH: &str = "/.well-known/spin/health";

struct HttpComponent {
    loaded: Arc<LoadedComponent>,
    proxy: ProxyPre<HostState>,
}

pub struct HttpTrigger {
    engine: Engine,
    router: Router,
    components: HashMap<String, HttpComponent>,
    listen: SocketAddr,
    /// `[application.trigger.http] base` (`spin-base-path`).
    base: String,
}

impl HttpTrigger {
    pub fn new(
        engine: Engine,
        router: Router,
        components: &HashMap<String, Arc<LoadedComponent>>,
        listen: SocketAddr,
        base: &str,
    ) -> anyhow::Result<Self> {
        let mut out = HashMap::new();
        for (_, component_id) in router.routes() {
            if out.contains_key(component_id) {
                continue;
            }
            let loaded = components
                .get(component_id)
                .with_context(|| format!("component '{component_id}' is not loaded"))?
                .clone();
            let proxy = ProxyPre::new(loaded.pre.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component '{component_id}' has an HTTP trigger but does not export wasi:http/incoming-handler@0.2.x"
                    )
                })?;
            out.insert(component_id.to_string(), HttpComponent { loaded, proxy });
        }
        Ok(Self {
            engine,
            router,
            components: out,
            listen,
            base: base.to_string(),
        })
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Accepts connections forever.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> anyhow::Result<()> {
        loop {
            let (stream, client) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let this = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let this = this.clone();
                    async move { Ok::<_, std::convert::Infallible>(this.handle(req, client).await) }
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!("connection from {client} ended: {e}");
                }
            });
        }
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
        client: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let path = req.uri().path().to_string();
        if path == HEALTH_PATH {
            return text_response(StatusCode::OK, "OK");
        }
        let Some(m) = self.router.route(&path) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        let Some(component) = self.components.get(&m.component) else {
            return text_response(StatusCode::NOT_FOUND, "Not Found");
        };
        match self.invoke(component, req, &m, client).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!("component '{}' failed: {e:?}", m.component);
                text_response(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        }
    }

    async fn invoke(
        &self,
        component: &HttpComponent,
        req: Request<Incoming>,
        m: &RouteMatch,
        client: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let logged = component
            .loaded
            .runtime
            .call_log
            .clone()
            .map(|log| LoggedRequest {
                log,
                component: component.loaded.id().to_string(),
                method: req.method().to_string(),
                route: m.raw_route.clone(),
                path: req.uri().path().to_string(),
            });
        let req = prepare_request(req, m, client, self.listen, &self.base)?;
        let mut store = component.loaded.new_store(&self.engine);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(tx)?;
        let proxy = component.proxy.clone();
        let id = component.loaded.id().to_string();
        // The instance runs in its own task so it can keep writing the body after the
        // response head has gone out.
        let task = tokio::spawn(async move {
            let result = async {
                let instance = proxy.instantiate_async(&mut store).await?;
                instance
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            if let Err(e) = &result {
                tracing::error!("component '{id}' trapped: {e:?}");
            }
            (result, store.data_mut().take_calls())
        });
        match rx.await {
            Ok(Ok(resp)) => {
                if let Some(logged) = logged {
                    // The record is complete when the instance is done (a streamed body
                    // included), which may be long after the response head went out.
                    let status = resp.status().as_u16();
                    tokio::spawn(async move {
                        if let Ok((_, Some(calls))) = task.await {
                            logged.write(status, &calls);
                        }
                    });
                }
                Ok(resp)
            }
            Ok(Err(code)) => {
                if let Some(logged) = logged {
                    if let Ok((_, Some(calls))) = task.await {
                        logged.write(500, &calls);
                    }
                }
                anyhow::bail!("guest returned an error response: {code:?}")
            }
            Err(_) => {
                let finished = task.await;
                if let (Some(logged), Ok((_, Some(calls)))) = (logged, &finished) {
                    logged.write(500, calls);
                }
                match finished {
                    Ok((Ok(()), _)) => anyhow::bail!("guest did not set a response"),
                    Ok((Err(e), _)) => {
                        Err(anyhow::Error::from(e).context("guest failed before responding"))
                    }
                    Err(e) => Err(anyhow::Error::from(e).context("guest task panicked")),
                }
            }
        }
    }
}

/// What the host-call record of one request needs, taken before the request is handed over.
struct LoggedRequest {
    log: Arc<CallLog>,
    component: String,
    method: String,
    route: String,
    path: String,
}

impl LoggedRequest {
    fn write(&self, status: u16, calls: &HostCalls) {
        let invocation = Invocation::Http {
            method: &self.method,
            route: &self.route,
            path: &self.path,
            status,
        };
        self.log.write(&self.component, &invocation, calls);
    }
}

fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp
}

/// Adds Spin's request headers, strips `Connection`, and makes the URI absolute.
fn prepare_request(
    mut req: Request<Incoming>,
    m: &RouteMatch,
    client: SocketAddr,
    listen: SocketAddr,
    base: &str,
) -> anyhow::Result<Request<Incoming>> {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .unwrap_or_else(|| listen.to_string());
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let full_url = format!("http://{host}{path_and_query}");
    *req.uri_mut() = full_url.parse().context("invalid request URI")?;

    let headers = req.headers_mut();
    headers.remove(http::header::CONNECTION);
    let mut set = |name: &str, value: &str| -> anyhow::Result<()> {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
        Ok(())
    };
    set("spin-full-url", &full_url)?;
    set("spin-path-info", &m.path_info)?;
    set("spin-matched-route", &m.based_route)?;
    set("spin-raw-component-route", &m.raw_route)?;
    set("spin-component-route", &m.component_route)?;
    set("spin-base-path", base)?;
    set("spin-client-addr", &client.to_string())?;
    for (name, value) in &m.captures {
        set(&path_match_header(name), value)?;
    }
    Ok(req)
}
