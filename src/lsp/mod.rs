//! `canaryc lsp`: the language server. Everything it knows comes from `analysis` (pure) and the
//! checker, so an editor sees exactly what `canaryc check` prints. Payloads are `lsp-types`;
//! the wire is ours (`transport.rs`), so that no frame a client sends can make the server
//! allocate without bound, stop answering or exit silently.
//!
//! One thread reads frames; the main thread answers every request in order, at once, and owns
//! the documents; detection runs on its own thread (`detection.rs`). Diagnostics are published
//! on open, and after edits once the document has been quiet for [`DEBOUNCE`]: a burst of
//! changes gives one publication, for the latest version (changes with a version not above the
//! document's are dropped as stale). When the plan names a `codebase`, it is detected on open
//! and on save, and conflicts with it are published too. The stdlib files that
//! go-to-definition and related locations point at are written once into a private temporary
//! directory (`mkdtemp`, mode 0700; each file created with `O_EXCL`), removed at exit.
//!
//! Exit code: 0 after `shutdown` then `exit`, 1 for `exit` without `shutdown` (the LSP says so),
//! and 1, with a line on stderr, when the input ends without `exit` or cannot be read.

pub mod analysis;
mod detection;
pub mod position;
pub mod transport;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, DidSaveTextDocument, Exit,
    Notification, PublishDiagnostics, ShowMessage,
};
use lsp_types::request::{
    CodeActionRequest, Completion, Formatting, GotoDefinition, HoverRequest, Initialize, Request,
    Shutdown,
};
use lsp_types::{
    CodeAction, CodeActionKind, CodeActionOrCommand, CodeActionProviderCapability,
    CompletionOptions, CompletionResponse, DidChangeTextDocumentParams, DidCloseTextDocumentParams,
    DidOpenTextDocumentParams, GotoDefinitionResponse, Hover, HoverContents,
    HoverProviderCapability, InitializeResult, Location, MarkupContent, MarkupKind, MessageType,
    OneOf, PositionEncodingKind, PublishDiagnosticsParams, SaveOptions, ServerCapabilities,
    ServerInfo, ShowMessageParams, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, TextDocumentSyncSaveOptions, TextEdit, Uri, WorkspaceEdit,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::check::Options;
use crate::compile;
use crate::date::Date;
use crate::detect::Detection;
use crate::source::{FileId, SourceFile, SourceMap};
use crate::syntax::Parse;
use position::Lines;
use transport::{Incoming, code};

/// How long a document must be quiet after an edit before its diagnostics are published.
/// `CANARYC_LSP_DEBOUNCE_MS` overrides it (the edit benchmark sets 0 to time the work itself).
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Messages read ahead of the main thread; the reader waits beyond that.
const READ_AHEAD: usize = 64;

/// Runs the server over stdin/stdout until the client says exit. Returns the process exit code.
pub fn run(today: Date) -> u8 {
    let (events, received) = sync_channel::<Event>(READ_AHEAD);
    let reader = events.clone();
    let spawned = std::thread::Builder::new()
        .name("canaryc-lsp-reader".into())
        .spawn(move || {
            let mut input = transport::Reader::new(std::io::stdin().lock());
            loop {
                let event = match input.read() {
                    Ok(Some(message)) => Event::Message(message),
                    Ok(None) => Event::End(None),
                    Err(err) => Event::End(Some(err.to_string())),
                };
                let last = matches!(event, Event::End(_));
                if reader.send(event).is_err() || last {
                    return;
                }
            }
        });
    if let Err(err) = spawned {
        eprintln!("canaryc lsp: cannot start: {err}");
        return 1;
    }
    let detector = detection::Detector::new(move |finished| {
        let _ = events.send(Event::Detected(finished));
    });
    let mut server = Server::new(today, std::io::stdout().lock(), detector);
    if let Some(ms) = std::env::var("CANARYC_LSP_DEBOUNCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        server.debounce = Duration::from_millis(ms);
    }
    server.serve(&received)
}

enum Event {
    Message(Incoming),
    /// The input ended (or, with an error, could not be read).
    End(Option<String>),
    Detected(detection::Finished),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before `initialize`: requests are refused, notifications dropped.
    Uninitialized,
    Running,
    /// After `shutdown`: only `exit` is expected.
    ShutDown,
}

struct Document {
    uri: Uri,
    /// The text, its syntax tree and AST, updated edit by edit ([`crate::syntax::reparse`]).
    parse: Parse,
    version: i32,
    /// The path behind a `file://` URI, for the codebase and definitions.
    path: Option<PathBuf>,
    /// When the diagnostics are to be published; `None` when published.
    due: Option<Instant>,
    /// The codebase being detected, and the last detection of it.
    detecting: Option<detection::Ticket>,
    detection: Option<(PathBuf, Detection)>,
}

struct Server<W: Write> {
    out: W,
    state: State,
    documents: HashMap<String, Document>,
    options: Options,
    detector: detection::Detector,
    stdlib: StdlibFiles,
    debounce: Duration,
}

impl Document {
    fn text(&self) -> &str {
        self.parse.tree.text()
    }
}

impl<W: Write> Server<W> {
    fn new(today: Date, out: W, detector: detection::Detector) -> Self {
        Server {
            out,
            state: State::Uninitialized,
            documents: HashMap::new(),
            options: Options { today },
            detector,
            stdlib: StdlibFiles::default(),
            debounce: DEBOUNCE,
        }
    }

    /// Handles events until the client exits; returns the exit code.
    fn serve(&mut self, events: &Receiver<Event>) -> u8 {
        loop {
            let next_due = self.documents.values().filter_map(|d| d.due).min();
            let event = match next_due {
                Some(due) => {
                    match events.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Ok(event) => Some(event),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return self.ended(None),
                    }
                }
                None => match events.recv() {
                    Ok(event) => Some(event),
                    Err(_) => return self.ended(None),
                },
            };
            if let Some(event) = event {
                if let Some(code) = self.event(event) {
                    return code;
                }
                // What is already queued first: a burst of edits is published once.
                while let Ok(event) = events.try_recv() {
                    if let Some(code) = self.event(event) {
                        return code;
                    }
                }
            }
            if let Some(code) = self.publish_due() {
                return code;
            }
        }
    }

    fn ended(&mut self, error: Option<String>) -> u8 {
        match error {
            Some(err) => eprintln!("canaryc lsp: cannot read the client's messages: {err}"),
            None => eprintln!("canaryc lsp: the client closed the connection without `exit`"),
        }
        1
    }

    /// Handles one event; `Some(code)` when the server is to exit.
    fn event(&mut self, event: Event) -> Option<u8> {
        match event {
            Event::Message(message) => self.message(message),
            Event::End(error) => Some(self.ended(error)),
            Event::Detected(finished) => {
                self.detected(finished);
                None
            }
        }
    }

    fn message(&mut self, message: Incoming) -> Option<u8> {
        let mut exit = None;
        let reply = match message {
            Incoming::Batch(items) => {
                // JSON-RPC 2.0 §6: each element handled in order, the responses in one array,
                // none at all when the batch held only notifications.
                let mut replies = Vec::new();
                for item in items {
                    match transport::classify(item) {
                        Incoming::Batch(_) => replies.push(transport::error(
                            Value::Null,
                            code::INVALID_REQUEST,
                            "a batch cannot hold a batch",
                        )),
                        single => {
                            let (reply, code) = self.single(single);
                            replies.extend(reply);
                            exit = exit.or(code);
                        }
                    }
                }
                (!replies.is_empty()).then_some(Value::Array(replies))
            }
            single => {
                let (reply, code) = self.single(single);
                exit = code;
                reply
            }
        };
        if let Some(reply) = reply {
            if let Err(err) = transport::write(&mut self.out, &reply) {
                eprintln!("canaryc lsp: cannot write to the client: {err}");
                return Some(1);
            }
        }
        exit
    }

    /// The reply to one message (if it gets one) and the exit code (if it is `exit`).
    fn single(&mut self, message: Incoming) -> (Option<Value>, Option<u8>) {
        match message {
            Incoming::Request { id, method, params } => {
                let reply = match self.request(&method, params) {
                    Ok(result) => transport::response(id, result),
                    Err((code, message)) => transport::error(id, code, &message),
                };
                (Some(reply), None)
            }
            Incoming::Notification { method, params } => (None, self.notification(&method, params)),
            Incoming::Invalid { id, code, message } => {
                eprintln!("canaryc lsp: {message}");
                (Some(transport::error(id, code, &message)), None)
            }
            Incoming::Response | Incoming::Batch(_) => (None, None),
        }
    }

    fn request(&mut self, method: &str, params: Value) -> Result<Value, (i32, String)> {
        match (self.state, method) {
            (State::Uninitialized, INITIALIZE) => {
                self.state = State::Running;
                Ok(to_value(initialize_result()))
            }
            (State::Uninitialized, _) => Err((
                code::SERVER_NOT_INITIALIZED,
                "the server is not initialized: send `initialize` first".into(),
            )),
            (State::ShutDown, _) => Err((
                code::INVALID_REQUEST,
                "the server is shut down: only `exit` is expected".into(),
            )),
            (State::Running, INITIALIZE) => Err((
                code::INVALID_REQUEST,
                "the server is already initialized".into(),
            )),
            (State::Running, SHUTDOWN) => {
                self.state = State::ShutDown;
                Ok(Value::Null)
            }
            (State::Running, HOVER) => {
                let p: <HoverRequest as Request>::Params = params_of(params)?;
                let p = p.text_document_position_params;
                Ok(self.on_document(&p.text_document.uri, |doc, lines| {
                    let offset = lines.offset(p.position);
                    to_value(
                        analysis::hover(&doc.parse, offset).map(|(start, end, markdown)| Hover {
                            contents: HoverContents::Markup(MarkupContent {
                                kind: MarkupKind::Markdown,
                                value: markdown,
                            }),
                            range: Some(lines.range(start, end)),
                        }),
                    )
                }))
            }
            (State::Running, COMPLETION) => {
                let p: <Completion as Request>::Params = params_of(params)?;
                let p = p.text_document_position;
                Ok(self.on_document(&p.text_document.uri, |doc, lines| {
                    let items = analysis::completion(&doc.parse, lines.offset(p.position));
                    to_value(CompletionResponse::Array(items))
                }))
            }
            (State::Running, DEFINITION) => {
                let p: <GotoDefinition as Request>::Params = params_of(params)?;
                let p = p.text_document_position_params;
                let Some(doc) = self.documents.get(p.text_document.uri.as_str()) else {
                    return Ok(Value::Null);
                };
                let lines = Lines::new(doc.text());
                let location = match analysis::definition(&doc.parse, lines.offset(p.position)) {
                    Some((file, at)) if file.is_empty() => Some(Location {
                        uri: doc.uri.clone(),
                        range: lines.range(at, at),
                    }),
                    Some((file, at)) => crate::stdlib::MODULES
                        .iter()
                        .find(|m| m.file_name == file)
                        .and_then(|module| {
                            let uri = self.stdlib.uri(module)?;
                            Some(Location {
                                uri,
                                range: Lines::new(module.text).range(at, at),
                            })
                        }),
                    None => None,
                };
                Ok(to_value(location.map(GotoDefinitionResponse::Scalar)))
            }
            (State::Running, FORMATTING) => {
                let p: <Formatting as Request>::Params = params_of(params)?;
                Ok(self.on_document(&p.text_document.uri, |doc, lines| {
                    let edits = match crate::fmt::format(doc.text()) {
                        Ok(formatted) if formatted != doc.text() => vec![TextEdit {
                            range: lines.range(0, doc.text().len()),
                            new_text: formatted,
                        }],
                        _ => Vec::new(),
                    };
                    to_value(edits)
                }))
            }
            (State::Running, CODE_ACTION) => {
                let p: <CodeActionRequest as Request>::Params = params_of(params)?;
                let options = self.options;
                Ok(self.on_document(&p.text_document.uri, |doc, lines| {
                    let (from, to) = lines.offsets(p.range);
                    let (_, checked) = analysis::check("plan", &doc.parse, &options);
                    let actions: Vec<CodeActionOrCommand> =
                        analysis::code_actions(&doc.parse, &checked.diagnostics, from, to)
                            .into_iter()
                            .map(|(title, edits)| {
                                let edits = edits
                                    .into_iter()
                                    .map(|(s, e, new_text)| TextEdit {
                                        range: lines.range(s, e),
                                        new_text,
                                    })
                                    .collect();
                                CodeActionOrCommand::CodeAction(CodeAction {
                                    title,
                                    kind: Some(CodeActionKind::QUICKFIX),
                                    edit: Some(WorkspaceEdit {
                                        changes: Some(HashMap::from([(doc.uri.clone(), edits)])),
                                        ..WorkspaceEdit::default()
                                    }),
                                    ..CodeAction::default()
                                })
                            })
                            .collect();
                    to_value(actions)
                }))
            }
            (State::Running, _) => Err((
                code::METHOD_NOT_FOUND,
                format!("canaryc does not handle `{method}`"),
            )),
        }
    }

    /// `f` of an open document and its line index; `null` for a document not open.
    fn on_document(&self, uri: &Uri, f: impl FnOnce(&Document, &Lines<'_>) -> Value) -> Value {
        match self.documents.get(uri.as_str()) {
            Some(doc) => f(doc, &Lines::new(doc.text())),
            None => Value::Null,
        }
    }

    fn notification(&mut self, method: &str, params: Value) -> Option<u8> {
        if method == <Exit as Notification>::METHOD {
            return Some(if self.state == State::ShutDown { 0 } else { 1 });
        }
        if self.state != State::Running {
            return None;
        }
        let handled = match method {
            DID_OPEN => params_of(params).map(|p| self.did_open(p)),
            DID_CHANGE => params_of(params).map(|p| self.did_change(p)),
            DID_SAVE => {
                params_of(params).map(|p: <DidSaveTextDocument as Notification>::Params| {
                    self.detect(p.text_document.uri.as_str());
                    if let Some(doc) = self.documents.get_mut(p.text_document.uri.as_str()) {
                        doc.due = Some(Instant::now());
                    }
                })
            }
            DID_CLOSE => params_of(params).map(|p| self.did_close(p)),
            // `initialized`, `$/cancelRequest` (every request is answered at once), and
            // notifications canaryc has no use for.
            _ => Ok(()),
        };
        if let Err((_, message)) = handled {
            eprintln!("canaryc lsp: ignored `{method}`: {message}");
        }
        None
    }

    fn did_open(&mut self, p: DidOpenTextDocumentParams) {
        let doc = p.text_document;
        let key = doc.uri.as_str().to_string();
        if let Some(old) = self.documents.get(&key).and_then(|d| d.detecting.as_ref()) {
            old.cancel();
        }
        self.documents.insert(
            key.clone(),
            Document {
                path: path_of(doc.uri.as_str()),
                uri: doc.uri,
                parse: crate::syntax::parse_file(FileId(0), &doc.text),
                version: doc.version,
                due: Some(Instant::now()),
                detecting: None,
                detection: None,
            },
        );
        self.detect(&key);
    }

    fn did_change(&mut self, p: DidChangeTextDocumentParams) {
        let Some(doc) = self.documents.get_mut(p.text_document.uri.as_str()) else {
            return;
        };
        if p.text_document.version <= doc.version {
            // Older than what we have: an edit the client has since superseded.
            return;
        }
        for change in p.content_changes {
            doc.parse = match change.range {
                Some(range) => {
                    let (start, end) = Lines::new(doc.text()).offsets(range);
                    crate::syntax::reparse(&doc.parse, FileId(0), start, end, &change.text)
                }
                // The whole text (the sync this server asks for): what changed is what lies
                // between the common prefix and suffix, so one keystroke still reparses one block.
                None => {
                    let (start, end, insert) = changed_range(doc.text(), &change.text);
                    crate::syntax::reparse(&doc.parse, FileId(0), start, end, insert)
                }
            };
        }
        doc.version = p.text_document.version;
        doc.due = Some(Instant::now() + self.debounce);
    }

    fn did_close(&mut self, p: DidCloseTextDocumentParams) {
        let Some(doc) = self.documents.remove(p.text_document.uri.as_str()) else {
            return;
        };
        if let Some(ticket) = &doc.detecting {
            ticket.cancel();
        }
        let params = PublishDiagnosticsParams {
            uri: doc.uri,
            diagnostics: Vec::new(),
            version: None,
        };
        self.notify::<PublishDiagnostics>(params);
    }

    /// Starts detecting the codebase the plan names, if it names one, replacing any detection
    /// still running for the document.
    fn detect(&mut self, uri: &str) {
        let Some(doc) = self.documents.get_mut(uri) else {
            return;
        };
        if let Some(old) = doc.detecting.take() {
            old.cancel();
        }
        let Some(dir) = doc.path.as_ref().and_then(|p| p.parent()) else {
            return;
        };
        let Some(codebase) = codebase_of(&doc.parse.ast) else {
            return;
        };
        let root = dir.join(codebase);
        doc.detecting = Some(self.detector.start(uri, root));
    }

    fn detected(&mut self, finished: detection::Finished) {
        let Some(doc) = self.documents.get_mut(&finished.uri) else {
            return;
        };
        if doc.detecting.as_ref().map(|t| t.generation) != Some(finished.generation) {
            return;
        }
        doc.detecting = None;
        let warning = match finished.outcome {
            detection::Outcome::Detected(root, detection) => {
                doc.detection = Some((root, *detection));
                doc.due = Some(Instant::now());
                None
            }
            detection::Outcome::Cancelled => None,
            // As before detection moved off this thread: a codebase that is not there yet is
            // not worth a pop-up on every save.
            detection::Outcome::Unreadable(root, why) => {
                eprintln!("canaryc lsp: not detecting {}: {why}", root.display());
                None
            }
            detection::Outcome::TooLarge(root) => Some(format!(
                "canaryc: the codebase {} has more than {} files: the editor does not detect it (`canaryc check` does)",
                root.display(),
                detection::MAX_ENTRIES
            )),
            detection::Outcome::TooSlow(root) => Some(format!(
                "canaryc: reading the codebase {} took over {} s: the editor does not detect it (`canaryc check` does)",
                root.display(),
                detection::MAX_WALK.as_secs()
            )),
        };
        if let Some(message) = warning {
            let params = ShowMessageParams {
                typ: MessageType::WARNING,
                message,
            };
            self.notify::<ShowMessage>(params);
        }
    }

    /// Publishes the diagnostics of every document whose time has come.
    fn publish_due(&mut self) -> Option<u8> {
        let now = Instant::now();
        let mut due: Vec<String> = self
            .documents
            .iter()
            .filter(|(_, d)| d.due.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        due.sort();
        for uri in due {
            let Some(params) = self.diagnostics(&uri) else {
                continue;
            };
            if let Some(doc) = self.documents.get_mut(&uri) {
                doc.due = None;
            }
            if !self.notify::<PublishDiagnostics>(params) {
                return Some(1);
            }
        }
        None
    }

    fn diagnostics(&mut self, uri: &str) -> Option<PublishDiagnosticsParams> {
        let doc = self.documents.get(uri)?;
        let name = doc
            .path
            .as_ref()
            .map_or_else(|| uri.to_string(), |p| p.display().to_string());
        let mut sources = SourceMap::new();
        let root = sources.add_file(SourceFile::new(&name, doc.text()));
        let options = compile::Options {
            check: self.options,
            emit: None,
        };
        let mut codebase = Detected(doc.detection.as_ref());
        let parsed = compile::Sources {
            map: &mut sources,
            root,
            parsed: Some(&doc.parse),
        };
        let diagnostics = match compile::compile(parsed, &mut codebase, &options) {
            Ok(outputs) => outputs.diagnostics,
            Err(failed) => failed.diagnostics,
        };
        let stdlib = &mut self.stdlib;
        let mut uri_of_file = |name: &str| -> Option<Uri> {
            if name.starts_with("<std>/") {
                let module = crate::stdlib::MODULES
                    .iter()
                    .find(|m| m.file_name == name)?;
                stdlib.uri(module)
            } else {
                uri_of(Path::new(name))
            }
        };
        let items = analysis::to_lsp(&diagnostics, &sources, &doc.uri, &mut uri_of_file);
        Some(PublishDiagnosticsParams {
            uri: doc.uri.clone(),
            diagnostics: items,
            version: Some(doc.version),
        })
    }

    /// Sends a notification; false when the client cannot be written to.
    fn notify<N: Notification>(&mut self, params: N::Params) -> bool {
        let message = transport::notification(N::METHOD, to_value(params));
        match transport::write(&mut self.out, &message) {
            Ok(()) => true,
            Err(err) => {
                eprintln!("canaryc lsp: cannot write to the client: {err}");
                false
            }
        }
    }
}

/// The document's codebase for [`compile::compile`]: the last detection the worker thread
/// finished (none yet: the plan is checked with only what it says).
struct Detected<'a>(Option<&'a (PathBuf, Detection)>);

impl compile::Codebase for Detected<'_> {
    fn locate(&self, codebase: &str) -> String {
        codebase.to_string()
    }

    fn detect(
        &mut self,
        _codebase: &crate::source::Spanned<String>,
    ) -> Result<Option<compile::Detected<'_>>, Box<crate::diag::Diagnostic>> {
        Ok(self.0.map(|(dir, detection)| compile::Detected {
            detection,
            name: dir.display().to_string(),
            read: Box::new(move |rel: &str| std::fs::read_to_string(dir.join(rel)).ok()),
        }))
    }
}

// The methods this server handles, by their `lsp-types` names: each method's name and its params'
// type come from one definition, so they cannot disagree.
const INITIALIZE: &str = <Initialize as Request>::METHOD;
const SHUTDOWN: &str = <Shutdown as Request>::METHOD;
const HOVER: &str = <HoverRequest as Request>::METHOD;
const COMPLETION: &str = <Completion as Request>::METHOD;
const DEFINITION: &str = <GotoDefinition as Request>::METHOD;
const FORMATTING: &str = <Formatting as Request>::METHOD;
const CODE_ACTION: &str = <CodeActionRequest as Request>::METHOD;
const DID_OPEN: &str = <DidOpenTextDocument as Notification>::METHOD;
const DID_CHANGE: &str = <DidChangeTextDocument as Notification>::METHOD;
const DID_SAVE: &str = <DidSaveTextDocument as Notification>::METHOD;
const DID_CLOSE: &str = <DidCloseTextDocument as Notification>::METHOD;

fn initialize_result() -> InitializeResult {
    InitializeResult {
        capabilities: ServerCapabilities {
            position_encoding: Some(PositionEncodingKind::UTF16),
            text_document_sync: Some(TextDocumentSyncCapability::Options(
                TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::FULL),
                    save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                        include_text: Some(false),
                    })),
                    ..TextDocumentSyncOptions::default()
                },
            )),
            hover_provider: Some(HoverProviderCapability::Simple(true)),
            completion_provider: Some(CompletionOptions {
                trigger_characters: Some(vec![" ".into(), ".".into(), "=".into()]),
                ..CompletionOptions::default()
            }),
            definition_provider: Some(OneOf::Left(true)),
            document_formatting_provider: Some(OneOf::Left(true)),
            code_action_provider: Some(CodeActionProviderCapability::Simple(true)),
            ..ServerCapabilities::default()
        },
        server_info: Some(ServerInfo {
            name: "canaryc".into(),
            version: Some(env!("CARGO_PKG_VERSION").into()),
        }),
    }
}

/// The bytes `start..end` of `old` that `new` replaces with the returned text: the part
/// between their longest common prefix and suffix, on character boundaries.
fn changed_range<'n>(old: &str, new: &'n str) -> (usize, usize, &'n str) {
    let mut prefix = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(prefix) || !new.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let longest = old.len().min(new.len()) - prefix;
    let mut suffix = old
        .bytes()
        .rev()
        .zip(new.bytes().rev())
        .take(longest)
        .take_while(|(a, b)| a == b)
        .count();
    while !old.is_char_boundary(old.len() - suffix) || !new.is_char_boundary(new.len() - suffix) {
        suffix -= 1;
    }
    (prefix, old.len() - suffix, &new[prefix..new.len() - suffix])
}

/// Typed parameters, or the InvalidParams error that says why not.
fn params_of<P: DeserializeOwned>(params: Value) -> Result<P, (i32, String)> {
    serde_json::from_value(params)
        .map_err(|err| (code::INVALID_PARAMS, format!("invalid params: {err}")))
}

fn to_value(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// The stdlib files, written on first use into a directory only this process can write to:
/// a planted symlink or file cannot redirect a write, and no other user can change what
/// go-to-definition opens.
#[derive(Default)]
struct StdlibFiles {
    dir: Option<Result<tempfile::TempDir, ()>>,
    written: HashMap<&'static str, Uri>,
}

impl StdlibFiles {
    /// The URI of a module's file, written if it is not yet (or no longer) there.
    fn uri(&mut self, module: &'static crate::stdlib::Module) -> Option<Uri> {
        let dir = self
            .dir
            .get_or_insert_with(|| {
                let mut builder = tempfile::Builder::new();
                builder.prefix("canaryc-stdlib-");
                #[cfg(unix)]
                builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
                builder
                    .tempdir()
                    .map_err(|err| eprintln!("canaryc lsp: no directory for the stdlib: {err}"))
            })
            .as_ref()
            .ok()?;
        let path = dir
            .path()
            .join(module.file_name.trim_start_matches("<std>/"));
        if let Some(uri) = self.written.get(module.file_name) {
            if path.is_file() {
                return Some(uri.clone());
            }
        }
        write_new(&path, module.text)
            .map_err(|err| eprintln!("canaryc lsp: cannot write {}: {err}", path.display()))
            .ok()?;
        let uri = uri_of(&path)?;
        self.written.insert(module.file_name, uri.clone());
        Some(uri)
    }
}

/// Creates `path` (failing if anything is there, a symlink included) and writes `text`, read-only.
fn write_new(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    let mut permissions = file.metadata()?.permissions();
    permissions.set_readonly(true);
    file.set_permissions(permissions)
}

/// The path behind a `file://` URI, percent-decoded.
fn path_of(uri: &str) -> Option<PathBuf> {
    let rest = uri.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let raw = rest.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if let Some(b) = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                bytes.push(b);
                i += 3;
                continue;
            }
        }
        bytes.push(raw[i]);
        i += 1;
    }
    let path = PathBuf::from(String::from_utf8_lossy(&bytes).into_owned());
    path.is_absolute().then_some(path)
}

fn uri_of(path: &Path) -> Option<Uri> {
    let mut out = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&out).ok()
}

/// The `codebase = "..."` a plan names.
fn codebase_of(file: &crate::syntax::ast::File) -> Option<String> {
    file.items.iter().find_map(|item| {
        let crate::syntax::ast::Item::Block(b) = item else {
            return None;
        };
        b.body.entries.iter().find_map(|e| match e {
            crate::syntax::ast::Entry::Attribute(a) if a.key.value == "codebase" => {
                match &a.value.value {
                    crate::syntax::ast::ValueKind::String(s) => Some(s.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_text_change_is_narrowed_to_what_changed() {
        assert_eq!(changed_range("port = 8100", "port = 8101"), (10, 11, "1"));
        assert_eq!(changed_range("ab", "ab"), (2, 2, ""));
        assert_eq!(changed_range("aaa", "aaaa"), (3, 3, "a"));
        assert_eq!(changed_range("xé", "xè"), (1, 3, "è"));
        assert_eq!(changed_range("abc", ""), (0, 3, ""));
    }

    #[test]
    fn file_uris_round_trip() {
        let path = Path::new("/tmp/a b/é#.plan");
        let uri = uri_of(path).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20b/%C3%A9%23.plan");
        assert_eq!(path_of(uri.as_str()).as_deref(), Some(path));
        assert_eq!(path_of("file://relative/x"), None);
        assert_eq!(path_of("untitled:Untitled-1"), None);
        assert_eq!(path_of("file:///x%"), Some(PathBuf::from("/x%")));
    }

    /// The stdlib goes into a fresh private directory; nothing planted anywhere is written to.
    #[test]
    fn stdlib_files_are_private_and_never_follow_a_symlink() {
        let mut files = StdlibFiles::default();
        let module = &crate::stdlib::MODULES[0];
        let uri = files.uri(module).unwrap();
        let path = path_of(uri.as_str()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), module.text);
        let dir = path.parent().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        // A symlink where a file is to be written makes the write fail, not follow it.
        let target = dir.with_extension("target");
        let link = dir.join("link.plan");
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &link).unwrap();
        #[cfg(unix)]
        assert!(write_new(&link, "x").is_err());
        assert!(!target.exists());
        drop(files);
        assert!(!dir.exists(), "removed with the server");
    }
}
