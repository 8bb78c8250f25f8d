//! The response body: a whole buffer, or a stream of chunks (watch, later logs).

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    pub fn full(b: impl Into<Bytes>) -> Self {
        Body::Full(Some(b.into()))
    }

    pub fn empty() -> Self {
        Body::Full(None)
    }
}

/// A stream passed through a layer: its chunks forwarded until it ends, its reader goes away
/// (the client left: noticed at once, not at the next chunk, so an idle watch is let go), or
/// `stop` completes. Dropping the source on the way out tells the layer before.
pub(crate) fn relay(
    mut from: mpsc::Receiver<Bytes>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
    done: impl FnOnce() + Send + 'static,
) -> mpsc::Receiver<Bytes> {
    let (to, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        tokio::pin!(stop);
        loop {
            let chunk = tokio::select! {
                c = from.recv() => c,
                () = to.closed() => None,
                () = &mut stop => None,
            };
            let Some(chunk) = chunk else { break };
            if to.send(chunk).await.is_err() {
                break;
            }
        }
        drop(from);
        done();
    });
    rx
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stream(_) => SizeHint::default(),
        }
    }
}

/// A response body that keeps its connection counted busy until it is done or dropped.
pub(crate) struct Tracked {
    body: Body,
    _in_flight: Option<crate::conn::InFlight>,
}

impl Tracked {
    pub(crate) fn new(body: Body, in_flight: Option<crate::conn::InFlight>) -> Self {
        Tracked {
            body,
            _in_flight: in_flight,
        }
    }

    /// The body itself (an in-process caller has no connection to keep busy).
    pub(crate) fn into_inner(self) -> Body {
        self.body
    }
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
