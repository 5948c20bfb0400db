//! `POST /csp-report`: browsers' Content-Security-Policy violation reports are accepted without a
//! session or CSRF token, counted and logged without query strings; garbage gets 400, never 500;
//! bodies over 16 KiB are refused.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;

use crate::both_backends;
use crate::harness::Client;
use crate::secrets::LogCapture;

async fn send(c: &Client, content_type: &str, body: impl Into<Vec<u8>>) -> StatusCode {
    let r = c
        .send(
            TestRequest::post()
                .uri("/csp-report")
                .insert_header(("content-type", content_type))
                // Reports come from the browser itself, sometimes marked cross-site.
                .insert_header(("sec-fetch-site", "cross-site"))
                .insert_header(("origin", "null"))
                .set_payload(body.into()),
        )
        .await;
    assert!(!r.status.is_server_error(), "{content_type}: {}", r.status);
    r.status
}

const LEGACY: &str = r#"{"csp-report":{"document-uri":"http://keel.test/reset/0123456789abcdef?next=/s3cret-query",
    "referrer":"http://keel.test/login?token=s3cret-referrer","violated-directive":"script-src-elem",
    "effective-directive":"script-src-elem","original-policy":"default-src 'self'","disposition":"enforce",
    "blocked-uri":"inline","line-number":7,"column-number":1,"source-file":"http://keel.test/login",
    "status-code":200,"script-sample":"alert('s3cret-sample')"}}"#;

const REPORTING_API: &str = r#"[{"type":"csp-violation","age":10,"url":"http://keel.test/status?x=s3cret-url",
    "user_agent":"Mozilla/5.0","body":{"documentURL":"http://keel.test/status?x=s3cret-url",
    "blockedURL":"https://cdn.example/x.js?sig=s3cret-blocked","effectiveDirective":"script-src-elem",
    "originalPolicy":"default-src 'self'","disposition":"enforce","statusCode":200}},
    {"type":"deprecation","age":1,"url":"http://keel.test/","body":{"id":"x","message":"y"}}]"#;

both_backends!(violation_reports_are_counted_and_logged_without_secrets, |app| {
    let c = app.client().await;
    // Every page names the endpoint in its policy.
    let csp = c.get("/login").await.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("report-uri /csp-report"), "{csp}");

    let logs = LogCapture::start();
    let before = app.state.csp_violations().total();
    assert_eq!(send(&c, "application/csp-report", LEGACY).await, StatusCode::NO_CONTENT);
    assert_eq!(send(&c, "application/reports+json", REPORTING_API).await, StatusCode::NO_CONTENT);
    assert_eq!(send(&c, "application/json; charset=utf-8", LEGACY).await, StatusCode::NO_CONTENT);
    assert_eq!(app.state.csp_violations().total(), before + 3, "the deprecation report is not counted");

    let text = logs.text();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("\"target\":\"keel::csp\"")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("\"level\":\"WARN\""), "{}", lines[0]);
    assert!(lines[0].contains("\"document\":\"/reset/0123456789abcdef\""), "{}", lines[0]);
    assert!(lines[0].contains("\"directive\":\"script-src-elem\""), "{}", lines[0]);
    assert!(lines[0].contains("\"blocked\":\"inline\""), "{}", lines[0]);
    assert!(lines[1].contains("\"blocked\":\"https://cdn.example/x.js\""), "{}", lines[1]);
    assert!(lines[1].contains("\"document\":\"/status\""), "{}", lines[1]);
    // Query strings, referrers and script samples are never logged.
    assert!(!text.contains("s3cret"), "{text}");
});

both_backends!(garbage_reports_get_400_and_never_500, |app| {
    let c = app.client().await;
    let long_string = format!("{{\"csp-report\":\"{}\"}}", "x".repeat(10_000));
    let bad: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"42".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"[1,2,3]".to_vec(),
        b"{\"csp-report\":null}".to_vec(),
        b"{\"csp-report\":{}}".to_vec(),
        b"{\"csp-report\":[]}".to_vec(),
        b"[{\"type\":\"csp-violation\"},{\"body\":1}]".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x80],
        long_string.into_bytes(),
    ];
    let before = app.state.csp_violations().total();
    for body in bad {
        let shown = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        for ct in ["application/csp-report", "application/reports+json"] {
            assert_eq!(send(&c, ct, body.clone()).await, StatusCode::BAD_REQUEST, "{ct} {shown:?}");
        }
    }
    // Another kind of body is not read at all.
    assert_eq!(send(&c, "text/plain", LEGACY).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        send(&c, "application/x-www-form-urlencoded", "a=b").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let r = c.send(TestRequest::post().uri("/csp-report").set_payload(LEGACY)).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A Reporting API batch of another report type is well formed: 204, nothing counted.
    let other = r#"[{"type":"intervention","age":0,"url":"http://keel.test/","body":{}}]"#;
    assert_eq!(send(&c, "application/reports+json", other).await, StatusCode::NO_CONTENT);
    assert_eq!(app.state.csp_violations().total(), before, "nothing was counted");
    // GET is not a route.
    assert_eq!(c.get("/csp-report").await.status, StatusCode::NOT_FOUND);
});

both_backends!(oversize_reports_are_refused, |app| {
    let c = app.client().await;
    let before = app.state.csp_violations().total();
    // A valid report padded past 16 KiB.
    let padded =
        LEGACY.replacen("\"referrer\"", &format!("\"padding\":\"{}\",\"referrer\"", "p".repeat(17_000)), 1);
    assert!(padded.len() > keel::web::csp::MAX_REPORT);
    assert_eq!(send(&c, "application/csp-report", padded.clone()).await, StatusCode::PAYLOAD_TOO_LARGE);
    // Also when the length is not declared up front (chunked): the read stops at the limit.
    let r = c
        .send(
            TestRequest::post()
                .uri("/csp-report")
                .insert_header(("content-type", "application/csp-report"))
                .set_payload(padded.into_bytes())
                .insert_header(("content-length", "100")),
        )
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(app.state.csp_violations().total(), before);
    // Just under the limit is fine.
    let fits = LEGACY.replacen(
        "\"referrer\"",
        &format!(
            "\"padding\":\"{}\",\"referrer\"",
            "p".repeat(keel::web::csp::MAX_REPORT - LEGACY.len() - 20)
        ),
        1,
    );
    assert!(fits.len() <= keel::web::csp::MAX_REPORT);
    assert_eq!(send(&c, "application/csp-report", fits).await, StatusCode::NO_CONTENT);
    assert_eq!(app.state.csp_violations().total(), before + 1);
});
