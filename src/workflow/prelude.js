// The workflow primitives, built on a few host functions. Evaluated once before the script;
// it removes the host object from the global scope so that scripts only see the primitives.
(function (host) {
  "use strict";

  const errorOf = (e) => (e instanceof Error ? e : new Error(String(e)));

  // Host answers come as {"ok": true, "value": …} or {"ok": false, "error": "…"}.
  const settle = (envelope) => {
    const r = JSON.parse(envelope);
    if (r.ok) return r.value;
    const e = new Error(r.error);
    if (r.kind) e.kind = r.kind;
    throw e;
  };

  const concurrencyOf = (opts, who, fallback) => {
    if (opts === undefined || opts === null || opts.concurrency === undefined) return fallback;
    const n = opts.concurrency;
    if (!Number.isInteger(n) || n < 1) {
      throw new TypeError(`${who}: concurrency must be a whole number of at least 1, not ${JSON.stringify(n)}`);
    }
    return n;
  };

  const semaphore = (n) => {
    let free = n;
    const waiting = [];
    return {
      acquire() {
        if (free > 0) {
          free -= 1;
          return Promise.resolve();
        }
        return new Promise((resolve) => waiting.push(resolve));
      },
      release() {
        const next = waiting.shift();
        if (next) next();
        else free += 1;
      },
    };
  };

  // The script line an agent() call was made from: the first stack frame outside this file
  // (a thunk of parallel() or a stage of pipeline() is in the script too). Frames read
  // `at name (file:line:column)`; native ones have no line.
  const PRELUDE_FILE = "endure-prelude.js";
  const callSite = () => {
    const stack = String(new Error().stack || "");
    for (const frame of stack.split("\n")) {
      if (frame.includes(PRELUDE_FILE)) continue;
      const m = /:(\d+)(?::\d+)?\)?\s*$/.exec(frame);
      if (m) return Number(m[1]);
    }
    return undefined;
  };

  // Agents started and not yet settled, for barrier().
  const pending = new Set();

  function agent(prompt, opts) {
    if (typeof prompt !== "string" || prompt.trim() === "") {
      return Promise.reject(new TypeError("agent(prompt, opts): prompt must be a non-empty string"));
    }
    if (opts !== undefined && (opts === null || typeof opts !== "object" || Array.isArray(opts))) {
      return Promise.reject(new TypeError("agent(prompt, opts): opts must be an object"));
    }
    let json;
    try {
      json = JSON.stringify(opts === undefined ? {} : opts);
    } catch (e) {
      return Promise.reject(new TypeError(`agent(prompt, opts): opts cannot be written as JSON: ${errorOf(e).message}`));
    }
    const p = host.agent(prompt, json, callSite()).then(settle);
    pending.add(p);
    const done = () => pending.delete(p);
    p.then(done, done);
    return p;
  }

  async function barrier() {
    await Promise.allSettled([...pending]);
  }

  async function parallel(thunks, opts) {
    if (!Array.isArray(thunks)) {
      throw new TypeError("parallel(thunks, {concurrency}): thunks must be an array of functions");
    }
    thunks.forEach((t, i) => {
      if (typeof t !== "function") {
        throw new TypeError(`parallel: item ${i} is not a function; wrap each call, e.g. () => agent("…")`);
      }
    });
    const limit = concurrencyOf(opts, "parallel", 4);
    const results = new Array(thunks.length);
    let next = 0;
    const worker = async () => {
      while (next < thunks.length) {
        const i = next;
        next += 1;
        try {
          results[i] = await thunks[i]();
        } catch (e) {
          results[i] = errorOf(e);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, thunks.length) }, worker));
    return results;
  }

  async function pipeline(items, ...stages) {
    let opts;
    if (stages.length > 0 && typeof stages[stages.length - 1] === "object" && stages[stages.length - 1] !== null) {
      opts = stages.pop();
    }
    if (!Array.isArray(items)) throw new TypeError("pipeline(items, stage1, stage2, …): items must be an array");
    if (stages.length === 0) throw new TypeError("pipeline(items, stage1, stage2, …): give at least one stage");
    stages.forEach((s, i) => {
      if (typeof s !== "function") throw new TypeError(`pipeline: stage ${i + 1} is not a function`);
    });
    const limit = concurrencyOf(opts, "pipeline", 4);
    const flows = items.map((item, index) => async () => {
      let value = item;
      for (const stage of stages) value = await stage(value, index);
      return value;
    });
    return parallel(flows, { concurrency: limit });
  }

  async function dag(nodes, opts) {
    if (nodes === null || typeof nodes !== "object" || Array.isArray(nodes)) {
      throw new TypeError("dag({name: {deps: [...], run: (inputs) => ...}}): nodes must be an object");
    }
    const names = Object.keys(nodes);
    for (const name of names) {
      const node = nodes[name];
      if (node === null || typeof node !== "object" || typeof node.run !== "function") {
        throw new TypeError(`dag: node ${name} needs a run function`);
      }
      const deps = node.deps === undefined ? [] : node.deps;
      if (!Array.isArray(deps)) throw new TypeError(`dag: the deps of ${name} must be an array of node names`);
      for (const d of deps) {
        if (!Object.prototype.hasOwnProperty.call(nodes, d)) throw new Error(`dag: ${name} depends on ${d}, which is not a node`);
      }
    }
    // A cycle would wait forever: find one and name it.
    const state = {};
    const visit = (name, path) => {
      if (state[name] === "done") return;
      if (state[name] === "open") throw new Error(`dag: dependency cycle ${[...path, name].join(" -> ")}`);
      state[name] = "open";
      for (const d of nodes[name].deps || []) visit(d, [...path, name]);
      state[name] = "done";
    };
    names.forEach((n) => visit(n, []));

    const limit = semaphore(concurrencyOf(opts, "dag", 4));
    const started = {};
    const start = (name) => {
      if (!started[name]) {
        started[name] = (async () => {
          const inputs = {};
          for (const d of nodes[name].deps || []) {
            const r = await start(d);
            if (r instanceof Error) return new Error(`${name} skipped: its dependency ${d} failed: ${r.message}`);
            inputs[d] = r;
          }
          await limit.acquire();
          try {
            return await nodes[name].run(inputs);
          } catch (e) {
            return errorOf(e);
          } finally {
            limit.release();
          }
        })();
      }
      return started[name];
    };
    names.forEach(start);
    const results = {};
    for (const name of names) results[name] = await started[name];
    return results;
  }

  function phase(name) {
    host.phase(String(name));
  }

  function log(...parts) {
    const text = parts.map((p) => (typeof p === "string" ? p : JSON.stringify(p))).join(" ");
    host.log(text);
  }

  function budget(caps) {
    if (caps === undefined) return JSON.parse(host.budget());
    if (caps === null || typeof caps !== "object" || Array.isArray(caps)) {
      throw new TypeError("budget({tokens, cost, agents}): give an object");
    }
    return settle(host.setBudget(JSON.stringify(caps)));
  }
  Object.defineProperty(budget, "limits", { get: () => JSON.parse(host.budget()).limits, enumerable: true });
  Object.defineProperty(budget, "spent", { get: () => JSON.parse(host.budget()).spent, enumerable: true });

  function merge(result) {
    if (result === null || typeof result !== "object" || typeof result.branch !== "string") {
      return Promise.reject(new TypeError('merge(result): give the result of an agent() run with isolation: "worktree"'));
    }
    return host.merge(JSON.stringify(result)).then(settle);
  }

  // Anything that differs between two runs of the same script would make a resumed run take
  // another path than the journal recorded.
  const refuse = (what) => () => {
    throw new Error(
      `${what} is not available in workflow scripts: a script must be deterministic so that a resumed run replays it exactly. Pass times or seeds in \`args\` instead.`,
    );
  };
  const RealDate = Date;
  function DeterministicDate(...a) {
    if (!new.target) refuse("Date()")();
    if (a.length === 0) refuse("new Date()")();
    return new RealDate(...a);
  }
  DeterministicDate.prototype = RealDate.prototype;
  DeterministicDate.UTC = RealDate.UTC;
  DeterministicDate.parse = RealDate.parse;
  DeterministicDate.now = refuse("Date.now()");
  Math.random = refuse("Math.random()");

  const define = (name, value) =>
    Object.defineProperty(globalThis, name, { value, writable: false, enumerable: false, configurable: false });
  define("Date", DeterministicDate);
  define("agent", agent);
  define("parallel", parallel);
  define("pipeline", pipeline);
  define("barrier", barrier);
  define("dag", dag);
  define("phase", phase);
  define("log", log);
  define("budget", budget);
  define("merge", merge);
  define("args", JSON.parse(host.args()));
})(globalThis.__endure_host);
delete globalThis.__endure_host;
