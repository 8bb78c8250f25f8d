//! Impersonation (`staging/src/k8s.io/apiserver/pkg/endpoints/filters/impersonation.go`):
//! which permissions the requesting user needs, and who they become.

use api_types::UserInfo;
use percent_encoding::percent_decode_str;
use std::collections::BTreeMap;

/// What the `Impersonate-*` headers ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// `Impersonate-User` (the first; none when empty).
    pub user: Option<String>,
    /// Every `Impersonate-Group`.
    pub groups: Vec<String>,
    /// `Impersonate-Uid` (the first; none when empty).
    pub uid: Option<String>,
    /// `Impersonate-Extra-<key>` values by key.
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One `impersonate` check: (namespace, group, resource, subresource, name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The namespace (a service account's).
    pub namespace: String,
    /// The API group of the resource.
    pub api_group: String,
    /// `users`, `groups`, `serviceaccounts`, `userextras` or `uids`.
    pub resource: String,
    /// The extra's key, for `userextras`.
    pub subresource: String,
    /// The user, group, account, extra value or uid asked for.
    pub name: String,
}

/// Why the headers cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImpersonationError {
    /// Groups, extras or a uid without a user.
    #[error("requested {0:?} without impersonating a user")]
    WithoutUser(Vec<String>),
}

impl Request {
    /// From header (name, value) pairs, names in any case; None when nothing is asked
    /// (`buildImpersonationRequests`): the user and the uid are the first of their headers
    /// (Go's `Header.Get`), and an empty one asks for nothing; every group and extra value
    /// counts, empty or not.
    pub fn from_headers<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>) -> Option<Request> {
        let mut r = Request::default();
        let (mut user, mut uid) = (None, None);
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "impersonate-user" => {
                    user.get_or_insert(value);
                }
                "impersonate-group" => r.groups.push(value.to_string()),
                "impersonate-uid" => {
                    uid.get_or_insert(value);
                }
                other => {
                    if let Some(key) = other.strip_prefix("impersonate-extra-") {
                        let key = percent_decode_str(key).decode_utf8_lossy().into_owned();
                        r.extra.entry(key).or_default().push(value.to_string());
                    }
                }
            }
        }
        r.user = user.filter(|u| !u.is_empty()).map(str::to_string);
        r.uid = uid.filter(|u| !u.is_empty()).map(str::to_string);
        let any =
            r.user.is_some() || r.uid.is_some() || !r.groups.is_empty() || !r.extra.is_empty();
        any.then_some(r)
    }

    /// The checks to make, in upstream's order: user (or service account), each group, each
    /// extra value, the uid.
    pub fn checks(&self) -> Result<Vec<Check>, ImpersonationError> {
        let Some(user) = &self.user else {
            let mut asked: Vec<String> = self.groups.iter().map(|g| format!("group {g}")).collect();
            asked.extend(self.extra.keys().map(|k| format!("extra {k}")));
            asked.extend(self.uid.iter().map(|u| format!("uid {u}")));
            return Err(ImpersonationError::WithoutUser(asked));
        };
        let mut out = Vec::new();
        let check = |ns: &str, g: &str, r: &str, sub: &str, n: &str| Check {
            namespace: ns.into(),
            api_group: g.into(),
            resource: r.into(),
            subresource: sub.into(),
            name: n.into(),
        };
        match service_account(user) {
            Some((ns, name)) => out.push(check(ns, "", "serviceaccounts", "", name)),
            None => out.push(check("", "", "users", "", user)),
        }
        for g in &self.groups {
            out.push(check("", "", "groups", "", g));
        }
        for (k, vs) in &self.extra {
            for v in vs {
                out.push(check("", "authentication.k8s.io", "userextras", k, v));
            }
        }
        if let Some(uid) = &self.uid {
            out.push(check("", "authentication.k8s.io", "uids", "", uid));
        }
        Ok(out)
    }

    /// The user the request acts as once every check passed.
    pub fn user(&self) -> UserInfo {
        let name = self.user.clone().unwrap_or_default();
        let mut groups = self.groups.clone();
        if let (Some((ns, _)), true) = (service_account(&name), groups.is_empty()) {
            groups = vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
            ];
        }
        if name == "system:anonymous" {
            if !groups.iter().any(|g| g == "system:unauthenticated") {
                groups.push("system:unauthenticated".into());
            }
        } else if !groups
            .iter()
            .any(|g| g == "system:authenticated" || g == "system:unauthenticated")
        {
            groups.push("system:authenticated".into());
        }
        UserInfo {
            name,
            uid: self.uid.clone().unwrap_or_default(),
            groups,
            extra: self.extra.clone(),
        }
    }
}

/// `serviceaccount.SplitUsername` (namespace and name must be valid names).
fn service_account(user: &str) -> Option<(&str, &str)> {
    let rest = user.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let sub = |s: &str| !s.is_empty() && s.len() <= 253 && s.split('.').all(label);
    (label(ns) && sub(name)).then_some((ns, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(h: &[(&str, &str)]) -> Request {
        Request::from_headers(h.iter().copied()).unwrap()
    }

    #[test]
    fn checks_and_result_as_upstream() {
        let r = req(&[
            ("Impersonate-User", "jane"),
            ("Impersonate-Group", "devs"),
            ("Impersonate-Group", "qa"),
            ("Impersonate-Extra-Acme.com%2Fproject", "p1"),
            ("Impersonate-Uid", "u-9"),
        ]);
        let checks = r.checks().unwrap();
        let names: Vec<String> = checks
            .iter()
            .map(|c| format!("{}/{}/{}", c.resource, c.subresource, c.name))
            .collect();
        assert_eq!(
            names,
            [
                "users//jane",
                "groups//devs",
                "groups//qa",
                "userextras/acme.com/project/p1",
                "uids//u-9"
            ]
        );
        let u = r.user();
        assert_eq!(u.groups, ["devs", "qa", "system:authenticated"]);
        assert_eq!(u.uid, "u-9");
        assert_eq!(u.extra["acme.com/project"], ["p1"]);

        let sa = req(&[("Impersonate-User", "system:serviceaccount:ns1:builder")]);
        let c = &sa.checks().unwrap()[0];
        assert_eq!(
            (c.namespace.as_str(), c.resource.as_str(), c.name.as_str()),
            ("ns1", "serviceaccounts", "builder")
        );
        assert_eq!(
            sa.user().groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:ns1",
                "system:authenticated"
            ]
        );

        assert!(req(&[("Impersonate-Group", "devs")]).checks().is_err());
        assert_eq!(
            req(&[("Impersonate-User", "system:anonymous")])
                .user()
                .groups,
            ["system:unauthenticated"]
        );
        assert!(Request::from_headers([("Accept", "x")].into_iter()).is_none());
        // An empty user or uid asks for nothing; the first user header wins, as Go's Get.
        assert!(Request::from_headers([("Impersonate-User", "")].into_iter()).is_none());
        assert!(Request::from_headers([("Impersonate-Uid", "")].into_iter()).is_none());
        let two = req(&[
            ("Impersonate-User", "first"),
            ("Impersonate-User", "second"),
        ]);
        assert_eq!(two.user.as_deref(), Some("first"));
        assert!(req(&[("Impersonate-User", ""), ("Impersonate-Group", "g")])
            .checks()
            .is_err());
    }
}
