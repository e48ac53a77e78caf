use super::*;

const SIMPLE: &str = r#"$ python main.py data/sample.txt
Loading data/sample.txt
Traceback (most recent call last):
  File "/home/dev/proj/main.py", line 14, in <module>
    main(sys.argv[1])
  File "/home/dev/proj/main.py", line 10, in main
    print(stats.mean(words))
          ^^^^^^^^^^^^^^^^^
  File "/home/dev/proj/textstats/core.py", line 12, in mean
    return sum(xs) / len(xs)
           ~~~~~~~~^~~~~~~~~
ZeroDivisionError: division by zero
"#;

const LIBRARY_INNERMOST: &str = r#"Traceback (most recent call last):
  File "/home/dev/proj/fetch.py", line 22, in <module>
    data = load(url)
  File "/home/dev/proj/fetch.py", line 8, in load
    return json.loads(resp.text)
  File "/usr/lib/python3.12/json/__init__.py", line 346, in loads
    return _default_decoder.decode(s)
  File "/usr/lib/python3.12/json/decoder.py", line 355, in raw_decode
    raise JSONDecodeError("Expecting value", s, err.value) from None
json.decoder.JSONDecodeError: Expecting value: line 1 column 1 (char 0)
"#;

const CHAINED: &str = r#"Traceback (most recent call last):
  File "/home/dev/proj/app/config.py", line 31, in get_port
    return int(self.values["port"])
               ~~~~~~~~~~~^^^^^^^^
KeyError: 'port'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/home/dev/proj/run.py", line 5, in <module>
    serve(cfg.get_port())
          ^^^^^^^^^^^^^^
  File "/home/dev/proj/app/config.py", line 33, in get_port
    raise ConfigError("port is not set") from e
app.config.ConfigError: port is not set
"#;

const SYNTAX_ERROR: &str = r#"  File "/home/dev/proj/textstats/core.py", line 7
    def median(xs:
              ^
SyntaxError: '(' was never closed
Traceback (most recent call last):
  File "/home/dev/proj/main.py", line 2, in <module>
    from textstats.core import mean
  File "/home/dev/proj/textstats/core.py", line 7
    def median(xs:
              ^
SyntaxError: '(' was never closed
"#;

const ONLY_LIBRARY: &str = r#"Traceback (most recent call last):
  File "<frozen runpy>", line 198, in _run_module_as_main
  File "<frozen runpy>", line 88, in _run_code
  File "/home/dev/.venv/lib/python3.11/site-packages/pip/__main__.py", line 22, in <module>
    from pip._internal.cli.main import main as _main
ModuleNotFoundError: No module named 'pip._internal'
"#;

const BARE_EXCEPTION: &str =
    "Traceback (most recent call last):\n  File \"/srv/app/worker.py\", line 40, in <module>\n    time.sleep(60)\nKeyboardInterrupt\n";

#[test]
fn points_at_the_innermost_frame_with_the_message() {
    let fb = analyze(SIMPLE);
    assert_eq!(fb.diagnostics.len(), 1, "{fb:?}");
    let d = &fb.diagnostics[0];
    assert_eq!(d.kind, "python ZeroDivisionError");
    assert_eq!(at(d), (Some("/home/dev/proj/textstats/core.py"), Some(12), None));
    assert_eq!(d.message, "division by zero");
    assert!(fb.tests.is_none());
}

#[test]
fn prefers_user_code_over_the_standard_library() {
    let fb = analyze(LIBRARY_INNERMOST);
    let d = only(&fb);
    assert_eq!(d.kind, "python json.decoder.JSONDecodeError");
    assert_eq!(at(d), (Some("/home/dev/proj/fetch.py"), Some(8), None));
    assert_eq!(d.message, "Expecting value: line 1 column 1 (char 0)");
}

#[test]
fn a_chain_is_one_diagnostic_for_the_escaping_exception_naming_its_cause() {
    let fb = analyze(CHAINED);
    let d = only(&fb);
    assert_eq!(d.kind, "python app.config.ConfigError");
    assert_eq!(at(d), (Some("/home/dev/proj/app/config.py"), Some(33), None));
    assert_eq!(d.message, "port is not set (from KeyError: 'port')");
}

#[test]
fn syntax_errors_point_at_the_offending_line() {
    let fb = analyze(SYNTAX_ERROR);
    let d = only(&fb);
    assert_eq!(d.kind, "python SyntaxError");
    assert_eq!(at(d), (Some("/home/dev/proj/textstats/core.py"), Some(7), None));
    assert_eq!(d.message, "'(' was never closed");
}

#[test]
fn falls_back_to_the_innermost_frame_when_all_are_library_code() {
    let d = only_owned(analyze(ONLY_LIBRARY));
    assert_eq!(d.kind, "python ModuleNotFoundError");
    assert_eq!(d.file.as_deref(), Some("/home/dev/.venv/lib/python3.11/site-packages/pip/__main__.py"));
    assert_eq!(d.line, Some(22));
}

#[test]
fn an_exception_without_message_uses_its_type() {
    let d = only_owned(analyze(BARE_EXCEPTION));
    assert_eq!(d.kind, "python KeyboardInterrupt");
    assert_eq!(d.message, "KeyboardInterrupt");
    assert_eq!(d.line, Some(40));
}

#[test]
fn a_header_without_a_traceback_is_ignored() {
    let out = "grep -rn 'Traceback (most recent call last):' logs/\nlogs/app.log:17:Traceback (most recent call last):\n";
    assert!(analyze(out).is_empty());
}
