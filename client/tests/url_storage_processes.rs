//! The JSON file and SQLite URL storages with writers in separate processes: this test
//! binary runs itself again as the writers (selected by an environment variable).

use std::path::Path;
use std::process::Command;
use tus_rs_client::{JsonFileUrlStorage, StoredUpload, UrlStorage};

const WRITER_ENV: &str = "TUS_RS_CLIENT_TEST_WRITER";
const PROCESSES: usize = 4;
const ENTRIES: usize = 30;

fn open(kind: &str, path: &Path) -> Box<dyn UrlStorage> {
    match kind {
        "json" => Box::new(JsonFileUrlStorage::new(path)),
        #[cfg(feature = "sqlite")]
        "sqlite" => Box::new(tus_rs_client::SqliteUrlStorage::open(path).unwrap()),
        other => panic!("unknown storage {other}"),
    }
}

/// In a writer process: adds this process's entries. Otherwise: does nothing.
#[test]
fn writer() {
    let Ok(job) = std::env::var(WRITER_ENV) else { return };
    let mut parts = job.splitn(3, ' ');
    let (kind, id, path) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let storage = open(kind, Path::new(path));
    for i in 0..ENTRIES {
        let key = format!("p{id}-{i}");
        storage.set(&key, &StoredUpload::single("http://h/files", format!("http://h/files/{key}"))).unwrap();
    }
}

fn run_writers(kind: &str, path: &Path) {
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args(["--exact", "writer", "--quiet", "--test-threads", "1"])
                .env(WRITER_ENV, format!("{kind} {id} {}", path.display()))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "a writer process failed:\n{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let entries = open(kind, path).entries().unwrap();
    assert_eq!(entries.len(), PROCESSES * ENTRIES, "{kind}: entries were lost by concurrent processes");
}

#[test]
fn json_file_storage_with_concurrent_processes() {
    if std::env::var_os(WRITER_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_writers("json", &dir.path().join("urls.json"));
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_storage_with_concurrent_processes() {
    if std::env::var_os(WRITER_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    run_writers("sqlite", &dir.path().join("urls.sqlite3"));
}
