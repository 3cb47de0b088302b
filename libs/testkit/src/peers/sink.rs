//! A callback receiver that records every request, for tests.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use tokio::task::JoinHandle;

/// One request a [`CallbackSink`] received.
#[derive(Debug, Clone)]
pub struct ReceivedCallback {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// An HTTP server on an ephemeral port that answers every request with 200
/// and `{"code":0,"msg":"成功"}` (what Alibaba Cloud expects from a report
/// receiver) and keeps it. Stopped on drop.
pub struct CallbackSink {
    base: String,
    received: Arc<Mutex<Vec<ReceivedCallback>>>,
    server: JoinHandle<()>,
}

impl CallbackSink {
    pub async fn start() -> CallbackSink {
        let received: Arc<Mutex<Vec<ReceivedCallback>>> = Arc::default();
        let router = axum::Router::new().fallback(record).with_state(received.clone());
        let (addr, server) = super::serve(router, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap_or_else(|err| panic!("cannot start the callback sink: {err:#}"));
        CallbackSink {
            base: format!("http://{addr}"),
            received,
            server,
        }
    }

    /// The URL of `path` (e.g. `/callbacks/sms`) on this sink.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn requests(&self) -> Vec<ReceivedCallback> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests came, or fails after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Result<Vec<ReceivedCallback>> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= n {
                return Ok(requests);
            }
            if Instant::now() > deadline {
                bail!("the callback sink got {} of {n} requests within {timeout:?}", requests.len());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for CallbackSink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(
    State(received): State<Arc<Mutex<Vec<ReceivedCallback>>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<serde_json::Value> {
    received.lock().unwrap().push(ReceivedCallback {
        method,
        path: uri.path().to_string(),
        headers,
        body,
    });
    axum::Json(serde_json::json!({"code": 0, "msg": "成功"}))
}
