//! The script engine: QuickJS through `rquickjs`, on a thread of its own.
//!
//! The script sees only the primitives of `prelude.js` and plain JavaScript: no filesystem,
//! network, process, timers or module loading (no loader is installed, so `import()` fails),
//! and no clock or randomness (they would make a resumed run take another path). Everything
//! that does work is a [`Host`] call; the host runs it on the main tokio runtime, so the engine
//! thread only runs JavaScript and otherwise sleeps, which is why its thread CPU clock measures
//! the script's own CPU time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rquickjs::function::Async;
use rquickjs::{AsyncContext, AsyncRuntime, CatchResultExt, CaughtError, Ctx, Function, Object, Promise};
use serde_json::Value;

use super::meter::{Meter, MeteredAllocator, Tripped, thread_cpu_time};

const PRELUDE: &str = include_str!("prelude.js");

/// What a script may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub memory_bytes: usize,
    /// CPU time the script itself may use (time spent waiting for agents does not count).
    pub cpu: Duration,
    pub stack_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 64 << 20, cpu: Duration::from_secs(30), stack_bytes: 1 << 20 }
    }
}

pub type HostFuture = Pin<Box<dyn Future<Output = Result<Value, String>> + Send + 'static>>;

/// What the primitives ask of endure. Called on the engine thread; futures are polled there, so
/// real work belongs on another runtime.
pub trait Host: Send + Sync + 'static {
    /// `line`: the script line the call was made from, when the stack tells.
    fn agent(&self, prompt: String, opts: Value, line: Option<u32>) -> HostFuture;
    fn merge(&self, result: Value) -> HostFuture;
    fn phase(&self, name: String);
    fn log(&self, message: String);
    /// `{limits: {...}, spent: {...}}`.
    fn budget(&self) -> Value;
    fn set_budget(&self, caps: Value) -> Result<Value, String>;
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    #[error("the script exceeded its memory limit of {} MiB (workflow limit `memory`)", .limit_bytes >> 20)]
    Memory { limit_bytes: usize },
    #[error("the script used more than its CPU time limit of {}s (workflow limit `cpu`); an endless loop?", .limit.as_secs_f64())]
    Cpu { limit: Duration },
    #[error("the script exceeded its stack limit of {} KiB (workflow limit `stack`); runaway recursion? ({message})", .limit_bytes >> 10)]
    Stack { limit_bytes: usize, message: String },
    /// The script threw, or a promise it returned rejected.
    #[error("{message}")]
    Thrown { message: String },
    #[error("the workflow was stopped")]
    Stopped,
    #[error("workflow engine: {0}")]
    Engine(String),
}

/// Runs `script` on a new thread and waits for its result without blocking the caller's runtime.
pub async fn run(
    script: String,
    file_name: String,
    args: Value,
    limits: Limits,
    host: Arc<dyn Host>,
    meter: Arc<Meter>,
) -> Result<Value, ScriptError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("endure-workflow".into()).spawn(move || {
        let _ = tx.send(run_blocking(&script, &file_name, &args, limits, host, meter));
    });
    if let Err(e) = spawned {
        return Err(ScriptError::Engine(format!("cannot start the engine thread: {e}")));
    }
    rx.await.unwrap_or_else(|_| Err(ScriptError::Engine("the engine thread ended without a result".into())))
}

/// Runs `script` on the calling thread, which must not be inside a tokio runtime.
pub fn run_blocking(
    script: &str,
    file_name: &str,
    args: &Value,
    limits: Limits,
    host: Arc<dyn Host>,
    meter: Arc<Meter>,
) -> Result<Value, ScriptError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ScriptError::Engine(format!("cannot start the engine's runtime: {e}")))?;
    rt.block_on(evaluate(script, file_name, args, limits, host, meter))
}

async fn evaluate(
    script: &str,
    file_name: &str,
    args: &Value,
    limits: Limits,
    host: Arc<dyn Host>,
    meter: Arc<Meter>,
) -> Result<Value, ScriptError> {
    let engine = |e: rquickjs::Error| ScriptError::Engine(e.to_string());
    let runtime = AsyncRuntime::new_with_alloc(MeteredAllocator::new(limits.memory_bytes, meter.clone())).map_err(engine)?;
    runtime.set_max_stack_size(limits.stack_bytes).await;
    let started = thread_cpu_time();
    let watch = meter.clone();
    runtime
        .set_interrupt_handler(Some(Box::new(move || {
            if watch.tripped().is_some() {
                return true;
            }
            if thread_cpu_time().saturating_sub(started) > limits.cpu {
                watch.trip(Tripped::Cpu);
                return true;
            }
            false
        })))
        .await;
    let context = AsyncContext::full(&runtime).await.map_err(engine)?;
    let args_json = serde_json::to_string(args).map_err(|e| ScriptError::Engine(e.to_string()))?;
    // The script becomes the body of an async function, so top-level `await` and `return` work.
    // The opening shares the script's first line, so line numbers in errors are the file's.
    let wrapped = format!("(async function () {{ {script}\n}})");
    let file = file_name.to_string();
    let outcome = context
        .async_with(async |ctx| -> Result<Value, ScriptError> {
            install_host(&ctx, host, args_json).map_err(|e| caught(&ctx, e))?;
            let mut prelude = rquickjs::context::EvalOptions::default();
            // The name the prelude's call-site lookup skips.
            prelude.filename = Some("endure-prelude.js".into());
            ctx.eval_with_options::<(), _>(PRELUDE, prelude)
                .catch(&ctx)
                .map_err(|e| ScriptError::Engine(format!("prelude: {}", describe(e))))?;
            let mut options = rquickjs::context::EvalOptions::default();
            options.global = true;
            options.strict = false;
            options.filename = Some(file);
            let main: Function = ctx.eval_with_options(wrapped, options).catch(&ctx).map_err(thrown)?;
            let promise: Promise = main.call(()).catch(&ctx).map_err(thrown)?;
            let stop = meter.wake.notified();
            tokio::pin!(stop);
            // Registered before the first poll: a trip from the first slice of JavaScript
            // would otherwise be missed.
            stop.as_mut().enable();
            let value: rquickjs::Value = tokio::select! {
                r = promise.into_future::<rquickjs::Value>() => r.catch(&ctx).map_err(thrown)?,
                _ = &mut stop => return Err(ScriptError::Stopped),
            };
            to_json(&ctx, value)
        })
        .await;
    // A limit explains whatever error the script ended with (an interrupted job, an
    // out-of-memory exception it caught, a rejected promise).
    match meter.tripped() {
        Some(Tripped::Memory) => Err(ScriptError::Memory { limit_bytes: limits.memory_bytes }),
        Some(Tripped::Cpu) => Err(ScriptError::Cpu { limit: limits.cpu }),
        Some(Tripped::Stopped) => Err(ScriptError::Stopped),
        None => match outcome {
            Err(ScriptError::Thrown { message }) if is_stack_overflow(&message) => {
                Err(ScriptError::Stack { limit_bytes: limits.stack_bytes, message })
            }
            other => other,
        },
    }
}

fn is_stack_overflow(message: &str) -> bool {
    message.contains("Maximum call stack size exceeded") || message.contains("stack overflow")
}

/// The envelope the prelude's `settle` reads.
fn envelope(r: Result<Value, String>) -> String {
    match r {
        Ok(value) => serde_json::json!({"ok": true, "value": value}).to_string(),
        Err(error) => serde_json::json!({"ok": false, "error": error}).to_string(),
    }
}

fn parse_json(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what}: not valid JSON ({e})"))
}

fn install_host<'js>(ctx: &Ctx<'js>, host: Arc<dyn Host>, args_json: String) -> rquickjs::Result<()> {
    let o = Object::new(ctx.clone())?;
    let h = host.clone();
    o.set(
        "agent",
        Function::new(
            ctx.clone(),
            Async(move |prompt: String, opts: String, line: Option<f64>| {
                let line = line.filter(|l| l.is_finite() && *l >= 1.0 && *l <= f64::from(u32::MAX)).map(|l| l as u32);
                let fut = match parse_json(&opts, "agent options") {
                    Ok(opts) => h.agent(prompt, opts, line),
                    Err(e) => Box::pin(async move { Err(e) }),
                };
                async move { Ok::<String, rquickjs::Error>(envelope(fut.await)) }
            }),
        )?,
    )?;
    let h = host.clone();
    o.set(
        "merge",
        Function::new(
            ctx.clone(),
            Async(move |result: String| {
                let fut = match parse_json(&result, "merge(result)") {
                    Ok(v) => h.merge(v),
                    Err(e) => Box::pin(async move { Err(e) }),
                };
                async move { Ok::<String, rquickjs::Error>(envelope(fut.await)) }
            }),
        )?,
    )?;
    let h = host.clone();
    o.set("phase", Function::new(ctx.clone(), move |name: String| h.phase(name))?)?;
    let h = host.clone();
    o.set("log", Function::new(ctx.clone(), move |message: String| h.log(message))?)?;
    let h = host.clone();
    o.set("budget", Function::new(ctx.clone(), move || h.budget().to_string())?)?;
    let h = host;
    o.set(
        "setBudget",
        Function::new(ctx.clone(), move |caps: String| envelope(parse_json(&caps, "budget(caps)").and_then(|c| h.set_budget(c))))?,
    )?;
    o.set("args", Function::new(ctx.clone(), move || args_json.clone())?)?;
    ctx.globals().set("__endure_host", o)
}

/// The script's return value as JSON (`undefined` becomes null).
fn to_json<'js>(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> Result<Value, ScriptError> {
    if value.is_undefined() {
        return Ok(Value::Null);
    }
    let text = ctx
        .json_stringify(value)
        .catch(ctx)
        .map_err(|e| ScriptError::Thrown { message: format!("the script's return value cannot be written as JSON: {}", describe(e)) })?;
    let Some(text) = text else { return Ok(Value::Null) };
    let text = text.to_string().map_err(|e| ScriptError::Engine(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| ScriptError::Engine(format!("the script's return value: {e}")))
}

fn caught<'js>(ctx: &Ctx<'js>, e: rquickjs::Error) -> ScriptError {
    match e {
        rquickjs::Error::Exception => thrown(CaughtError::from_error(ctx, e)),
        other => ScriptError::Engine(other.to_string()),
    }
}

fn thrown(e: CaughtError<'_>) -> ScriptError {
    ScriptError::Thrown { message: describe(e) }
}

/// An exception as `Name: message` with its stack, or the thrown value.
fn describe(e: CaughtError<'_>) -> String {
    match e {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let name: Option<String> = ex.get("name").ok();
            let head = match name {
                Some(n) if !n.is_empty() => format!("{n}: {message}"),
                _ => message,
            };
            match ex.stack().filter(|s| !s.trim().is_empty()) {
                Some(stack) => format!("{head}\n{}", stack.trim_end()),
                None => head,
            }
        }
        CaughtError::Value(v) => {
            let text = v.ctx().json_stringify(v.clone()).ok().flatten().and_then(|s| s.to_string().ok());
            format!("the script threw {}", text.unwrap_or_else(|| format!("{:?}", v.type_of())))
        }
        CaughtError::Error(e) => e.to_string(),
    }
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
