use std::collections::BTreeMap;

/// An authenticated identity, as `k8s.io/apiserver/pkg/authentication/user.Info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name (`kubeward-admin`, `system:anonymous`, `system:serviceaccount:ns:name`).
    pub name: String,
    /// A unique id; empty when the authenticator has none.
    pub uid: String,
    /// Group memberships, including `system:authenticated` where upstream adds it.
    pub groups: Vec<String>,
    /// Extra attributes (`authentication.kubernetes.io/credential-id`, ...).
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The anonymous user, as upstream's `anonymous.go`.
    pub fn anonymous() -> Self {
        UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
            ..Default::default()
        }
    }

    /// A service account's user as its token authenticates it: `system:serviceaccount:<ns>:<name>`
    /// in `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> Self {
        UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
            ..Default::default()
        }
    }

    /// An authenticated user with these groups (`system:authenticated` added, as upstream's
    /// group adder does).
    pub fn authenticated(name: &str, groups: &[&str]) -> Self {
        let mut groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
        groups.push("system:authenticated".into());
        UserInfo {
            name: name.into(),
            groups,
            ..Default::default()
        }
    }

    /// True when the user belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
