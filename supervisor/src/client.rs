//! `render` and `health`: a small client for scripts and for the image's HEALTHCHECK,
//! which has no curl.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Exit codes of `render`: the job failed, or the command could not even ask.
pub const EXIT_JOB_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Socket of the running supervisor
    #[arg(
        long,
        env = "RENDER_SUPERVISOR_SOCKET",
        default_value = "/run/renderer/render.sock"
    )]
    pub socket: PathBuf,
    /// Take a screenshot instead of a PDF
    #[arg(long)]
    pub screenshot: bool,
    /// Job file (JSON); "-" reads standard input
    pub job: PathBuf,
    /// Where to write the result
    #[arg(short, long)]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Socket of the running supervisor
    #[arg(
        long,
        env = "RENDER_SUPERVISOR_SOCKET",
        default_value = "/run/renderer/render.sock"
    )]
    pub socket: PathBuf,
    /// Give up after this long
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Ask only whether the daemon serves HTTP (/livez), not whether Chrome is ready
    /// (/healthz): for liveness probes, which must not fail while Chrome is replaced
    #[arg(long)]
    pub live: bool,
}

struct Answer {
    status: u16,
    body: hyper::body::Incoming,
}

async fn request(socket: &Path, method: &str, path: &str, body: Bytes) -> anyhow::Result<Answer> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to {}: {e}", socket.display()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(body))?;
    let response = sender.send_request(request).await?;
    Ok(Answer {
        status: response.status().as_u16(),
        body: response.into_body(),
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime starts")
}

/// Runs `render`; returns the process exit code.
pub fn render(args: RenderArgs) -> u8 {
    let job = if args.job.as_os_str() == "-" {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read(&args.job)
    };
    let job = match job {
        Ok(job) => Bytes::from(job),
        Err(err) => {
            eprintln!(
                "render-supervisor render: cannot read {}: {err}",
                args.job.display()
            );
            return EXIT_USAGE;
        }
    };
    let path = if args.screenshot {
        "/v1/screenshot"
    } else {
        "/v1/pdf"
    };
    runtime().block_on(async {
        let answer = match request(&args.socket, "POST", path, job).await {
            Ok(answer) => answer,
            Err(err) => {
                eprintln!("render-supervisor render: {err}");
                return EXIT_USAGE;
            }
        };
        if answer.status != 200 {
            let body = answer
                .body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            eprintln!(
                "render-supervisor render: job failed with HTTP {}: {}",
                answer.status,
                String::from_utf8_lossy(&body).trim()
            );
            return EXIT_JOB_FAILED;
        }
        match save(answer.body, &args.output).await {
            Ok(bytes) => {
                eprintln!("wrote {} bytes to {}", bytes, args.output.display());
                0
            }
            Err(err) => {
                eprintln!("render-supervisor render: {err}");
                EXIT_JOB_FAILED
            }
        }
    })
}

/// Streams the body into a temporary file beside `output`, renamed into place only when
/// complete: an aborted response never leaves a truncated file behind.
async fn save(mut body: hyper::body::Incoming, output: &Path) -> anyhow::Result<u64> {
    let partial = output.with_extension("partial");
    let mut file = std::fs::File::create(&partial)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", partial.display()))?;
    let mut written = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(err) => {
                let _ = std::fs::remove_file(&partial);
                anyhow::bail!("the response was cut off after {written} bytes: {err}");
            }
        };
        if let Some(data) = frame.data_ref() {
            file.write_all(data)?;
            written += data.len() as u64;
        }
    }
    file.sync_all()?;
    std::fs::rename(&partial, output)?;
    Ok(written)
}

/// Runs `health`; exit 0 when the daemon answers healthy (or, with `--live`, alive), 1
/// otherwise (unreachable too).
pub fn health(args: HealthArgs) -> u8 {
    let path = if args.live { "/livez" } else { "/healthz" };
    runtime().block_on(async {
        let asked = tokio::time::timeout(args.timeout, async {
            let answer = request(&args.socket, "GET", path, Bytes::new()).await?;
            let body = answer.body.collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((answer.status, body))
        })
        .await;
        match asked {
            Ok(Ok((200, body))) => {
                println!("{}", String::from_utf8_lossy(&body));
                0
            }
            Ok(Ok((status, body))) => {
                println!(
                    "unhealthy (HTTP {status}): {}",
                    String::from_utf8_lossy(&body)
                );
                1
            }
            Ok(Err(err)) => {
                println!("unreachable: {err}");
                1
            }
            Err(_) => {
                println!("no answer within {:?}", args.timeout);
                1
            }
        }
    })
}
