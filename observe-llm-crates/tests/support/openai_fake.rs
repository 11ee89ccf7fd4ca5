//! A loopback fake of an OpenAI-compatible chat API: `POST /v1/chat/completions` answered
//! as OpenAI answers it, plain JSON or (`"stream": true`) server-sent events ending with a
//! usage chunk, and a 429 error for the model [`FAILING_MODEL`]. Plain HTTP/1.1 over a
//! tokio socket, one request per connection (`Connection: close`), so the LLM crates' own
//! HTTP clients talk to it unchanged.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The model every answer says it came from (a dated name, as OpenAI's are).
pub const RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// Asking for this model gets a 429 error.
pub const FAILING_MODEL: &str = "gpt-rate-limited";
/// The plain answer's text.
pub const PLAIN_ANSWER: &str = "Paris is the capital of France.";
/// The streamed answer, in its chunks.
pub const STREAM_CHUNKS: [&str; 3] = ["Once ", "upon ", "a time."];

/// Usage of every answer: 120 prompt tokens of which 100 cached, 40 completion tokens of
/// which 25 reasoning (OpenAI counts the parts inside the wholes).
pub fn usage() -> Value {
    json!({
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 25, "audio_tokens": 0}
    })
}

/// The running fake: its address and the request bodies it was sent.
#[derive(Clone)]
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeOpenAi {
    /// Binds a loopback port and serves on the current tokio runtime.
    pub async fn start() -> FakeOpenAi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("loopback port");
        let fake = FakeOpenAi {
            addr: listener.local_addr().expect("bound"),
            requests: Arc::default(),
        };
        let requests = fake.requests.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let requests = requests.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(socket, requests).await {
                        eprintln!("fake provider: {e}");
                    }
                });
            }
        });
        fake
    }

    /// The base URL an OpenAI client is pointed at (`.../v1/`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1/", self.addr)
    }
}

async fn serve(socket: TcpStream, requests: Arc<Mutex<Vec<Value>>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(socket);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).await?;
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    let mut socket = reader.into_inner();
    if !request_line.starts_with("POST ") || !request_line.contains("/v1/chat/completions") {
        return respond(&mut socket, "404 Not Found", "application/json", b"{}").await;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    requests.lock().unwrap().push(request.clone());
    if request["model"] == FAILING_MODEL {
        let error = json!({"error": {
            "message": "Rate limit reached for requests",
            "type": "requests",
            "code": "rate_limit_exceeded"
        }});
        let error = serde_json::to_vec(&error).unwrap();
        return respond(
            &mut socket,
            "429 Too Many Requests",
            "application/json",
            &error,
        )
        .await;
    }
    if request["stream"] == true {
        return stream(&mut socket).await;
    }
    let answer = json!({
        "id": "chatcmpl-plain",
        "object": "chat.completion",
        "created": 1_765_000_000,
        "model": RESPONSE_MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": PLAIN_ANSWER},
            "finish_reason": "stop"
        }],
        "usage": usage()
    });
    let answer = serde_json::to_vec(&answer).unwrap();
    respond(&mut socket, "200 OK", "application/json", &answer).await
}

async fn respond(
    socket: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await?;
    socket.write_all(body).await?;
    socket.shutdown().await
}

/// The answer as OpenAI streams it: a chunk per piece of text, one with the finish reason,
/// one with the usage (`stream_options.include_usage`), then `[DONE]`; each written and
/// flushed on its own.
async fn stream(socket: &mut TcpStream) -> std::io::Result<()> {
    socket
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\
              Connection: close\r\n\r\n",
        )
        .await?;
    let chunk = |choices: Value, usage: Value| {
        json!({
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": 1_765_000_000,
            "model": RESPONSE_MODEL,
            "choices": choices,
            "usage": usage
        })
    };
    let mut events = Vec::new();
    for (i, text) in STREAM_CHUNKS.iter().enumerate() {
        let delta = if i == 0 {
            json!({"role": "assistant", "content": text})
        } else {
            json!({"content": text})
        };
        events.push(chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": null}]),
            Value::Null,
        ));
    }
    events.push(chunk(
        json!([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        Value::Null,
    ));
    events.push(chunk(json!([]), usage()));
    for event in events {
        socket
            .write_all(format!("data: {event}\n\n").as_bytes())
            .await?;
        socket.flush().await?;
    }
    socket.write_all(b"data: [DONE]\n\n").await?;
    socket.shutdown().await
}
