//! `wasi:http/outgoing-handler`: requests go out only to `allowed_outbound_hosts`.

use std::future::Future;
use std::sync::Arc;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::outbound_hosts::default_port;
use crate::runtime::ComponentRuntime;

pub struct OutboundHttpHooks {
    component: Arc<ComponentRuntime>,
    /// Requests sent, counted for the host-call log.
    requests: u64,
}

impl OutboundHttpHooks {
    pub fn new(component: Arc<ComponentRuntime>) -> Self {
        Self {
            component,
            requests: 0,
        }
    }

    pub fn take_request_count(&mut self) -> u64 {
        std::mem::take(&mut self.requests)
    }

    fn allowed(&self, uri: &http::Uri) -> bool {
        let Some(scheme) = uri.scheme_str() else {
            return false;
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let Some(port) = uri.port_u16().or_else(|| default_port(scheme)) else {
            return false;
        };
        self.component
            .config
            .allowed_hosts
            .allows(scheme, host, port)
    }
}

type ResponseFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> ResponseFuture {
        drop(fut);
        self.requests += 1;
        if !self.allowed(request.uri()) {
            tracing::error!(
                "component '{}' tried an HTTP request to {}, which is not in its allowed_outbound_hosts",
                self.component.config.id,
                request.uri()
            );
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
