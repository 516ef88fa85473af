//! The egress policy: what a page may reach, enforced on every request.

use render_tests::{Canned, Supervisor, WebServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_private_origin_needs_allow_private() {
    let web = WebServer::start().await;
    web.route("/page", Canned::html("<p>internal front-end</p>"));

    let private = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let ok = private.pdf(&json!({"url": web.url("/page")})).await;
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    let health = private.health().await;
    assert_eq!(
        health["egress"],
        json!({"proxy": true, "proxy_off_reason": null})
    );
    drop(private);

    // --allow admits the origin by name, but its address is loopback, which only
    // --allow-private may reach.
    let global_only = Supervisor::start(&["--allow", &web.origin()]).await;
    let refused = global_only.pdf(&json!({"url": web.url("/page")})).await;
    assert_eq!(
        refused.status,
        403,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    assert_eq!(refused.error_code(), "blocked_url");
    assert_eq!(
        web.hits("/page").len(),
        1,
        "the refused job reached the server"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_sub_requests_are_counted_and_a_blocked_redirect_fails_the_job() {
    let web = WebServer::start().await;
    let canary = WebServer::start().await;
    web.route(
        "/page",
        Canned::html(format!(
            "<p>page</p><img src='{0}/a.png'><script>fetch('{0}/b').catch(() => {{}});\
             fetch('/allowed.txt')</script>",
            canary.origin()
        )),
    );
    web.route("/allowed.txt", Canned::typed("text/plain", "fine"));
    web.route(
        "/away",
        Canned::html("")
            .with_status(302)
            .with_header("location", canary.url("/x")),
    );
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;

    let job = json!({"url": web.url("/page"), "wait": {"until": "networkidle"}});
    let answer = sup.pdf(&job).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-blocked-requests"), Some("2"));
    assert_eq!(
        web.hits("/allowed.txt").len(),
        1,
        "an allowed request did not arrive"
    );

    let redirected = sup.pdf(&json!({"url": web.url("/away")})).await;
    assert_eq!(
        redirected.status,
        403,
        "{}",
        String::from_utf8_lossy(&redirected.body)
    );
    assert_eq!(redirected.error_code(), "blocked_url");

    let outside = sup.pdf(&json!({"url": canary.url("/x")})).await;
    assert_eq!(outside.status, 403);
    assert!(canary.hits("/a.png").is_empty() && canary.hits("/b").is_empty());
    assert!(canary.hits("/x").is_empty(), "the canary was reached");
    assert!(
        sup.metric("render_supervisor_blocked_requests_total", "")
            .await
            >= 3.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_may_narrow_the_allow_list_but_not_widen_it() {
    let web = WebServer::start().await;
    let other = WebServer::start().await;
    web.route(
        "/page",
        Canned::html(format!("<img src='{}/i.png'>", other.origin())),
    );
    let sup = Supervisor::start(&[
        "--allow-private",
        &web.origin(),
        "--allow-private",
        &other.origin(),
    ])
    .await;
    let narrowed = sup
        .pdf(&json!({"url": web.url("/page"), "allow": [web.origin()]}))
        .await;
    assert_eq!(narrowed.status, 200);
    assert_eq!(narrowed.header("x-blocked-requests"), Some("1"));
    assert!(other.hits("/i.png").is_empty());

    let widened = sup
        .pdf(&json!({"html": "x", "allow": ["https://example.com"]}))
        .await;
    assert_eq!(widened.status, 400);
    assert!(widened.error_message().starts_with("allow"));
}

#[tokio::test(flavor = "multi_thread")]
async fn another_uid_gets_nothing_from_the_egress_proxy() {
    let web = WebServer::start().await;
    let sup = Supervisor::start(&["--allow-private", &web.origin()]).await;
    let running = sup.submit_pdf(&json!({"url": web.url("/hang"), "timeout_ms": 15000}));
    web.wait_for_hit("/hang").await;
    // The proxy is the loopback listener of the supervisor's own process.
    let proxy = render_tests::listening_tcp(sup.pid());
    assert_eq!(proxy.len(), 1, "{proxy:?}");
    // This test runs as root, a uid other than Chrome's.
    let answer = render_tests::raw_http(
        proxy[0],
        &format!(
            "GET {} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            web.url("/through")
        ),
    )
    .await;
    assert!(
        answer.is_empty(),
        "the proxy answered a foreign client: {answer:.200}"
    );
    assert!(web.hits("/through").is_empty());
    running.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_rebinding_cannot_move_a_name_to_another_address() {
    let witness = WebServer::start().await;
    let port = witness.addr.port();
    let canary = WebServer::start_on(format!("127.0.0.2:{port}").parse().unwrap()).await;
    let dns = render_tests::RebindingDns::start(
        "rebind.test",
        vec!["127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap()],
    )
    .await;
    let page = "<p>rebind</p><script>setTimeout(() => fetch('/again').then(() => \
                { window.done = true; }, () => { window.done = true; }), 1500)</script>";
    witness.route("/page", Canned::html(page));
    canary.route("/page", Canned::html(page));
    witness.route("/again", Canned::typed("text/plain", "witness"));
    canary.route("/again", Canned::typed("text/plain", "canary"));
    let origin = format!("http://rebind.test:{port}");
    let sup = Supervisor::start(&[
        "--allow-private",
        &origin,
        "--dns-server",
        &dns.addr.to_string(),
    ])
    .await;
    let job = json!({"url": format!("{origin}/page"), "wait": {"expression": "window.done"}});
    let answer = sup.pdf(&job).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(
        !dns.queries.lock().unwrap().is_empty(),
        "the test resolver was not asked"
    );
    assert_eq!(witness.hits("/page").len(), 1);
    assert_eq!(
        witness.hits("/again").len(),
        1,
        "the second request did not reach the first address"
    );
    assert!(
        canary.hits("/page").is_empty() && canary.hits("/again").is_empty(),
        "rebinding worked"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_egress_proxy_pages_connect_directly_and_only_the_job_url_is_checked() {
    let web = WebServer::start().await;
    let other = WebServer::start().await;
    web.route(
        "/page",
        Canned::html(format!("<p>page</p><img src='{}/i.png'>", other.origin())),
    );
    let sup = Supervisor::start(&["--no-egress-proxy", "--allow-private", &web.origin()]).await;
    assert!(
        sup.log_text().contains("the egress proxy is OFF"),
        "no warning at start:\n{}",
        sup.log_text()
    );
    let health = sup.health().await;
    assert_eq!(health["egress"]["proxy"], json!(false));
    assert!(health["egress"]["proxy_off_reason"].is_string(), "{health}");

    // The image of an origin outside the list is fetched, straight from Chrome.
    let job = json!({"url": web.url("/page"), "wait": {"until": "networkidle"}});
    let answer = sup.pdf(&job).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.header("x-blocked-requests"), Some("0"));
    assert_eq!(other.hits("/i.png").len(), 1, "the image was not fetched");

    // No proxy listens while a job runs.
    let running = sup.submit_pdf(&json!({"url": web.url("/hang"), "timeout_ms": 15000}));
    web.wait_for_hit("/hang").await;
    let listening = render_tests::listening_tcp(sup.pid());
    assert!(
        listening.is_empty(),
        "the supervisor listens on {listening:?}"
    );
    running.abort();

    // The job's own url is still checked before Chrome sees it.
    let outside = sup.pdf(&json!({"url": other.url("/x")})).await;
    assert_eq!(outside.status, 403);
    assert_eq!(outside.error_code(), "blocked_url");
    assert!(other.hits("/x").is_empty());
}
