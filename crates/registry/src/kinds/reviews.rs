//! Review kinds: created and answered, never stored (authorization.k8s.io). Their strategy
//! only checks the body's shape; the server answers them.

use crate::resource::{typed_check, Strategy};
use k8s_openapi::api::authentication::v1::{SelfSubjectReview, TokenReview};
use k8s_openapi::api::authorization::v1::{
    LocalSubjectAccessReview, SelfSubjectAccessReview, SelfSubjectRulesReview, SubjectAccessReview,
};
use serde_json::Value;

pub(super) const AUTHORIZATION: &str = "authorization.k8s.io";
pub(super) const AUTHENTICATION: &str = "authentication.k8s.io";
/// kubeward's own group: explained access decisions.
pub(super) const ACCESS: &str = "access.kubeward.io";

macro_rules! review {
    ($name:ident, $ty:ty) => {
        pub(super) struct $name;
        impl Strategy for $name {
            fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
                typed_check::<$ty>(obj)
            }
        }
    };
}

review!(SelfSubjectAccessReviewStrategy, SelfSubjectAccessReview);
review!(SubjectAccessReviewStrategy, SubjectAccessReview);
review!(LocalSubjectAccessReviewStrategy, LocalSubjectAccessReview);
review!(SelfSubjectRulesReviewStrategy, SelfSubjectRulesReview);
review!(SelfSubjectReviewStrategy, SelfSubjectReview);
review!(TokenReviewStrategy, TokenReview);
/// An AccessReview (and a WhoCanReview, an AccessMatrixReview) is shaped as a
/// SubjectAccessReview, under its own group and kind.
pub(super) struct AccessReviewStrategy;

impl Strategy for AccessReviewStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        let own = (obj.get("apiVersion").cloned(), obj.get("kind").cloned());
        if let Some(o) = obj.as_object_mut() {
            o.insert("apiVersion".into(), "authorization.k8s.io/v1".into());
            o.insert("kind".into(), "SubjectAccessReview".into());
        }
        let checked = typed_check::<SubjectAccessReview>(obj);
        if let Some(o) = obj.as_object_mut() {
            for (k, v) in [("apiVersion", own.0), ("kind", own.1)] {
                match v {
                    Some(v) => o.insert(k.into(), v),
                    None => o.remove(k),
                };
            }
        }
        checked
    }
}
