//! A Service's cluster IP and node ports, allocated as kube-apiserver 1.33's Service REST
//! storage allocates them (`pkg/registry/core/service/storage/alloc.go`): a cluster IP from
//! `--service-cluster-ip-range` for every Service but ExternalName and headless ones, a node
//! port from `--service-node-port-range` for each port of a NodePort or LoadBalancer Service,
//! chosen by the client or at random (preferring the upper band of each range, which
//! upstream keeps for dynamic allocation: `ServiceIPStaticSubrange`), and released with the
//! Service.
//!
//! Each IP and port held is a key of its own in the store, claimed by a create, as 1.33's
//! allocator claims an `IPAddress` object per IP (stored here as one, under upstream's key,
//! though no API serves them): two replicas on one etcd never hand out the same address.

use super::{Registry, WriteOptions};
use crate::validation::FieldErrors;
use crate::ResourceDef;
use api_types::StatusError;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use storage::StorageError;

use crate::keys::{IP_KEYS, PORT_KEYS};

/// The ranges Services take addresses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRanges {
    /// The cluster IP range's network address.
    pub network: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// The node port range, inclusive.
    pub node_ports: (u16, u16),
}

impl Default for ServiceRanges {
    /// kube-apiserver's defaults: `10.96.0.0/12` and `30000-32767`.
    fn default() -> Self {
        ServiceRanges {
            network: Ipv4Addr::new(10, 96, 0, 0),
            prefix: 12,
            node_ports: (30000, 32767),
        }
    }
}

impl ServiceRanges {
    /// `--service-cluster-ip-range` (an IPv4 CIDR of at most 2^20 addresses, as upstream
    /// refuses larger ones) and `--service-node-port-range` (`LOW-HIGH` or `BASE+SIZE`).
    pub fn parse(cidr: &str, ports: &str) -> Result<ServiceRanges, String> {
        let (ip, len) = cidr
            .split_once('/')
            .ok_or_else(|| format!("invalid CIDR address: {cidr}"))?;
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| format!("invalid CIDR address: {cidr} (only IPv4 ranges are served)"))?;
        let prefix: u8 = len
            .parse()
            .ok()
            .filter(|p| *p <= 30)
            .ok_or_else(|| format!("invalid CIDR address: {cidr}"))?;
        if prefix < 12 {
            return Err("specified --service-cluster-ip-range is too large; for 32-bit addresses, the mask must be >= 12".to_string());
        }
        let mask = u32::MAX << (32 - u32::from(prefix));
        let network = Ipv4Addr::from(u32::from(ip) & mask);
        let (low, high) = if let Some((base, size)) = ports.split_once('+') {
            let base: u16 = base.trim().parse().map_err(|_| bad_ports(ports))?;
            let size: u16 = size.trim().parse().map_err(|_| bad_ports(ports))?;
            (
                base,
                base.checked_add(size.saturating_sub(1))
                    .ok_or_else(|| bad_ports(ports))?,
            )
        } else {
            let (l, h) = ports.split_once('-').ok_or_else(|| bad_ports(ports))?;
            (
                l.trim().parse().map_err(|_| bad_ports(ports))?,
                h.trim().parse().map_err(|_| bad_ports(ports))?,
            )
        };
        if low == 0 || high < low {
            return Err(bad_ports(ports));
        }
        Ok(ServiceRanges {
            network,
            prefix,
            node_ports: (low, high),
        })
    }

    /// How many addresses the range holds, its network and broadcast addresses excluded.
    fn size(&self) -> u32 {
        (1u32 << (32 - u32::from(self.prefix))) - 2
    }

    /// The `n`th usable address (0 is the network's first host).
    fn ip(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1 + n)
    }

    /// The first address, the `kubernetes` Service's (upstream's `GetIndexedIP(range, 1)`).
    pub fn first_ip(&self) -> Ipv4Addr {
        self.ip(0)
    }

    fn contains(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip).wrapping_sub(u32::from(self.network));
        n >= 1 && n <= self.size()
    }

    /// `--service-cluster-ip-range` as written.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.network, self.prefix)
    }
}

fn bad_ports(ports: &str) -> String {
    format!("invalid --service-node-port-range {ports:?}: want LOW-HIGH (30000-32767) or BASE+SIZE")
}

/// Upstream's static-band offset (`calculateRangeOffset`): dynamic allocation prefers
/// addresses from `min(max(16, size/step), max)` on.
fn band_offset(size: u32, step: u32, max: u32) -> u32 {
    (size / step).clamp(16, max).min(size)
}

/// The addresses a Service holds: its cluster IP and node ports.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Held {
    ip: Option<Ipv4Addr>,
    ports: Vec<u16>,
}

fn spec_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["spec"][field].as_str().unwrap_or("")
}

fn held(obj: &Value) -> Held {
    Held {
        ip: spec_str(obj, "clusterIP").parse().ok(),
        ports: obj["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["nodePort"].as_u64())
            .filter_map(|p| u16::try_from(p).ok())
            .collect(),
    }
}

/// Whether the Service type takes node ports.
fn takes_node_ports(obj: &Value) -> bool {
    match spec_str(obj, "type") {
        "NodePort" => true,
        "LoadBalancer" => obj["spec"]["allocateLoadBalancerNodePorts"] != Value::Bool(false),
        _ => false,
    }
}

/// A replaced Service keeps what it was given where the new one leaves it out
/// (`patchAllocatedValues`): its cluster IPs, and each port's node port when the port (by
/// name and number) is still there.
pub(crate) fn keep_allocated(new: &mut Value, old: &Value) {
    let (new_type, old_type) = (spec_str(new, "type"), spec_str(old, "type"));
    if new_type != "ExternalName" && old_type != "ExternalName" {
        let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) else {
            return;
        };
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let missing = spec
                .get(f)
                .is_none_or(|v| v.is_null() || v == "" || v == &json!([]));
            if missing {
                if let Some(v) = old["spec"].get(f) {
                    spec.insert(f.into(), v.clone());
                }
            }
        }
    }
    if takes_node_ports(new) && takes_node_ports(old) {
        let old_ports: Vec<&Value> = old["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                if p.get("nodePort")
                    .is_some_and(|n| n.as_u64().is_some_and(|n| n != 0))
                {
                    continue;
                }
                let same = old_ports.iter().find(|o| {
                    o["port"] == p.get("port").cloned().unwrap_or_default()
                        && o["name"]
                            == p.get("name")
                                .cloned()
                                .unwrap_or(Value::String(String::new()))
                });
                if let Some(n) = same.and_then(|o| o.get("nodePort")) {
                    p.insert("nodePort".into(), n.clone());
                }
            }
        }
    }
}

/// The cluster-IP fields that do not change once set (`ValidateServiceUpdate`).
pub(crate) fn validate_update(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (new_ip, old_ip) = (spec_str(new, "clusterIP"), spec_str(old, "clusterIP"));
    let external =
        spec_str(new, "type") == "ExternalName" || spec_str(old, "type") == "ExternalName";
    if !old_ip.is_empty() && new_ip != old_ip && !external {
        errs.invalid_rendered(
            "spec.clusterIPs[0]",
            &format!("[]string{{{new_ip:?}}}"),
            "may not change once set",
        );
    }
}

/// Why a Service could not be given its addresses.
enum Failure {
    /// The client asked for what cannot be had (422).
    Invalid(FieldErrors),
    /// Nothing is left in the range (upstream's 500).
    Full(&'static str),
    /// The store failed (its own 5xx).
    Store(StorageError),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Store(e)
    }
}

/// What a write claimed, to give back if the write fails.
#[derive(Debug, Default)]
pub(crate) struct Claimed(Vec<String>);

impl Registry {
    fn ranges(&self) -> ServiceRanges {
        self.service_ranges
    }

    /// Gives out what `obj` (a Service about to be stored, replacing `old` if any) needs and
    /// does not yet hold, writing it into the object; with `dry_run` nothing is claimed.
    pub(crate) fn allocate_service(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOptions,
    ) -> Result<Claimed, StatusError> {
        let mut claimed = Claimed::default();
        let result = self.allocate_into(obj, old, opts.dry_run, &mut claimed);
        match result {
            Ok(()) => Ok(claimed),
            Err(e) => {
                self.release_keys(&claimed);
                Err(match e {
                    Failure::Invalid(errs) => Self::invalid(def, obj, errs),
                    // alloc.go: a full range is not the client's field error.
                    Failure::Full(what) => {
                        StatusError::internal(format!("failed to allocate a {what}: range is full"))
                    }
                    Failure::Store(e) => {
                        let name = obj
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        super::status_from_storage(def, "create", name, e)
                    }
                })
            }
        }
    }

    fn allocate_into(
        &self,
        obj: &mut Value,
        old: Option<&Value>,
        dry_run: bool,
        claimed: &mut Claimed,
    ) -> Result<(), Failure> {
        let ranges = self.ranges();
        let owner = format!(
            "{}/{}",
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(""),
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        let had = old.map(held).unwrap_or_default();
        let mut errs = FieldErrors::default();
        let kind = spec_str(obj, "type").to_string();
        let cluster_ip = spec_str(obj, "clusterIP").to_string();
        if kind != "ExternalName" {
            let has_selector = obj["spec"]["selector"]
                .as_object()
                .is_some_and(|m| !m.is_empty());
            let spec = obj.get_mut("spec").and_then(Value::as_object_mut);
            let Some(spec) = spec else { return Ok(()) };
            if cluster_ip == "None" {
                spec.insert("clusterIPs".into(), json!(["None"]));
                spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
                // A headless Service without a selector takes every family the cluster has.
                let policy = if has_selector {
                    "SingleStack"
                } else {
                    "RequireDualStack"
                };
                spec.entry("ipFamilyPolicy")
                    .or_insert_with(|| policy.into());
            } else {
                let ip = if cluster_ip.is_empty() {
                    match self.claim_dynamic_ip(&ranges, &owner, dry_run, claimed)? {
                        Some(ip) => ip,
                        None => return Err(Failure::Full("serviceIP")),
                    }
                } else {
                    let Ok(ip) = cluster_ip.parse::<Ipv4Addr>() else {
                        errs.invalid(
                            "spec.clusterIPs[0]",
                            &Value::String(cluster_ip.clone()),
                            "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                        );
                        return Err(Failure::Invalid(errs));
                    };
                    if had.ip != Some(ip) {
                        let why = if !ranges.contains(ip) {
                            Some(format!(
                                "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {}",
                                ranges.cidr()
                            ))
                        } else if !self.claim(
                            &format!("{IP_KEYS}{ip}"),
                            &owner,
                            dry_run,
                            claimed,
                        )? {
                            Some("provided IP is already allocated".to_string())
                        } else {
                            None
                        };
                        if let Some(why) = why {
                            errs.invalid_rendered(
                                "spec.clusterIPs",
                                &format!("[]string{{{:?}}}", ip.to_string()),
                                &format!("failed to allocate IP {ip}: {why}"),
                            );
                            return Err(Failure::Invalid(errs));
                        }
                    }
                    ip
                };
                spec.insert("clusterIP".into(), ip.to_string().into());
                spec.insert("clusterIPs".into(), json!([ip.to_string()]));
                spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
                spec.entry("ipFamilyPolicy")
                    .or_insert_with(|| "SingleStack".into());
            }
        }
        if takes_node_ports(obj) {
            let (low, high) = ranges.node_ports;
            let count = usize::from(high - low) + 1;
            let ports = obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut);
            for (i, p) in ports.into_iter().flatten().enumerate() {
                let Some(p) = p.as_object_mut() else { continue };
                let given = p
                    .get("nodePort")
                    .and_then(Value::as_i64)
                    .filter(|n| *n != 0);
                match given {
                    Some(n) => {
                        // ValidateService's port check comes before any allocation.
                        let Some(n16) = u16::try_from(n).ok().filter(|n| *n != 0) else {
                            errs.invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                &Value::from(n),
                                "must be between 1 and 65535, inclusive",
                            );
                            continue;
                        };
                        if had.ports.contains(&n16) {
                            continue;
                        }
                        let why = if n16 < low || n16 > high {
                            Some(format!("provided port is not in the valid range. The range of valid ports is {low}-{high}"))
                        } else if !self.claim(
                            &format!("{PORT_KEYS}{n16}"),
                            &owner,
                            dry_run,
                            claimed,
                        )? {
                            Some("provided port is already allocated".to_string())
                        } else {
                            None
                        };
                        if let Some(why) = why {
                            errs.invalid(
                                &format!("spec.ports[{i}].nodePort"),
                                &Value::from(n),
                                &why,
                            );
                        }
                    }
                    None => {
                        let offset = band_offset(u32::try_from(count).unwrap_or(0), 32, 128);
                        let pick = self.pick(
                            u32::try_from(count).unwrap_or(0),
                            offset,
                            |k| format!("{PORT_KEYS}{}", u32::from(low) + k),
                            &owner,
                            dry_run,
                            claimed,
                        )?;
                        match pick {
                            Some(k) => {
                                p.insert("nodePort".into(), (u32::from(low) + k).into());
                            }
                            None => return Err(Failure::Full("nodePort")),
                        }
                    }
                }
            }
        } else if kind == "ClusterIP" {
            for (i, p) in obj["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                if p["nodePort"].as_i64().is_some_and(|n| n != 0) {
                    errs.forbidden(
                        &format!("spec.ports[{i}].nodePort"),
                        "may not be used when `type` is 'ClusterIP'",
                    );
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(Failure::Invalid(errs))
        }
    }

    fn claim_dynamic_ip(
        &self,
        ranges: &ServiceRanges,
        owner: &str,
        dry_run: bool,
        claimed: &mut Claimed,
    ) -> Result<Option<Ipv4Addr>, StorageError> {
        let size = ranges.size();
        let offset = band_offset(size, 16, 256);
        let n = self.pick(
            size,
            offset,
            |n| format!("{IP_KEYS}{}", ranges.ip(n)),
            owner,
            dry_run,
            claimed,
        )?;
        Ok(n.map(|n| ranges.ip(n)))
    }

    /// A free index in `0..size`: random ones from the upper band (`offset..size`) first,
    /// then a walk from a random start through the upper band and then the lower one.
    /// `None` when every index is taken; a store that fails ends the search.
    fn pick(
        &self,
        size: u32,
        offset: u32,
        key: impl Fn(u32) -> String,
        owner: &str,
        dry_run: bool,
        claimed: &mut Claimed,
    ) -> Result<Option<u32>, StorageError> {
        if size == 0 {
            return Ok(None);
        }
        let upper = size - offset.min(size - 1);
        let base = size - upper;
        for _ in 0..32 {
            let n = base + u32::try_from(self.random_below(u64::from(upper))).unwrap_or(0);
            if self.claim(&key(n), owner, dry_run, claimed)? {
                return Ok(Some(n));
            }
        }
        let start = u32::try_from(self.random_below(u64::from(upper))).unwrap_or(0);
        let upper_walk = (0..upper).map(|i| base + (start + i) % upper);
        for n in upper_walk.chain(0..base) {
            if self.claim(&key(n), owner, dry_run, claimed)? {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// Claims one key (a dry run only looks): false when another object holds it; an error
    /// when the store cannot say.
    fn claim(
        &self,
        key: &str,
        owner: &str,
        dry_run: bool,
        claimed: &mut Claimed,
    ) -> Result<bool, StorageError> {
        if dry_run {
            return Ok(self.storage.get(key)?.is_none());
        }
        let (namespace, name) = owner.split_once('/').unwrap_or(("", owner));
        let held = key.rsplit('/').next().unwrap_or("");
        let value = if key.starts_with(IP_KEYS) {
            // An IPAddress, as 1.33's allocator writes one for the Service's IP.
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
                   "metadata": {"name": held, "labels": {"ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
                   "spec": {"parentRef": {"group": "", "resource": "services", "namespace": namespace, "name": name}}})
        } else {
            json!({"port": held, "service": {"namespace": namespace, "name": name}})
        };
        let value = serde_json::to_vec(&value).unwrap_or_default();
        match self.storage.create(key, value) {
            Ok(_) => {
                claimed.0.push(key.to_string());
                Ok(true)
            }
            Err(StorageError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn release_keys(&self, claimed: &Claimed) {
        for k in &claimed.0 {
            let _ = self.storage.delete(k, None);
        }
    }

    /// A write that claimed and then failed gives its claims back.
    pub(crate) fn release_claimed(&self, claimed: Claimed) {
        self.release_keys(&claimed);
    }

    /// What `old` held and `new` (None: the Service is gone) no longer does is given back.
    pub(crate) fn release_service(&self, old: &Value, new: Option<&Value>) {
        let (had, has) = (held(old), new.map(held).unwrap_or_default());
        if let Some(ip) = had.ip.filter(|ip| has.ip != Some(*ip)) {
            let _ = self.storage.delete(&format!("{IP_KEYS}{ip}"), None);
        }
        for p in had.ports.iter().filter(|p| !has.ports.contains(p)) {
            let _ = self.storage.delete(&format!("{PORT_KEYS}{p}"), None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_as_kube_apiserver_reads_them() {
        let r = ServiceRanges::default();
        assert_eq!(
            (r.cidr(), r.first_ip()),
            ("10.96.0.0/12".to_string(), Ipv4Addr::new(10, 96, 0, 1))
        );
        assert_eq!(r.size(), (1 << 20) - 2);
        assert!(r.contains(Ipv4Addr::new(10, 111, 255, 254)));
        assert!(
            !r.contains(Ipv4Addr::new(10, 111, 255, 255))
                && !r.contains(Ipv4Addr::new(10, 96, 0, 0))
        );
        let p = ServiceRanges::parse("192.168.7.9/24", "30000+100").unwrap();
        assert_eq!(
            (p.cidr(), p.node_ports),
            ("192.168.7.0/24".to_string(), (30000, 30099))
        );
        assert!(ServiceRanges::parse("10.0.0.0/8", "30000-32767")
            .unwrap_err()
            .contains("too large"));
        assert!(ServiceRanges::parse("fd00::/108", "30000-32767").is_err());
        assert!(ServiceRanges::parse("10.0.0.0/24", "32767-30000").is_err());
        // Upstream's static bands: 256 addresses of a /12, 86 ports of the default range.
        assert_eq!(band_offset(r.size(), 16, 256), 256);
        assert_eq!(band_offset(2768, 32, 128), 86);
        assert_eq!(band_offset(254, 16, 256), 16);
    }

    #[test]
    fn a_replaced_service_keeps_what_it_was_given() {
        let old = json!({"spec": {"type": "NodePort", "clusterIP": "10.96.3.4", "clusterIPs": ["10.96.3.4"],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "http", "port": 80, "nodePort": 30080}, {"name": "x", "port": 81, "nodePort": 30081}]}});
        let mut new = json!({"spec": {"type": "NodePort",
            "ports": [{"name": "http", "port": 80}, {"name": "y", "port": 81}]}});
        keep_allocated(&mut new, &old);
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.3.4"]));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30080);
        assert!(
            new["spec"]["ports"][1].get("nodePort").is_none(),
            "another port"
        );
        let mut errs = FieldErrors::default();
        let mut moved = new.clone();
        moved["spec"]["clusterIP"] = "10.96.9.9".into();
        validate_update(&moved, &old, &mut errs);
        assert_eq!(
            errs.0[0].message,
            "Invalid value: []string{\"10.96.9.9\"}: may not change once set"
        );
    }
}
