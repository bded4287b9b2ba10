//! The server loop: the LSP handshake, one handler per request and notification, and shutdown. Every open
//! document is a root that is compiled on open and on each change, and so is every open document that reads a
//! changed one; diagnostics are published after each. A client's mistakes (unknown methods, params that do not
//! deserialize, unknown URIs, positions out of range) get an error response or an empty answer; a bug that
//! panics in a handler is caught and answered as an internal error, and the server goes on.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{Completion, GotoDefinition, HoverRequest, Request as _};
use lsp_types::{
    CompletionOptions, CompletionParams, CompletionResponse, DidChangeTextDocumentParams,
    DidCloseTextDocumentParams, DidOpenTextDocumentParams, GotoDefinitionParams,
    GotoDefinitionResponse, Hover, HoverContents, HoverParams, HoverProviderCapability, Location,
    MarkupContent, MarkupKind, OneOf, Position, PublishDiagnosticsParams, ServerCapabilities,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextDocumentSyncOptions,
};
use serde::Deserialize;
use serde_json::Value as Json;

use super::analysis::{analyze, Analysis};
use super::documents::Documents;
use super::position::LineIndex;
use super::publish::{convert, parse_uri, Published};
use super::{completion, definition, hover, uri};
use crate::source::FileId;

/// The custom request that returns an embedded stdlib module's text by its virtual URI.
pub const STDLIB_SOURCE: &str = "fusec/stdlibSource";

/// Runs the protocol on `conn` until `exit`. `Ok` after `shutdown` then `exit`; `Err` says why it ended
/// otherwise (the protocol's exit code 1).
pub fn serve(conn: &Connection) -> Result<(), String> {
    let mut server = Server {
        conn,
        docs: Documents::default(),
        analyses: HashMap::new(),
        parsed_before: HashMap::new(),
        published: Published::default(),
    };
    let mut initialized = false;
    let mut shutting_down = false;
    for msg in &conn.receiver {
        match msg {
            Message::Request(req) => {
                let reply = if req.method == "initialize" {
                    if initialized {
                        error(req.id, ErrorCode::InvalidRequest, "already initialized")
                    } else {
                        initialized = true;
                        Response::new_ok(req.id, initialize_result())
                    }
                } else if !initialized {
                    error(
                        req.id,
                        ErrorCode::ServerNotInitialized,
                        "send `initialize` first",
                    )
                } else if shutting_down {
                    error(
                        req.id,
                        ErrorCode::InvalidRequest,
                        "the server is shutting down",
                    )
                } else if req.method == "shutdown" {
                    shutting_down = true;
                    Response::new_ok(req.id, Json::Null)
                } else {
                    server.request(req)
                };
                server.send(reply.into())?;
            }
            Message::Notification(n) if n.method == "exit" => {
                return if shutting_down {
                    Ok(())
                } else {
                    Err("`exit` came before `shutdown`".to_string())
                };
            }
            Message::Notification(n) => {
                if initialized && !shutting_down {
                    server.notification(n)?;
                }
            }
            Message::Response(_) => {}
        }
    }
    Err("the client closed the connection without `exit`".to_string())
}

fn initialize_result() -> Json {
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::FULL),
                ..TextDocumentSyncOptions::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["(".into(), ",".into(), ".".into()]),
            ..CompletionOptions::default()
        }),
        ..ServerCapabilities::default()
    };
    serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": { "name": "fusec", "version": env!("CARGO_PKG_VERSION") },
    })
}

fn error(id: RequestId, code: ErrorCode, message: &str) -> Response {
    Response::new_err(id, code as i32, message.to_string())
}

struct Server<'c> {
    conn: &'c Connection,
    docs: Documents,
    /// The analysis of every open document (except stdlib documents), by URI.
    analyses: HashMap<String, Analysis>,
    /// The last analysis that parsed, of each document whose current text does not: completion still knows
    /// the file's blocks while a line is half typed.
    parsed_before: HashMap<String, Analysis>,
    published: Published,
}

/// The params of [`STDLIB_SOURCE`].
#[derive(Deserialize)]
struct StdlibSourceParams {
    uri: String,
}

impl Server<'_> {
    fn send(&self, msg: Message) -> Result<(), String> {
        self.conn
            .sender
            .send(msg)
            .map_err(|_| "the client's connection is closed".to_string())
    }

    fn request(&mut self, req: Request) -> Response {
        let id = req.id.clone();
        let method = req.method.clone();
        let answer = catch_unwind(AssertUnwindSafe(|| self.answer(&req.method, req.params)));
        match answer {
            Ok(Ok(result)) => Response::new_ok(id, result),
            Ok(Err((code, message))) => error(id, code, &message),
            Err(_) => error(
                id,
                ErrorCode::InternalError,
                &format!(
                    "internal error in fusec while answering `{method}` (a bug; please report it)"
                ),
            ),
        }
    }

    fn answer(&mut self, method: &str, params: Json) -> Result<Json, (ErrorCode, String)> {
        fn parse<P: serde::de::DeserializeOwned>(
            method: &str,
            params: Json,
        ) -> Result<P, (ErrorCode, String)> {
            serde_json::from_value(params).map_err(|e| {
                (
                    ErrorCode::InvalidParams,
                    format!("invalid params for `{method}`: {e}"),
                )
            })
        }
        let result = match method {
            HoverRequest::METHOD => {
                let p: HoverParams = parse(method, params)?;
                let at = p.text_document_position_params;
                serde_json::to_value(self.hover(at.text_document.uri.as_str(), at.position))
            }
            GotoDefinition::METHOD => {
                let p: GotoDefinitionParams = parse(method, params)?;
                let at = p.text_document_position_params;
                serde_json::to_value(self.definition(at.text_document.uri.as_str(), at.position))
            }
            Completion::METHOD => {
                let p: CompletionParams = parse(method, params)?;
                let at = p.text_document_position;
                serde_json::to_value(self.completion(at.text_document.uri.as_str(), at.position))
            }
            STDLIB_SOURCE => {
                let p: StdlibSourceParams = parse(method, params)?;
                let text = uri::std_source(&p.uri).ok_or_else(|| {
                    (
                        ErrorCode::InvalidParams,
                        format!("`{}` is not a stdlib module's URI", p.uri),
                    )
                })?;
                Ok(Json::String(text.to_string()))
            }
            _ => {
                return Err((
                    ErrorCode::MethodNotFound,
                    format!("fusec does not answer `{method}`"),
                ))
            }
        };
        result.map_err(|e| (ErrorCode::InternalError, e.to_string()))
    }

    fn notification(&mut self, n: Notification) -> Result<(), String> {
        let handled = catch_unwind(AssertUnwindSafe(|| self.notify(n)));
        match handled {
            Ok(result) => result,
            Err(_) => {
                eprintln!("fusec lsp: internal error while handling a notification (a bug)");
                Ok(())
            }
        }
    }

    /// Notifications that do not deserialize are dropped: the protocol gives no way to answer them.
    fn notify(&mut self, n: Notification) -> Result<(), String> {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidOpenTextDocumentParams>(n.params) else {
                    return Ok(());
                };
                let uri = p.text_document.uri.as_str().to_string();
                self.docs.open(&uri, p.text_document.text);
                self.recheck(&uri)
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidChangeTextDocumentParams>(n.params) else {
                    return Ok(());
                };
                let uri = p.text_document.uri.as_str().to_string();
                if self.docs.change(&uri, p.content_changes) {
                    self.recheck(&uri)?;
                }
                Ok(())
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) = serde_json::from_value::<DidCloseTextDocumentParams>(n.params) else {
                    return Ok(());
                };
                let uri = p.text_document.uri.as_str().to_string();
                let Some(path) = self.docs.get(&uri).map(|d| d.path.clone()) else {
                    return Ok(());
                };
                self.docs.close(&uri);
                self.analyses.remove(&uri);
                self.parsed_before.remove(&uri);
                let lists = self.published.remove(&uri);
                self.publish(lists)?;
                // Files that imported it read it from disk again.
                self.recheck_readers(&path, None)
            }
            _ => Ok(()),
        }
    }

    /// Recompiles the document at `uri` (unless it is a stdlib module) and every open document that reads it.
    fn recheck(&mut self, uri: &str) -> Result<(), String> {
        let Some(path) = self.docs.get(uri).map(|d| d.path.clone()) else {
            return Ok(());
        };
        let own = (uri::std_module(uri).is_none()).then_some(uri);
        self.recheck_readers(&path, own)
    }

    fn recheck_readers(&mut self, path: &str, also: Option<&str>) -> Result<(), String> {
        let mut roots: Vec<String> = self
            .analyses
            .iter()
            .filter(|(_, a)| a.reads(path))
            .map(|(u, _)| u.clone())
            .collect();
        if let Some(u) = also {
            if !roots.iter().any(|r| r == u) {
                roots.push(u.to_string());
            }
        }
        roots.sort();
        for root in roots {
            let Some(doc) = self.docs.get(&root) else {
                continue;
            };
            let analysis = analyze(&self.docs, doc);
            let lists = self.published.update(&root, convert(&analysis, &self.docs));
            let parses = analysis.loaded.is_some();
            let previous = self.analyses.insert(root.clone(), analysis);
            if parses {
                self.parsed_before.remove(&root);
            } else if let Some(p) = previous.filter(|p| p.loaded.is_some()) {
                self.parsed_before.insert(root, p);
            }
            self.publish(lists)?;
        }
        Ok(())
    }

    fn publish(&self, lists: Vec<(String, Vec<lsp_types::Diagnostic>)>) -> Result<(), String> {
        for (uri, diagnostics) in lists {
            let Some(uri) = parse_uri(&uri) else { continue };
            let params = PublishDiagnosticsParams {
                uri,
                diagnostics,
                version: None,
            };
            self.send(Notification::new(PublishDiagnostics::METHOD.to_string(), params).into())?;
        }
        Ok(())
    }

    /// The analyses that read the document at `uri`: its own first, then the others (an imported file's types
    /// are known only to the files that import it), each with the file and the byte offset of `pos` in it.
    fn places(&self, uri: &str, pos: Position) -> Vec<(&Analysis, FileId, u32)> {
        let own = self.analyses.get(uri);
        let others = self.analyses.values().filter(|a| a.uri != uri);
        own.into_iter()
            .chain(others)
            .filter_map(|a| {
                let file = a.file_of(&self.docs, uri)?;
                let offset = LineIndex::new(a.text_of(file)?).offset(pos)?;
                Some((a, file, u32::try_from(offset).ok()?))
            })
            .collect()
    }

    fn hover(&self, uri: &str, pos: Position) -> Option<Hover> {
        let mut best: Option<(&Analysis, FileId, hover::HoverText)> = None;
        for (a, file, offset) in self.places(uri, pos) {
            let Some(h) = hover::hover(a, file, offset) else {
                continue;
            };
            let typed = h.typed;
            if best.is_none() || typed {
                best = Some((a, file, h));
            }
            if typed {
                break;
            }
        }
        let (a, file, h) = best?;
        let range = LineIndex::new(a.text_of(file)?).range(h.span);
        Some(Hover {
            contents: HoverContents::Markup(MarkupContent {
                kind: MarkupKind::Markdown,
                value: h.markdown,
            }),
            range: Some(range),
        })
    }

    fn definition(&self, uri: &str, pos: Position) -> Option<GotoDefinitionResponse> {
        self.places(uri, pos)
            .into_iter()
            .find_map(|(a, file, offset)| {
                let (target, span) = definition::definition(a, file, offset)?;
                let target_uri = parse_uri(&a.uri_of(&self.docs, target)?)?;
                let range = LineIndex::new(a.text_of(target)?).range(span);
                Some(GotoDefinitionResponse::Scalar(Location::new(
                    target_uri, range,
                )))
            })
    }

    fn completion(&self, uri: &str, pos: Position) -> Option<CompletionResponse> {
        let text = match self.docs.get(uri) {
            Some(d) => d.text.as_str(),
            None => uri::std_source(uri)?,
        };
        let offset = LineIndex::new(text).offset(pos)?;
        let scope = [self.analyses.get(uri), self.parsed_before.get(uri)]
            .into_iter()
            .flatten()
            .find_map(|a| Some((a, a.file_of(&self.docs, uri)?)));
        Some(CompletionResponse::Array(completion::complete(
            text, offset, scope,
        )))
    }
}
