//! A PDF far larger than the supervisor's memory streams through it. Kept in its own test
//! binary so that it runs alone: printing it keeps Chrome busy for many seconds.

use render_tests::Supervisor;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_large_pdf_streams_without_being_held_in_memory() {
    let sup = Supervisor::start(&["--job-timeout", "120s"]).await;
    // Canvases of random pixels do not compress: each adds about 12 MB to the PDF.
    let html = r#"<body style="margin:0"><script>
      for (let i = 0; i < 8; i++) {
        const c = document.createElement('canvas');
        c.width = 2000; c.height = 2000;
        c.style = 'width:7in;height:7in;display:block;page-break-after:always';
        const ctx = c.getContext('2d');
        const img = ctx.createImageData(2000, 2000);
        const words = new Uint32Array(img.data.buffer);
        for (let j = 0; j < words.length; j += 16384) {
          crypto.getRandomValues(words.subarray(j, Math.min(j + 16384, words.length)));
        }
        for (let j = 3; j < img.data.length; j += 4) img.data[j] = 255;
        ctx.putImageData(img, 0, 0);
        document.body.appendChild(c);
      }
    </script></body>"#;
    let answer = sup.pdf(&json!({"html": html, "timeout_ms": 120000})).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let size = answer.body.len();
    assert!(size >= 80 << 20, "PDF is only {} MB", size >> 20);
    assert!(
        answer.header("content-length").is_none(),
        "the PDF was not streamed"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", sup.pid())).unwrap();
    let peak_kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(
        peak_kb * 1024 < size / 2,
        "peak RSS {peak_kb} kB for a {size} byte PDF"
    );
}
