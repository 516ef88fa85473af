//! Package URLs for inventory records.

use packageurl::PackageUrl;

use super::{Distro, PackageKind};
use crate::catalog::PackageRecord;

/// The package URL for a record, e.g. `pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12`.
pub fn purl(record: &PackageRecord, distro: Option<&Distro>) -> String {
    build(record, distro).unwrap_or_else(|_| format!("pkg:generic/{}", record.name))
}

fn build(record: &PackageRecord, distro: Option<&Distro>) -> Result<String, packageurl::Error> {
    let name = record.name.as_str();
    let mut url = match record.kind {
        PackageKind::Deb => {
            let namespace = distro.map(|d| d.id.as_str()).unwrap_or("debian");
            let mut url = PackageUrl::new("deb", name)?;
            url.with_namespace(namespace)?;
            if let Some(deb) = &record.deb {
                if !deb.architecture.is_empty() {
                    url.add_qualifier("arch", deb.architecture.as_str())?;
                }
                if deb.source_name != record.name || deb.source_version != record.version {
                    let upstream = if deb.source_version == record.version {
                        deb.source_name.clone()
                    } else {
                        format!("{}@{}", deb.source_name, deb.source_version)
                    };
                    url.add_qualifier("upstream", upstream)?;
                }
            }
            if let Some(q) = distro.and_then(Distro::purl_qualifier) {
                url.add_qualifier("distro", q)?;
            }
            url
        }
        PackageKind::Npm => match name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, bare)) => {
                let mut url = PackageUrl::new("npm", bare.to_string())?;
                url.with_namespace(format!("@{scope}"))?;
                url
            }
            None => PackageUrl::new("npm", name)?,
        },
        PackageKind::Cargo => PackageUrl::new("cargo", name)?,
        PackageKind::NodeRuntime | PackageKind::Chromium => PackageUrl::new("generic", name)?,
    };
    url.with_version(record.version.as_str())?;
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::DebDetails;

    fn record(kind: PackageKind, name: &str, version: &str) -> PackageRecord {
        PackageRecord {
            kind,
            name: name.into(),
            version: version.into(),
            path: String::new(),
            deb: None,
            cargo: None,
            sha256: None,
        }
    }

    #[test]
    fn builds_debian_npm_cargo_and_generic_urls() {
        let distro = Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
            codename: None,
            point_release: None,
            pretty_name: None,
        };
        let mut deb = record(PackageKind::Deb, "bsdutils", "1:2.38.1-5+deb12u3");
        deb.deb = Some(DebDetails {
            architecture: "amd64".into(),
            source_name: "util-linux".into(),
            source_version: "2.38.1-5+deb12u3".into(),
        });
        assert_eq!(
            purl(&deb, Some(&distro)),
            "pkg:deb/debian/bsdutils@1:2.38.1-5%2Bdeb12u3?arch=amd64&distro=debian-12\
             &upstream=util-linux%402.38.1-5%2Bdeb12u3"
        );
        assert_eq!(
            purl(&record(PackageKind::Npm, "@npmcli/arborist", "7.5.4"), None),
            "pkg:npm/%40npmcli/arborist@7.5.4"
        );
        assert_eq!(
            purl(&record(PackageKind::Cargo, "serde", "1.0.0"), None),
            "pkg:cargo/serde@1.0.0"
        );
        assert_eq!(
            purl(&record(PackageKind::NodeRuntime, "node", "20.20.2"), None),
            "pkg:generic/node@20.20.2"
        );
    }
}
