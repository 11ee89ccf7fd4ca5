//! A real PostgreSQL server for the tests: Debian's `postgresql` package, `initdb` into a
//! temporary directory, `pg_ctl start` on a free loopback port with its unix socket in that
//! directory, one database made for the test, everything stopped and removed on drop.
//!
//! PostgreSQL refuses to run as root, so under root (containers, CI) the server's files
//! belong to the `postgres` user the package creates, and its programs run through
//! `runuser -u postgres`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What to run when the server's programs are missing.
const INSTALL: &str = "apt-get install -y postgresql";

/// The database the tests use.
const DATABASE: &str = "observe_test";

/// A running server; stopped and its directory removed when dropped.
pub struct PgServer {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    port: u16,
    // Dropped last: holds the data directory, socket and log.
    dir: tempfile::TempDir,
}

impl PgServer {
    /// Starts a new server with an empty database [`DATABASE`]. Panics, saying what is
    /// missing or what the server logged, when it cannot.
    pub fn start() -> PgServer {
        let bin = bin_dir();
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new()
            .prefix("observe-pg")
            .tempdir()
            .expect("a temporary directory for PostgreSQL");
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let data = dir.path().join("data");
        let mut server = PgServer {
            bin,
            data,
            as_postgres,
            port: 0,
            dir,
        };
        let data = server.data.clone();
        run(server.command("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]));
        server.port = free_port();
        server.pg_ctl_start();
        let mut admin = postgres::Client::connect(&server.url_for("postgres"), postgres::NoTls)
            .expect("connect to the test server");
        admin
            .batch_execute(&format!("CREATE DATABASE {DATABASE}"))
            .expect("create the test database");
        server
    }

    /// Starts the server of this data directory on its port.
    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        let started = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "start"])
            .output()
            .expect("run pg_ctl");
        if !started.status.success() {
            panic!(
                "pg_ctl start failed: {}\nserver log:\n{}",
                describe(&started),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }

    /// Stops the server (fast shutdown: sessions are ended, committed data kept); the
    /// port stays this server's for [`PgServer::resume`].
    #[allow(dead_code)]
    pub fn stop(&self) {
        run(self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"]));
    }

    /// Starts the stopped server again, on the same port.
    #[allow(dead_code)]
    pub fn resume(&self) {
        self.pg_ctl_start();
    }

    /// Stops and starts the server, on the same port.
    #[allow(dead_code)]
    pub fn restart(&self) {
        self.stop();
        self.resume();
    }

    /// Creates a login role with a password that host connections must give
    /// (`scram-sha-256`, as production servers ask), with the rights to write the test
    /// database; returns its URL, password included.
    #[allow(dead_code)]
    pub fn password_user(&self, user: &str, password: &str) -> String {
        let mut admin = self.connect();
        admin
            .batch_execute(&format!(
                "SET password_encryption = 'scram-sha-256';
                 CREATE ROLE {user} LOGIN PASSWORD '{password}';
                 GRANT ALL ON SCHEMA public TO {user};
                 GRANT ALL ON DATABASE {DATABASE} TO {user};"
            ))
            .expect("create the role");
        let hba = self.data.join("pg_hba.conf");
        let old = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
        // The first matching line wins: the role's goes before initdb's `trust` lines.
        let line = format!("host all {user} 127.0.0.1/32 scram-sha-256\n");
        std::fs::write(&hba, line + &old).expect("write pg_hba.conf");
        admin
            .batch_execute("SELECT pg_reload_conf()")
            .expect("reload the configuration");
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/{DATABASE}",
            self.port
        )
    }

    /// Turns TLS on with a server certificate for `127.0.0.1` signed by a CA made for the
    /// test; returns the CA's certificate (PEM), for `sslrootcert`. Needs `openssl`.
    #[allow(dead_code)]
    pub fn enable_tls(&self) -> PathBuf {
        let dir = self.dir.path().join("tls");
        std::fs::create_dir_all(&dir).expect("the TLS directory");
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|e| {
                    panic!("this test needs `openssl` ({e}): install it with `apt-get install -y openssl`")
                });
            assert!(out.status.success(), "openssl {args:?}: {}", describe(&out));
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.pem",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=observe test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .expect("write the extensions");
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ]);
        // The server reads its key only when the key is its own and private.
        run(Command::new("chmod").arg("600").arg(dir.join("server.key")));
        if self.as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }
        let mut admin = self.connect();
        // One statement at a time: ALTER SYSTEM refuses to run in a transaction block.
        for statement in [
            format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'",
                dir.join("server.pem").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = '{}'",
                dir.join("server.key").display()
            ),
            "ALTER SYSTEM SET ssl = on".to_owned(),
            "SELECT pg_reload_conf()".to_owned(),
        ] {
            admin.batch_execute(&statement).expect("turn TLS on");
        }
        // The reload is signalled, not awaited: a new session (forked by the server after it
        // reloaded) sees `ssl` on.
        while self
            .connect()
            .query_one("SHOW ssl", &[])
            .expect("SHOW ssl")
            .get::<_, String>(0)
            != "on"
        {
            std::thread::yield_now();
        }
        dir.join("ca.pem")
    }

    /// The port the server listens on.
    #[allow(dead_code)]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the test database, as a user would give it.
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    fn url_for(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A new connection to the test database.
    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls)
            .expect("connect to the test database")
    }

    /// One of the server's programs, run as the user that owns its files.
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if self.port == 0 {
            return;
        }
        // Immediate: the test is over, nothing in the database needs to reach the disk.
        let data = self.data.clone();
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
        if let Ok(out) = &stopped {
            if !out.status.success() {
                eprintln!("pg_ctl stop failed: {}", describe(out));
            }
        }
    }
}

/// The newest installed server's programs: `/usr/lib/postgresql/<major>/bin`.
fn bin_dir() -> PathBuf {
    bin_dir_in(Path::new("/usr/lib/postgresql"))
}

/// The newest `<major>/bin` under `root` that has `initdb`; panics with how to install the
/// server when there is none.
pub fn bin_dir_in(root: &Path) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((major, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "these tests need a PostgreSQL server: no {}/<version>/bin/initdb. Install it with `{INSTALL}`",
            root.display()
        ),
    }
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run `id -u`");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A loopback port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn run(command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        describe(&out)
    );
}

fn describe(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
