//! boto3, unchanged, drives a real `freshet serve`: a Firehose delivery stream's
//! Lambda transform (a Python function run by awslambdaric) with Ok, Dropped and
//! ProcessingFailed records and partition keys; dynamic partitioning by JQ; the
//! built-in delimiter processor; a transform with invalid replies; and JSON converted
//! to Parquet, read back with pyarrow and DuckDB. Failures land in the error output.

use freshet_tests::{python, Server};

#[test]
fn transforms_partitions_and_parquet_through_boto3() {
    let python = freshet_tests::lambda::venv_python();
    let server = Server::start(&["--lambda-python", &python.to_string_lossy()]);
    let buckets = server.data_dir.join("buckets");
    python::run_script(
        &server,
        "firehose_transforms.py",
        &[server.endpoint(), buckets.to_string_lossy().into_owned()],
        "passed, 0 failed",
    );
}
