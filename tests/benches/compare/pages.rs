//! The pages every system renders, served from one web server on loopback, and the jobs
//! made of them.

use render_tests::{Canned, WebServer};
use serde_json::{Value, json};

/// Pages in the long document; each section fills one A4 page and breaks after it.
pub const LONG_PAGES: u32 = 50;

/// The chart is done when it marks itself ready; every system waits for this selector.
pub const CHART_READY: &str = "#chart[data-ready=\"true\"]";
pub const CHART: &str = "#chart";

/// What one job of a workload asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A one-page invoice, no script.
    SmallPdf,
    /// A report whose chart is drawn by script after `load`, from data it fetches.
    ReportPdf,
    /// The same report's chart alone, as a PNG of the element.
    ReportChart,
    /// A 50-page document.
    LongPdf,
}

impl Workload {
    pub const ALL: [Workload; 4] = [
        Workload::SmallPdf,
        Workload::ReportPdf,
        Workload::ReportChart,
        Workload::LongPdf,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::SmallPdf => "small_pdf",
            Workload::ReportPdf => "report_pdf",
            Workload::ReportChart => "report_chart_png",
            Workload::LongPdf => "long_pdf",
        }
    }

    pub fn from_name(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    fn path(self) -> &'static str {
        match self {
            Workload::SmallPdf => "/small.html",
            Workload::ReportPdf | Workload::ReportChart => "/report.html",
            Workload::LongPdf => "/long.html",
        }
    }

    pub fn is_pdf(self) -> bool {
        self != Workload::ReportChart
    }

    /// Pages the PDF must have.
    pub fn expected_pages(self) -> u32 {
        if self == Workload::LongPdf {
            LONG_PAGES
        } else {
            1
        }
    }

    fn wait_selector(self) -> Option<&'static str> {
        matches!(self, Workload::ReportPdf | Workload::ReportChart).then_some(CHART_READY)
    }

    /// The job as the floor and the Playwright program take it.
    pub fn spec(self, server: &WebServer) -> Value {
        json!({
            "url": server.url(self.path()),
            "output": if self.is_pdf() { "pdf" } else { "screenshot" },
            "wait_selector": self.wait_selector(),
            "selector": (!self.is_pdf()).then_some(CHART),
        })
    }

    /// The job as render-supervisor takes it: A4 with 10 mm margins (its default viewport,
    /// 1280 × 800, is the one the others are given).
    pub fn supervisor_job(self, server: &WebServer) -> Value {
        let mut job = json!({"url": server.url(self.path()), "timeout_ms": 120_000});
        if let Some(selector) = self.wait_selector() {
            job["wait"] = json!({"selector": selector});
        }
        if self.is_pdf() {
            let side = "10mm";
            job["pdf"] = json!({
                "paper": "A4",
                "margin": {"top": side, "right": side, "bottom": side, "left": side},
            });
        } else {
            job["screenshot"] = json!({"selector": CHART});
        }
        job
    }
}

/// Starts the web server with every page the workloads need.
pub async fn serve() -> WebServer {
    let server = WebServer::start().await;
    server.route("/small.html", Canned::html(SMALL));
    server.route("/report.html", Canned::html(REPORT));
    server.route(
        "/report-data.json",
        Canned::typed("application/json", report_data().to_string()),
    );
    server.route("/long.html", Canned::html(long_document()));
    server
}

const SMALL: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Invoice 1042</title>
<style>
  body { font-family: "Liberation Sans", sans-serif; color: #222; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border-bottom: 1px solid #ccc; padding: 4px 8px; text-align: left; }
</style></head>
<body>
  <h1>Invoice 1042</h1>
  <p>Billed to Example Trading Ltd, 3 Harbour Road. Due within 30 days.</p>
  <table>
    <tr><th>Item</th><th>Quantity</th><th>Price</th></tr>
    <tr><td>Rendering plan, monthly</td><td>1</td><td>120.00</td></tr>
    <tr><td>Extra pages</td><td>4,000</td><td>40.00</td></tr>
    <tr><th>Total</th><td></td><th>160.00</th></tr>
  </table>
</body></html>
"#;

/// The chart waits for `load`, fetches its data, draws an SVG bar chart and only then sets
/// `data-ready`, as a page with a chart library would.
const REPORT: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Quarterly report</title>
<style>
  body { font-family: "Liberation Sans", sans-serif; color: #222; margin: 24px; }
  #chart { width: 640px; height: 320px; border: 1px solid #ddd; }
  table { border-collapse: collapse; margin-top: 16px; }
  td, th { border-bottom: 1px solid #ccc; padding: 4px 12px; text-align: right; }
</style></head>
<body>
  <h1>Quarterly report</h1>
  <p>Revenue by month across all regions, in thousands.</p>
  <div id="chart"></div>
  <table id="totals"></table>
  <script>
    window.addEventListener('load', async () => {
      const data = await (await fetch('/report-data.json')).json();
      const ns = 'http://www.w3.org/2000/svg';
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('width', '640');
      svg.setAttribute('height', '320');
      const top = Math.max(...data.map(d => d.value));
      const step = 640 / data.length;
      data.forEach((d, i) => {
        const h = Math.round(d.value / top * 280);
        const bar = document.createElementNS(ns, 'rect');
        bar.setAttribute('x', String(i * step + 8));
        bar.setAttribute('y', String(300 - h));
        bar.setAttribute('width', String(step - 16));
        bar.setAttribute('height', String(h));
        bar.setAttribute('fill', i % 2 ? '#4a78c2' : '#2f5597');
        svg.appendChild(bar);
        const label = document.createElementNS(ns, 'text');
        label.setAttribute('x', String(i * step + step / 2));
        label.setAttribute('y', '316');
        label.setAttribute('font-size', '11');
        label.setAttribute('text-anchor', 'middle');
        label.textContent = d.month;
        svg.appendChild(label);
      });
      const chart = document.getElementById('chart');
      chart.appendChild(svg);
      const rows = data.map(d => `<tr><th>${d.month}</th><td>${d.value}</td></tr>`);
      document.getElementById('totals').innerHTML = rows.join('');
      chart.dataset.ready = 'true';
    });
  </script>
</body></html>
"#;

fn report_data() -> Value {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let points: Vec<Value> = months
        .iter()
        .enumerate()
        .map(|(i, month)| json!({"month": month, "value": 140 + (i * 37) % 90}))
        .collect();
    Value::Array(points)
}

/// Fifty sections of text and a table, each small enough for one A4 page and each followed
/// by a page break.
fn long_document() -> String {
    const WORDS: [&str; 16] = [
        "rendering",
        "report",
        "quarter",
        "revenue",
        "region",
        "forecast",
        "margin",
        "growth",
        "customer",
        "contract",
        "invoice",
        "volume",
        "service",
        "budget",
        "ledger",
        "balance",
    ];
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Annual review</title>\
         <style>body{font-family:\"Liberation Serif\",serif;font-size:13px;color:#222}\
         section{break-after:page}section:last-child{break-after:auto}\
         table{border-collapse:collapse;width:100%}\
         td,th{border-bottom:1px solid #ccc;padding:3px 6px;text-align:left}</style>\
         </head><body>",
    );
    for page in 1..=LONG_PAGES as usize {
        html.push_str(&format!("<section><h2>Chapter {page}</h2>"));
        for paragraph in 0..5 {
            let words: Vec<&str> = (0..70)
                .map(|i| WORDS[(page * 7 + paragraph * 5 + i * 3) % WORDS.len()])
                .collect();
            html.push_str(&format!("<p>{}.</p>", words.join(" ")));
        }
        html.push_str("<table><tr><th>Line</th><th>Amount</th><th>Change</th></tr>");
        for line in 1..=8 {
            let amount = (page * 131 + line * 17) % 1000;
            html.push_str(&format!(
                "<tr><td>Item {page}.{line}</td><td>{amount}</td><td>{}%</td></tr>",
                (amount % 21) as i64 - 10
            ));
        }
        html.push_str("</table></section>");
    }
    html.push_str("</body></html>");
    html
}
