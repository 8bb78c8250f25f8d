//! Which admission plug-ins run: kube-apiserver's `--enable-admission-plugins` and
//! `--disable-admission-plugins` (`staging/src/k8s.io/apiserver/pkg/server/options/admission.go`),
//! over the names kube-apiserver 1.33 registers (`AllOrderedPlugins` in
//! `pkg/kubeapiserver/options/plugins.go`), so a CI set-up can pass a cluster's flags.

use std::collections::BTreeSet;

/// Every admission plug-in kube-apiserver 1.33 knows, in its order.
pub(crate) const UPSTREAM: &[&str] = &[
    "AlwaysAdmit",
    "NamespaceAutoProvision",
    "NamespaceLifecycle",
    "NamespaceExists",
    "LimitPodHardAntiAffinityTopology",
    "LimitRanger",
    "ServiceAccount",
    "NodeRestriction",
    "TaintNodesByCondition",
    "AlwaysPullImages",
    "ImagePolicyWebhook",
    "PodSecurity",
    "PodNodeSelector",
    "Priority",
    "DefaultTolerationSeconds",
    "PodTolerationRestriction",
    "EventRateLimit",
    "ExtendedResourceToleration",
    "DefaultStorageClass",
    "StorageObjectInUseProtection",
    "OwnerReferencesPermissionEnforcement",
    "PersistentVolumeClaimResize",
    "RuntimeClass",
    "CertificateApproval",
    "CertificateSigning",
    "ClusterTrustBundleAttest",
    "CertificateSubjectRestriction",
    "DefaultIngressClass",
    "DenyServiceExternalIPs",
    "PodTopologyLabels",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionWebhook",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionWebhook",
    "ResourceQuota",
    "AlwaysDeny",
];

/// The plug-ins kubeward has. `AlwaysAdmit` admits everything, so having it is doing nothing.
pub(crate) const IMPLEMENTED: &[&str] = &[
    "AlwaysAdmit",
    "NamespaceAutoProvision",
    "NamespaceLifecycle",
    "NamespaceExists",
    "ServiceAccount",
    "NodeRestriction",
    "Priority",
    "DefaultTolerationSeconds",
];

/// What runs without flags: upstream's default-on plug-ins that kubeward has, and
/// NodeRestriction, which upstream leaves off but kubeadm and managed clusters turn on (the
/// node agent's credentials are held by it).
pub(crate) const DEFAULT_ON: &[&str] = &[
    "NamespaceLifecycle",
    "ServiceAccount",
    "NodeRestriction",
    "Priority",
    "DefaultTolerationSeconds",
];

/// The plug-ins that run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enabled {
    names: BTreeSet<&'static str>,
}

impl Default for Enabled {
    fn default() -> Self {
        Enabled {
            names: DEFAULT_ON.iter().copied().collect(),
        }
    }
}

impl Enabled {
    /// The defaults, plus `enable`, less `disable`; refused with `AdmissionOptions.Validate`'s
    /// messages for names kube-apiserver does not know and for a name in both lists.
    pub fn new(enable: &[String], disable: &[String]) -> Result<Enabled, Vec<String>> {
        let known = |n: &str| UPSTREAM.iter().copied().find(|u| *u == n);
        let mut errors = Vec::new();
        for (flag, names) in [
            ("enable-admission-plugins", enable),
            ("disable-admission-plugins", disable),
        ] {
            for n in names.iter().filter(|n| known(n).is_none()) {
                errors.push(format!("{flag} plugin {n:?} is unknown"));
            }
        }
        let both: BTreeSet<&str> = enable
            .iter()
            .filter(|n| disable.contains(n))
            .map(String::as_str)
            .collect();
        if !both.is_empty() {
            let list: Vec<&str> = both.into_iter().collect();
            errors.push(format!(
                "[{}] in enable-admission-plugins and disable-admission-plugins overlapped",
                list.join(" ")
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut out = Enabled::default();
        out.names.extend(enable.iter().filter_map(|n| known(n)));
        for n in disable {
            out.names.remove(n.as_str());
        }
        Ok(out)
    }

    /// Whether the plug-in named `name` runs.
    pub fn is_on(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// The enabled names kubeward has no plug-in for (the binary says so once at start).
    pub fn without_effect(&self) -> Vec<&'static str> {
        self.names
            .iter()
            .copied()
            .filter(|n| !IMPLEMENTED.contains(n))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(enable: &[&str], disable: &[&str], want: Result<&[&str], &[&str]>) {
        let owned = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let got = Enabled::new(&owned(enable), &owned(disable));
        match (got, want) {
            (Ok(e), Ok(names)) => {
                let on: Vec<&str> = e.names.iter().copied().collect();
                let mut names = names.to_vec();
                names.sort_unstable();
                assert_eq!(on, names, "{enable:?} {disable:?}");
            }
            (Err(errs), Err(msgs)) => assert_eq!(errs, msgs),
            (got, want) => panic!("{enable:?} {disable:?}: {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn flags_as_kube_apiserver_reads_them() {
        check(&[], &[], Ok(DEFAULT_ON));
        check(
            &["NamespaceAutoProvision", "PodSecurity"],
            &["ServiceAccount", "Priority"],
            Ok(&[
                "DefaultTolerationSeconds",
                "NamespaceAutoProvision",
                "NamespaceLifecycle",
                "NodeRestriction",
                "PodSecurity",
            ]),
        );
        check(
            &["Nope"],
            &["Never", "ServiceAccount"],
            Err(&[
                "enable-admission-plugins plugin \"Nope\" is unknown",
                "disable-admission-plugins plugin \"Never\" is unknown",
            ]),
        );
        check(
            &["ServiceAccount", "Priority"],
            &["Priority", "ServiceAccount"],
            Err(&["[Priority ServiceAccount] in enable-admission-plugins and disable-admission-plugins overlapped"]),
        );
        let e = Enabled::new(&["PodSecurity".into(), "AlwaysAdmit".into()], &[]).unwrap();
        assert_eq!(e.without_effect(), ["PodSecurity"]);
    }
}
