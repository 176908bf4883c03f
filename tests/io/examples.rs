//! The examples' demos, run as tests: each starts its own local server or temp files and
//! checks its own round trip (what `cargo run --example NAME` prints).

#[allow(dead_code)]
#[path = "../../examples/http.rs"]
mod http;

#[allow(dead_code)]
#[path = "../../examples/tcp.rs"]
mod tcp;

#[allow(dead_code)]
#[path = "../../examples/file.rs"]
mod file;

#[allow(dead_code)]
#[path = "../../examples/tcp_messages.rs"]
mod tcp_messages;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_example_round_trips_through_a_local_server() {
    let summary = http::demo().await.expect("http demo");
    eprintln!("{summary}");
    assert!(summary.contains("gave the plaintext back intact"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_example_round_trips_over_loopback() {
    let summary = tcp::demo().await.expect("tcp demo");
    eprintln!("{summary}");
    assert!(summary.contains("all upper-cased"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_example_round_trips_and_refuses_a_truncated_file() {
    let summary = file::demo().await.expect("file demo");
    eprintln!("{summary}");
    assert!(summary.contains("left no output file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_messages_example_sends_many_messages_on_one_connection() {
    let summary = tcp_messages::demo().await.expect("tcp_messages demo");
    eprintln!("{summary}");
    assert!(summary.contains("all 100 answers upper-cased"));
}
