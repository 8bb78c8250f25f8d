//! Kubernetes wire formats as kube-apiserver 1.33 writes them, from upstream's own description
//! of its types ([`schema`], generated from `generated.proto` and `types.go`):
//!
//! - [`json`]: JSON in Go field order, compact (with Go's trailing newline) or pretty;
//! - [`protobuf`]: protobuf request bodies of every kind the schema describes;
//! - [`gotype`], [`godecode`] and [`gojson`]: a refused body told in the words of Go's decoders.
//!
//! Sans-IO: plain values in, bytes out.

pub mod godecode;
pub mod gojson;
pub mod gotype;
pub mod json;
pub mod protobuf;
pub mod schema;

pub use json::Layout;
