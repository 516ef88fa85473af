//! Waiting for a page to be ready, driven by the page's own events.
//!
//! A chart that draws after `load` is the case this exists for. Conditions are checked
//! inside the page by one promise that re-tests on every DOM mutation and every animation
//! frame (with a timer as a fallback for pages that are not painting), so the job moves on
//! within a frame of the condition becoming true, and never polls from outside.

use std::time::Duration;

use chromiumoxide::Page;
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;

/// Longest single round of waiting inside the page.
const ROUND_MS: u64 = 20_000;

/// Wraps a test (a JS expression yielding a boolean) in a promise that resolves once the
/// test passes. Exceptions thrown by the test count as "not yet".
///
/// The promise also settles with `false` after [`ROUND_MS`]: chromiumoxide abandons any
/// single call after 30 s, so a long wait is made of several rounds.
fn until_true(test: &str) -> String {
    format!(
        r#"new Promise((resolve) => {{
  const test = () => {{ try {{ return !!({test}); }} catch (_) {{ return false; }} }};
  let done = false;
  const settle = (value) => {{
    done = true; observer.disconnect(); clearInterval(timer); resolve(value);
  }};
  const finish = () => settle(true);
  setTimeout(() => {{ if (!done) settle(false); }}, {ROUND_MS});
  const check = () => {{ if (!done && test()) finish(); }};
  const observer = new MutationObserver(check);
  observer.observe(document, {{
    subtree: true, childList: true, attributes: true, characterData: true
  }});
  const frame = () => {{ check(); if (!done) requestAnimationFrame(frame); }};
  const timer = setInterval(check, 50);
  requestAnimationFrame(frame);
  check();
}})"#
    )
}

/// A script that throws when `selector` is not valid CSS, so that a typo fails the job at
/// once instead of waiting out its deadline.
pub fn selector_check(selector: &str) -> String {
    let quoted = serde_json::to_string(selector).expect("strings serialize");
    format!("document.querySelector({quoted}), true")
}

/// The JS test for "an element matches and is visible".
pub fn selector_visible(selector: &str) -> String {
    let quoted = serde_json::to_string(selector).expect("strings serialize");
    format!(
        r#"((el) => {{
  if (!el) return false;
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  return style.visibility !== 'hidden' && style.display !== 'none'
    && rect.width > 0 && rect.height > 0;
}})(document.querySelector({quoted}))"#
    )
}

#[derive(Debug)]
pub enum WaitError {
    /// The condition itself cannot run (a syntax error, a bad selector).
    Broken(String),
    /// CDP failed (Chrome or the page went away).
    Cdp(chromiumoxide::error::CdpError),
}

/// Resolves once `test` is true in the page's main world. A navigation that destroys the
/// execution context while waiting restarts the wait in the new document.
pub async fn until(page: &Page, test: &str) -> Result<(), WaitError> {
    let script = until_true(test);
    loop {
        let params = EvaluateParams::builder()
            .expression(script.clone())
            .await_promise(true)
            .return_by_value(true)
            .build()
            .expect("expression is set");
        let result = page.execute(params).await.map_err(WaitError::Cdp)?;
        let Some(details) = &result.result.exception_details else {
            if result.result.result.value == Some(serde_json::Value::Bool(true)) {
                return Ok(());
            }
            continue;
        };
        let text = details
            .exception
            .as_ref()
            .and_then(|e| e.description.clone())
            .unwrap_or_else(|| details.text.clone());
        if text.contains("context was destroyed") || text.contains("Inspected target navigated") {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        return Err(WaitError::Broken(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_is_quoted_not_spliced() {
        let js = selector_visible(r#"div[data-x="a'b"]"#);
        assert!(
            js.contains(r#"document.querySelector("div[data-x=\"a'b\"]")"#),
            "{js}"
        );
    }
}
