//! Field errors and the name/label validators of
//! `k8s.io/apimachinery/pkg/util/validation` and `pkg/api/validation/objectmeta.go`, with their
//! messages verbatim (kubectl prints them as the server sends them).

use api_types::Cause;
use serde_json::Value;

/// Collected field errors; a non-empty list becomes one 422 Invalid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<Cause>);

/// How Go's `%#v`/`%q` shows a value in `Invalid value: ...`.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

impl FieldErrors {
    /// Whether no error was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn push(&mut self, reason: &str, field: &str, message: String) {
        let cause = Cause {
            reason: reason.into(),
            message,
            field: field.into(),
        };
        // The aggregate upstream builds drops duplicates.
        if !self.0.contains(&cause) {
            self.0.push(cause);
        }
    }

    /// `Required value`.
    pub fn required(&mut self, field: &str, detail: &str) {
        let msg = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        self.push("FieldValueRequired", field, msg);
    }

    /// `Invalid value: <value>: <detail>`.
    pub fn invalid(&mut self, field: &str, value: &Value, detail: &str) {
        let msg = if detail.is_empty() {
            format!("Invalid value: {}", show(value))
        } else {
            format!("Invalid value: {}: {detail}", show(value))
        };
        self.push("FieldValueInvalid", field, msg);
    }

    /// An Invalid error whose value is already rendered (Go's `%#v` of a struct or slice,
    /// which upstream prints unquoted).
    pub fn invalid_rendered(&mut self, field: &str, rendered: &str, detail: &str) {
        self.push(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {rendered}: {detail}"),
        );
    }

    /// `Forbidden: <detail>`.
    pub fn forbidden(&mut self, field: &str, detail: &str) {
        self.push("FieldValueForbidden", field, format!("Forbidden: {detail}"));
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(&mut self, field: &str, value: &Value) {
        self.push(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {}", show(value)),
        );
    }

    /// `Unsupported value: <value>: supported values: ...`.
    pub fn not_supported(&mut self, field: &str, value: &Value, supported: &[&str]) {
        let list = supported
            .iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.push(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {}: supported values: {list}",
                show(value)
            ),
        );
    }

    /// `Too long: must have at most <max> bytes`.
    pub fn too_long(&mut self, field: &str, max: usize) {
        self.push(
            "FieldValueTooLong",
            field,
            format!("Too long: must have at most {max} bytes"),
        );
    }

    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(&mut self, field: &str, actual: usize, max: usize) {
        self.push(
            "FieldValueTooMany",
            field,
            format!("Too many: {actual}: must have at most {max} items"),
        );
    }

    /// `field is immutable`, as `ValidateImmutableField`.
    pub fn immutable(&mut self, field: &str, value: &Value) {
        self.invalid(field, value, "field is immutable");
    }
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn dns1123_label_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && s.starts_with(is_alnum_lower)
        && s.ends_with(is_alnum_lower)
}

/// `IsDNS1123Label`.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !dns1123_label_ok(s) {
        errs.push(format!(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
        ));
    }
    errs
}

/// `IsDNS1123Subdomain`.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty() || !s.split('.').all(dns1123_label_ok) {
        errs.push(format!(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*')"
        ));
    }
    errs
}

/// `IsDNS1035Label` (service names).
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !(dns1123_label_ok(s) && s.starts_with(|c: char| c.is_ascii_lowercase())) {
        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errs
}

/// `path.IsValidPathSegmentName`, the weakest name rule (events, RBAC objects).
pub fn path_segment_name(s: &str) -> Vec<String> {
    if s == "." || s == ".." {
        return vec![format!("may not be '{s}'")];
    }
    let mut errs = Vec::new();
    for bad in ["/", "%"] {
        if s.contains(bad) {
            errs.push(format!("may not contain '{bad}'"));
        }
    }
    errs
}

const QUALIFIED_NAME_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";

fn label_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// `IsQualifiedName`: label and annotation keys.
pub fn qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match s.split_once('/') {
        None => (None, s),
        Some((p, n)) if !n.contains('/') => (Some(p), n),
        Some(_) => {
            return vec![format!("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")];
        }
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            errs.extend(
                dns1123_subdomain(p)
                    .into_iter()
                    .map(|e| format!("prefix part {e}")),
            );
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !name.is_empty() && !label_chars_ok(name) {
        errs.push(QUALIFIED_NAME_ERR.to_string());
    }
    errs
}

/// `IsValidLabelValue`.
pub fn label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !s.is_empty() && !label_chars_ok(s) {
        errs.push("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string());
    }
    errs
}

/// `IsConfigMapKey`: keys of ConfigMap and Secret data.
pub fn config_map_key(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if s == "." {
        errs.push("must not be '.'".to_string());
    } else if s == ".." {
        errs.push("must not be '..'".to_string());
    } else if s.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Runs one validator and records each message as an Invalid error on `field`.
pub fn check(errs: &mut FieldErrors, field: &str, value: &str, validator: fn(&str) -> Vec<String>) {
    for msg in validator(value) {
        errs.invalid(field, &Value::String(value.to_string()), &msg);
    }
}

/// `ValidateLabels` over `metadata.labels`.
pub fn labels(errs: &mut FieldErrors, field: &str, labels: Option<&Value>) {
    let Some(Value::Object(map)) = labels else {
        return;
    };
    for (k, v) in map {
        check(errs, field, k, qualified_name);
        if let Some(v) = v.as_str() {
            check(errs, field, v, label_value);
        }
    }
}

/// `ValidateAnnotations`: qualified (lower-cased) keys and a total size limit.
pub fn annotations(errs: &mut FieldErrors, field: &str, annotations: Option<&Value>) {
    let Some(Value::Object(map)) = annotations else {
        return;
    };
    let mut total = 0;
    for (k, v) in map {
        check(errs, field, &k.to_lowercase(), qualified_name);
        total += k.len() + v.as_str().map_or(0, str::len);
    }
    if total > 256 * 1024 {
        errs.too_long(field, 256 * 1024);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns1123_subdomain("a.b-c.d").is_empty());
        assert_eq!(dns1123_subdomain("Bad_Name").len(), 1);
        assert_eq!(dns1123_subdomain(&"a".repeat(254)).len(), 1);
        assert!(dns1123_label("team-a").is_empty());
        assert_eq!(dns1123_label("a.b").len(), 1);
        assert_eq!(dns1123_label("-a").len(), 1);
        assert!(dns1035_label("web").is_empty());
        assert_eq!(dns1035_label("1web").len(), 1);
        assert!(path_segment_name("a:b").is_empty());
        assert_eq!(path_segment_name("a/b"), ["may not contain '/'"]);
    }

    #[test]
    fn labels_and_keys() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(qualified_name("app").is_empty());
        assert_eq!(qualified_name("a/b/c").len(), 1);
        assert_eq!(
            qualified_name("Bad_Prefix/x"),
            vec![format!(
                "prefix part {}",
                dns1123_subdomain("Bad_Prefix")[0]
            )]
        );
        assert!(label_value("").is_empty());
        assert_eq!(label_value("a b").len(), 1);
        assert_eq!(label_value(&"a".repeat(64)).len(), 1);
        assert!(config_map_key("KEY_name.1").is_empty());
        assert_eq!(config_map_key("a b").len(), 1);
        assert_eq!(config_map_key(".."), ["must not be '..'"]);
    }

    #[test]
    fn error_texts() {
        let mut e = FieldErrors::default();
        e.required("metadata.name", "name or generateName is required");
        e.invalid("metadata.name", &Value::String("X".into()), "bad");
        e.not_supported(
            "spec.restartPolicy",
            &Value::String("Sometimes".into()),
            &["Always", "Never"],
        );
        let msgs: Vec<_> = e.0.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "Required value: name or generateName is required",
                "Invalid value: \"X\": bad",
                "Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\"",
            ]
        );
    }
}
