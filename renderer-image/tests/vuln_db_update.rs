//! `db update` against a local HTTP server: conditional requests, a 304, failures that keep
//! the stored data, and the fetched-at record.

mod vuln_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use vuln_support::*;

/// Serves the given raw responses, one per connection, in order, and records each request's
/// header block. Stops after the last response.
fn serve(responses: Vec<Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tracker.json", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let handle = std::thread::spawn(move || {
        for response in responses {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            seen.lock().unwrap().push(head);
            let _ = stream.write_all(&response);
            let _ = stream.flush();
        }
    });
    (url, requests, handle)
}

fn ok(body: &[u8], etag: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         ETag: {etag}\r\nLast-Modified: Mon, 30 Nov 2026 10:00:00 GMT\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn update(db: &Path, url: &str) -> (i32, String) {
    let source = format!("debian={url}");
    let out = cli(&[
        "db",
        "update",
        "--db",
        db.to_str().unwrap(),
        "--source",
        &source,
        "--timeout",
        "20s",
    ]);
    (out.status.code().unwrap_or(-1), stderr(&out))
}

fn record(db: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(db.join("debian.meta.json")).unwrap()).unwrap()
}

#[test]
fn update_uses_conditional_requests_and_keeps_old_data_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let v1 = std::fs::read(data("vuln/synthetic-debian-bookworm.json")).unwrap();
    let truncated = {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: \"v2\"\r\nConnection: close\r\n\r\n",
            v1.len() * 4
        )
        .into_bytes();
        r.extend_from_slice(&v1[..v1.len() / 2]);
        r
    };
    let (url, requests, server) = serve(vec![
        ok(&v1, "\"v1\""),
        b"HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nConnection: close\r\n\r\n".to_vec(),
        truncated,
        ok(b"{\"openssl\": {\"CVE-1\": [", "\"v3\""),
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_vec(),
    ]);

    // 1. The first download stores the feed and its validators.
    let (code, err) = update(&db, &url);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(db.join("debian.json")).unwrap(), v1);
    let first = record(&db);
    assert_eq!(first["etag"], "\"v1\"");
    assert_eq!(first["origin"], "download");

    // 2. The next one asks conditionally; a 304 keeps the data and renews fetched_at.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, err) = update(&db, &url);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("not modified"), "{err}");
    let second = record(&db);
    assert!(second["fetched_at"].as_str() > first["fetched_at"].as_str());
    assert_eq!(std::fs::read(db.join("debian.json")).unwrap(), v1);

    // 3. A download cut off half-way, 4. a complete but corrupt one and 5. a server error
    // each fail (exit 2) and leave the stored data and its record alone.
    for step in 3..=5 {
        let (code, err) = update(&db, &url);
        assert_eq!(code, 2, "step {step}: {err}");
        assert!(err.contains("stored data is kept"), "step {step}: {err}");
        assert_eq!(
            std::fs::read(db.join("debian.json")).unwrap(),
            v1,
            "step {step}"
        );
        assert_eq!(record(&db), second, "step {step}");
    }
    server.join().unwrap();

    let heads = requests.lock().unwrap();
    assert!(!heads[0].to_ascii_lowercase().contains("if-none-match"));
    for head in &heads[1..] {
        let head = head.to_ascii_lowercase();
        assert!(head.contains("if-none-match: \"v1\""), "{head}");
        assert!(
            head.contains("if-modified-since: mon, 30 nov 2026"),
            "{head}"
        );
    }
    assert!(
        std::fs::read_dir(&db).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp")),
        "no temporary files are left behind"
    );
}

#[test]
fn import_takes_directories_and_zips() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("osv");
    std::fs::create_dir(&records).unwrap();
    let all: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(data("vuln/synthetic-osv-npm.json")).unwrap())
            .unwrap();
    for record in &all {
        let name = format!("{}.json", record["id"].as_str().unwrap());
        std::fs::write(records.join(name), serde_json::to_vec(record).unwrap()).unwrap();
    }
    let zip_path = dir.path().join("npm.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        for record in &all {
            let name = format!("{}.json", record["id"].as_str().unwrap());
            zip.start_file(name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&serde_json::to_vec(record).unwrap()).unwrap();
        }
        zip.finish().unwrap();
    }
    for source in [&records, &zip_path] {
        let db = dir.path().join("db");
        let pair = format!("osv-npm={}", source.display());
        let out = cli(&["db", "import", "--db", db.to_str().unwrap(), &pair]);
        assert!(out.status.success(), "{}", stderr(&out));
        let stored: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(db.join("osv-npm.json")).unwrap()).unwrap();
        assert_eq!(stored.len(), 2, "{}", source.display());
    }
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"[{\"id\": 3}]").unwrap();
    let db = dir.path().join("db");
    let pair = format!("osv-npm={}", bad.display());
    let out = cli(&["db", "import", "--db", db.to_str().unwrap(), &pair]);
    assert_eq!(out.status.code(), Some(2));
    let stored: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(db.join("osv-npm.json")).unwrap()).unwrap();
    assert_eq!(stored.len(), 2, "a failed import keeps the previous data");
}
