//! dpkg version ordering agrees with `dpkg --compare-versions` on real version strings: this
//! machine's dpkg status file and the changelogs Debian packages install.

use std::cmp::Ordering;
use std::io::Read;
use std::process::Command;

use renderer_image::vuln::matcher::dpkg_compare;

fn status_versions() -> Vec<String> {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").expect("a dpkg status file");
    let mut out = Vec::new();
    for line in status.lines() {
        if let Some(v) = line.strip_prefix("Version: ") {
            out.push(v.trim().to_string());
        } else if let Some(src) = line.strip_prefix("Source: ")
            && let Some((_, v)) = src.split_once('(')
        {
            out.push(v.trim_end_matches(')').trim().to_string());
        }
    }
    out
}

/// Versions from the headers of one `changelog.Debian.gz`, newest first.
fn changelog_versions(path: &std::path::Path) -> Vec<String> {
    let Ok(file) = std::fs::File::open(path) else {
        return Vec::new();
    };
    let mut text = String::new();
    if flate2::read::GzDecoder::new(file)
        .take(1 << 20)
        .read_to_string(&mut text)
        .is_err()
    {
        return Vec::new();
    }
    text.lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .filter_map(|l| Some(l.split_once('(')?.1.split_once(')')?.0.to_string()))
        .filter(|v| !v.contains(char::is_whitespace))
        .take(40)
        .collect()
}

fn dpkg(a: &str, op: &str, b: &str) -> bool {
    Command::new("dpkg")
        .args(["--compare-versions", a, op, b])
        .status()
        .expect("dpkg")
        .success()
}

fn dpkg_order(a: &str, b: &str) -> Ordering {
    if dpkg(a, "lt", b) {
        Ordering::Less
    } else if dpkg(a, "eq", b) {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

#[test]
fn dpkg_ordering_matches_dpkg_on_real_versions() {
    let mut pairs: Vec<(String, String)> = Vec::new();
    // Neighbouring entries of each changelog: the closest real versions, where epochs,
    // tildes (backports, pre-releases) and binNMUs show up.
    let mut docs: Vec<_> = std::fs::read_dir("/usr/share/doc")
        .expect("/usr/share/doc")
        .flatten()
        .map(|e| e.path().join("changelog.Debian.gz"))
        .filter(|p| p.exists())
        .collect();
    docs.sort();
    for doc in docs.iter().take(150) {
        let versions = changelog_versions(doc);
        for w in versions.windows(2).take(4) {
            pairs.push((w[0].clone(), w[1].clone()));
        }
    }
    let status = status_versions();
    for w in status.windows(2).take(200) {
        pairs.push((w[0].clone(), w[1].clone()));
    }
    // Pair each status version with a variant of itself, so every rule is exercised on real
    // strings: the same version, a binNMU of it, and a tilde pre-release of it.
    for v in status.iter().step_by(7).take(40) {
        pairs.push((v.clone(), v.clone()));
        pairs.push((v.clone(), format!("{v}+b1")));
        pairs.push((format!("{v}~rc1"), v.clone()));
    }
    pairs.retain(|(a, b)| dpkg_compare(a, b).is_ok() || dpkg(a, "eq", a) && dpkg(b, "eq", b));
    assert!(pairs.len() >= 200, "only {} pairs", pairs.len());
    let has = |f: &dyn Fn(&str) -> bool| pairs.iter().any(|(a, b)| f(a) || f(b));
    assert!(has(&|v| v.contains(':')), "no epoch among the pairs");
    assert!(has(&|v| v.contains('~')), "no tilde among the pairs");
    assert!(has(&|v| v.contains("+b")), "no binNMU among the pairs");
    let mut disagreements = Vec::new();
    for (a, b) in &pairs {
        let ours = dpkg_compare(a, b).unwrap_or_else(|e| panic!("{a} or {b}: {e}"));
        let theirs = dpkg_order(a, b);
        if ours != theirs {
            disagreements.push(format!("{a} vs {b}: ours {ours:?}, dpkg {theirs:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    eprintln!("{} pairs agree with dpkg", pairs.len());
}
