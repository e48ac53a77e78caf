use std::sync::Mutex;

use serde_json::json;

use super::*;

/// Answers `agent(prompt)` with `prompt!`, or rejects prompts starting with `fail`.
#[derive(Default)]
struct EchoHost {
    calls: Mutex<Vec<String>>,
    lines: Mutex<Vec<(String, Option<u32>)>>,
}

impl Host for EchoHost {
    fn agent(&self, prompt: String, _opts: Value, line: Option<u32>) -> HostFuture {
        if let Ok(mut c) = self.calls.lock() {
            c.push(prompt.clone());
        }
        if let Ok(mut l) = self.lines.lock() {
            l.push((prompt.clone(), line));
        }
        Box::pin(async move {
            tokio::task::yield_now().await;
            if prompt.starts_with("fail") { Err(format!("{prompt} failed")) } else { Ok(Value::String(format!("{prompt}!"))) }
        })
    }
    fn merge(&self, result: Value) -> HostFuture {
        Box::pin(async move { Ok(result) })
    }
    fn phase(&self, name: String) {
        let _ = name;
    }
    fn log(&self, message: String) {
        let _ = message;
    }
    fn budget(&self) -> Value {
        json!({"limits": {"tokens": null}, "spent": {"tokens": 0}})
    }
    fn set_budget(&self, caps: Value) -> Result<Value, String> {
        Ok(caps)
    }
}

fn run(script: &str) -> Result<Value, ScriptError> {
    run_limited(script, Limits::default())
}

fn run_limited(script: &str, limits: Limits) -> Result<Value, ScriptError> {
    run_blocking(script, "test.js", &json!({"n": 3}), limits, Arc::new(EchoHost::default()), Arc::new(Meter::default()))
}

#[test]
fn top_level_await_and_return() {
    assert_eq!(run("const a = await agent('x'); return {a, n: args.n};").unwrap(), json!({"a": "x!", "n": 3}));
    assert_eq!(run("1 + 1;").unwrap(), Value::Null);
}

#[test]
fn parallel_settles_each_result_or_error() {
    let v = run("const r = await parallel([() => agent('a'), () => agent('fail b'), () => agent('c')], {concurrency: 2}); \
                 return r.map(x => x instanceof Error ? 'E:' + x.message : x);")
    .unwrap();
    assert_eq!(v, json!(["a!", "E:fail b failed", "c!"]));
}

#[test]
fn pipeline_and_dag_pass_results_along() {
    let v = run("return await pipeline(['a', 'b'], x => agent(x), x => agent(x + '2'));").unwrap();
    assert_eq!(v, json!(["a!2!", "b!2!"]));
    let v = run("return await dag({ a: {run: () => agent('a')}, b: {deps: ['a'], run: (i) => agent(i.a + 'b')}, \
                 c: {deps: ['a', 'b'], run: (i) => i.a + i.b} });")
    .unwrap();
    assert_eq!(v, json!({"a": "a!", "b": "a!b!", "c": "a!a!b!"}));
    let e = run("return await dag({ a: {deps: ['b'], run: () => 1}, b: {deps: ['a'], run: () => 2} });").unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn determinism_errors_are_clear() {
    for expr in ["Date.now()", "new Date()", "Math.random()"] {
        let e = run(&format!("return {expr};")).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(expr) && msg.contains("deterministic"), "{msg}");
    }
    assert_eq!(run("return new Date(0).getTime();").unwrap(), json!(0));
}

#[test]
fn no_modules_or_host_objects() {
    let e = run("await import('fs');").unwrap_err();
    assert!(matches!(e, ScriptError::Thrown { .. }), "{e}");
    assert_eq!(
        run("return [typeof require, typeof process, typeof fetch, typeof __endure_host, typeof setTimeout];").unwrap(),
        json!(["undefined", "undefined", "undefined", "undefined", "undefined"])
    );
}

#[test]
fn cpu_limit_stops_an_endless_loop() {
    let limits = Limits { cpu: Duration::from_millis(300), ..Limits::default() };
    let e = run_limited("while (true) {}", limits).unwrap_err();
    assert_eq!(e, ScriptError::Cpu { limit: Duration::from_millis(300) });
    // Also after an await, inside a promise job, and when the script catches the interruption.
    let e = run_limited("await agent('x'); for (;;) { try { while (true) {} } catch (e) {} }", limits).unwrap_err();
    assert!(matches!(e, ScriptError::Cpu { .. }), "{e}");
}

#[test]
fn memory_limit_stops_an_allocation_bomb_even_when_caught() {
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let e = run_limited("const a = []; while (true) a.push(new Array(100000).fill(1));", limits).unwrap_err();
    assert_eq!(e, ScriptError::Memory { limit_bytes: 16 << 20 });
    let e = run_limited("const a = []; for (;;) { try { a.push('x'.repeat(1 << 20) + a.length); } catch (e) {} }", limits).unwrap_err();
    assert_eq!(e, ScriptError::Memory { limit_bytes: 16 << 20 });
}

#[test]
fn stack_limit_names_itself() {
    let e = run("function f(n) { return f(n + 1) + 1; } return f(0);").unwrap_err();
    assert!(matches!(e, ScriptError::Stack { .. }), "{e}");
    assert!(e.to_string().contains("stack limit"), "{e}");
}

#[test]
fn errors_carry_the_line() {
    let e = run("const x = 1;\nthrow new Error('boom');").unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("Error: boom") && msg.contains("test.js:2"), "{msg}");
}

#[test]
fn each_agent_call_reports_the_script_line_it_was_made_from() {
    let host = Arc::new(EchoHost::default());
    let script = "phase('one');\nconst a = await agent('first');\nconst r = await parallel([\n  () => agent('second'),\n  () => agent('third'),\n]);\nconst p = await pipeline(['x'], (v) => agent('stage ' + v));\nreturn [a, r, p];";
    run_blocking(script, "lines.js", &json!({}), Limits::default(), host.clone(), Arc::new(Meter::default())).unwrap();
    let mut lines = host.lines.lock().unwrap().clone();
    lines.sort();
    assert_eq!(lines, vec![("first".into(), Some(2)), ("second".into(), Some(4)), ("stage x".into(), Some(7)), ("third".into(), Some(5))]);
}
