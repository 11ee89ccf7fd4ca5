//! The real clients' side of the `observe serve` acceptance tests: the server (started by
//! `serve_support`) with a key pair over a store that outlives it, the Python clients run
//! from the venvs `scripts/python_sdks.sh` makes in the build tree, and `observe` run on the
//! store afterwards.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::Value;

use crate::serve_support::Server;

/// The key pair the tests configure on the server and give the clients.
pub const PUBLIC_KEY: &str = "pk-lf-acceptance";
/// See [`PUBLIC_KEY`].
pub const SECRET_KEY: &str = "sk-lf-acceptance";

/// `observe serve` with the test key pair, over a store in a temporary folder of its own.
pub struct Served {
    server: Server,
    /// The base URL the server printed, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The store file.
    pub db: PathBuf,
    dir: tempfile::TempDir,
}

/// A server that stopped cleanly, and its store (kept until this is dropped).
pub struct Stopped {
    /// What the server printed on stdout.
    pub printed: String,
    /// The store file.
    pub db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Starts `observe serve` on loopback, on a port the system picks, with the test key
    /// pair configured.
    pub fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("served.db");
        let server = Server::start_on(
            &db,
            &["--public-key", PUBLIC_KEY, "--secret-key", SECRET_KEY],
        );
        Served {
            url: server.url.clone(),
            server,
            db,
            dir,
        }
    }

    /// Starts `observe serve` with no keys: loopback only, any key taken, the web view open
    /// to a browser without credentials.
    pub fn start_open() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("served.db");
        let server = Server::start_on(&db, &[]);
        Served {
            url: server.url.clone(),
            server,
            db,
            dir,
        }
    }

    /// The `Authorization` header value of the test key pair.
    pub fn basic_auth() -> String {
        let pair = format!("{PUBLIC_KEY}:{SECRET_KEY}");
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// `GET` of a path of the server's JSON API (the web view's), authenticated.
    pub fn get_json(&self, path: &str) -> Value {
        let response = crate::serve_support::client()
            .get(self.server.at(path))
            .header("Authorization", Served::basic_auth())
            .send()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let text = response.text().unwrap();
        assert!(status.is_success(), "GET {path}: {status}\n{text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}\n{text}"))
    }

    /// Stops the server as a service manager does (SIGTERM); it must exit with success,
    /// having written what it accepted. The store stays for the checks that follow.
    pub fn stop(self) -> Stopped {
        Stopped {
            printed: self.server.stop(),
            db: self.db,
            _dir: self.dir,
        }
    }
}

/// Runs `observe --db DB ARGS... --json` (which must succeed) and parses its output.
pub fn observe_json(db: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .arg("--db")
        .arg(db)
        .args(args)
        .arg("--json")
        .env_remove("OBSERVE_STORE_PATH")
        .output()
        .expect("run observe");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "observe {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("observe {args:?}: {e}\n{stdout}"))
}

/// One of the Python clients: its venv (as `scripts/python_sdks.sh` names it) and its script
/// under `tests/sdk_clients/`.
#[derive(Clone, Copy, Debug)]
pub enum PythonClient {
    /// The current Langfuse Python SDK (OTLP to `/api/public/otel/v1/traces`).
    LangfuseCurrent,
    /// The Langfuse Python SDK 2.x (the ingestion API).
    LangfuseV2,
    /// The OpenTelemetry Python SDK with its OTLP/HTTP exporter (`/v1/traces`).
    OpenTelemetry,
}

impl PythonClient {
    fn venv(self) -> &'static str {
        match self {
            PythonClient::LangfuseCurrent => "langfuse-current",
            PythonClient::LangfuseV2 => "langfuse-v2",
            PythonClient::OpenTelemetry => "otel",
        }
    }

    fn script(self) -> &'static str {
        match self {
            PythonClient::LangfuseCurrent => "langfuse_current.py",
            PythonClient::LangfuseV2 => "langfuse_v2.py",
            PythonClient::OpenTelemetry => "otel_sdk.py",
        }
    }
}

/// What a client script ran: one trace per session, in order.
#[derive(Debug)]
pub struct ClientRun {
    /// The traces' ids as the client printed them.
    pub traces: Vec<String>,
    /// The sessions, one per trace.
    pub sessions: Vec<String>,
}

/// The build tree: `target/` (or `$CARGO_TARGET_DIR`), from the `observe` binary's path
/// (`<target>/<profile>/observe`).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_observe"))
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/observe")
        .to_owned()
}

/// One venv is made at a time: two tests making the same one would race in pip.
static VENVS: Mutex<()> = Mutex::new(());

/// The Python interpreter of `client`'s venv, made by `scripts/python_sdks.sh` when missing.
pub fn python(client: PythonClient) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/python_sdks.sh");
    let _one_at_a_time = VENVS.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new("bash")
        .arg(script)
        .arg(client.venv())
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run bash {script}: {e}; install bash (apt-get install -y bash)")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} {} failed, so the {client:?} client cannot run:\n{stderr}\n\
         It needs python3 with venv and pip (apt-get install -y python3 python3-venv \
         python3-pip) and PyPI within reach.",
        client.venv()
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Runs `client`'s workflow script against `served` with `args` (the session prefix
/// `PREFIX`, for sessions `PREFIX-0..4`, then the script's options) and returns what it
/// printed. The connection goes through the variables each SDK reads.
pub fn run_client(client: PythonClient, served: &Served, args: &[&str]) -> ClientRun {
    let (script, out) = run_client_with(client, served, args, (PUBLIC_KEY, SECRET_KEY));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} failed:\n{stdout}\n{stderr}",
        script.display()
    );
    // The SDKs log a refused request and carry on: the refusal must fail the test here.
    // (The Langfuse SDK says "Bad request..." for a 400, "Internal error..." for a 404.)
    let lowered = stderr.to_lowercase();
    for refusal in [
        "401",
        "403",
        "404",
        "failed to export",
        "error",
        "bad request",
    ] {
        assert!(
            !lowered.contains(refusal),
            "{} logged `{refusal}`:\n{stderr}",
            script.display()
        );
    }
    let printed: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{} printed no JSON line:\n{stdout}", script.display()));
    let strings = |key: &str| -> Vec<String> {
        printed[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key} in {printed}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    ClientRun {
        traces: strings("traces"),
        sessions: strings("sessions"),
    }
}

/// Runs `client`'s workflow script with `args` against `served` with the key pair `keys` and
/// returns the script's path and what the run gave, whatever it was.
pub fn run_client_with(
    client: PythonClient,
    served: &Served,
    args: &[&str],
    keys: (&str, &str),
) -> (PathBuf, Output) {
    run_script(client, client.script(), served, args, keys)
}

/// Runs `script` (under `tests/sdk_clients/`) with `args` in `client`'s venv, connected to
/// `served` with the key pair `keys`; returns the script's path and what the run gave.
pub fn run_script(
    client: PythonClient,
    script: &str,
    served: &Served,
    args: &[&str],
    (public_key, secret_key): (&str, &str),
) -> (PathBuf, Output) {
    let python = python(client);
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk_clients")
        .join(script);
    let mut cmd = Command::new(&python);
    // The scripts import their shared module: no __pycache__ in the source tree.
    cmd.arg(&script)
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    // The developer's own settings must not leak into the client.
    for (key, _) in std::env::vars() {
        if key.starts_with("LANGFUSE_") || key.starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    match client {
        PythonClient::LangfuseCurrent | PythonClient::LangfuseV2 => {
            cmd.env("LANGFUSE_PUBLIC_KEY", public_key)
                .env("LANGFUSE_SECRET_KEY", secret_key)
                // 3.x and later read the first, 2.x the second.
                .env("LANGFUSE_BASE_URL", &served.url)
                .env("LANGFUSE_HOST", &served.url);
        }
        PythonClient::OpenTelemetry => {
            let pair = format!("{public_key}:{secret_key}");
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            cmd.env(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                format!("{}/v1/traces", served.url),
            )
            .env(
                "OTEL_EXPORTER_OTLP_HEADERS",
                // The variable's values are percent-encoded: the space is %20.
                format!("Authorization=Basic%20{basic}"),
            );
        }
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    (script, out)
}
