"""SigV4 on the Lambda API (`--auth`), with function ARNs in the path, and the error
a Python function gets when the server's interpreter cannot import awslambdaric.

Usage: python lambda_auth.py ENDPOINT ACCESS_KEY SECRET
The server runs with --auth --access-key KEY:SECRET --lambda-python <a Python without
awslambdaric>.
"""
import json
import sys

import boto3
import botocore.config
from botocore.exceptions import ClientError

import lambda_common

ENDPOINT, KEY, SECRET = sys.argv[1], sys.argv[2], sys.argv[3]
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"0 passed, 1 failed: {what}")
        sys.exit(1)


def client(key, secret):
    return boto3.client(
        "lambda", endpoint_url=ENDPOINT, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}))


lam = client(KEY, SECRET)
lam.create_function(
    FunctionName="signed", Runtime="python3.12", Handler="handler.handler",
    Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": lambda_common.python_zip()})
arn = "arn:aws:lambda:us-east-1:000000000000:function:signed"
# The ARN's colons are percent-encoded in the path and signed as botocore encodes them.
check(lam.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == "signed",
      "GetFunction by ARN, signed")
out = lam.invoke(FunctionName=arn, Payload=b'{"echo": 1}')
doc = json.loads(out["Payload"].read())
check(out.get("FunctionError") == "Unhandled", f"a missing awslambdaric fails the invocation: {out}")
check(doc.get("errorType") == "Runtime.Unavailable", f"errorType: {doc}")
check("awslambdaric is not importable" in doc.get("errorMessage", "")
      and "pip install awslambdaric" in doc["errorMessage"], f"the message says what to do: {doc}")
for key, secret, code in [(KEY, "wrong", "InvalidSignatureException"),
                          ("UNKNOWN", SECRET, "UnrecognizedClientException")]:
    try:
        client(key, secret).list_functions()
        check(False, f"{key}/{secret} was accepted")
    except ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{key}/{secret}: {e.response['Error']}")
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403,
              f"Lambda answers authentication errors with 403: {e.response['ResponseMetadata']}")
print(f"{checks} passed, 0 failed")
