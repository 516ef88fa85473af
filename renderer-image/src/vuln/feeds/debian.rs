//! The Debian Security Tracker's JSON feed.
//!
//! The feed is keyed by source package, then by vulnerability id, then by release codename.
//! Only one release matters for an image, so parsing keeps that release and drops the others
//! while it reads: a full feed is tens of megabytes, the part for one release much less.
//!
//! What the fields mean (from the tracker's generator):
//! - `status` is `resolved`, `open` or `undetermined`;
//! - `fixed_version` appears on resolved entries; `"0"` means the release was never affected;
//! - `repositories` lists what each suite (`bookworm`, `bookworm-security`) carries now, which
//!   can lag behind `fixed_version`;
//! - `urgency` may end in `*` or `**`, or be `not yet assigned` or `end-of-life`;
//! - `nodsa` (free text) and `nodsa_reason` (`""`, `ignored`, `postponed`) record a decision
//!   not to issue an advisory;
//! - empty fields are dropped, and an empty `releases` may be written as `[]`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One vulnerability of one source package in the chosen release.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DebianRecord {
    #[serde(skip)]
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub repositories: BTreeMap<String, String>,
    #[serde(default)]
    pub fixed_version: Option<String>,
    #[serde(default)]
    pub urgency: Option<String>,
    #[serde(default)]
    pub nodsa: Option<String>,
    #[serde(default)]
    pub nodsa_reason: Option<String>,
}

/// The tracker feed reduced to one release: source package to its records.
#[derive(Debug, Default)]
pub struct DebianFeed {
    pub release: String,
    pub packages: HashMap<String, Vec<DebianRecord>>,
}

impl DebianFeed {
    /// Parses the feed, keeping only `release`.
    pub fn parse(data: &[u8], release: &str) -> Result<DebianFeed, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_slice(data);
        let packages = FeedSeed { release }.deserialize(&mut de)?;
        de.end()?;
        Ok(DebianFeed {
            release: release.to_string(),
            packages,
        })
    }

    /// Checks that data has the feed's shape, keeping nothing.
    pub fn validate(data: &[u8]) -> Result<usize, serde_json::Error> {
        let feed = DebianFeed::parse(data, "\0none")?;
        Ok(feed.packages.len())
    }

    pub fn records(&self, source: &str) -> &[DebianRecord] {
        self.packages.get(source).map(Vec::as_slice).unwrap_or(&[])
    }
}

struct FeedSeed<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for FeedSeed<'_> {
    type Value = HashMap<String, Vec<DebianRecord>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FeedSeed<'_> {
    type Value = HashMap<String, Vec<DebianRecord>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object keyed by source package")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = HashMap::new();
        while let Some(source) = map.next_key::<String>()? {
            let records = map.next_value_seed(PackageSeed {
                release: self.release,
            })?;
            if !records.is_empty() {
                out.insert(source, records);
            }
        }
        Ok(out)
    }
}

struct PackageSeed<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for PackageSeed<'_> {
    type Value = Vec<DebianRecord>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PackageSeed<'_> {
    type Value = Vec<DebianRecord>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object keyed by vulnerability id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(id) = map.next_key::<String>()? {
            let entry = map.next_value_seed(EntrySeed {
                release: self.release,
            })?;
            if let Some(mut record) = entry {
                record.id = id;
                out.push(record);
            }
        }
        Ok(out)
    }
}

struct EntrySeed<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Option<DebianRecord>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Option<DebianRecord>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vulnerability entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == "releases" {
                found = map.next_value_seed(ReleasesSeed {
                    release: self.release,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct ReleasesSeed<'a> {
    release: &'a str,
}

impl<'de> DeserializeSeed<'de> for ReleasesSeed<'_> {
    type Value = Option<DebianRecord>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ReleasesSeed<'_> {
    type Value = Option<DebianRecord>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object keyed by release, or an empty list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(serde::de::Error::custom("releases is a non-empty list"));
        }
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(codename) = map.next_key::<String>()? {
            if codename == self.release {
                found = Some(map.next_value::<DebianRecord>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "chromium": {"CVE-1": {"description": "x", "releases": {
          "bookworm": {"status": "open", "repositories": {"bookworm": "1.0-1"},
                       "urgency": "unimportant"},
          "sid": {"status": "resolved", "fixed_version": "2.0-1", "urgency": "low"}}}},
      "chromium-browser": {"CVE-2": {"releases": []}}
    }"#;

    #[test]
    fn keeps_only_the_chosen_release() {
        let feed = DebianFeed::parse(SAMPLE.as_bytes(), "bookworm").unwrap();
        let records = feed.records("chromium");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].id, "CVE-1");
        assert_eq!(records[0].status, "open");
        assert!(feed.records("chromium-browser").is_empty());
        let sid = DebianFeed::parse(SAMPLE.as_bytes(), "sid").unwrap();
        assert_eq!(
            sid.records("chromium")[0].fixed_version.as_deref(),
            Some("2.0-1")
        );
    }

    #[test]
    fn refuses_data_of_another_shape() {
        assert!(DebianFeed::validate(b"[1, 2]").is_err());
        assert!(DebianFeed::validate(b"{\"a\": {\"CVE-1\": {\"releases\": 3}}}").is_err());
        assert!(DebianFeed::validate(b"{\"a\": {").is_err());
        assert_eq!(DebianFeed::validate(SAMPLE.as_bytes()).unwrap(), 0);
    }
}
