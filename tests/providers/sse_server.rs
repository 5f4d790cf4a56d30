//! The loopback `SseServer` itself: it records what it receives, keeps its
//! schedule, answers each request through its responder, and says so when a
//! scripted reply is malformed.

use std::time::{Duration, Instant};

use serde_json::json;
use tracedeck::testing::{Reply, SseServer};

#[tokio::test]
async fn it_records_method_path_headers_and_body() {
    let server = SseServer::serve(Reply::json(201, &json!({"ok": true})))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v1/things?x=1", server.url()))
        .header("x-trace", "abc")
        .body(json!({"hello": "world"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.text().await.unwrap(), r#"{"ok":true}"#);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/things?x=1");
    assert_eq!(req.header("X-Trace"), Some("abc"));
    assert_eq!(req.body_json(), Some(json!({"hello": "world"})));
}

#[tokio::test]
async fn headers_and_chunks_keep_their_schedule() {
    let reply = Reply::sse()
        .headers_after(Duration::from_millis(150))
        .chunk("data: a\n\n")
        .chunk_after(Duration::from_millis(100), "data: b\n\n");
    let server = SseServer::serve(reply).await.unwrap();
    let start = Instant::now();
    let mut response = reqwest::Client::new()
        .get(server.url())
        .send()
        .await
        .unwrap();
    let headers_at = start.elapsed();
    let first = response.chunk().await.unwrap().unwrap();
    let second = response.chunk().await.unwrap().unwrap();
    let second_at = start.elapsed();
    assert_eq!(response.chunk().await.unwrap(), None);
    assert_eq!(
        (&first[..], &second[..]),
        (&b"data: a\n\n"[..], &b"data: b\n\n"[..])
    );
    // Real sockets: lower bounds only.
    assert!(headers_at >= Duration::from_millis(150), "{headers_at:?}");
    assert!(second_at >= Duration::from_millis(250), "{second_at:?}");
}

#[tokio::test]
async fn a_responder_answers_each_request_from_its_body() {
    let server = SseServer::start(|req| {
        let n = req.body_json().and_then(|b| b["n"].as_u64()).unwrap_or(0);
        Reply::json(200, &json!({"double": n * 2}))
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();
    for n in 1..=3u64 {
        let bytes = client
            .post(server.url())
            .body(json!({"n": n}).to_string())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["double"], n * 2);
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn a_malformed_reply_is_a_500_that_says_what_is_wrong() {
    let server = SseServer::serve(Reply::status(200).header("bad header", "x"))
        .await
        .unwrap();
    let response = reqwest::get(server.url()).await.unwrap();
    assert_eq!(response.status().as_u16(), 500);
    let text = response.text().await.unwrap();
    assert!(text.contains("`bad header` is not a header name"), "{text}");

    let server = SseServer::serve(Reply::status(42)).await.unwrap();
    let text = reqwest::get(server.url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("status 42"), "{text}");
}

#[test]
fn event_chunks_split_after_each_closing_blank_line() {
    let body = b"event: a\ndata: 1\n\ndata: 2\r\n\r\ndata: 3\r\rtrailing";
    let chunks = Reply::event_chunks(body);
    assert_eq!(
        chunks,
        vec![
            b"event: a\ndata: 1\n\n".to_vec(),
            b"data: 2\r\n\r\n".to_vec(),
            b"data: 3\r\r".to_vec(),
            b"trailing".to_vec(),
        ]
    );
    assert_eq!(chunks.concat(), body.to_vec());
}

/// Reads one `Connection: close` response from a raw socket: no client
/// library, so no client timer can move a paused clock. Returns the head and
/// the de-chunked body.
async fn raw_get(addr: std::net::SocketAddr) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    socket.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let mut rest = &raw[split..];
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&rest[..line_end]).unwrap().trim(), 16)
                .unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n");
        rest = &rest[size + 2..];
    }
    (head, body)
}

/// Zero delay costs no timer: tokio's timers tick in whole milliseconds, so a
/// zero-length sleep before the headers or a chunk would wait for the next
/// tick (and, on a paused clock, advance it). A 100-chunk body sent at once
/// must leave the paused clock exactly where it was.
#[tokio::test(start_paused = true)]
async fn zero_delays_cost_no_timer() {
    let reply = (0..100).fold(Reply::sse(), |reply, i| {
        reply.chunk(format!("data: {i}\n\n"))
    });
    let server = SseServer::serve(reply).await.unwrap();
    // Off a millisecond boundary, as a real clock always is: a zero-length
    // timer now waits for the next whole millisecond.
    tokio::time::advance(Duration::from_micros(1_500)).await;
    let before = tokio::time::Instant::now();
    let (head, body) = raw_get(server.addr()).await;
    let after = tokio::time::Instant::now();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let expected: String = (0..100).map(|i| format!("data: {i}\n\n")).collect();
    assert_eq!(String::from_utf8(body).unwrap(), expected);
    assert_eq!(after, before, "the clock advanced by {:?}", after - before);
}

/// Skipping zero delays keeps the schedule of the others: on a paused clock,
/// a chunk after a delay still waits for it, measured from the headers.
#[tokio::test(start_paused = true)]
async fn nonzero_delays_still_wait_among_zero_ones() {
    let reply = Reply::sse()
        .headers_after(Duration::from_millis(30))
        .chunk("data: a\n\n")
        .chunk_after(Duration::from_millis(20), "data: b\n\n")
        .chunk("data: c\n\n");
    let server = SseServer::serve(reply).await.unwrap();
    // On a millisecond boundary (where a paused clock starts), so no
    // rounding: the delays add up exactly.
    let before = tokio::time::Instant::now();
    let (_, body) = raw_get(server.addr()).await;
    let elapsed = tokio::time::Instant::now() - before;
    assert_eq!(body, b"data: a\n\ndata: b\n\ndata: c\n\n");
    assert_eq!(elapsed, Duration::from_millis(50));
}
