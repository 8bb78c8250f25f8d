//! EndpointSlices (`discovery.k8s.io/v1`): `pkg/registry/discovery/endpointslice/strategy.go`,
//! with the defaults of `pkg/apis/discovery/v1/defaults.go`, the validation of
//! `pkg/apis/discovery/validation/validation.go` and the columns of `printEndpointSlice`.

use crate::resource::{col, name_of, typed_check, Column, Strategy, AGE_COLUMN, NAME_COLUMN};
use crate::validation::{dns1123_label, dns1123_subdomain, FieldErrors};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::{json, Value};

/// `supportedAddressTypes`.
const ADDRESS_TYPES: [&str; 3] = ["FQDN", "IPv4", "IPv6"];
/// `supportedPortProtocols`.
const PROTOCOLS: [&str; 3] = ["SCTP", "TCP", "UDP"];
/// `maxEndpoints`, `maxAddresses`, `maxPorts`.
const MAX_ENDPOINTS: usize = 1000;
const MAX_ADDRESSES: usize = 100;
const MAX_PORTS: usize = 20000;

pub(super) struct EndpointSliceStrategy;

/// Up to three items, then `+ N more...`; `<unset>` for none (`listWithMoreString`).
fn list_with_more(items: impl Iterator<Item = String>) -> String {
    let all: Vec<String> = items.collect();
    let shown = all.iter().take(3).cloned().collect::<Vec<_>>().join(",");
    match all.len() {
        0 => "<unset>".into(),
        n if n > 3 => format!("{shown} + {} more...", n - 3),
        _ => shown,
    }
}

fn items<'a>(obj: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    obj.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn valid_ip(text: &str, v6: bool) -> bool {
    match text.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => !v6 && !text.contains(':'),
        Ok(std::net::IpAddr::V6(_)) => v6,
        Err(_) => false,
    }
}

impl Strategy for EndpointSliceStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<EndpointSlice>(obj)
    }
    /// `SetDefaults_EndpointPort`: a port without a name has the name "", without a
    /// protocol TCP.
    fn defaults(&self, obj: &mut Value) {
        if let Some(ports) = obj.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter(|p| p.is_object()) {
                if p.get("name").is_none_or(Value::is_null) {
                    p["name"] = json!("");
                }
                if p.get("protocol").is_none_or(Value::is_null) {
                    p["protocol"] = json!("TCP");
                }
            }
        }
    }
    /// `PrepareForCreate`: the first generation.
    fn prepare_for_create(&self, obj: &mut Value) {
        if obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"]["generation"] = json!(1);
        }
    }
    /// `PrepareForUpdate`: the generation moves when anything but the metadata changed
    /// (a client's own `generation` is not kept, as `BeforeUpdate` resets it).
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let generation = old
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let body = |o: &Value| {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("metadata");
                m.remove("apiVersion");
                m.remove("kind");
            }
            o
        };
        let changed = body(new) != body(old);
        if new.get("metadata").is_some_and(Value::is_object) {
            new["metadata"]["generation"] = json!(generation + i64::from(changed));
        }
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        let address_type = obj.get("addressType").and_then(Value::as_str).unwrap_or("");
        if address_type.is_empty() {
            errs.required("addressType", "");
        } else if !ADDRESS_TYPES.contains(&address_type) {
            errs.not_supported("addressType", &json!(address_type), &ADDRESS_TYPES);
        }
        let endpoints: Vec<&Value> = items(obj, "endpoints").collect();
        if endpoints.len() > MAX_ENDPOINTS {
            errs.too_many("endpoints", endpoints.len(), MAX_ENDPOINTS);
        } else {
            for (i, e) in endpoints.iter().enumerate() {
                let path = format!("endpoints[{i}].addresses");
                let addresses: Vec<&Value> = items(e, "addresses").collect();
                if addresses.is_empty() {
                    errs.required(&path, "must contain at least 1 address");
                } else if addresses.len() > MAX_ADDRESSES {
                    errs.too_many(&path, addresses.len(), MAX_ADDRESSES);
                }
                for (j, a) in addresses.iter().enumerate() {
                    let text = a.as_str().unwrap_or("");
                    let field = format!("{path}[{j}]");
                    match address_type {
                        "IPv4" if !valid_ip(text, false) => {
                            errs.invalid(&field, a, "must be a valid IPv4 address");
                        }
                        "IPv6" if !valid_ip(text, true) => {
                            errs.invalid(&field, a, "must be a valid IPv6 address");
                        }
                        "FQDN" => {
                            for m in dns1123_subdomain(text) {
                                errs.invalid(&field, a, &m);
                            }
                        }
                        _ => {}
                    }
                }
                if let Some(h) = e.get("hostname").and_then(Value::as_str) {
                    for m in dns1123_label(h) {
                        errs.invalid(&format!("endpoints[{i}].hostname"), &json!(h), &m);
                    }
                }
            }
        }
        let ports: Vec<&Value> = items(obj, "ports").collect();
        if ports.len() > MAX_PORTS {
            errs.too_many("ports", ports.len(), MAX_PORTS);
            return;
        }
        let mut names = std::collections::HashSet::new();
        for (i, p) in ports.iter().enumerate() {
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            if !name.is_empty() {
                for m in dns1123_label(name) {
                    errs.invalid(&format!("ports[{i}].name"), &json!(name), &m);
                }
            }
            if !names.insert(name) {
                errs.duplicate(&format!("ports[{i}].name"), &json!(name));
            }
            let protocol = p.get("protocol").and_then(Value::as_str).unwrap_or("");
            if !PROTOCOLS.contains(&protocol) {
                errs.not_supported(
                    &format!("ports[{i}].protocol"),
                    &json!(protocol),
                    &PROTOCOLS,
                );
            }
            if let Some(port) = p.get("port").filter(|v| !v.is_null()) {
                if !port.as_i64().is_some_and(|n| (1..=65535).contains(&n)) {
                    errs.invalid(
                        &format!("ports[{i}].port"),
                        port,
                        "must be between 1 and 65535, inclusive",
                    );
                }
            }
        }
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs);
        if new.get("addressType") != old.get("addressType") {
            errs.immutable(
                "addressType",
                new.get("addressType").unwrap_or(&Value::Null),
            );
        }
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col(
                "AddressType",
                "string",
                "addressType specifies the type of address carried by this EndpointSlice. All addresses in this slice must be the same type. This field is immutable after creation. The following address types are currently supported: * IPv4: Represents an IPv4 Address. * IPv6: Represents an IPv6 Address. * FQDN: Represents a Fully Qualified Domain Name.",
                0,
            ),
            col(
                "Ports",
                "string",
                "ports specifies the list of network ports exposed by each endpoint in this slice. Each port must have a unique name. When ports is empty, it indicates that there are no defined ports. When a port is defined with a nil port value, it indicates \"all ports\". Each slice may include a maximum of 100 ports.",
                0,
            ),
            col(
                "Endpoints",
                "string",
                "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of 1000 endpoints.",
                0,
            ),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    /// `formatDiscoveryPorts` and `formatDiscoveryEndpoints`.
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let ports = list_with_more(items(obj, "ports").map(|p| {
            match (
                p.get("port").and_then(Value::as_i64),
                p.get("name").and_then(Value::as_str),
            ) {
                (Some(n), _) => n.to_string(),
                (None, Some(name)) => name.to_string(),
                (None, None) => "*".into(),
            }
        }));
        let endpoints = list_with_more(
            items(obj, "endpoints")
                .flat_map(|e| items(e, "addresses"))
                .map(|a| a.as_str().unwrap_or("").to_string()),
        );
        vec![
            name_of(obj).into(),
            obj.get("addressType").cloned().unwrap_or(Value::Null),
            ports.into(),
            endpoints.into(),
            age.into(),
        ]
    }
}
