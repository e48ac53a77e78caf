//! A raw control-socket client: JSON lines over the session's Unix socket, as any client
//! speaks them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

pub struct RawClient {
    stream: UnixStream,
    lines: BufReader<UnixStream>,
}

impl RawClient {
    /// Connects and says hello as `name`; reads time out after a minute.
    pub fn connect(socket: &Path, name: &str) -> RawClient {
        let stream = UnixStream::connect(socket).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let lines = BufReader::new(stream.try_clone().unwrap());
        let mut raw = RawClient { stream, lines };
        raw.send(&serde_json::json!({"type": "hello", "client": name}));
        raw
    }

    /// [`RawClient::connect`], then subscribes from the first event.
    pub fn subscribed(socket: &Path, name: &str) -> RawClient {
        let mut raw = RawClient::connect(socket, name);
        raw.send(&serde_json::json!({"type": "subscribe", "from": 0}));
        raw
    }

    pub fn send(&mut self, v: &Value) {
        writeln!(self.stream, "{v}").unwrap();
    }

    /// The next line, None at the end of the connection.
    pub fn next(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.lines.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(serde_json::from_str(&line).expect("a JSON line")),
            Err(e) => panic!("reading the socket: {e}"),
        }
    }

    /// Persisted events' seqs until the connection closes.
    pub fn seqs_to_end(&mut self) -> Vec<u64> {
        let mut seqs = Vec::new();
        while let Some(v) = self.next() {
            if let Ok(ev) = serde_json::from_value::<endure::protocol::Event>(v.clone())
                && !ev.kind.is_live_only()
            {
                seqs.push(ev.seq);
            }
        }
        seqs
    }

    pub fn wait_event(&mut self, kind: &str) -> Value {
        loop {
            let v = self.next().unwrap_or_else(|| panic!("the connection closed before a {kind} event"));
            if v["type"] == kind {
                return v;
            }
        }
    }
}
