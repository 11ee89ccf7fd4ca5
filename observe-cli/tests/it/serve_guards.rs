//! `observe serve` refusing what it must: bodies past the limits (413, 411), gzip bombs,
//! wrong keys (401), a non-loopback address without keys, and a full write queue (429).

use std::io::{Read, Write as _};

use crate::serve_support::{
    accepted, client, fill_the_queue, gzip, hold_write_lock, json, post, stored_names, trace,
    JsonBody, Server,
};

#[test]
fn oversized_bodies_gzip_bombs_and_chunked_bodies_are_refused() {
    let server = Server::start(&[
        "--max-body-bytes",
        "65536",
        "--max-inflated-bytes",
        "1048576",
    ]);
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        vec![b' '; 200 * 1024],
        false,
    );
    assert_eq!(answer.status(), 413);
    let body: serde_json::Value = answer.json_value().unwrap();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("--max-body-bytes"),
        "{body}"
    );

    // 4 MiB of zeros is about 4 KiB gzipped: far under the body limit, four times the
    // inflated one (a larger bomb only takes the test longer to build: the server stops at
    // the limit either way).
    let bomb = gzip(&vec![0u8; 4 << 20]);
    assert!(bomb.len() < 8192, "{}", bomb.len());
    let answer = post(
        &server.at("/v1/traces"),
        "application/x-protobuf",
        bomb,
        true,
    );
    assert_eq!(answer.status(), 413);
    let body: serde_json::Value = answer.json_value().unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("inflates past"),
        "{body}"
    );

    // A body without a length (chunked) is refused with 411.
    let chunked = client()
        .post(server.at("/v1/traces"))
        .header("Content-Type", "application/json")
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(json(
            trace("s-chunked", "chunked", 1),
        ))))
        .send()
        .unwrap();
    assert_eq!(chunked.status(), 411);

    // Within the limits, a gzipped request is taken.
    let answer = post(
        &server.at("/v1/traces"),
        "application/json",
        gzip(&json(trace("s-fits", "fits", 1))),
        true,
    );
    assert_eq!(answer.status(), 200);
    assert_eq!(stored_names(&server.db), ["fits-0"]);
    server.stop();
}

fn basic(public: &str, secret: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{public}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn post_with_key(server: &Server, authorization: Option<&str>) -> reqwest::blocking::Response {
    let mut request = client()
        .post(server.at("/api/public/otel/v1/traces"))
        .header("Content-Type", "application/json");
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request
        .body(json(trace("s-keys", "keys", 1)))
        .send()
        .unwrap()
}

#[test]
fn with_keys_a_wrong_or_missing_key_is_401() {
    let server = Server::start(&["--public-key", "pk-lf-test", "--secret-key", "sk-lf-test"]);
    for wrong in [
        None,
        Some(basic("pk-lf-test", "sk-lf-wrong")),
        Some(basic("pk-lf-other", "sk-lf-test")),
        Some("Bearer sk-lf-test".to_owned()),
    ] {
        let answer = post_with_key(&server, wrong.as_deref());
        assert_eq!(answer.status(), 401, "{wrong:?}");
        let body: serde_json::Value = answer.json_value().unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
    assert!(stored_names(&server.db).is_empty());
    let answer = post_with_key(&server, Some(&basic("pk-lf-test", "sk-lf-test")));
    assert_eq!(answer.status(), 200);
    assert_eq!(stored_names(&server.db), ["keys-0"]);

    // The web view asks the browser for the keys.
    let page = client().get(server.at("/")).send().unwrap();
    assert_eq!(page.status(), 401);
    assert!(page.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    let page = client()
        .get(server.at("/"))
        .header("Authorization", basic("pk-lf-test", "sk-lf-test"))
        .send()
        .unwrap();
    assert_eq!(page.status(), 200);
    // The SDKs' start-up check answers the key's project.
    let projects: serde_json::Value = client()
        .get(server.at("/api/public/projects"))
        .header("Authorization", basic("pk-lf-test", "sk-lf-test"))
        .send()
        .unwrap()
        .json_value()
        .unwrap();
    assert_eq!(projects["data"][0]["id"], "default");
    server.stop();
}

#[test]
fn a_keys_file_gives_each_project_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("keys");
    std::fs::write(
        &file,
        "# project public secret\nteam-a pk-a sk-a\nteam-b pk-b sk-b\n",
    )
    .unwrap();
    let server = Server::start(&["--keys", file.to_str().unwrap()]);
    assert_eq!(
        post_with_key(&server, Some(&basic("pk-a", "sk-a"))).status(),
        200
    );
    assert_eq!(
        post_with_key(&server, Some(&basic("pk-b", "sk-b"))).status(),
        200
    );
    assert_eq!(
        post_with_key(&server, Some(&basic("pk-a", "sk-b"))).status(),
        401
    );
    let project = |public: &str, secret: &str| -> serde_json::Value {
        client()
            .get(server.at("/api/public/projects"))
            .header("Authorization", basic(public, secret))
            .send()
            .unwrap()
            .json_value()
            .unwrap()
    };
    assert_eq!(project("pk-b", "sk-b")["data"][0]["id"], "team-b");
    // Each pair's data is stored under its project, which the views filter by.
    let conn = rusqlite::Connection::open(&server.db).unwrap();
    let projects: Vec<String> = conn
        .prepare("SELECT DISTINCT project_id FROM observations ORDER BY 1")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(projects, ["team-a", "team-b"]);
    let traces = crate::common::ok(&crate::common::observe(
        Some(&server.db),
        &["--project", "team-a", "--json", "traces"],
    ));
    let traces: serde_json::Value = serde_json::from_str(&traces).unwrap();
    assert_eq!(traces.as_array().unwrap().len(), 1, "{traces}");
    server.stop();
}

#[test]
fn a_non_loopback_address_without_keys_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(dir.path().join("t.db"))
        .args(["serve", "--bind", "0.0.0.0", "--port", "0"])
        .env_remove("OBSERVE_SERVE_PUBLIC_KEY")
        .env_remove("OBSERVE_SERVE_SECRET_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--public-key") && err.contains("--secret-key"),
        "{err}"
    );
}

#[test]
fn a_full_queue_is_429_with_retry_after_and_the_waiting_requests_are_written() {
    let server = Server::start(&["--queue-bytes", "1"]);
    let lock = hold_write_lock(&server.db);
    let (headers, waiting) = fill_the_queue(&server, "s-full");
    assert_eq!(headers["retry-after"], "1");
    drop(lock);
    let expected = accepted(waiting);
    // One being written and one queued: the rest were refused.
    assert!(
        (1..=2).contains(&expected.len()),
        "{} accepted with the writer held",
        expected.len()
    );
    assert_eq!(stored_names(&server.db), expected);
    let out = server.stop();
    assert!(
        out.contains("requests refused as the queue was full"),
        "{out}"
    );
    assert!(
        !out.contains(" 0 requests refused as the queue was full"),
        "{out}"
    );
}

#[test]
fn a_request_head_past_the_limit_is_refused() {
    let server = Server::start(&[]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let _ = stream.write_all(head.as_bytes());
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    server.stop();
}

#[test]
fn without_keys_a_foreign_host_is_refused() {
    // A page whose own name resolves to 127.0.0.1 (DNS rebinding) sends its name as Host.
    let server = Server::start(&[]);
    let answer = client()
        .post(server.at("/v1/traces"))
        .header("Host", "evil.example")
        .header("Content-Type", "application/json")
        .body(json(trace("s-rebind", "rebind", 1)))
        .send()
        .unwrap();
    assert_eq!(answer.status(), 421);
    assert!(stored_names(&server.db).is_empty());
    server.stop();
}
