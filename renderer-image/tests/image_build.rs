//! The image as built from the offline base: what it declares and what it holds.

mod image_support;

use image_support::*;

fn inspect(format: &str) -> String {
    let out = docker(&["image", "inspect", "--format", format, ensure_image()]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Runs a shell script in a throwaway container of the image, as its own user.
fn in_image(script: &str) -> String {
    let out = docker(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sh",
        ensure_image(),
        "-c",
        script,
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn declares_no_port_a_numeric_user_and_the_supervisor_as_entry_point() {
    assert_eq!(inspect("{{json .Config.ExposedPorts}}"), "null");
    let user = inspect("{{.Config.User}}");
    let (uid, gid) = user.split_once(':').expect("uid:gid");
    assert!(uid.parse::<u32>().unwrap() > 0, "user {user}");
    assert!(gid.parse::<u32>().is_ok(), "user {user}");
    assert_eq!(
        inspect("{{json .Config.Entrypoint}}"),
        r#"["/usr/local/bin/render-supervisor","serve","--socket","/run/renderer/render.sock"]"#
    );
    assert_eq!(inspect("{{.Config.StopSignal}}"), "SIGTERM");
    assert!(inspect("{{json .Config.Healthcheck.Test}}").contains("\"health\""));
    assert_eq!(
        inspect("{{json .Config.Volumes}}"),
        r#"{"/run/renderer":{}}"#
    );
    let labels = inspect("{{json .Config.Labels}}");
    for key in ["version", "revision", "source"] {
        assert!(
            labels.contains(&format!("org.opencontainers.image.{key}")),
            "{labels}"
        );
    }
}

#[test]
fn holds_no_compiler_no_package_lists_and_no_package_managers() {
    let found = in_image(
        "for tool in gcc cc c++ g++ clang rustc cargo ld as make npm npx corepack yarn; do \
           command -v $tool; done; \
         ls -A /var/lib/apt/lists; ls -d /usr/local/lib/node_modules 2>/dev/null; true",
    );
    assert_eq!(found.trim(), "", "found in the image:\n{found}");
    let kept = in_image("id -u; command -v node; command -v chromium; echo $HOME");
    let lines: Vec<&str> = kept.lines().collect();
    assert_ne!(lines[0], "0");
    assert_eq!(
        lines[1..],
        ["/usr/local/bin/node", "/usr/bin/chromium", "/tmp"]
    );
}

#[test]
fn failing_step_is_reported_with_exit_code_1() {
    let bin = supervisor_bin();
    let out = cli(&[
        "build",
        "--base",
        "renderer-image-test-no-such-base:latest",
        "--tag",
        "renderer-image-test:broken",
        "--supervisor-bin",
        bin.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The step that failed and the engine's own words on why.
    assert!(stderr.contains("failed at Step 2/"), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.contains("FROM") && l.len() > 60),
        "{stderr}"
    );
}

#[test]
fn refuses_a_supervisor_built_without_cargo_auditable() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("render-supervisor");
    std::fs::write(&plain, b"\x7fELF not really").unwrap();
    let out = cli(&[
        "build",
        "--tag",
        "renderer-image-test:plain",
        "--supervisor-bin",
        plain.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cargo auditable"), "{stderr}");
}

#[test]
fn missing_image_is_a_clear_error() {
    let dir = socket_dir();
    let out = cli(&[
        "run",
        "--image",
        "renderer-image-test-missing:latest",
        "--name",
        "renderer-image-test-missing",
        "--socket-dir",
        dir.path().to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not in the docker engine"), "{stderr}");
}

#[test]
fn unreachable_engine_is_exit_code_2() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_renderer-image"))
        .args(["stop", "--name", "anything"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach the docker engine"),
        "{stderr}"
    );
}

/// BuildKit builds the Dockerfile as the classic builder does only while it uses no syntax
/// the classic builder lacks.
#[test]
fn dockerfile_uses_no_buildkit_only_syntax() {
    let text = std::fs::read_to_string(workspace().join("renderer-image/Dockerfile")).unwrap();
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("# syntax=")),
        "a frontend directive"
    );
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        for only_buildkit in [
            "--mount=",
            "--link",
            "--chmod",
            "--parents",
            "--network=",
            "<<",
        ] {
            assert!(
                !line.contains(only_buildkit),
                "BuildKit-only {only_buildkit}: {line}"
            );
        }
    }
}

/// Whether a container of the offline base can reach Debian's mirror.
fn mirror_reachable() -> bool {
    let probe = std::process::Command::new("timeout")
        .args(["120", "docker", "run", "--rm", &ensure_base_image()])
        .args([
            "sh",
            "-c",
            "apt-get update -o Acquire::Retries=0 >/dev/null 2>&1",
        ])
        .status();
    probe.is_ok_and(|s| s.success())
}

/// The path real users take: no `--base`, so `FROM node:20-bookworm-slim`, and the package
/// step installs Chromium and the fonts from Debian's mirror. The official image cannot be
/// pulled here, so a stand-in made by `base --node-only` is tagged under its name.
#[test]
fn default_path_builds_on_node_slim_and_installs_chromium() {
    if !mirror_reachable() {
        eprintln!("skipped: build containers cannot reach Debian's mirror here");
        return;
    }
    let _serial = one_at_a_time();
    let stand_in = "renderer-base:bookworm-node";
    let out = cli(&["base", "--tag", stand_in, "--node-only"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let has_chromium = |image: &str| {
        std::process::Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network",
                "none",
                "--entrypoint",
                "sh",
                image,
            ])
            .args(["-c", "command -v chromium"])
            .status()
            .unwrap()
            .success()
    };
    assert!(
        !has_chromium(stand_in),
        "the stand-in already holds chromium"
    );
    docker(&["tag", stand_in, "node:20-bookworm-slim"]);

    let bin = supervisor_bin();
    let tag = "renderer-image-test:default-base";
    let out = cli(&[
        "build",
        "--tag",
        tag,
        "--supervisor-bin",
        bin.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let base = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.Labels}}",
        tag,
    ]);
    assert!(
        String::from_utf8_lossy(&base.stdout)
            .contains(r#""org.opencontainers.image.base.name":"node:20-bookworm-slim""#)
    );
    assert!(has_chromium(tag));
    let lists = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sh",
        tag,
        "-c",
        "ls -A /var/lib/apt/lists",
    ]);
    assert_eq!(String::from_utf8_lossy(&lists.stdout).trim(), "");
}
