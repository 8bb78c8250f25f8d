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

    /// True when the user belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
