//! A small WebDriver client (W3C protocol, JSON over HTTP) for Debian's chromium driven
//! by chromedriver, both started here and ended on drop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// The key W3C WebDriver gives element references under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long [`Browser::wait_for`] waits for a page to show something (not a speed check:
/// a page that never shows it fails the test with what it shows instead).
const PATIENCE: Duration = Duration::from_secs(20);

const INSTALL: &str = "the browser tests need Debian's chromium and chromedriver: \
    run `apt-get update && apt-get install -y chromium chromium-driver` (as .ci/run does)";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .chain([
                PathBuf::from("/usr/bin"),
                PathBuf::from("/usr/lib/chromium"),
            ])
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A headless chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::blocking::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless chromium; panics with the install command when
    /// either is missing.
    pub fn start() -> Browser {
        let chromium = find_program(&["chromium", "chromium-browser"]).expect(INSTALL);
        let chromedriver = find_program(&["chromedriver"]).expect(INSTALL);
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}; {INSTALL}", chromedriver.display()));
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let started = Instant::now();
        while http
            .get(format!("{base}/status"))
            .send()
            .ok()
            .and_then(|r| r.text().ok())
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["value"]["ready"].as_bool())
            != Some(true)
        {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("a profile folder");
        // The flags this closed network needs: without the background-networking ones
        // chromium keeps dialling out and being refused.
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1400,900".to_owned(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session from chromedriver: {created}"))
            .to_owned();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self
                .http
                .post(&url)
                .header("Content-Type", "application/json")
                .body(body.unwrap_or_else(|| json!({})).to_string()),
        };
        let text = request
            .send()
            .and_then(|r| r.text())
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"));
        if value["value"]["error"].is_string() {
            panic!("{method} {path}: {}", value["value"]);
        }
        value["value"].clone()
    }

    /// Goes to `url` and waits until the page has rendered it. Going to another `#/...`
    /// of the loaded page renders without a reload, so the old page's mark of a finished
    /// render is taken off first: until the new render ends, its elements are not
    /// mistaken for the new page's.
    pub fn goto(&self, url: &str) {
        self.script(
            "if (document.body) delete document.body.dataset.ready",
            json!([]),
        );
        self.call("POST", "/url", Some(json!({ "url": url })));
        self.wait_until(
            "the page to render",
            "return document.body.dataset.ready != null",
        );
    }

    /// Loads `url` in a fresh document (by way of `about:blank`), as a pasted link would.
    pub fn open_fresh(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": "about:blank" })));
        self.goto(url);
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    /// Waits until `script` returns true.
    pub fn wait_until(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            if self.script(script, json!([])) == json!(true) {
                return;
            }
            if started.elapsed() > PATIENCE {
                let shown = self.script("return document.body.innerText", json!([]));
                panic!("waited for {what}; the page shows:\n{shown}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for an element matching `css` and returns its reference.
    pub fn wait_for(&self, css: &str) -> Value {
        self.wait_until(
            &format!("`{css}`"),
            &format!(
                "return document.querySelector({}) != null",
                serde_json::to_string(css).unwrap()
            ),
        );
        self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )
    }

    /// Every element matching `css`.
    pub fn all(&self, css: &str) -> Vec<Value> {
        match self.call(
            "POST",
            "/elements",
            Some(json!({"using": "css selector", "value": css})),
        ) {
            Value::Array(items) => items,
            other => panic!("elements `{css}`: {other}"),
        }
    }

    fn element_id(element: &Value) -> &str {
        element[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {element}"))
    }

    /// Clicks like a person (the driver moves the pointer there).
    pub fn click(&self, element: &Value) {
        self.call(
            "POST",
            &format!("/element/{}/click", Self::element_id(element)),
            None,
        );
    }

    /// The element's rendered text.
    pub fn text(&self, element: &Value) -> String {
        self.call(
            "GET",
            &format!("/element/{}/text", Self::element_id(element)),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// An attribute or property of the element (`class`, `href`, `data-name`...).
    pub fn attribute(&self, element: &Value, name: &str) -> String {
        self.call(
            "GET",
            &format!("/element/{}/attribute/{name}", Self::element_id(element)),
            None,
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &Path) {
        let data = self.call("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .expect("a base64 PNG");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self
                .http
                .delete(format!("{}/session/{}", self.base, self.session))
                .send();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
