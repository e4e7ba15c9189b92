//! Events, written in the background.
//!
//! A reconcile hands its Event to [`Events::publish`] and goes on; one task writes the
//! Events with kube's [`Recorder`] (which turns a repeat within 6 minutes into a series),
//! [`WRITERS`] at a time — the way client-go's broadcaster keeps Events off the
//! controllers' path. So a slow or throttled events API never holds a reconcile, and a
//! burst of creates reaches Ready before its Events are all written.
//!
//! Contract:
//! - Best effort: the queue holds at most [`QUEUE`] Events; when the apiserver takes
//!   them more slowly than they come, the newest are dropped and counted
//!   (`cxf_operator_events_total{outcome="dropped"}`), and a failed write is logged and
//!   counted (`outcome="failed"`), never retried. The status conditions carry the state;
//!   an Event is only its history.
//! - Order: Events of one object are written in the order published, except that two of
//!   them may be in flight at once.
//! - The task ends when the last [`Events`] handle is dropped, after writing what is
//!   queued.

use std::future::Future;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, Recorder};
use tokio::sync::mpsc;
use tracing::warn;

use crate::metrics::EventMetrics;

/// Events waiting to be written, at most.
pub const QUEUE: usize = 4096;
/// Events written at once.
pub const WRITERS: usize = 2;

/// The handle reconciles publish Events through.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<(Event, ObjectReference)>,
    metrics: EventMetrics,
}

impl Events {
    /// A handle, and the task that writes what it publishes with `recorder` (to spawn).
    pub fn new(recorder: Recorder, metrics: EventMetrics) -> (Self, impl Future<Output = ()>) {
        let (queue, mut rx) = mpsc::channel::<(Event, ObjectReference)>(QUEUE);
        let counted = metrics.clone();
        let writer = futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).for_each_concurrent(
            WRITERS,
            move |(event, regarding)| {
                let (recorder, metrics) = (recorder.clone(), counted.clone());
                async move {
                    match recorder.publish(&event, &regarding).await {
                        Ok(()) => metrics.published(),
                        Err(error) => {
                            warn!(%error, reason = event.reason, "writing an Event failed");
                            metrics.failed();
                        }
                    }
                }
            },
        );
        (Self { queue, metrics }, writer)
    }

    /// Queues `event` about `regarding`; drops it if the queue is full.
    pub fn publish(&self, event: Event, regarding: ObjectReference) {
        if self.queue.try_send((event, regarding)).is_err() {
            self.metrics.dropped();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{Request, Response};
    use kube::client::Body;
    use kube::runtime::events::EventType;
    use tower_test::mock::pair;

    use super::*;

    fn event(reason: &str) -> Event {
        Event {
            type_: EventType::Normal,
            reason: reason.into(),
            note: None,
            action: "Create".into(),
            secondary: None,
        }
    }

    fn regarding() -> ObjectReference {
        ObjectReference {
            api_version: Some("cxf.dev/v1alpha1".into()),
            kind: Some("ListenerRegistration".into()),
            namespace: Some("ns".into()),
            name: Some("lr".into()),
            ..ObjectReference::default()
        }
    }

    #[tokio::test]
    async fn publishing_never_waits_for_the_apiserver_and_a_full_queue_drops_and_counts() {
        let (service, mut server) = pair::<Request<Body>, Response<Body>>();
        let client = kube::Client::new(service, "default");
        let metrics = crate::metrics::Metrics::default();
        let (events, writer) = Events::new(
            Recorder::new(client, "cxf-operator".into()),
            metrics.events.clone(),
        );
        let writer = tokio::spawn(writer);
        // The writer has not run yet (one thread, no await): every publish returns at
        // once, QUEUE are queued, the 3 beyond are dropped.
        for i in 0..QUEUE + 3 {
            events.publish(event(&format!("R{i}")), regarding());
        }
        let mut written = Vec::new();
        for _ in 0..QUEUE {
            let (request, send) =
                tokio::time::timeout(Duration::from_secs(5), server.next_request())
                    .await
                    .expect("the queued Events are written")
                    .expect("a request");
            assert_eq!(
                request.uri().path(),
                "/apis/events.k8s.io/v1/namespaces/ns/events"
            );
            let bytes =
                axum::body::to_bytes(axum::body::Body::new(request.into_body()), usize::MAX)
                    .await
                    .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            written.push(body["reason"].as_str().unwrap().to_owned());
            send.send_response(
                Response::builder()
                    .status(201)
                    .body(Body::from(b"{}".to_vec()))
                    .unwrap(),
            );
        }
        drop(events);
        tokio::time::timeout(Duration::from_secs(5), writer)
            .await
            .expect("the writer ends with the last handle")
            .unwrap();
        assert!(written.contains(&"R0".to_owned()) && written.contains(&"R1".to_owned()));
        assert!(
            !written.iter().any(|r| r == &format!("R{QUEUE}")),
            "{written:?}"
        );
        let text = metrics.encode();
        assert!(
            text.contains(r#"cxf_operator_events_total{outcome="dropped"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                r#"cxf_operator_events_total{{outcome="published"}} {QUEUE}"#
            )),
            "{text}"
        );
    }
}
