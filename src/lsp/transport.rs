//! The wire: LSP's base protocol (`Content-Length` framing) and JSON-RPC 2.0 messages.
//!
//! Written for a client that may be broken or hostile: a frame larger than
//! [`MAX_MESSAGE_BYTES`] is skipped without being held in memory, a header line longer than
//! [`MAX_HEADER_LINE`] is skipped, a body that is not JSON is a parse error (-32700) and a value
//! that is not a JSON-RPC message an invalid request (-32600), each answered with `id: null` per
//! JSON-RPC 2.0 §5.1, after which reading resumes at the next header. Only the end of the input
//! or a failing read ends the stream. Batches (§6) are returned as such for the server to
//! answer element by element.
//!
//! Pure over `BufRead`/`Write`, so the unit tests below feed it bytes.

use std::io::{self, BufRead, Read, Write};

use serde_json::{Map, Value, json};

/// The largest message body read into memory. A plan edited in an editor is kilobytes; this
/// bounds what one frame can make the server allocate.
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;
/// The longest header line kept; longer ones are skipped to their end.
pub const MAX_HEADER_LINE: usize = 4 << 10;

/// JSON-RPC 2.0 and LSP error codes.
pub mod code {
    pub const PARSE_ERROR: i32 = -32700;
    pub const INVALID_REQUEST: i32 = -32600;
    pub const METHOD_NOT_FOUND: i32 = -32601;
    pub const INVALID_PARAMS: i32 = -32602;
    pub const SERVER_NOT_INITIALIZED: i32 = -32002;
}

/// One frame's content, classified.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// A request: it gets exactly one response with its id.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// A notification: never answered.
    Notification { method: String, params: Value },
    /// A response to a request of ours (we send none): ignored.
    Response,
    /// A batch of messages (JSON-RPC 2.0 §6), not yet classified.
    Batch(Vec<Value>),
    /// Something that cannot be handled: answered with this error and `id` (null when unknown).
    Invalid {
        id: Value,
        code: i32,
        message: String,
    },
}

/// Reads frames from a byte stream.
pub struct Reader<R> {
    input: R,
    /// A problem found while reading the frame after it, answered first.
    pending: Option<Incoming>,
}

impl<R: BufRead> Reader<R> {
    pub fn new(input: R) -> Self {
        Reader {
            input,
            pending: None,
        }
    }

    /// The next message. `Ok(None)` at the end of the input, including in the middle of a
    /// frame (the client is gone); every other problem is an `Incoming::Invalid` to answer.
    pub fn read(&mut self) -> io::Result<Option<Incoming>> {
        if let Some(pending) = self.pending.take() {
            return Ok(Some(pending));
        }
        let message = read(&mut self.input, &mut self.pending)?;
        Ok(match self.pending.take() {
            // The problem came first: answer it now, the frame next time.
            Some(problem) => {
                self.pending = message;
                Some(problem)
            }
            None => message,
        })
    }
}

fn read(input: &mut impl BufRead, stray: &mut Option<Incoming>) -> io::Result<Option<Incoming>> {
    let mut length: Option<Result<usize, String>> = None;
    let mut saw_header = false;
    loop {
        let Some(line) = read_header_line(input)? else {
            return Ok(None);
        };
        let line = match line {
            HeaderLine::Text(text) => text,
            HeaderLine::TooLong => {
                stray.get_or_insert_with(|| {
                    parse_error(format!(
                        "a header line is longer than {MAX_HEADER_LINE} bytes"
                    ))
                });
                continue;
            }
        };
        if line.is_empty() {
            if saw_header {
                break;
            }
            // Blank lines between frames are harmless.
            continue;
        }
        // Garbage before a header (a body longer than its Content-Length said, say): resume at
        // the header.
        let header = match line.find("Content-Length:") {
            Some(at) if at > 0 => {
                stray.get_or_insert_with(|| {
                    parse_error(format!("bytes outside any frame: {:?}", clip(&line[..at])))
                });
                &line[at..]
            }
            _ => line.as_str(),
        };
        // Not a header: bytes between frames, answered on their own; the frame after them
        // is read as usual.
        let Some((name, value)) = header.split_once(':').filter(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }) else {
            stray.get_or_insert_with(|| {
                parse_error(format!("bytes outside any frame: {:?}", clip(&line)))
            });
            continue;
        };
        saw_header = true;
        if name.eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("Content-Length {:?} is not a length", clip(value))),
            );
        }
    }
    let length = match length {
        None => return Ok(Some(parse_error("a frame without Content-Length".into()))),
        Some(Err(message)) => return Ok(Some(parse_error(message))),
        Some(Ok(n)) => n,
    };
    if length > MAX_MESSAGE_BYTES {
        // Skip the body without holding it; at the end of the input, the stream is over.
        let skipped = io::copy(&mut input.take(length as u64), &mut io::sink())?;
        if skipped < length as u64 {
            return Ok(None);
        }
        return Ok(Some(parse_error(format!(
            "a message of {length} bytes is over the limit of {MAX_MESSAGE_BYTES}"
        ))));
    }
    let mut body = vec![0; length];
    if let Err(err) = input.read_exact(&mut body) {
        return match err.kind() {
            io::ErrorKind::UnexpectedEof => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(match serde_json::from_slice::<Value>(&body) {
        Ok(value) => classify(value),
        Err(err) => parse_error(format!("the message is not JSON: {err}")),
    }))
}

enum HeaderLine {
    Text(String),
    TooLong,
}

/// A header line without its `\r\n` (or `\n`); `None` at the end of the input.
fn read_header_line(input: &mut impl BufRead) -> io::Result<Option<HeaderLine>> {
    let mut bytes = Vec::new();
    let n = input
        .by_ref()
        .take(MAX_HEADER_LINE as u64 + 1)
        .read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(None);
    }
    if bytes.last() != Some(&b'\n') {
        if bytes.len() <= MAX_HEADER_LINE {
            // The input ended in the middle of a line.
            return Ok(None);
        }
        // Skip the rest of the line in bounded steps.
        loop {
            let buf = input.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    input.consume(i + 1);
                    return Ok(Some(HeaderLine::TooLong));
                }
                None => {
                    let len = buf.len();
                    input.consume(len);
                }
            }
        }
    }
    bytes.pop();
    if bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    Ok(Some(HeaderLine::Text(
        String::from_utf8_lossy(&bytes).into_owned(),
    )))
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

fn parse_error(message: String) -> Incoming {
    Incoming::Invalid {
        id: Value::Null,
        code: code::PARSE_ERROR,
        message,
    }
}

/// What a JSON value received is, by JSON-RPC 2.0 §4 and §6.
pub fn classify(value: Value) -> Incoming {
    let object = match value {
        Value::Object(object) => object,
        Value::Array(items) if items.is_empty() => {
            return invalid(Value::Null, "an empty batch");
        }
        Value::Array(items) => return Incoming::Batch(items),
        _ => return invalid(Value::Null, "a message must be a JSON object"),
    };
    let id = match object.get("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_) | Value::Null)) => Some(id.clone()),
        Some(_) => return invalid(Value::Null, "an id must be a string, a number or null"),
    };
    let reply_id = id.clone().unwrap_or(Value::Null);
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return invalid(reply_id, "`jsonrpc` must be \"2.0\"");
    }
    let Some(method) = object.get("method") else {
        if id.is_some() && (object.contains_key("result") || object.contains_key("error")) {
            return Incoming::Response;
        }
        return invalid(reply_id, "a request needs a `method`");
    };
    let Some(method) = method.as_str().map(str::to_string) else {
        return invalid(reply_id, "`method` must be a string");
    };
    let params = object.get("params").cloned().unwrap_or(Value::Null);
    if !matches!(params, Value::Object(_) | Value::Array(_) | Value::Null) {
        return invalid(reply_id, "`params` must be an object or an array");
    }
    match id {
        Some(id) => Incoming::Request { id, method, params },
        None => Incoming::Notification { method, params },
    }
}

fn invalid(id: Value, message: &str) -> Incoming {
    Incoming::Invalid {
        id,
        code: code::INVALID_REQUEST,
        message: message.to_string(),
    }
}

/// A successful response.
pub fn response(id: Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// An error response.
pub fn error(id: Value, code: i32, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } })
}

pub fn notification(method: &str, params: Value) -> Value {
    let mut object = Map::new();
    object.insert("jsonrpc".into(), json!("2.0"));
    object.insert("method".into(), json!(method));
    object.insert("params".into(), params);
    Value::Object(object)
}

/// Writes one framed message and flushes.
pub fn write(output: &mut impl Write, message: &Value) -> io::Result<()> {
    let body = message.to_string();
    write!(output, "Content-Length: {}\r\n\r\n", body.len())?;
    output.write_all(body.as_bytes())?;
    output.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    fn read_all(bytes: &[u8]) -> Vec<Incoming> {
        let mut reader = Reader::new(io::BufReader::with_capacity(7, bytes));
        let mut out = Vec::new();
        while let Some(message) = reader.read().unwrap() {
            out.push(message);
        }
        out
    }

    fn code_of(message: &Incoming) -> Option<i32> {
        match message {
            Incoming::Invalid { code, .. } => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn reads_requests_and_notifications() {
        let text = frame(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#)
            + &frame(r#"{"jsonrpc":"2.0","method":"initialized"}"#);
        let messages = read_all(text.as_bytes());
        assert_eq!(
            messages,
            vec![
                Incoming::Request {
                    id: json!(1),
                    method: "initialize".into(),
                    params: json!({})
                },
                Incoming::Notification {
                    method: "initialized".into(),
                    params: Value::Null
                },
            ]
        );
    }

    /// A huge Content-Length is refused without allocating it, and reading goes on.
    #[test]
    fn an_oversized_frame_is_skipped_and_answered() {
        let mut input = b"Content-Length: 99999999999\r\n\r\n{}".to_vec();
        assert_eq!(
            read_all(&input),
            Vec::new(),
            "the input ends inside the body"
        );
        input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_BYTES + 1).into_bytes();
        input.extend(std::iter::repeat_n(b' ', MAX_MESSAGE_BYTES + 1));
        input.extend(frame(r#"{"jsonrpc":"2.0","method":"x"}"#).bytes());
        let messages = read_all(&input);
        assert_eq!(code_of(&messages[0]), Some(code::PARSE_ERROR));
        assert!(matches!(messages[1], Incoming::Notification { .. }));
    }

    #[test]
    fn malformed_frames_are_answered_and_reading_resumes() {
        let good = frame(r#"{"jsonrpc":"2.0","method":"ok"}"#);
        let cases = [
            "Content-Length: ten\r\n\r\n".to_string(),
            "Content-Type: x\r\n\r\n".to_string(),
            "garbage\r\n\r\n".to_string(),
            frame("{not json"),
            frame("\u{0}\u{1}"),
            "Content-Length: 2\r\n\r\n\u{ff}\u{fe}".to_string(),
            format!("{}\r\n\r\n", "x".repeat(MAX_HEADER_LINE * 3)),
            // A body longer than announced: the rest precedes the next header.
            "Content-Length: 1\r\n\r\n1}}}".to_string(),
        ];
        for case in cases {
            let messages = read_all((case.clone() + &good).as_bytes());
            let (last, errors) = messages.split_last().unwrap();
            assert!(!errors.is_empty(), "{case:?}: {messages:?}");
            assert!(
                errors.iter().all(|m| code_of(m).is_some()),
                "{case:?}: {messages:?}"
            );
            assert!(
                errors.iter().any(|m| code_of(m) == Some(code::PARSE_ERROR)),
                "{case:?}: {messages:?}"
            );
            assert!(
                matches!(last, Incoming::Notification { method, .. } if method == "ok"),
                "{case:?}: {messages:?}"
            );
        }
    }

    #[test]
    fn values_that_are_not_messages_are_invalid_requests() {
        for (value, id) in [
            (json!(42), Value::Null),
            (json!([]), Value::Null),
            (json!({"jsonrpc": "2.0", "id": 3}), json!(3)),
            (json!({"jsonrpc": "1.0", "id": 4, "method": "x"}), json!(4)),
            (json!({"id": 5, "method": "x"}), json!(5)),
            (
                json!({"jsonrpc": "2.0", "id": {}, "method": "x"}),
                Value::Null,
            ),
            (json!({"jsonrpc": "2.0", "id": 6, "method": 7}), json!(6)),
            (
                json!({"jsonrpc": "2.0", "id": 8, "method": "x", "params": 1}),
                json!(8),
            ),
        ] {
            assert_eq!(
                classify(value.clone()),
                Incoming::Invalid {
                    id,
                    code: code::INVALID_REQUEST,
                    message: match classify(value.clone()) {
                        Incoming::Invalid { message, .. } => message,
                        other => panic!("{value}: {other:?}"),
                    }
                },
                "{value}"
            );
        }
        assert_eq!(
            classify(json!([1, {}])),
            Incoming::Batch(vec![json!(1), json!({})])
        );
        assert_eq!(
            classify(json!({"jsonrpc": "2.0", "id": 1, "result": null})),
            Incoming::Response
        );
    }
}
