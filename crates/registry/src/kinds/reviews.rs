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
