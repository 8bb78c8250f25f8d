//! Decoding cases: bodies captured from kubectl, and hand-built ones for each rule.
use super::*;
use crate::schema::{Field, Schema};
use serde_json::json;

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

#[test]
fn kubectl_132_create_serviceaccount() {
    // Captured from `kubectl create serviceaccount sa-32` (kubectl-contract §5.2).
    let body = hex(
        "6b 38 73 00 0a 14 0a 02 76 31 12 0e 53 65 72 76 69 63 65 41 63 63 6f 75 6e 74
         12 17 0a 15 0a 05 73 61 2d 33 32 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00
         1a 00 22 00",
    );
    assert_eq!(
        decode(&body).unwrap(),
        json!({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"sa-32"}})
    );
}

#[test]
fn kubectl_133_can_i() {
    let mut body = hex("6b 38 73 00 0a 32 0a 17");
    body.extend(b"authorization.k8s.io/v1");
    body.extend(hex("12 17"));
    body.extend(b"SelfSubjectAccessReview");
    body.extend(hex(
        "12 40 0a 10 0a 00 12 00 1a 00 22 00 2a 00 32 00 38 00 42 00
         12 22 0a 20 0a 04 64 65 6d 6f 12 06 63 72 65 61 74 65 1a 00 22 00 2a 04 70 6f 64 73 32 04 65 78 65 63 3a 00
         1a 08 08 00 12 00 1a 00 20 00 1a 00 22 00",
    ));
    let v = decode(&body).unwrap();
    assert_eq!(
        v["spec"],
        json!({"resourceAttributes":{"namespace":"demo","verb":"create","resource":"pods","subresource":"exec"}})
    );
    assert_eq!(v["kind"], "SelfSubjectAccessReview");
}

#[test]
fn repeated_empty_string_is_the_core_group() {
    // ClusterRole{metadata{name:"r"}, rules[{verbs:["get"], apiGroups:[""]}]}
    let mut raw = vec![0x0a, 0x03, 0x0a, 0x01, b'r'];
    raw.extend([0x12, 0x07, 0x0a, 0x03, b'g', b'e', b't', 0x12, 0x00]);
    let mut body = b"k8s\0".to_vec();
    let tm = [
        &[0x0a, 0x1c][..],
        b"rbac.authorization.k8s.io/v1",
        &[0x12, 0x0b],
        b"ClusterRole",
    ]
    .concat();
    body.extend([0x0a, tm.len() as u8]);
    body.extend(&tm);
    body.extend([0x12, raw.len() as u8]);
    body.extend(&raw);
    let v = decode(&body).unwrap();
    assert_eq!(v["rules"], json!([{"verbs":["get"],"apiGroups":[""]}]));
}

#[test]
fn secrets_maps_and_bytes() {
    // Secret{metadata{name:"s"}, data{"k": "\x00\x01"}, type:"Opaque"}
    let entry = [0x0a, 0x01, b'k', 0x12, 0x02, 0x00, 0x01];
    let mut raw = vec![0x0a, 0x03, 0x0a, 0x01, b's', 0x12, entry.len() as u8];
    raw.extend(entry);
    raw.extend([0x1a, 0x06]);
    raw.extend(b"Opaque");
    let mut body = b"k8s\0".to_vec();
    body.extend([0x0a, 0x0c, 0x0a, 0x02, b'v', b'1', 0x12, 0x06]);
    body.extend(b"Secret");
    body.extend([0x12, raw.len() as u8]);
    body.extend(&raw);
    let v = decode(&body).unwrap();
    assert_eq!(v["data"], json!({"k": "AAE="}));
    assert_eq!(v["type"], "Opaque");
}

#[test]
fn garbage_is_an_error_never_a_panic() {
    for bad in [
        &b""[..],
        b"k8s",
        b"k8s\0\xff",
        b"k8s\0\x0a\x7f",
        b"k8s\0\x12\x02\x0a",
        b"\x00\x00\x00\x00",
    ] {
        assert!(decode(bad).is_err(), "{bad:?}");
    }
    let unknown = [&b"k8s\0\x0a\x07\x12\x05"[..], b"Thing"].concat();
    assert_eq!(
        decode(&unknown),
        Err(ProtobufError::UnknownKind("Thing".into()))
    );
}

/// A sample JSON value for every field of message `id` (recursively): non-zero values for
/// plain fields, zeros for pointers (which must survive), an empty string inside every
/// repeated string field, negative int32s (sign-extended on the wire).
fn sample(s: &Schema, id: MsgId, depth: usize, out: &mut Map<String, Value>) {
    for f in &s.message(id).fields {
        let Some(name) = f.json else {
            if let FieldType::Message(inner) = f.ty {
                sample(s, inner, depth, out);
            }
            continue;
        };
        let one = |zero: bool| sample_value(s, f, depth, zero);
        let v = if f.map_key.is_some() {
            json!({"k": one(false), "": one(false)})
        } else if f.repeated {
            json!([one(false), one(true)])
        } else {
            one(f.pointer)
        };
        if !v.is_null() {
            out.insert(name.to_string(), v);
        }
    }
}

fn sample_value(s: &Schema, f: &Field, depth: usize, zero: bool) -> Value {
    let n = i64::from(f.number);
    match f.ty {
        FieldType::Scalar(Scalar::String) if zero => json!(""),
        FieldType::Scalar(Scalar::String) => json!(format!("s{n}<&>\u{2028}")),
        FieldType::Scalar(Scalar::Bytes) if zero => json!(""),
        FieldType::Scalar(Scalar::Bytes) => json!("AAEC/w=="),
        FieldType::Scalar(Scalar::Bool) => json!(!zero),
        FieldType::Scalar(Scalar::Int32) if zero => json!(0),
        FieldType::Scalar(Scalar::Int32) => json!(-n),
        FieldType::Scalar(Scalar::Int64) if zero => json!(0),
        FieldType::Scalar(Scalar::Int64) => json!((1i64 << 40) + n),
        FieldType::Scalar(Scalar::Double) => json!(if zero { 0.0 } else { 1.5 }),
        FieldType::Scalar(Scalar::Any) => json!({"any": [n]}),
        FieldType::Message(id) => {
            let m = s.message(id);
            match (m.repr, m.name) {
                (Repr::Embedded, _) => {
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})
                }
                (_, "meta.v1.Time") => json!("2026-12-06T10:00:00Z"),
                (_, "meta.v1.MicroTime") => json!("2026-12-06T10:00:00.123456Z"),
                (_, "intstr.IntOrString") if n % 2 == 0 => json!("http"),
                (_, "intstr.IntOrString") => json!(8080),
                (_, "resource.Quantity") => json!("1500Mi"),
                (_, "meta.v1.FieldsV1") => json!({"f:metadata": {"f:name": {}}}),
                (Repr::Leaf, _) => json!(["get", ""]),
                (Repr::Struct, _) if depth > 40 => Value::Null,
                (Repr::Struct, _) => {
                    let mut out = Map::new();
                    sample(s, id, depth + 1, &mut out);
                    Value::Object(out)
                }
            }
        }
    }
}

#[test]
fn every_message_of_the_schema_round_trips_every_field() {
    let s = schema::get();
    for id in 0..s.len() {
        let m = s.message(id);
        if m.repr != Repr::Struct {
            continue;
        }
        let mut v = Map::new();
        sample(s, id, 0, &mut v);
        let mut bytes = Vec::new();
        Encoder { schema: s }
            .message(&mut bytes, Some(&v), id, 0)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        let back = Decoder { schema: s }
            .message(&bytes, id, 0)
            .unwrap_or_else(|e| panic!("{}: {e}", m.name));
        assert_eq!(Value::Object(back), Value::Object(v), "{}", m.name);
    }
}

#[test]
fn kinds_round_trip_through_the_envelope() {
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
                 "selector": {"app": "web"}, "type": "ClusterIP", "allocateLoadBalancerNodePorts": false}});
    let bytes = encode(&svc).unwrap();
    assert!(bytes.starts_with(b"k8s\0"));
    assert_eq!(decode(&bytes).unwrap(), svc);
    // A nested object in protobuf (a Table row's or a List's RawExtension) decodes too.
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"},
        "spec": {"holderIdentity": "a", "renewTime": "2026-12-06T10:00:00.000001Z", "leaseDurationSeconds": 15}});
    assert_eq!(decode(&encode(&lease).unwrap()).unwrap(), lease);
    assert_eq!(
        encode(&json!({"apiVersion": "v1", "kind": "Nope"})),
        Err(ProtobufError::UnknownKind("Nope".into()))
    );
}

#[test]
fn a_deeply_nested_body_is_refused_not_a_stack_overflow() {
    // RawExtension inside RawExtension...: a meta.v1.List whose item is a List, 200 deep.
    let mut body = Vec::new();
    for _ in 0..200 {
        let mut item = Vec::new();
        put_bytes(&mut item, 1, &body); // RawExtension.raw
        let mut list = Vec::new();
        put_bytes(&mut list, 2, &item); // List.items
        let mut tm = Vec::new();
        put_bytes(&mut tm, 1, b"v1");
        put_bytes(&mut tm, 2, b"List");
        let mut env = b"k8s\0".to_vec();
        put_bytes(&mut env, 1, &tm);
        put_bytes(&mut env, 2, &list);
        body = env;
    }
    assert_eq!(
        decode(&body),
        Err(ProtobufError::Malformed("messages nested too deeply"))
    );
}

#[test]
fn a_list_spliced_from_its_items_messages_is_the_list_encoded_whole() {
    let pods = [
        json!({"spec": {"containers": [{"name": "c", "image": "i"}]}, "metadata": {"name": "a", "labels": {"z": "1", "a": "2"}}}),
        json!({"status": {"phase": "Running"}, "metadata": {"name": "b", "namespace": "n"}}),
    ];
    let items: Vec<Vec<u8>> = pods.iter().map(|p| item(p, "v1", "Pod").unwrap()).collect();
    for n in [0, 1, 2] {
        let meta = json!({"resourceVersion": "9", "continue": "c", "remainingItemCount": 3});
        let envelope = json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta});
        let mut whole = envelope.clone();
        whole["items"] = Value::Array(pods[..n].to_vec());
        assert_eq!(
            splice_items(&envelope, &items[..n]).unwrap(),
            encode(&whole).unwrap(),
            "{n} items"
        );
    }
    // Not a list, or a kind without a protobuf form: refused, never written wrong.
    let pod = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {}});
    assert!(splice_items(&pod, &items).is_err());
    let thing = json!({"kind": "ThingList", "apiVersion": "example.io/v1", "metadata": {}});
    assert!(splice_items(&thing, &items).is_err());
    assert!(item(&pods[0], "example.io/v1", "Thing").is_err());
}

#[test]
fn a_watch_frame_is_a_length_and_a_raw_watch_event_holding_the_encoded_object() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "resourceVersion": "7"},
        "data": {"k": "v"}});
    let object = encode(&cm).unwrap();
    for type_ in ["ADDED", "BOOKMARK"] {
        let frame = watch_event_frame(type_, &object).unwrap();
        let (len, event) = frame.split_at(4);
        assert_eq!(
            u32::from_be_bytes(len.try_into().unwrap()) as usize,
            event.len()
        );
        // No `k8s\0` of its own: the event is the raw message the stream's media type names.
        assert!(!event.starts_with(b"k8s\0"));
        // Read as a meta.v1.WatchEvent, the event is its type and the object whole.
        let as_event = envelope_bytes("v1", "WatchEvent", event);
        assert_eq!(
            decode(&as_event).unwrap(),
            json!({"apiVersion": "v1", "kind": "WatchEvent", "type": type_, "object": cm})
        );
    }
    assert!(has_form("v1", "ConfigMap"));
    assert!(has_form("v1", "Status"));
    assert!(!has_form("v1", "Nope"));
}
