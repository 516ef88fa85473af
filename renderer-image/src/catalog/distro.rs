//! The distribution release, from the image's own `os-release` and `debian_version`.

use crate::image::layers::{MergeError, MergedView};
use crate::inventory::Distro;

/// Reads the release files; `None` when the image has no `os-release`.
pub fn release(view: &MergedView) -> Result<Option<Distro>, MergeError> {
    let text = match view.read("etc/os-release")? {
        Some(t) => t,
        None => match view.read("usr/lib/os-release")? {
            Some(t) => t,
            None => return Ok(None),
        },
    };
    let fields = parse_os_release(&String::from_utf8_lossy(text));
    let get = |k: &str| {
        fields
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let point_release = view
        .read("etc/debian_version")?
        .map(|t| String::from_utf8_lossy(t).trim().to_string())
        .filter(|s| !s.is_empty());
    Ok(Some(Distro {
        id: get("ID").unwrap_or_else(|| "linux".into()),
        version_id: get("VERSION_ID"),
        codename: get("VERSION_CODENAME"),
        point_release,
        pretty_name: get("PRETTY_NAME"),
    }))
}

fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), v.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_and_bare_values() {
        let f = parse_os_release("ID=debian\nVERSION_ID=\"12\"\n# c\nVERSION_CODENAME=bookworm\n");
        assert_eq!(f[0], ("ID".into(), "debian".into()));
        assert_eq!(f[1], ("VERSION_ID".into(), "12".into()));
        assert_eq!(f[2], ("VERSION_CODENAME".into(), "bookworm".into()));
    }
}
