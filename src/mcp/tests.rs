//! Configuration, tool names and schemas of the MCP client. Servers themselves are driven
//! end to end in tests/mcp.rs.

use std::path::Path;

use serde_json::json;

use super::config::{McpSection, ResolveContext, Transport, expand, resolve};
use super::*;
use crate::config::settings::parse_config;

fn section(text: &str) -> McpSection {
    parse_config(text, Path::new("/u/config.toml")).expect("valid config").mcp
}

fn resolved(dir: &Path, s: &McpSection, network_on: bool) -> Vec<ServerSpec> {
    resolve(dir, s, &ResolveContext { env_policy: None, network_on }).expect("resolves")
}

#[test]
fn a_stdio_and_an_http_server_are_read_from_config_toml() {
    let dir = tempfile::tempdir().unwrap();
    let s = section(
        "max-steps = 3\n\n[mcp.servers.everything]\ncommand = \"node\"\nargs = [\"server.js\", \"stdio\"]\nenv = { GREETING = \"hi\" }\ncwd = \"tools\"\ntools = [\"echo\"]\ntimeout = 5\nstartup-timeout = \"2m\"\n\n[mcp.servers.remote]\nurl = \"http://127.0.0.1:9/mcp\"\nheaders = { X-Team = \"a\" }\nenabled = false\n",
    );
    let specs = resolved(dir.path(), &s, false);
    assert_eq!(specs.len(), 2);
    let e = &specs[0];
    assert_eq!(e.name, "everything");
    assert_eq!(
        e.transport,
        Transport::Stdio {
            command: "node".into(),
            args: vec!["server.js".into(), "stdio".into()],
            env: vec![("GREETING".into(), "hi".into())],
            cwd: Some(dir.path().join("tools"))
        }
    );
    assert_eq!(
        (e.tools.clone(), e.timeout, e.startup_timeout, e.enabled),
        (Some(vec!["echo".to_string()]), std::time::Duration::from_secs(5), std::time::Duration::from_secs(120), true)
    );
    assert_eq!(e.source, "/u/config.toml");
    let r = &specs[1];
    assert_eq!(r.transport, Transport::Http { url: "http://127.0.0.1:9/mcp".into(), headers: vec![("X-Team".into(), "a".into())] });
    assert!(!r.enabled);
    // config.toml is the user's own: its HTTP servers are used whatever the network policy.
    assert_eq!(r.unusable, None);
}

#[test]
fn bad_tables_name_the_file_the_line_and_the_key() {
    let cases = [
        ("[mcp.servers.x]\ncommand = \"a\"\nurl = \"http://h/mcp\"\n", "mcp.servers.x.url", 1),
        ("\n[mcp.servers.x]\nurl = \"http://h/mcp\"\nargs = [\"a\"]\n", "mcp.servers.x.args", 2),
        ("[mcp.servers.x]\ncommand = \"a\"\ntimeout = -1\n", "mcp.servers.x.timeout", 1),
        ("[mcp.servers.x]\nurl = \"ftp://h\"\n", "mcp.servers.x.url", 1),
        ("[mcp.servers.\"a b\"]\ncommand = \"a\"\n", "a b", 1),
        ("[mcp.servers.x]\nargs = [\"a\"]\n", "needs `command`", 1),
    ];
    for (text, needle, line) in cases {
        let e = parse_config(text, Path::new("/p/.endure/config.toml")).expect_err(text);
        assert!(e.to_string().starts_with(&format!("/p/.endure/config.toml:{line}:")), "{e}");
        assert!(e.message.contains(needle), "{e}");
    }
    // An unknown key is caught by the parser, with its position.
    let e = parse_config("[mcp.servers.x]\ncomand = \"a\"\n", Path::new("c.toml")).expect_err("unknown key");
    assert!(e.message.contains("comand") && e.line == 2, "{e}");
}

#[test]
fn mcp_json_in_claude_codes_format_is_read_and_config_toml_adjusts_or_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".mcp.json"),
        r#"{
  "mcpServers": {
    "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."], "env": {"LOG": "1"}},
    "web": {"type": "http", "url": "https://example.com/mcp", "headers": {"X-A": "b"}},
    "old": {"type": "sse", "url": "https://example.com/sse"},
    "mine": {"command": "a"}
  }
}"#,
    )
    .unwrap();
    let s = section("[mcp.servers.fs]\nenabled = false\ntools = [\"read_file\"]\n\n[mcp.servers.mine]\ncommand = \"b\"\n");
    let specs = resolved(dir.path(), &s, false);
    let by = |n: &str| specs.iter().find(|s| s.name == n).expect(n).clone();
    let fs = by("fs");
    assert!(!fs.enabled);
    assert_eq!(fs.tools, Some(vec!["read_file".to_string()]));
    assert!(matches!(&fs.transport, Transport::Stdio { command, .. } if command == "npx"));
    assert!(fs.source.ends_with(".mcp.json"));
    assert!(matches!(&by("mine").transport, Transport::Stdio { command, .. } if command == "b"));
    assert!(by("mine").source.ends_with("config.toml"));
    assert!(by("old").unusable.as_deref().is_some_and(|r| r.contains("sse")));
    // .mcp.json is the agent's to write: its HTTP servers would be a way out of --network off.
    assert!(by("web").unusable.as_deref().is_some_and(|r| r.contains("network is off")));
    assert_eq!(resolved(dir.path(), &s, true).iter().find(|s| s.name == "web").and_then(|s| s.unusable.clone()), None);
}

#[test]
fn a_broken_mcp_json_is_an_error_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".mcp.json"), "{\n  \"mcpServers\": {\n    \"fs\": {\n      \"args\": \"not a list\"\n    }\n  }\n}\n")
        .unwrap();
    let e = resolve(dir.path(), &McpSection::default(), &ResolveContext::default()).expect_err("bad type");
    assert!(e.file.ends_with(".mcp.json") && e.line == 4, "{e}");
    assert!(e.message.contains("args"), "{e}");
    std::fs::write(dir.path().join(".mcp.json"), r#"{"mcpServers": {"fs": {"type": "carrier-pigeon", "command": "a"}}}"#).unwrap();
    let e = resolve(dir.path(), &McpSection::default(), &ResolveContext::default()).expect_err("bad type");
    assert!(e.message.contains("mcpServers.fs.type"), "{e}");
}

#[test]
fn an_adjusting_entry_without_a_server_to_adjust_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = section("\n[mcp.servers.ghost]\nenabled = false\n");
    let e = resolve(dir.path(), &s, &ResolveContext::default()).expect_err("nothing to adjust");
    assert_eq!((e.file.as_str(), e.line), ("/u/config.toml", 2), "{e}");
    assert!(e.message.contains("mcp.servers.ghost") && e.message.contains("needs `command`"), "{e}");
}

#[test]
fn the_project_file_overrides_the_user_file_field_by_field_or_by_definition() {
    let user = section("[mcp.servers.a]\ncommand = \"x\"\ntimeout = 9\n\n[mcp.servers.b]\nurl = \"http://h/mcp\"\n");
    let project = section("[mcp.servers.a]\nenabled = false\n\n[mcp.servers.b]\ncommand = \"y\"\n");
    let merged = user.overlay(project);
    let dir = tempfile::tempdir().unwrap();
    let specs = resolved(dir.path(), &merged, false);
    assert!(!specs[0].enabled && specs[0].timeout == std::time::Duration::from_secs(9));
    assert!(matches!(&specs[1].transport, Transport::Stdio { command, .. } if command == "y"));
}

#[test]
fn variables_expand_and_mcp_json_gets_no_secret() {
    let vars = |v: &str| {
        Ok(match v {
            "HOME_DIR" => Some("/home/u".to_string()),
            _ => None,
        })
    };
    assert_eq!(expand("${HOME_DIR}/x $PLAIN ${MISSING:-fallback}", &vars).unwrap(), "/home/u/x $PLAIN fallback");
    assert!(expand("${MISSING}", &vars).unwrap_err().contains("`MISSING` is not set"));
    assert!(expand("${BAD NAME}", &vars).is_err());
    assert!(expand("${OPEN", &vars).is_err());

    let dir = tempfile::tempdir().unwrap();
    // SAFETY: the variable's name is unique to this test; nothing else reads it.
    unsafe { std::env::set_var("ENDURE_MCP_TEST_GITHUB_TOKEN", "ghp_secretsecretsecret") };
    std::fs::write(
        dir.path().join(".mcp.json"),
        r#"{"mcpServers": {"gh": {"command": "gh-mcp", "env": {"T": "${ENDURE_MCP_TEST_GITHUB_TOKEN}"}}}}"#,
    )
    .unwrap();
    let specs = resolved(dir.path(), &McpSection::default(), true);
    let reason = specs[0].unusable.clone().expect("refused");
    assert!(reason.contains("looks like a secret") && reason.contains("mcpServers.gh.env.T"), "{reason}");
    assert!(!reason.contains("ghp_secret"), "{reason}");
    // The same from config.toml is the user's choice.
    let s = section("[mcp.servers.gh2]\ncommand = \"gh-mcp\"\nenv = { T = \"${ENDURE_MCP_TEST_GITHUB_TOKEN}\" }\n");
    let specs = resolved(dir.path(), &s, true);
    let gh2 = specs.iter().find(|s| s.name == "gh2").unwrap();
    assert!(
        matches!(&gh2.transport, Transport::Stdio { env, .. } if env == &vec![("T".to_string(), "ghp_secretsecretsecret".to_string())])
    );
    // And it is redacted wherever endure records or prints.
    assert!(config::secret_values(&s).contains(&"ghp_secretsecretsecret".to_string()));
}

#[test]
fn tool_names_fit_what_providers_accept() {
    assert_eq!(offered_name("everything", "echo"), "mcp__everything__echo");
    assert_eq!(offered_name("fs", "read.file v2"), "mcp__fs__read_file_v2");
    let long = offered_name("a-very-long-server-name", &"t".repeat(80));
    assert_eq!(long.len(), 64, "{long}");
    assert_ne!(long, offered_name("a-very-long-server-name", &format!("{}u", "t".repeat(80))));
    assert!(long.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
}

#[test]
fn schemas_become_object_parameters() {
    let obj = |v: serde_json::Value| v.as_object().cloned().unwrap();
    assert_eq!(parameters(&obj(json!({}))), json!({"type": "object", "properties": {}}));
    let s = json!({"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]});
    assert_eq!(parameters(&obj(s.clone())), s);
}

#[test]
fn allow_lists_choose_tools_and_name_the_missing_ones() {
    let tool = |n: &str| -> rmcp::model::Tool {
        serde_json::from_value(json!({"name": n, "description": format!("does {n}"), "inputSchema": {"type": "object"}})).unwrap()
    };
    let tools = vec![tool("zeta"), tool("echo"), tool("add")];
    let (all, unknown) = offer("s", None, &tools);
    assert_eq!(all.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(), ["add", "echo", "zeta"]);
    assert!(unknown.is_empty());
    let allow = vec!["echo".to_string(), "nope".to_string()];
    let (some, unknown) = offer("s", Some(&allow), &tools);
    assert_eq!(some.len(), 1);
    assert_eq!(some[0].1.name, "mcp__s__echo");
    assert_eq!(some[0].1.description, "does echo");
    assert_eq!(unknown, ["nope"]);
}
