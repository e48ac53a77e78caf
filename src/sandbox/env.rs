//! The environment commands inherit, with secrets taken out. One function serves `run`,
//! background processes and escalated commands, and is the one later tool servers use.

use std::ffi::OsString;

use super::policy::EnvPolicy;

/// Name fragments that mark a variable as a secret, matched case-insensitively.
const SECRET_MARKERS: [&str; 4] = ["KEY", "SECRET", "TOKEN", "PASSWORD"];

/// A key this short would match too much ordinary text to be worth looking for in values.
const MIN_KEY_LEN_IN_VALUES: usize = 8;

/// True when `name` looks like it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|m| upper.contains(m))
}

/// `vars` without the API key's variable, any variable holding the key, every variable named
/// like a secret (unless kept by `env-keep`), and the names in `env-remove`. The key's own
/// variable is removed even when `env-keep` names it.
pub fn scrub(vars: impl IntoIterator<Item = (OsString, OsString)>, policy: &EnvPolicy) -> Vec<(OsString, OsString)> {
    let key = policy.api_key.as_ref().map(|k| k.expose()).filter(|k| k.len() >= MIN_KEY_LEN_IN_VALUES);
    vars.into_iter()
        .filter(|(name, value)| {
            let name = name.to_string_lossy();
            if policy.api_key_env.as_deref() == Some(name.as_ref()) {
                return false;
            }
            if key.is_some_and(|k| value.to_string_lossy().contains(k)) {
                return false;
            }
            if policy.remove.iter().any(|r| r == name.as_ref()) {
                return false;
            }
            policy.keep.iter().any(|k| k == name.as_ref()) || !is_secret_name(&name)
        })
        .collect()
}

/// The current process's environment, scrubbed.
pub fn scrubbed_env(policy: &EnvPolicy) -> Vec<(OsString, OsString)> {
    scrub(std::env::vars_os(), policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Secret;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
    }

    fn names(v: &[(OsString, OsString)]) -> Vec<String> {
        v.iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn secret_looking_names_go_whatever_their_case() {
        let input = vars(&[
            ("PATH", "/bin"),
            ("OPENAI_API_KEY", "sk-1"),
            ("github_token", "ghp"),
            ("AwsSecretAccess", "x"),
            ("DB_PASSWORD", "p"),
            ("HOME", "/root"),
        ]);
        assert_eq!(names(&scrub(input, &EnvPolicy::default())), ["PATH", "HOME"]);
    }

    #[test]
    fn the_key_variable_and_any_value_holding_the_key_go() {
        let policy = EnvPolicy {
            api_key_env: Some("MY_PROVIDER".into()),
            api_key: Some(Secret::new("sk-test-abcdefgh1234")),
            keep: vec!["MY_PROVIDER".into()],
            ..Default::default()
        };
        let input = vars(&[("MY_PROVIDER", "sk-test-abcdefgh1234"), ("URL", "https://x/?k=sk-test-abcdefgh1234"), ("LANG", "C")]);
        assert_eq!(names(&scrub(input, &policy)), ["LANG"]);
    }

    #[test]
    fn keep_and_remove_lists_adjust_the_rule() {
        let policy = EnvPolicy { keep: vec!["KEYBOARD_LAYOUT".into()], remove: vec!["CORP_PROXY".into()], ..Default::default() };
        let input = vars(&[("KEYBOARD_LAYOUT", "us"), ("CORP_PROXY", "http://u:p@proxy"), ("NPM_TOKEN", "t"), ("TERM", "xterm")]);
        assert_eq!(names(&scrub(input, &policy)), ["KEYBOARD_LAYOUT", "TERM"]);
    }
}
