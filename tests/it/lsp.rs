//! `fusec lsp`: a scripted session against the server loop over in-memory channels (open a file with errors,
//! fix it, hover, go to definition, complete, shut down), the server's answers to a misbehaving client, and the
//! binary over stdio.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{json, Value};

use super::support::temp_dir;

const LIB: &str = "\
// Encoder: one hidden layer with a ReLU.
//   x: f32[B, _] -> f32[B, width]
block Encoder(x: f32[B, _], width: int = 32) -> f32[B, width] {
  h = linear(x, width)
  return relu(h)
}
";

const FIXED: &str = "\
import std.fusion.AutoFusion
import \"lib.fuse\".Encoder

model Tiny {
  input a: f32[B, 12]
  input b: f32[B, 8]
  input label: i64[B]
  za = Encoder(a, width = 16)
  zb = Encoder(b)
  fusion = AutoFusion([za, zb], dim = 8)
  output logits = linear(fusion.z, 3)
  loss task = cross_entropy(logits, label)
  loss recon = fusion.recon
}
";

/// A response: its result, or its error's code.
struct Answer {
    result: Option<Value>,
    error: Option<i32>,
}

/// The client's side of an in-memory connection to a server running on its own thread.
struct Client {
    conn: Connection,
    server: Option<std::thread::JoinHandle<Result<(), String>>>,
    next_id: i32,
    /// `publishDiagnostics` received so far, in order: (URI, diagnostics).
    published: Vec<(String, Vec<Value>)>,
}

impl Client {
    fn start() -> Client {
        let (server, client) = Connection::memory();
        let handle = std::thread::spawn(move || fusec::lsp::serve(&server));
        Client {
            conn: client,
            server: Some(handle),
            next_id: 0,
            published: Vec::new(),
        }
    }

    fn initialize(&mut self) -> Value {
        let r = self.request("initialize", json!({ "capabilities": {} }));
        self.notify("initialized", json!({}));
        r.result.expect("initialize succeeds")
    }

    /// Sends a request and returns its response, recording the notifications that came before it.
    fn request(&mut self, method: &str, params: Value) -> Answer {
        self.next_id += 1;
        let id = RequestId::from(self.next_id);
        let req = Request::new(id.clone(), method.to_string(), params);
        self.conn.sender.send(req.into()).unwrap();
        loop {
            let msg = self
                .conn
                .receiver
                .recv_timeout(Duration::from_secs(30))
                .expect("the server answers");
            match msg {
                Message::Response(r) if r.id == id => {
                    return match r.response_result {
                        Ok(v) => Answer {
                            result: Some(v),
                            error: None,
                        },
                        Err(e) => Answer {
                            result: None,
                            error: Some(e.code),
                        },
                    }
                }
                Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => {
                    let uri = n.params["uri"].as_str().unwrap().to_string();
                    let diags = n.params["diagnostics"].as_array().unwrap().clone();
                    self.published.push((uri, diags));
                }
                other => panic!("unexpected message {other:?}"),
            }
        }
    }

    fn notify(&self, method: &str, params: Value) {
        let n = Notification::new(method.to_string(), params);
        self.conn.sender.send(n.into()).unwrap();
    }

    /// Waits until the server has handled everything sent so far (it answers in order), so every
    /// notification it sent is recorded.
    fn sync(&mut self) {
        let r = self.request("fusec/ping", json!(null));
        assert_eq!(r.error, Some(-32601));
    }

    /// The last diagnostics published for `uri`.
    fn diagnostics(&self, uri: &str) -> Vec<Value> {
        self.published
            .iter()
            .rev()
            .find(|(u, _)| u == uri)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("nothing published for {uri}"))
    }

    fn result(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert!(r.error.is_none(), "{method}: {:?}", r.error);
        r.result.unwrap_or(Value::Null)
    }

    fn shutdown(mut self) -> Result<(), String> {
        let r = self.request("shutdown", json!(null));
        assert!(r.error.is_none());
        self.notify("exit", json!(null));
        self.server.take().unwrap().join().unwrap()
    }
}

fn at(uri: &str, line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": character } })
}

/// Line and UTF-16 column of the first `needle` in `text` (ASCII texts), plus `skip` characters.
fn pos_of(text: &str, needle: &str, skip: u32) -> (u32, u32) {
    let i = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in text"));
    let line = text[..i].matches('\n').count() as u32;
    let col = (i - text[..i].rfind('\n').map_or(0, |j| j + 1)) as u32;
    (line, col + skip)
}

fn hover_text(c: &mut Client, uri: &str, (line, col): (u32, u32)) -> String {
    let h = c.result("textDocument/hover", at(uri, line, col));
    h["contents"]["value"]
        .as_str()
        .expect("a hover")
        .to_string()
}

/// Diagnostics as `code line:col-line:col message` lines.
fn render_diagnostics(diags: &[Value]) -> String {
    diags
        .iter()
        .map(|d| {
            let r = &d["range"];
            format!(
                "{} {}:{}-{}:{} {}",
                d["code"].as_str().unwrap(),
                r["start"]["line"],
                r["start"]["character"],
                r["end"]["line"],
                r["end"]["character"],
                d["message"].as_str().unwrap().replace('\n', " | ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn scripted_session_diagnoses_hovers_jumps_and_completes() {
    let dir = temp_dir("lsp", "session");
    std::fs::write(dir.join("lib.fuse"), LIB).unwrap();
    // main.fuse exists only in the editor: the server compiles the open text, and its import from disk.
    let main_uri = format!("file://{}/main.fuse", dir.display());
    let lib_uri = format!("file://{}/lib.fuse", dir.display());
    let mut c = Client::start();
    let init = c.initialize();
    assert_eq!(init["serverInfo"]["name"], "fusec");
    assert_eq!(init["capabilities"]["hoverProvider"], true);
    assert_eq!(init["capabilities"]["definitionProvider"], true);
    assert_eq!(init["capabilities"]["textDocumentSync"]["change"], 1);

    // Two errors of one stage, reported together, each at the name it is about.
    let broken = FIXED
        .replace("Encoder(b)", "Encoder(bb)")
        .replace("entropy(logits", "entropy(logit");
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": main_uri, "languageId": "fuse", "version": 1, "text": broken } }),
    );
    c.sync();
    let diags = c.diagnostics(&main_uri);
    insta::assert_snapshot!("lsp_open_with_errors", render_diagnostics(&diags));
    assert_eq!(diags.len(), 2);
    assert_eq!(diags[0]["code"], "fusec::name::unknown");
    assert_eq!(
        diags[0]["range"]["start"],
        json!({ "line": 8, "character": 15 })
    );
    assert_eq!(
        diags[0]["range"]["end"],
        json!({ "line": 8, "character": 17 })
    );

    // The fix clears them.
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main_uri, "version": 2 }, "contentChanges": [{ "text": FIXED }] }),
    );
    c.sync();
    assert_eq!(c.diagnostics(&main_uri), Vec::<Value>::new());

    // Hover: a value's dtype, shape and parameters; a block instance; a stdlib block's header comment; a
    // value inside a block body, once per instance (in lib.fuse, which is not even open).
    let logits = hover_text(&mut c, &main_uri, pos_of(FIXED, "(logits", 1));
    let fusion = hover_text(&mut c, &main_uri, pos_of(FIXED, "fusion =", 0));
    let autofusion = hover_text(&mut c, &main_uri, pos_of(FIXED, "AutoFusion(", 2));
    let h = hover_text(&mut c, &lib_uri, pos_of(LIB, "relu(h", 5));
    let width = hover_text(&mut c, &main_uri, pos_of(FIXED, "width = 16", 1));
    insta::assert_snapshot!(
        "lsp_hovers",
        format!(
            "== logits\n{logits}\n\n== fusion\n{fusion}\n\n== AutoFusion\n{autofusion}\n\n== h in lib.fuse\n{h}\n\n== width\n{width}"
        )
    );
    assert!(logits.contains("`f32[B, 3]`") && logits.contains("27 parameters"));
    assert!(autofusion.contains("AutoFusion: compress the concatenated latents"));

    // Definition: into the user's lib.fuse, into the embedded stdlib, to a binding, to a block's port.
    let (l, col) = pos_of(FIXED, "Encoder(a", 1);
    let d = c.result("textDocument/definition", at(&main_uri, l, col));
    assert_eq!(d["uri"], lib_uri);
    assert_eq!(
        d["range"],
        json!({ "start": { "line": 2, "character": 6 }, "end": { "line": 2, "character": 13 } })
    );
    let (l, col) = pos_of(FIXED, "AutoFusion(", 0);
    let d = c.result("textDocument/definition", at(&main_uri, l, col));
    assert_eq!(d["uri"], "fusec-std:/std/fusion.fuse");
    let std_text = c.result(
        "fusec/stdlibSource",
        json!({ "uri": "fusec-std:/std/fusion.fuse" }),
    );
    let std_text = std_text.as_str().unwrap();
    assert_eq!(std_text, fusec::stdlib::source("fusion").unwrap());
    let line = std_text
        .lines()
        .nth(d["range"]["start"]["line"].as_u64().unwrap() as usize)
        .unwrap();
    let (s, e) = (
        d["range"]["start"]["character"].as_u64().unwrap() as usize,
        d["range"]["end"]["character"].as_u64().unwrap() as usize,
    );
    assert_eq!(&line[s..e], "AutoFusion");
    let (l, col) = pos_of(FIXED, "(logits", 2);
    let d = c.result("textDocument/definition", at(&main_uri, l, col));
    assert_eq!(d["range"]["start"], json!({ "line": 10, "character": 9 }));
    let (l, col) = pos_of(FIXED, "width = 16", 0);
    let d = c.result("textDocument/definition", at(&lib_uri, 0, 0));
    assert_eq!(d, Value::Null, "nothing is defined at a comment");
    let d = c.result("textDocument/definition", at(&main_uri, l, col));
    assert_eq!(
        (d["uri"].as_str(), &d["range"]["start"]),
        (
            Some(lib_uri.as_str()),
            &json!({ "line": 2, "character": 28 })
        )
    );

    // Completion: keyword arguments with their defaults right after `(`, and block names: the file's, then
    // the stdlib's with the import they need, then primitives.
    let (l, col) = pos_of(FIXED, "Encoder(b)", 8);
    let items = c.result("textDocument/completion", at(&main_uri, l, col));
    let items = items.as_array().unwrap();
    let (l, col) = pos_of(FIXED, "zb = ", 5);
    let names = c.result("textDocument/completion", at(&main_uri, l, col));
    let names = names.as_array().unwrap();
    insta::assert_snapshot!(
        "lsp_completions",
        format!(
            "== in Encoder(|b)\n{}\n\n== at zb = |\n{}",
            render_items(items, "01"),
            render_items(names, "01")
        )
    );
    let mlp = names
        .iter()
        .find(|i| i["label"] == "Mlp")
        .expect("stdlib blocks are offered");
    assert_eq!(
        mlp["additionalTextEdits"][0]["newText"],
        "import std.encoders.Mlp\n"
    );
    assert_eq!(
        mlp["additionalTextEdits"][0]["range"]["start"],
        json!({ "line": 2, "character": 0 })
    );
    assert!(
        names.iter().any(|i| i["label"] == "linear"),
        "primitives are offered"
    );

    // While a line is half typed (the file does not parse), completion still knows the file's blocks.
    let typing = FIXED.replace("  zb = Encoder(b)\n", "  zb = Encoder(b, \n");
    c.notify(
        "textDocument/didChange",
        json!({ "textDocument": { "uri": main_uri, "version": 3 }, "contentChanges": [{ "text": typing }] }),
    );
    c.sync();
    let code = c.diagnostics(&main_uri)[0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(code.starts_with("fusec::syntax"), "{code}");
    let (l, col) = pos_of(&typing, "Encoder(b, ", 11);
    let items = c.result("textDocument/completion", at(&main_uri, l, col));
    let labels: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert_eq!(labels[..2], ["x", "width"]);
    assert!(labels.contains(&"Encoder"));

    assert_eq!(c.shutdown(), Ok(()));
}

/// Completion items of the given ranks (the first character of their sort text) as `label | detail | insert`.
fn render_items(items: &[Value], ranks: &str) -> String {
    items
        .iter()
        .filter(|i| {
            i["sortText"]
                .as_str()
                .and_then(|s| s.chars().next())
                .is_some_and(|r| ranks.contains(r))
        })
        .map(|i| {
            format!(
                "{} | {} | {}",
                i["label"].as_str().unwrap(),
                i["detail"].as_str().unwrap_or(""),
                i["insertText"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_misbehaving_client_gets_errors_not_a_crash() {
    let mut c = Client::start();
    // Before `initialize`, requests are refused.
    let r = c.request("textDocument/hover", at("file:///x.fuse", 0, 0));
    assert_eq!(r.error, Some(-32002));
    c.initialize();
    // Params that do not fit the method.
    let r = c.request("textDocument/hover", json!({ "bogus": 1 }));
    assert_eq!(r.error, Some(-32602));
    let r = c.request("textDocument/completion", json!([1, 2, 3]));
    assert_eq!(r.error, Some(-32602));
    let r = c.request("fusec/stdlibSource", json!({ "uri": "file:///etc/passwd" }));
    assert_eq!(r.error, Some(-32602));
    // Unknown documents, URIs of any scheme, positions past the end: empty answers.
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": "file:///nowhere.fuse", "version": 2 }, "contentChanges": [{ "text": "x" }] }));
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": "file:///nowhere.fuse" } }),
    );
    c.notify(
        "textDocument/didClose",
        json!({ "textDocument": { "uri": "file:///never-opened.fuse" } }),
    );
    assert_eq!(
        c.result("textDocument/hover", at("file:///nowhere.fuse", 0, 0)),
        Value::Null
    );
    let untitled = "untitled:Untitled-1";
    c.notify("textDocument/didOpen", json!({ "textDocument": { "uri": untitled, "languageId": "fuse", "version": 1, "text": FIXED } }));
    c.sync();
    // An unsaved buffer compiles too; its relative import cannot be read, and says so at the import.
    let diags = c.diagnostics(untitled);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["code"], "fusec::import::missing");
    assert_eq!(diags[0]["range"]["start"]["line"], 1);
    // A character past a line's end means the line's end (here, the end of `AutoFusion`).
    let h = c.result("textDocument/hover", at(untitled, 0, 9999));
    assert_eq!(h["range"]["end"], json!({ "line": 0, "character": 28 }));
    for (line, col) in [(9999, 0), (u32::MAX, u32::MAX)] {
        assert_eq!(
            c.result("textDocument/hover", at(untitled, line, col)),
            Value::Null
        );
        assert_eq!(
            c.result("textDocument/definition", at(untitled, line, col)),
            Value::Null
        );
    }
    // Completion right after non-ASCII text (a byte offset inside no character is never used).
    c.notify("textDocument/didOpen", json!({ "textDocument": { "uri": "untitled:u2", "languageId": "fuse", "version": 1, "text": "model M {\n  é = Mlp(é, \n" } }));
    for col in 0..16 {
        let items = c.result("textDocument/completion", at("untitled:u2", 1, col));
        assert!(items.is_array(), "{items}");
    }
    // A range change outside the text is refused without touching the document.
    c.notify("textDocument/didChange", json!({ "textDocument": { "uri": untitled, "version": 3 }, "contentChanges": [{ "range": { "start": { "line": 500, "character": 0 }, "end": { "line": 501, "character": 0 } }, "text": "x" }] }));
    let r = c.request("workspace/symbol", json!({ "query": "" }));
    assert_eq!(r.error, Some(-32601));
    // `exit` without `shutdown` ends the loop with an error (exit code 1).
    c.notify("exit", json!(null));
    assert!(c.server.take().unwrap().join().unwrap().is_err());
}

/// One framed JSON-RPC message.
fn frame(v: &Value) -> Vec<u8> {
    let body = v.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// Reads one framed message.
fn read_frame(r: &mut impl BufRead) -> Value {
    let mut len = 0;
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "the server closed stdout"
        );
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("Content-Length: ") {
            len = n.parse().unwrap();
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    serde_json::from_slice(&body).unwrap()
}

/// The binary with `args`, all three standard streams piped.
fn spawn_piped(bin: &str, args: &[&str]) -> std::process::Child {
    Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_binary_serves_over_stdio() {
    let bin =
        std::env::var("FUSEC_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_fusec").to_string());
    let mut child = spawn_piped(&bin, &["lsp", "--stdio"]);
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let uri = "file:///nonexistent-fusec-lsp-test/main.fuse";
    for msg in [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }),
        json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }),
        json!({ "jsonrpc": "2.0", "method": "textDocument/didOpen", "params": { "textDocument": { "uri": uri, "languageId": "fuse", "version": 1, "text": "model M {\n  input x: f32[B, 4]\n  output y = linear(q, 2)\n}\n" } } }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "shutdown" }),
        json!({ "jsonrpc": "2.0", "method": "exit" }),
    ] {
        stdin.write_all(&frame(&msg)).unwrap();
    }
    stdin.flush().unwrap();
    let init = read_frame(&mut stdout);
    assert_eq!(init["id"], 1);
    assert_eq!(init["result"]["capabilities"]["hoverProvider"], true);
    let published = read_frame(&mut stdout);
    assert_eq!(published["method"], "textDocument/publishDiagnostics");
    assert_eq!(
        published["params"]["diagnostics"][0]["code"],
        "fusec::name::unknown"
    );
    assert_eq!(
        published["params"]["diagnostics"][0]["range"]["start"],
        json!({ "line": 2, "character": 20 })
    );
    assert_eq!(read_frame(&mut stdout)["id"], 2);
    assert_eq!(child.wait().unwrap().code(), Some(0));

    // A frame that is not JSON ends the session (the transport cannot answer it), without a panic.
    let mut child = spawn_piped(&bin, &["lsp"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"Content-Length: 9\r\n\r\n{not json")
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
