//! The admission policy as Zenoh access control: what each router lets
//! each link carry.
//!
//! Every router denies by default and allows, per peer certificate common
//! name, exactly the key expressions of the scopes the policy grants that
//! host; there are no deny rules (across subjects the first allow wins, so
//! a deny could never override another subject's allow). Clients on the
//! host's own plain loopback listener (`tcp`) act with the host's scopes.
//!
//! A rule matches a message only when its key expression includes the
//! message's, so each scope is allowed by its own prefix and readers ask
//! per scope: a query on `mem/**` never crosses a link between hosts (the
//! host's own clients may send one; only its own storages answer). Storage
//! replication does not travel on the data keys: digests go to
//! `@-digest/<zid>/<fingerprint>` and alignment to
//! `@zid/<zid>/<fingerprint>/aligner`, where the fingerprint hashes the
//! storage's configuration. Those keys are allowed per scope too, with the
//! fingerprint computed here exactly as the storage manager does.

use serde_json::{Value, json};

use crate::daemon_config::{REPLICA_HOT, REPLICA_INTERVAL_MS, REPLICA_PROPAGATION_DELAY_MS};
use crate::daemon_config::{REPLICA_SUB_INTERVALS, REPLICA_WARM, StorageScope};
use crate::pki::policy::Policy;

/// The key the signed admission policy travels on. A verbatim chunk
/// (`@...`), so no `**` subscription or query ever includes it by accident.
pub const POLICY_KEY: &str = "@kioku-mesh/policy";

/// Where routers answer which storages they run (`status`, `doctor`).
const STORAGE_STATUS_KEY: &str = "@/*/router/status/plugins/storage_manager/**";
/// What each router's admin space declares its queryable on. Only the
/// declaration is allowed there: queries stay limited to the storage
/// status above (the rest of the admin space shows configuration).
const ADMIN_SPACE_KEY: &str = "@/*/router/**";

/// Every message kind: a scope's keys carry whatever memory needs, both ways.
const ALL_MESSAGES: [&str; 9] = [
    "put",
    "delete",
    "declare_subscriber",
    "query",
    "declare_queryable",
    "reply",
    "liveliness_token",
    "declare_liveliness_subscriber",
    "liveliness_query",
];

/// The storage manager's fingerprint of `scope`'s storage: xxh3-64 over the
/// key expression, the stripped prefix and the replication parameters, in
/// its order and byte forms (durations as `u128` milliseconds).
pub fn replication_fingerprint(scope: &StorageScope) -> u64 {
    fingerprint(&scope.key_expr(), &scope.strip_prefix())
}

/// The fingerprint of the scope's message storage.
pub fn message_replication_fingerprint(scope: &StorageScope) -> u64 {
    fingerprint(&scope.message_key_expr(), &scope.message_strip_prefix())
}

fn fingerprint(key_expr: &str, strip_prefix: &str) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::default();
    hasher.update(key_expr.as_bytes());
    hasher.update(strip_prefix.as_bytes());
    hasher.update(&u128::from(REPLICA_INTERVAL_MS).to_le_bytes());
    hasher.update(&(REPLICA_SUB_INTERVALS as usize).to_le_bytes());
    hasher.update(&REPLICA_HOT.to_le_bytes());
    hasher.update(&REPLICA_WARM.to_le_bytes());
    hasher.update(&u128::from(REPLICA_PROPAGATION_DELAY_MS).to_le_bytes());
    hasher.digest()
}

/// The key expressions a holder of `scope` may use: its memory and its
/// messages, and both storages' digests and alignment.
pub fn scope_key_exprs(scope: &StorageScope) -> Vec<String> {
    let fp = replication_fingerprint(scope);
    let mut keys = vec![scope.key_expr()];
    if scope.visibility() == crate::keyspace::Visibility::Mesh {
        // The pre-tier layout, read by `migrate-visibility` and kept by the
        // mesh storage.
        keys.push("mem/obs/**".to_owned());
        keys.push("mem/tomb/**".to_owned());
    }
    keys.push(format!("@-digest/*/{fp}"));
    keys.push(format!("@zid/*/{fp}/aligner"));
    let mfp = message_replication_fingerprint(scope);
    keys.push(scope.message_key_expr());
    keys.push(format!("@-digest/*/{mfp}"));
    keys.push(format!("@zid/*/{mfp}/aligner"));
    keys
}

fn rule_id(scope: &StorageScope) -> String {
    format!("scope:{}", scope.label())
}

/// The `access_control` block for a router whose own certificate names
/// `own_cn`, enforcing `policy`.
pub fn access_control(policy: &Policy, own_cn: Option<&str>) -> Value {
    let mut scopes: Vec<StorageScope> = Vec::new();
    let mut subjects = Vec::new();
    let mut policies = Vec::new();
    let mut grant = |subject: Value, granted: Vec<StorageScope>, extra: &[&str]| {
        let mut rules = vec![json!("common"), json!("admin")];
        for scope in granted {
            rules.push(json!(rule_id(&scope)));
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        rules.extend(extra.iter().map(|r| json!(r)));
        policies.push(json!({ "rules": rules, "subjects": [subject["id"].clone()] }));
        subjects.push(subject);
    };
    match own_cn.and_then(|cn| policy.scopes_of(cn)) {
        // This host's own clients may also ask across scopes (the Python
        // reference reads `mem/**/obs/**`): such a request is answered by
        // this host's storages only, since no rule lets it leave for
        // another router, and a write in a scope this host does not hold
        // is dropped by the router that holds it.
        Some(local) => grant(
            json!({ "id": "local", "link_protocols": ["tcp"] }),
            local,
            &["local-reads"],
        ),
        None => grant(
            json!({ "id": "local", "link_protocols": ["tcp"] }),
            Vec::new(),
            &[],
        ),
    }
    for cn in policy.hosts().keys() {
        if let Some(granted) = policy.scopes_of(cn) {
            grant(
                json!({ "id": format!("host:{cn}"), "cert_common_names": [cn] }),
                granted,
                &[],
            );
        }
    }
    let mut rules = vec![json!({
        "id": "common",
        "key_exprs": [POLICY_KEY, STORAGE_STATUS_KEY],
        "messages": ALL_MESSAGES,
        "flows": ["ingress", "egress"],
        "permission": "allow",
    })];
    rules.push(json!({
        "id": "local-reads",
        "key_exprs": ["mem/**", "msg/**"],
        "messages": ALL_MESSAGES,
        "flows": ["ingress", "egress"],
        "permission": "allow",
    }));
    rules.push(json!({
        "id": "admin",
        "key_exprs": [ADMIN_SPACE_KEY],
        "messages": ["declare_queryable"],
        "flows": ["ingress", "egress"],
        "permission": "allow",
    }));
    for scope in &scopes {
        rules.push(json!({
            "id": rule_id(scope),
            "key_exprs": scope_key_exprs(scope),
            "messages": ALL_MESSAGES,
            "flows": ["ingress", "egress"],
            "permission": "allow",
        }));
    }
    json!({
        "enabled": true,
        "default_permission": "deny",
        "rules": rules,
        "subjects": subjects,
        "policies": policies,
    })
}

/// What the admission policy in force lets this host write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// This host's certificate common name.
    pub cn: String,
    /// The policy version.
    pub version: u64,
    /// The scopes granted (empty when not admitted or revoked).
    pub scopes: Vec<StorageScope>,
}

impl Admission {
    /// This host's admission, when it holds a certificate and a verified
    /// policy (only then do its routers enforce one).
    pub fn of_host(files: &crate::pki::TlsFiles) -> Option<Self> {
        let (_, policy) = crate::pki::policy::load(files).ok()??;
        let pem = std::fs::read_to_string(files.peer_cert()).ok()?;
        let cn = crate::pki::inspect::inspect_cert(&pem).ok()?.common_name?;
        Some(Self {
            scopes: policy.scopes_of(&cn).unwrap_or_default(),
            cn,
            version: policy.version,
        })
    }

    /// The scope of `key` when this host may not write it.
    pub fn refused_scope(&self, key: &str) -> Option<String> {
        let allowed = self.scopes.iter().any(|scope| {
            let expr = scope.key_expr();
            let prefix = expr.trim_end_matches("**");
            key.starts_with(prefix)
        });
        if allowed {
            return None;
        }
        let mut parts = key.splitn(4, '/');
        let (_, tier, id) = (parts.next(), parts.next(), parts.next());
        Some(match (tier, id) {
            (Some(t @ ("user" | "team")), Some(id)) => format!("{t}/{id}"),
            (Some(t), _) => t.to_owned(),
            _ => key.to_owned(),
        })
    }
}

/// Listen endpoints that would let another host in without a certificate:
/// plain `tcp/` on a non-loopback address. Loopback clients act with this
/// host's scopes, so enforcement needs every other listener on `tls/`.
pub fn open_listeners(endpoints: &[String]) -> Vec<String> {
    endpoints
        .iter()
        .filter(|e| e.starts_with("tcp/") && !crate::daemon_config::is_loopback_endpoint(e))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team() -> StorageScope {
        StorageScope::parse("team/core").unwrap()
    }

    fn policy() -> Policy {
        let mut p = Policy::empty();
        p.admit("hub", None, &[team()]).unwrap();
        p.admit("plain", None, &[]).unwrap();
        p.admit("lost", None, &[team()]).unwrap();
        p.revoke("lost", "t").unwrap();
        p
    }

    fn rules_of(acl: &Value, subject: &str) -> Vec<String> {
        acl["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["subjects"][0] == subject)
            .map(|p| {
                p["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r.as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn each_host_is_allowed_its_scopes_only_and_revoked_hosts_nothing() {
        let acl = access_control(&policy(), Some("hub"));
        assert_eq!(acl["default_permission"], "deny");
        assert_eq!(
            rules_of(&acl, "host:hub"),
            ["common", "admin", "scope:mesh", "scope:team/core"]
        );
        assert_eq!(
            rules_of(&acl, "host:plain"),
            ["common", "admin", "scope:mesh"]
        );
        let mut local = rules_of(&acl, "local");
        assert_eq!(local.pop().as_deref(), Some("local-reads"));
        assert_eq!(local, rules_of(&acl, "host:hub"));
        // Only the host's own clients may ask across scopes.
        for subject in ["host:hub", "host:plain"] {
            assert!(!rules_of(&acl, subject).contains(&"local-reads".to_owned()));
        }
        assert!(rules_of(&acl, "host:lost").is_empty());
        let text = acl.to_string();
        let rules = acl["rules"].as_array().unwrap();
        assert!(rules.iter().all(|r| r["permission"] == "allow"));
        // The configuration Zenoh parses: a malformed block fails here.
        let mut config = zenoh::Config::default();
        config
            .insert_json5("access_control", &text)
            .expect("zenoh accepts the block");
    }

    #[test]
    fn a_host_outside_the_policy_gives_its_own_clients_the_common_keys_only() {
        let acl = access_control(&policy(), Some("lost"));
        assert_eq!(rules_of(&acl, "local"), ["common", "admin"]);
    }

    #[test]
    fn scopes_never_share_a_key_expression() {
        let mesh = scope_key_exprs(&StorageScope::mesh());
        let team_keys = scope_key_exprs(&team());
        assert!(mesh.iter().all(|k| !team_keys.contains(k)));
        assert_ne!(
            replication_fingerprint(&StorageScope::mesh()),
            replication_fingerprint(&team())
        );
        assert!(team_keys.iter().any(|k| k.starts_with("@-digest/*/")));
    }

    #[test]
    fn admission_refuses_keys_outside_the_granted_scopes() {
        let admission = Admission {
            cn: "b".into(),
            version: 3,
            scopes: vec![StorageScope::mesh()],
        };
        assert_eq!(admission.refused_scope("mem/mesh/obs/a/b/c/d/e"), None);
        assert_eq!(
            admission
                .refused_scope("mem/team/core/obs/a/b/c/d/e")
                .as_deref(),
            Some("team/core")
        );
        let revoked = Admission {
            scopes: vec![],
            ..admission
        };
        assert_eq!(
            revoked.refused_scope("mem/mesh/obs/a").as_deref(),
            Some("mesh")
        );
    }

    #[test]
    fn only_non_loopback_plain_listeners_are_open() {
        let endpoints = [
            "tcp/127.0.0.1:7447".to_owned(),
            "tls/0.0.0.0:7448".to_owned(),
            "tcp/0.0.0.0:7449".to_owned(),
        ];
        assert_eq!(open_listeners(&endpoints), ["tcp/0.0.0.0:7449"]);
    }
}
