//! Byte-exact expectations, each written from what kube-apiserver 1.33 sends.

use super::*;
use serde_json::json;

/// One case: the value, how it is laid out, and the exact bytes upstream writes.
fn check(v: Value, layout: Layout, want: &str) {
    let got = String::from_utf8(to_vec(&v, layout)).expect("UTF-8");
    assert_eq!(got, want, "\n got: {got}\nwant: {want}");
}

#[test]
fn status_in_go_field_order_with_a_newline() {
    // `kubectl get ns x -v8` shows this body for a missing namespace.
    check(
        json!({"code": 404, "details": {"kind": "namespaces", "name": "x"}, "kind": "Status",
               "message": "namespaces \"x\" not found", "metadata": {}, "reason": "NotFound",
               "status": "Failure", "apiVersion": "v1"}),
        Layout::Compact,
        "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\
         \"message\":\"namespaces \\\"x\\\" not found\",\"reason\":\"NotFound\",\
         \"details\":{\"name\":\"x\",\"kind\":\"namespaces\"},\"code\":404}\n",
    );
}

#[test]
fn pretty_as_marshal_indent_without_a_newline() {
    // The tutorial's `curl $APISERVER/api` (an APIVersions, which upstream writes without
    // apiVersion).
    check(
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"serverAddress": "10.136.102.232:6443", "clientCIDR": "0.0.0.0/0"}]}),
        Layout::Pretty,
        "{\n  \"kind\": \"APIVersions\",\n  \"versions\": [\n    \"v1\"\n  ],\n  \
         \"serverAddressByClientCIDRs\": [\n    {\n      \"clientCIDR\": \"0.0.0.0/0\",\n      \
         \"serverAddress\": \"10.136.102.232:6443\"\n    }\n  ]\n}",
    );
    // Empty objects and arrays stay closed up, as json.Indent leaves them.
    check(
        json!({"kind": "ConfigMapList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"}, "items": []}),
        Layout::Pretty,
        "{\n  \"kind\": \"ConfigMapList\",\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\n    \
         \"resourceVersion\": \"7\"\n  },\n  \"items\": []\n}",
    );
}

#[test]
fn nested_structs_maps_and_lists_follow_their_types() {
    check(
        json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
               "data": {"b": "Yg==", "a": "YQ=="},
               "metadata": {"uid": "u", "namespace": "default", "name": "s", "resourceVersion": "3",
                            "creationTimestamp": "2026-12-06T10:00:00Z", "labels": {"z": "1", "a": "2"}}}),
        Layout::Compact,
        "{\"kind\":\"Secret\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"s\",\"namespace\":\"default\",\
         \"uid\":\"u\",\"resourceVersion\":\"3\",\"creationTimestamp\":\"2026-12-06T10:00:00Z\",\
         \"labels\":{\"a\":\"2\",\"z\":\"1\"}},\"data\":{\"a\":\"YQ==\",\"b\":\"Yg==\"},\"type\":\"Opaque\"}\n",
    );
    // A RoleBinding: subjects in order, roleRef after them, as the Go struct declares.
    check(
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "roleRef": {"name": "view", "kind": "ClusterRole", "apiGroup": "rbac.authorization.k8s.io"},
               "subjects": [{"name": "bob", "kind": "User", "apiGroup": "rbac.authorization.k8s.io"}],
               "metadata": {"name": "b"}}),
        Layout::Compact,
        "{\"kind\":\"RoleBinding\",\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"metadata\":{\"name\":\"b\"},\
         \"subjects\":[{\"kind\":\"User\",\"apiGroup\":\"rbac.authorization.k8s.io\",\"name\":\"bob\"}],\
         \"roleRef\":{\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"view\"}}\n",
    );
}

#[test]
fn inline_structs_write_their_fields_in_place() {
    // Volume embeds VolumeSource (`json:",inline"`); SecretKeySelector embeds
    // LocalObjectReference before its key.
    check(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"volumes": [{"secret": {"secretName": "s"}, "name": "v"}],
                        "containers": [{"name": "c", "env": [{"valueFrom": {"secretKeyRef": {"key": "k", "name": "s"}}, "name": "X"}]}]}}),
        Layout::Compact,
        "{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\"},\"spec\":{\
         \"volumes\":[{\"name\":\"v\",\"secret\":{\"secretName\":\"s\"}}],\
         \"containers\":[{\"name\":\"c\",\"env\":[{\"name\":\"X\",\"valueFrom\":{\"secretKeyRef\":{\"name\":\"s\",\"key\":\"k\"}}}]}]}}\n",
    );
}

#[test]
fn unknown_keys_and_kinds_keep_every_key_sorted_after_the_known() {
    check(
        json!({"kind": "ConfigMap", "apiVersion": "v1", "zz": 1, "data": {}, "aa": [true, null], "metadata": {"name": "c", "future": "x"}}),
        Layout::Compact,
        "{\"kind\":\"ConfigMap\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"c\",\"future\":\"x\"},\
         \"data\":{},\"aa\":[true,null],\"zz\":1}\n",
    );
    check(
        json!({"kind": "Mystery", "apiVersion": "example.io/v1", "b": 1.5, "a": -2}),
        Layout::Compact,
        "{\"a\":-2,\"apiVersion\":\"example.io/v1\",\"b\":1.5,\"kind\":\"Mystery\"}\n",
    );
}

#[test]
fn strings_are_escaped_as_go_escapes_them() {
    let mut out = Vec::new();
    write_str(
        &mut out,
        "a<b>&\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{2028}\u{2029}é☃",
    );
    assert_eq!(
        String::from_utf8(out).expect("UTF-8"),
        "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\\u2028\\u2029é☃\""
    );
}

#[test]
fn watch_events_and_embedded_objects() {
    let pod = json!({"metadata": {"name": "p"}, "apiVersion": "v1", "kind": "Pod"});
    assert_eq!(
        String::from_utf8(watch_event("ADDED", &pod)).expect("UTF-8"),
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"p\"}}}\n"
    );
    // A Table's row carries its object (a RawExtension) in that object's own order.
    check(
        json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "1"},
               "columnDefinitions": [{"type": "string", "priority": 0, "name": "Name", "format": "name", "description": "d"}],
               "rows": [{"object": {"metadata": {"name": "p"}, "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1"}, "cells": ["p", {"b": 1, "a": 2}]}]}),
        Layout::Compact,
        "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"1\"},\
         \"columnDefinitions\":[{\"name\":\"Name\",\"type\":\"string\",\"format\":\"name\",\"description\":\"d\",\"priority\":0}],\
         \"rows\":[{\"cells\":[\"p\",{\"a\":2,\"b\":1}],\"object\":{\"kind\":\"PartialObjectMetadata\",\
         \"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"name\":\"p\"}}}]}\n",
    );
}

#[test]
fn output_is_json_that_reads_back_equal() {
    for v in [
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "annotations": {"a<": "\u{2028}&"}},
               "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}}}]},
               "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
        json!([1, {"x": [[]]}, "s"]),
        json!(null),
        json!({"kind": "Status", "apiVersion": "v1", "message": "a \\\" ,:{}[] b", "details": {"causes": [{}, []]}}),
    ] {
        for layout in [Layout::Compact, Layout::Pretty] {
            let back: Value = serde_json::from_slice(&to_vec(&v, layout)).expect("valid JSON");
            assert_eq!(back, v);
        }
        // Indenting the compact bytes is the pretty layout, as MarshalIndent is Indent(Marshal).
        assert_eq!(
            String::from_utf8(indent(&to_vec(&v, Layout::Compact))).expect("UTF-8"),
            String::from_utf8(to_vec(&v, Layout::Pretty)).expect("UTF-8")
        );
    }
}

#[test]
fn a_list_spliced_from_its_items_bytes_is_the_list_encoded_whole() {
    let pods = [
        json!({"spec": {"containers": [{"name": "c", "image": "i"}]}, "metadata": {"name": "a", "labels": {"z": "1", "a": "<"}}}),
        json!({"status": {"phase": "Running"}, "metadata": {"name": "b\u{2028}", "namespace": "n"}}),
    ];
    // A continue token and a count in the envelope; an unknown kind sorts "items" among the
    // other keys rather than last.
    for (api_version, kind) in [("v1", "PodList"), ("example.io/v1", "ThingList")] {
        let item_kind = kind.trim_end_matches("List");
        let items: Vec<Vec<u8>> = pods
            .iter()
            .map(|p| item(p, api_version, item_kind))
            .collect();
        for n in [0, 1, 2] {
            let meta = json!({"resourceVersion": "9", "continue": "eyJ2IjoiaXRlbXMiOltdfQ==\"items\":[]", "remainingItemCount": 3});
            let envelope =
                json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": []});
            let mut whole = envelope.clone();
            whole["items"] = Value::Array(pods[..n].to_vec());
            assert_eq!(
                String::from_utf8(splice_items(&envelope, &items[..n])).unwrap(),
                String::from_utf8(to_vec(&whole, Layout::Compact)).unwrap(),
                "{kind}, {n} items"
            );
        }
    }
}
