//! boto3, unchanged, drives the Firehose API of a real `freshet serve`: DirectPut and
//! Kinesis-source delivery streams deliver into local buckets (directories under the
//! data directory), buffered by time and by size, uncompressed and GZIP.

use freshet_tests::{python, Server};

#[test]
fn boto3_delivery_streams_deliver_into_local_buckets() {
    let server = Server::start(&[]);
    let buckets = server.data_dir.join("buckets");
    python::run_script(
        &server,
        "firehose_delivery.py",
        &[server.endpoint(), buckets.to_string_lossy().into_owned()],
        "passed, 0 failed",
    );
}
