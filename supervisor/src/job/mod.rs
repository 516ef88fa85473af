//! A render job: the JSON a caller sends ([`JobRequest`]) and the checked form the renderer
//! runs ([`Job`]).
//!
//! Parsing rejects unknown fields and wrong types with the path of the offending field;
//! [`JobRequest::validate`] then checks what types cannot say (exactly one of `url` and
//! `html`, limits, units) and fills in defaults. Nothing reaches Chrome unchecked.

pub mod length;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use thiserror::Error;
use url::Url;

use crate::config::JobLimits;
use crate::policy::OriginList;

/// Why a job was refused before it ran. `field` is the JSON path of the culprit.
#[derive(Debug, Error, PartialEq)]
#[error("{field}: {message}")]
pub struct InvalidJob {
    pub field: String,
    pub message: String,
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> InvalidJob {
    InvalidJob {
        field: field.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Pdf,
    Screenshot,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Pdf => "pdf",
            Endpoint::Screenshot => "screenshot",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    url: Option<String>,
    html: Option<String>,
    timeout_ms: Option<u64>,
    viewport: Option<ViewportRequest>,
    wait: Option<WaitRequest>,
    media: Option<Media>,
    headers: Option<BTreeMap<String, String>>,
    cookies: Option<Vec<CookieRequest>>,
    user_agent: Option<String>,
    locale: Option<String>,
    timezone: Option<String>,
    fail_on: Option<FailOnRequest>,
    allow: Option<Vec<String>>,
    pdf: Option<PdfRequest>,
    screenshot: Option<ScreenshotRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ViewportRequest {
    width: Option<u32>,
    height: Option<u32>,
    device_scale_factor: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Until {
    Load,
    Networkidle,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitRequest {
    until: Option<Until>,
    selector: Option<String>,
    expression: Option<String>,
    delay_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    Print,
    Screen,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CookieRequest {
    name: String,
    value: String,
    domain: Option<String>,
    url: Option<String>,
    path: Option<String>,
    secure: Option<bool>,
    http_only: Option<bool>,
}

/// `http_status` distinguishes absent (the default threshold) from `null` (off).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailOnRequest {
    #[serde(default, deserialize_with = "present")]
    http_status: Option<Option<u16>>,
    console_errors: Option<bool>,
}

fn present<'de, D, T>(de: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(de).map(Some)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Paper {
    A3,
    A4,
    A5,
    Letter,
    Legal,
    Tabloid,
}

impl Paper {
    /// Width and height in inches, portrait.
    fn inches(self) -> (f64, f64) {
        match self {
            Paper::A3 => (297.0 / 25.4, 420.0 / 25.4),
            Paper::A4 => (210.0 / 25.4, 297.0 / 25.4),
            Paper::A5 => (148.0 / 25.4, 210.0 / 25.4),
            Paper::Letter => (8.5, 11.0),
            Paper::Legal => (8.5, 14.0),
            Paper::Tabloid => (11.0, 17.0),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MarginRequest {
    top: Option<String>,
    right: Option<String>,
    bottom: Option<String>,
    left: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PdfRequest {
    paper: Option<Paper>,
    width: Option<String>,
    height: Option<String>,
    landscape: Option<bool>,
    margin: Option<MarginRequest>,
    scale: Option<f64>,
    print_background: Option<bool>,
    page_ranges: Option<String>,
    header_html: Option<String>,
    footer_html: Option<String>,
    prefer_css_page_size: Option<bool>,
    tagged: Option<bool>,
    outline: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clip {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScreenshotRequest {
    format: Option<ImageFormat>,
    quality: Option<u8>,
    full_page: Option<bool>,
    selector: Option<String>,
    clip: Option<Clip>,
    omit_background: Option<bool>,
    max_width: Option<u32>,
    max_height: Option<u32>,
}

/// What the page is made from.
#[derive(Debug, Clone)]
pub enum Source {
    Url(Url),
    Html(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub width: u32,
    pub height: u32,
    pub device_scale_factor: f64,
}

#[derive(Debug, Clone)]
pub struct Wait {
    pub until: Until,
    pub selector: Option<String>,
    pub expression: Option<String>,
    pub delay: Duration,
}

#[derive(Debug, Clone)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub domain: Option<String>,
    pub url: Option<String>,
    pub path: Option<String>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
}

/// Page sizes and margins in inches, as `Page.printToPDF` takes them.
#[derive(Debug, Clone)]
pub struct PdfOptions {
    pub width: f64,
    pub height: f64,
    pub landscape: bool,
    pub margin: [f64; 4],
    pub scale: f64,
    pub print_background: bool,
    pub page_ranges: Option<String>,
    pub header_html: Option<String>,
    pub footer_html: Option<String>,
    pub prefer_css_page_size: bool,
    pub tagged: bool,
    pub outline: bool,
}

#[derive(Debug, Clone)]
pub enum Target {
    Viewport,
    FullPage,
    Selector(String),
    Clip(Clip),
}

#[derive(Debug, Clone)]
pub struct ScreenshotOptions {
    pub format: ImageFormat,
    pub quality: Option<u8>,
    pub target: Target,
    pub omit_background: bool,
    pub max_width: Option<u32>,
    pub max_height: Option<u32>,
}

#[derive(Debug, Clone)]
pub enum Output {
    Pdf(PdfOptions),
    Screenshot(ScreenshotOptions),
}

/// A job that passed every check, ready for Chrome.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: Source,
    pub timeout: Duration,
    pub viewport: Viewport,
    pub wait: Wait,
    pub media: Option<Media>,
    pub headers: Vec<(String, String)>,
    pub cookies: Vec<Cookie>,
    pub user_agent: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub fail_on_status: Option<u16>,
    pub fail_on_console_errors: bool,
    pub origins: OriginList,
    pub output: Output,
    pub max_page_height: u32,
    pub max_output_bytes: u64,
}

const DEFAULT_VIEWPORT: Viewport = Viewport {
    width: 1280,
    height: 800,
    device_scale_factor: 1.0,
};

impl JobRequest {
    /// Parses a request body, naming the field at fault in the error.
    pub fn from_json(body: &[u8]) -> Result<JobRequest, InvalidJob> {
        // serde would also accept a struct written as an array of its fields.
        if body
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b != b'{')
        {
            return Err(invalid("body", "must be a JSON object"));
        }
        let de = &mut serde_json::Deserializer::from_slice(body);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let field = if path == "." || path == "?" {
                "body".to_owned()
            } else {
                path
            };
            invalid(field, inner.to_string())
        })
    }

    pub fn validate(
        self,
        endpoint: Endpoint,
        limits: &JobLimits,
        configured: &OriginList,
    ) -> Result<Job, InvalidJob> {
        let source = match (self.url, self.html) {
            (Some(_), Some(_)) => return Err(invalid("url", "give either url or html, not both")),
            (None, None) => return Err(invalid("url", "give either url or html")),
            (Some(text), None) => Source::Url(parse_job_url(&text)?),
            (None, Some(html)) => Source::Html(html),
        };

        let timeout = match self.timeout_ms {
            None => limits.default_timeout,
            Some(0) => return Err(invalid("timeout_ms", "must be greater than 0")),
            Some(ms) if Duration::from_millis(ms) > limits.max_timeout => {
                return Err(invalid(
                    "timeout_ms",
                    format!(
                        "{ms} is above the maximum of {}",
                        limits.max_timeout.as_millis()
                    ),
                ));
            }
            Some(ms) => Duration::from_millis(ms),
        };

        let viewport = validate_viewport(self.viewport, limits)?;
        let wait = validate_wait(self.wait)?;
        let headers = validate_headers(self.headers.unwrap_or_default())?;
        let cookies = validate_cookies(self.cookies.unwrap_or_default(), &source)?;

        if let Some(tz) = &self.timezone {
            let ok = !tz.is_empty()
                && tz.len() <= 64
                && tz
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
            if !ok {
                return Err(invalid(
                    "timezone",
                    format!("{tz:?} is not a time zone name"),
                ));
            }
        }
        if let Some(locale) = &self.locale {
            let ok = !locale.is_empty()
                && locale.len() <= 35
                && locale
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(invalid("locale", format!("{locale:?} is not a locale tag")));
            }
        }
        if let Some(ua) = &self.user_agent
            && ua.chars().any(char::is_control)
        {
            return Err(invalid("user_agent", "must not contain control characters"));
        }

        let (fail_on_status, fail_on_console_errors) = match self.fail_on {
            None => (Some(400), false),
            Some(f) => (
                f.http_status.unwrap_or(Some(400)),
                f.console_errors.unwrap_or(false),
            ),
        };

        let origins = match &self.allow {
            None => configured.clone(),
            Some(list) => configured
                .narrow(list)
                .map_err(|e| invalid("allow", e.to_string()))?,
        };

        let output = match endpoint {
            Endpoint::Pdf => {
                if self.screenshot.is_some() {
                    return Err(invalid("screenshot", "not allowed on /v1/pdf"));
                }
                Output::Pdf(validate_pdf(self.pdf)?)
            }
            Endpoint::Screenshot => {
                if self.pdf.is_some() {
                    return Err(invalid("pdf", "not allowed on /v1/screenshot"));
                }
                Output::Screenshot(validate_screenshot(self.screenshot)?)
            }
        };

        Ok(Job {
            source,
            timeout,
            viewport,
            wait,
            media: self.media,
            headers,
            cookies,
            user_agent: self.user_agent,
            locale: self.locale,
            timezone: self.timezone,
            fail_on_status,
            fail_on_console_errors,
            origins,
            output,
            max_page_height: limits.max_page_height,
            max_output_bytes: limits.max_output_bytes,
        })
    }
}

fn parse_job_url(text: &str) -> Result<Url, InvalidJob> {
    let url = Url::parse(text).map_err(|e| invalid("url", format!("{text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "url",
            format!("scheme {:?} is not http or https", url.scheme()),
        ));
    }
    Ok(url)
}

fn validate_viewport(
    request: Option<ViewportRequest>,
    limits: &JobLimits,
) -> Result<Viewport, InvalidJob> {
    let Some(v) = request else {
        return Ok(DEFAULT_VIEWPORT);
    };
    let width = v.width.unwrap_or(DEFAULT_VIEWPORT.width);
    let height = v.height.unwrap_or(DEFAULT_VIEWPORT.height);
    let scale = v.device_scale_factor.unwrap_or(1.0);
    for (field, value) in [("viewport.width", width), ("viewport.height", height)] {
        if value == 0 || value > limits.max_viewport {
            return Err(invalid(
                field,
                format!(
                    "{value} is outside 1..={} (max_viewport)",
                    limits.max_viewport
                ),
            ));
        }
    }
    if !(scale.is_finite() && scale > 0.0 && scale <= limits.max_scale_factor) {
        return Err(invalid(
            "viewport.device_scale_factor",
            format!(
                "{scale} is outside (0, {}] (max_scale_factor)",
                limits.max_scale_factor
            ),
        ));
    }
    Ok(Viewport {
        width,
        height,
        device_scale_factor: scale,
    })
}

fn validate_wait(request: Option<WaitRequest>) -> Result<Wait, InvalidJob> {
    let Some(w) = request else {
        return Ok(Wait {
            until: Until::Load,
            selector: None,
            expression: None,
            delay: Duration::ZERO,
        });
    };
    if w.selector.as_deref().is_some_and(str::is_empty) {
        return Err(invalid("wait.selector", "must not be empty"));
    }
    if w.expression.as_deref().is_some_and(|e| e.trim().is_empty()) {
        return Err(invalid("wait.expression", "must not be empty"));
    }
    Ok(Wait {
        until: w.until.unwrap_or(Until::Load),
        selector: w.selector,
        expression: w.expression,
        delay: Duration::from_millis(w.delay_ms.unwrap_or(0)),
    })
}

fn validate_headers(
    headers: BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, InvalidJob> {
    headers
        .into_iter()
        .map(|(name, value)| {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(invalid(
                    format!("headers.{name}"),
                    "is not a valid header name",
                ));
            }
            if http::HeaderValue::from_str(&value).is_err() {
                return Err(invalid(
                    format!("headers.{name}"),
                    "is not a valid header value",
                ));
            }
            Ok((name, value))
        })
        .collect()
}

fn validate_cookies(
    cookies: Vec<CookieRequest>,
    source: &Source,
) -> Result<Vec<Cookie>, InvalidJob> {
    cookies
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let field = format!("cookies[{i}]");
            if c.name.is_empty() {
                return Err(invalid(format!("{field}.name"), "must not be empty"));
            }
            let url = match (&c.domain, c.url, source) {
                (Some(_), Some(_), _) => {
                    return Err(invalid(field, "give either domain or url, not both"));
                }
                (None, Some(u), _) => Some(parse_job_url(&u).map_err(|e| InvalidJob {
                    field: format!("{field}.url"),
                    message: e.message,
                })?),
                (None, None, Source::Url(page)) => Some(page.clone()),
                (None, None, Source::Html(_)) => {
                    return Err(invalid(field, "needs a domain or url for an html job"));
                }
                (Some(_), None, _) => None,
            };
            Ok(Cookie {
                name: c.name,
                value: c.value,
                domain: c.domain,
                url: url.map(String::from),
                path: c.path,
                secure: c.secure,
                http_only: c.http_only,
            })
        })
        .collect()
}

fn validate_pdf(request: Option<PdfRequest>) -> Result<PdfOptions, InvalidJob> {
    let p = request.unwrap_or(PdfRequest {
        paper: None,
        width: None,
        height: None,
        landscape: None,
        margin: None,
        scale: None,
        print_background: None,
        page_ranges: None,
        header_html: None,
        footer_html: None,
        prefer_css_page_size: None,
        tagged: None,
        outline: None,
    });
    let length = |field: &str, text: &Option<String>| -> Result<Option<f64>, InvalidJob> {
        text.as_deref()
            .map(|t| length::inches(t).map_err(|e| invalid(field, e.to_string())))
            .transpose()
    };
    let (width, height) = match (
        p.paper,
        length("pdf.width", &p.width)?,
        length("pdf.height", &p.height)?,
    ) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(invalid(
                "pdf.paper",
                "give either paper or width/height, not both",
            ));
        }
        (Some(paper), None, None) => paper.inches(),
        (None, w, h) => {
            let (dw, dh) = Paper::Letter.inches();
            (w.unwrap_or(dw), h.unwrap_or(dh))
        }
    };
    for (field, value) in [("pdf.width", width), ("pdf.height", height)] {
        if value < 0.1 {
            return Err(invalid(field, "page is too small"));
        }
    }
    let default_margin = 0.4;
    let margin = match &p.margin {
        None => [default_margin; 4],
        Some(m) => [
            length("pdf.margin.top", &m.top)?.unwrap_or(default_margin),
            length("pdf.margin.right", &m.right)?.unwrap_or(default_margin),
            length("pdf.margin.bottom", &m.bottom)?.unwrap_or(default_margin),
            length("pdf.margin.left", &m.left)?.unwrap_or(default_margin),
        ],
    };
    let scale = p.scale.unwrap_or(1.0);
    if !(0.1..=2.0).contains(&scale) {
        return Err(invalid("pdf.scale", format!("{scale} is outside 0.1..=2")));
    }
    if let Some(ranges) = &p.page_ranges {
        let ok = !ranges.trim().is_empty()
            && ranges
                .chars()
                .all(|c| c.is_ascii_digit() || c == '-' || c == ',' || c == ' ');
        if !ok {
            return Err(invalid(
                "pdf.page_ranges",
                format!("{ranges:?} is not like \"1-3, 5\""),
            ));
        }
    }
    Ok(PdfOptions {
        width,
        height,
        landscape: p.landscape.unwrap_or(false),
        margin,
        scale,
        print_background: p.print_background.unwrap_or(true),
        page_ranges: p.page_ranges,
        header_html: p.header_html,
        footer_html: p.footer_html,
        prefer_css_page_size: p.prefer_css_page_size.unwrap_or(false),
        tagged: p.tagged.unwrap_or(false),
        outline: p.outline.unwrap_or(false),
    })
}

fn validate_screenshot(
    request: Option<ScreenshotRequest>,
) -> Result<ScreenshotOptions, InvalidJob> {
    let Some(s) = request else {
        return Ok(ScreenshotOptions {
            format: ImageFormat::Png,
            quality: None,
            target: Target::Viewport,
            omit_background: false,
            max_width: None,
            max_height: None,
        });
    };
    let format = s.format.unwrap_or(ImageFormat::Png);
    if let Some(q) = s.quality {
        if format == ImageFormat::Png {
            return Err(invalid(
                "screenshot.quality",
                "applies to jpeg and webp only",
            ));
        }
        if q > 100 {
            return Err(invalid("screenshot.quality", format!("{q} is above 100")));
        }
    }
    if s.omit_background == Some(true) && format == ImageFormat::Jpeg {
        return Err(invalid(
            "screenshot.omit_background",
            "jpeg has no transparency",
        ));
    }
    let chosen = [
        s.full_page == Some(true),
        s.selector.is_some(),
        s.clip.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() > 1 {
        return Err(invalid(
            "screenshot",
            "give at most one of full_page, selector and clip",
        ));
    }
    let target = match (s.full_page, s.selector, s.clip) {
        (Some(true), _, _) => Target::FullPage,
        (_, Some(sel), _) if sel.is_empty() => {
            return Err(invalid("screenshot.selector", "must not be empty"));
        }
        (_, Some(sel), _) => Target::Selector(sel),
        (_, _, Some(clip)) => {
            let finite = [clip.x, clip.y, clip.width, clip.height]
                .iter()
                .all(|v| v.is_finite());
            if !finite || clip.width <= 0.0 || clip.height <= 0.0 || clip.x < 0.0 || clip.y < 0.0 {
                return Err(invalid(
                    "screenshot.clip",
                    "needs x, y >= 0 and width, height > 0",
                ));
            }
            Target::Clip(clip)
        }
        _ => Target::Viewport,
    };
    for (field, value) in [
        ("screenshot.max_width", s.max_width),
        ("screenshot.max_height", s.max_height),
    ] {
        if value == Some(0) {
            return Err(invalid(field, "must be at least 1"));
        }
    }
    Ok(ScreenshotOptions {
        format,
        quality: s.quality,
        target,
        omit_background: s.omit_background.unwrap_or(false),
        max_width: s.max_width,
        max_height: s.max_height,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> JobLimits {
        JobLimits {
            default_timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(60),
            max_viewport: 4096,
            max_scale_factor: 4.0,
            max_page_height: 16_384,
            max_output_bytes: 1 << 30,
        }
    }

    fn check(endpoint: Endpoint, json: &str) -> Result<Job, InvalidJob> {
        JobRequest::from_json(json.as_bytes())?.validate(
            endpoint,
            &limits(),
            &OriginList::default(),
        )
    }

    fn field_of(json: &str) -> String {
        check(Endpoint::Pdf, json).unwrap_err().field
    }

    #[test]
    fn names_the_field_at_fault() {
        assert_eq!(field_of("{"), "body");
        assert_eq!(field_of(r#"{"html":"x","colour":1}"#), "colour");
        assert_eq!(
            field_of(r#"{"html":"x","viewport":{"width":"wide"}}"#),
            "viewport.width"
        );
        assert_eq!(field_of(r#"{"html":"x","timeout_ms":-5}"#), "timeout_ms");
        assert_eq!(field_of(r#"{"html":"x","timeout_ms":60001}"#), "timeout_ms");
        assert_eq!(
            field_of(r#"{"html":"x","viewport":{"width":5000}}"#),
            "viewport.width"
        );
        assert_eq!(field_of(r#"{"html":"x","url":"http://a"}"#), "url");
        assert_eq!(field_of(r#"{}"#), "url");
        assert_eq!(field_of(r#"{"url":"file:///etc/passwd"}"#), "url");
        assert_eq!(
            field_of(r#"{"html":"x","pdf":{"margin":{"top":"1"}}}"#),
            "pdf.margin.top"
        );
        assert_eq!(
            field_of(r#"{"html":"x","pdf":{"paper":"B5"}}"#),
            "pdf.paper"
        );
        assert_eq!(field_of(r#"{"html":"x","screenshot":{}}"#), "screenshot");
    }

    #[test]
    fn unknown_field_message_names_it() {
        let err = check(Endpoint::Pdf, r#"{"html":"x","colour":1}"#).unwrap_err();
        assert!(err.message.contains("colour"), "{}", err.message);
    }

    #[test]
    fn http_status_null_turns_the_check_off() {
        let on = check(Endpoint::Pdf, r#"{"html":"x"}"#).unwrap();
        let off = check(
            Endpoint::Pdf,
            r#"{"html":"x","fail_on":{"http_status":null}}"#,
        )
        .unwrap();
        let custom = check(
            Endpoint::Pdf,
            r#"{"html":"x","fail_on":{"http_status":500}}"#,
        )
        .unwrap();
        assert_eq!(on.fail_on_status, Some(400));
        assert_eq!(off.fail_on_status, None);
        assert_eq!(custom.fail_on_status, Some(500));
    }

    #[test]
    fn paper_and_landscape_become_inches() {
        let job = check(
            Endpoint::Pdf,
            r#"{"html":"x","pdf":{"paper":"A4","landscape":true}}"#,
        )
        .unwrap();
        let Output::Pdf(pdf) = job.output else {
            panic!()
        };
        assert!((pdf.width - 8.27).abs() < 0.01 && pdf.landscape);
    }

    #[test]
    fn quality_is_refused_for_png() {
        let err = check(
            Endpoint::Screenshot,
            r#"{"html":"x","screenshot":{"quality":50}}"#,
        );
        assert_eq!(err.unwrap_err().field, "screenshot.quality");
    }
}
