#!/usr/bin/env bash
# Drives a Freshet server with the AWS CLI. Usage: awscli_smoke.sh ENDPOINT AWS_BINARY
set -euo pipefail
EP="$1"; AWS="$2"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret AWS_DEFAULT_REGION=us-east-1 AWS_PAGER=""
k() { "$AWS" --endpoint-url "$EP" --output json kinesis "$@"; }
k create-stream --stream-name cli-s --shard-count 1
k wait stream-exists --stream-name cli-s
k describe-stream-summary --stream-name cli-s | grep -q '"OpenShardCount": 1'
seq=$(k put-record --stream-name cli-s --partition-key pk --data hello --query SequenceNumber --output text)
[ "${#seq}" = 38 ]
it=$(k get-shard-iterator --stream-name cli-s --shard-id shardId-000000000000 --shard-iterator-type TRIM_HORIZON --query ShardIterator --output text)
data=$(k get-records --shard-iterator "$it" --query 'Records[0].Data' --output text)
[ "$data" = "aGVsbG8=" ]
k list-streams | grep -q cli-s
k list-shards --stream-name cli-s | grep -q shardId-000000000000
if k describe-stream --stream-name missing 2>/tmp/cli-err.$$; then exit 1; fi
grep -q ResourceNotFoundException /tmp/cli-err.$$; rm -f /tmp/cli-err.$$
k delete-stream --stream-name cli-s
echo "awscli: 9 passed, 0 failed"
