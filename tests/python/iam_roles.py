"""Drives Freshet's IAM and STS (AWS's Query protocol) with boto3 and the AWS CLI,
unchanged: roles' whole lifecycle (CreateRole, GetRole, UpdateRole,
UpdateAssumeRolePolicy, tags, inline and attached policies, DeleteRole),
customer-managed policies, pagination (Marker/MaxItems, boto3's paginators, the CLI's
own paging), AWS's error codes and statuses, STS GetCallerIdentity and AssumeRole, raw
unsigned Query requests, and a Lambda function and a delivery stream created with a
role made here.

Usage: python iam_roles.py ENDPOINT AWS_CLI WORK_DIR MODE
MODE "all" runs everything and leaves a role "kept" (with an inline policy, an
attached AWS-managed policy, a customer policy and tags) and its RoleId in
WORK_DIR/kept.json; MODE "after-restart" checks that all of it is still there.
Every check runs; the failed ones are listed; prints "N passed, M failed" and exits
non-zero when M > 0.
"""
import io
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

import boto3

import cases
from cases import case, check, expect_error, finish

ENDPOINT, AWS_CLI, WORK, MODE = sys.argv[1:5]
HERE = os.path.dirname(os.path.abspath(__file__))
HANDLER_PY = os.path.join(HERE, "..", "functions", "python", "handler.py")
ACCOUNT = "000000000000"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
FIREHOSE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
S3_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                   "Resource": "arn:aws:s3:::bucket-iam/*"}],
}
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def client(service, validate=True):
    return cases.client(ENDPOINT, service, validate)


iam = client("iam")
iam_raw = client("iam", validate=False)
sts = client("sts")
sts_raw = client("sts", validate=False)



CLI_ENV = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")


def aws(*args, ok=True):
    p = subprocess.run([AWS_CLI, "--endpoint-url", ENDPOINT, "--output", "json", *args],
                       capture_output=True, text=True, env=CLI_ENV, timeout=120)
    if ok:
        check(p.returncode == 0, f"aws {' '.join(args)}: {p.returncode}\n{p.stdout}\n{p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else None
    check(p.returncode != 0, f"aws {' '.join(args)} succeeded: {p.stdout}")
    return p.stderr


def write(name, content):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(content)
    return path


def raw(method, params, headers=None):
    """An unsigned Query request; (status, body text)."""
    data = urllib.parse.urlencode(params)
    if method == "GET":
        req = urllib.request.Request(f"{ENDPOINT}/?{data}", method="GET", headers=headers or {})
    else:
        req = urllib.request.Request(ENDPOINT + "/", data=data.encode(), method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def role_arn(name, path="/"):
    return f"arn:aws:iam::{ACCOUNT}:role{path}{name}"


def after_restart():
    with open(os.path.join(WORK, "kept.json")) as f:
        kept = json.load(f)

    @case("after a restart: the role, its policies, tags and the customer policy remain")
    def _():
        r = iam.get_role(RoleName="kept")["Role"]
        check(r["RoleId"] == kept["RoleId"], (r, kept))
        check(r["Arn"] == role_arn("kept", "/kept/"), r)
        check(r["AssumeRolePolicyDocument"] == TRUST, r)
        check(r["Tags"] == [{"Key": "survives", "Value": "restart"}], r)
        check(r["MaxSessionDuration"] == 7200, r)
        check(iam.list_role_policies(RoleName="kept")["PolicyNames"] == ["inline"], "inline")
        got = iam.get_role_policy(RoleName="kept", PolicyName="inline")
        check(got["PolicyDocument"] == S3_POLICY, got)
        att = iam.list_attached_role_policies(RoleName="kept")["AttachedPolicies"]
        check({a["PolicyArn"] for a in att} == {BASIC, kept["PolicyArn"]}, att)
        p = iam.get_policy(PolicyArn=kept["PolicyArn"])["Policy"]
        check(p["PolicyId"] == kept["PolicyId"] and p["AttachmentCount"] == 1, p)
        out = aws("sts", "get-caller-identity")
        check(out["Account"] == ACCOUNT, out)


def everything():
    @case("STS GetCallerIdentity through boto3 and the AWS CLI")
    def _():
        me = sts.get_caller_identity()
        check(me["Account"] == ACCOUNT, me)
        check(me["Arn"] == f"arn:aws:iam::{ACCOUNT}:root", me)
        check(me["UserId"] == ACCOUNT, me)
        out = aws("sts", "get-caller-identity")
        check(out == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}, out)

    @case("CreateRole, GetRole (any case), the waiter, duplicate, missing")
    def _():
        r = iam.create_role(RoleName="lambda-exec", Path="/service-role/",
                            AssumeRolePolicyDocument=json.dumps(TRUST),
                            Description="runs functions", Tags=[{"Key": "team", "Value": "data"}])
        role = r["Role"]
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, r["ResponseMetadata"])
        check(role["RoleName"] == "lambda-exec" and role["Path"] == "/service-role/", role)
        check(role["Arn"] == role_arn("lambda-exec", "/service-role/"), role["Arn"])
        check(role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21, role["RoleId"])
        check(role["RoleId"][4:].isalnum() and role["RoleId"][4:].upper() == role["RoleId"][4:], role["RoleId"])
        check(role["AssumeRolePolicyDocument"] == TRUST, role["AssumeRolePolicyDocument"])
        check(role["MaxSessionDuration"] == 3600, role)
        check(role["Description"] == "runs functions", role)
        check(role["Tags"] == [{"Key": "team", "Value": "data"}], role)
        age = time.time() - role["CreateDate"].timestamp()
        check(-5 < age < 60, role["CreateDate"])
        iam.get_waiter("role_exists").wait(RoleName="lambda-exec", WaiterConfig={"Delay": 1, "MaxAttempts": 5})
        g = iam.get_role(RoleName="LAMBDA-EXEC")["Role"]
        check(g["RoleId"] == role["RoleId"] and g["RoleName"] == "lambda-exec", g)
        check(g["RoleLastUsed"] == {}, g)
        msg = expect_error("EntityAlreadyExists", 409, iam.create_role, RoleName="Lambda-Exec",
                           AssumeRolePolicyDocument=json.dumps(TRUST))
        check("already exists" in msg, msg)
        msg = expect_error("NoSuchEntity", 404, iam.get_role, RoleName="nope")
        check(msg == "The role with name nope cannot be found.", msg)
        try:
            iam.get_role(RoleName="nope")
            check(False, "get_role(nope) succeeded")
        except iam.exceptions.NoSuchEntityException:
            check(True, "the modeled exception class")

    @case("bad input: ValidationError, MalformedPolicyDocument, LimitExceeded, InvalidInput")
    def _():
        doc = json.dumps(TRUST)
        msg = expect_error("ValidationError", 400, iam_raw.create_role, RoleName="bad name!",
                           AssumeRolePolicyDocument=doc)
        check("'roleName'" in msg and "regular expression pattern" in msg, msg)
        msg = expect_error("ValidationError", 400, iam_raw.create_role, RoleName="r" * 65,
                           AssumeRolePolicyDocument=doc)
        check("length less than or equal to 64" in msg, msg)
        msg = expect_error("ValidationError", 400, iam_raw.create_role, RoleName="p", Path="nopath",
                           AssumeRolePolicyDocument=doc, MaxSessionDuration=100)
        check(msg.startswith("2 validation errors detected") and "'path'" in msg and "'maxSessionDuration'" in msg, msg)
        msg = expect_error("ValidationError", 400, iam_raw.create_role, RoleName="nodoc")
        check("Value null at 'assumeRolePolicyDocument'" in msg, msg)
        for bad in ["not json", "[1, 2]", "{}", '{"Version": "2012-10-17"}']:
            expect_error("MalformedPolicyDocument", 400, iam.create_role, RoleName="malformed",
                         AssumeRolePolicyDocument=bad)
        big = json.dumps({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Sid": "x" * 2100}]})
        msg = expect_error("LimitExceeded", 409, iam.create_role, RoleName="big", AssumeRolePolicyDocument=big)
        check("ACLSizePerRole" in msg, msg)
        expect_error("InvalidInput", 400, iam.create_role, RoleName="dup-tags", AssumeRolePolicyDocument=doc,
                     Tags=[{"Key": "a", "Value": "1"}, {"Key": "A", "Value": "2"}])
        expect_error("ValidationError", 400, iam_raw.list_roles, MaxItems=0)
        expect_error("ValidationError", 400, iam_raw.list_roles, Marker="not-a-marker-of-ours!")
        expect_error("InvalidInput", 400, iam.attach_role_policy, RoleName="lambda-exec",
                     PolicyArn="arn:aws:s3:::not-a-policy-arn")
        check(iam.list_roles(PathPrefix="/")["Roles"][0]["RoleName"] == "lambda-exec", "nothing was created")

    @case("an action not implemented is InvalidAction, never a 500")
    def _():
        expect_error("InvalidAction", 400, iam.get_user)
        expect_error("InvalidAction", 400, sts.get_session_token)

    @case("UpdateRole, UpdateAssumeRolePolicy, TagRole, UntagRole, ListRoleTags")
    def _():
        iam.update_role(RoleName="lambda-exec", Description="changed", MaxSessionDuration=7200)
        iam.update_assume_role_policy(RoleName="lambda-exec", PolicyDocument=json.dumps(FIREHOSE_TRUST))
        r = iam.get_role(RoleName="lambda-exec")["Role"]
        check(r["Description"] == "changed" and r["MaxSessionDuration"] == 7200, r)
        check(r["AssumeRolePolicyDocument"] == FIREHOSE_TRUST, r)
        expect_error("ValidationError", 400, iam_raw.update_role, RoleName="lambda-exec", MaxSessionDuration=60)
        expect_error("MalformedPolicyDocument", 400, iam.update_assume_role_policy,
                     RoleName="lambda-exec", PolicyDocument="nope")
        expect_error("NoSuchEntity", 404, iam.update_role, RoleName="ghost", Description="x")
        iam.tag_role(RoleName="lambda-exec", Tags=[{"Key": "Env", "Value": "prod"}, {"Key": "owner", "Value": "a b"}])
        iam.tag_role(RoleName="lambda-exec", Tags=[{"Key": "env", "Value": "dev"}])
        tags = iam.list_role_tags(RoleName="lambda-exec")
        check(tags["Tags"] == [{"Key": "team", "Value": "data"}, {"Key": "env", "Value": "dev"},
                               {"Key": "owner", "Value": "a b"}], tags)
        check(tags["IsTruncated"] is False, tags)
        page = iam.list_role_tags(RoleName="lambda-exec", MaxItems=2)
        check(page["IsTruncated"] and len(page["Tags"]) == 2, page)
        rest = iam.list_role_tags(RoleName="lambda-exec", Marker=page["Marker"])
        check(rest["Tags"] == [{"Key": "owner", "Value": "a b"}] and not rest["IsTruncated"], rest)
        iam.untag_role(RoleName="lambda-exec", TagKeys=["ENV", "absent"])
        check([t["Key"] for t in iam.get_role(RoleName="lambda-exec")["Role"]["Tags"]] == ["team", "owner"], "untagged")
        many = [{"Key": f"k{i}", "Value": "v"} for i in range(49)]
        msg = expect_error("LimitExceeded", 409, iam.tag_role, RoleName="lambda-exec", Tags=many)
        check("maximum" in msg, msg)
        expect_error("NoSuchEntity", 404, iam.tag_role, RoleName="ghost", Tags=[{"Key": "a", "Value": "b"}])

    @case("inline policies: Put, Get (a dict, as botocore decodes it), List, Delete")
    def _():
        iam.put_role_policy(RoleName="lambda-exec", PolicyName="s3-write", PolicyDocument=json.dumps(S3_POLICY, indent=2))
        got = iam.get_role_policy(RoleName="lambda-exec", PolicyName="S3-WRITE")
        check(got["RoleName"] == "lambda-exec" and got["PolicyName"] == "s3-write", got)
        check(got["PolicyDocument"] == S3_POLICY, got["PolicyDocument"])
        iam.put_role_policy(RoleName="lambda-exec", PolicyName="logs", PolicyDocument=json.dumps(S3_POLICY))
        names = iam.list_role_policies(RoleName="lambda-exec")
        check(names["PolicyNames"] == ["logs", "s3-write"] and names["IsTruncated"] is False, names)
        msg = expect_error("NoSuchEntity", 404, iam.get_role_policy, RoleName="lambda-exec", PolicyName="nope")
        check("nope" in msg, msg)
        expect_error("NoSuchEntity", 404, iam.put_role_policy, RoleName="ghost", PolicyName="p",
                     PolicyDocument=json.dumps(S3_POLICY))
        expect_error("MalformedPolicyDocument", 400, iam.put_role_policy, RoleName="lambda-exec",
                     PolicyName="bad", PolicyDocument='{"Statement": ')
        iam.delete_role_policy(RoleName="lambda-exec", PolicyName="logs")
        expect_error("NoSuchEntity", 404, iam.delete_role_policy, RoleName="lambda-exec", PolicyName="logs")

    @case("managed policies: AWS-managed by ARN, customer ones, attach, detach, conflicts")
    def _():
        iam.attach_role_policy(RoleName="lambda-exec", PolicyArn=BASIC)
        iam.attach_role_policy(RoleName="lambda-exec", PolicyArn=BASIC)
        missing = f"arn:aws:iam::{ACCOUNT}:policy/missing"
        msg = expect_error("NoSuchEntity", 404, iam.attach_role_policy, RoleName="lambda-exec", PolicyArn=missing)
        check(missing in msg, msg)
        expect_error("NoSuchEntity", 404, iam.attach_role_policy, RoleName="ghost", PolicyArn=BASIC)
        p = iam.create_policy(PolicyName="bucket-iam", Path="/app/", PolicyDocument=json.dumps(S3_POLICY),
                              Description="one bucket")["Policy"]
        check(p["Arn"] == f"arn:aws:iam::{ACCOUNT}:policy/app/bucket-iam", p)
        check(p["PolicyId"].startswith("ANPA") and p["DefaultVersionId"] == "v1", p)
        check(p["AttachmentCount"] == 0 and p["IsAttachable"] is True, p)
        expect_error("EntityAlreadyExists", 409, iam.create_policy, PolicyName="BUCKET-IAM",
                     PolicyDocument=json.dumps(S3_POLICY))
        expect_error("MalformedPolicyDocument", 400, iam.create_policy, PolicyName="bad",
                     PolicyDocument="[]")
        iam.attach_role_policy(RoleName="lambda-exec", PolicyArn=p["Arn"])
        got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
        check(got["AttachmentCount"] == 1 and got["Description"] == "one bucket", got)
        v = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v1")["PolicyVersion"]
        check(v["Document"] == S3_POLICY and v["IsDefaultVersion"] is True, v)
        aws_p = iam.get_policy(PolicyArn=BASIC)["Policy"]
        check(aws_p["PolicyName"] == "AWSLambdaBasicExecutionRole" and aws_p["Path"] == "/service-role/", aws_p)
        att = iam.list_attached_role_policies(RoleName="lambda-exec")
        check({a["PolicyArn"] for a in att["AttachedPolicies"]} == {BASIC, p["Arn"]}, att)
        app = iam.list_attached_role_policies(RoleName="lambda-exec", PathPrefix="/app/")["AttachedPolicies"]
        check(app == [{"PolicyName": "bucket-iam", "PolicyArn": p["Arn"]}], app)
        msg = expect_error("DeleteConflict", 409, iam.delete_policy, PolicyArn=p["Arn"])
        check("attached" in msg, msg)
        local = iam.list_policies(Scope="Local")["Policies"]
        check([x["PolicyName"] for x in local] == ["bucket-iam"], local)
        in_use = iam.list_policies(Scope="AWS", OnlyAttached=True)["Policies"]
        check([x["Arn"] for x in in_use] == [BASIC], in_use)
        msg = expect_error("DeleteConflict", 409, iam.delete_role, RoleName="lambda-exec")
        check(msg == "Cannot delete entity, must detach all policies first.", msg)
        iam.detach_role_policy(RoleName="lambda-exec", PolicyArn=p["Arn"])
        expect_error("NoSuchEntity", 404, iam.detach_role_policy, RoleName="lambda-exec", PolicyArn=p["Arn"])
        iam.delete_policy(PolicyArn=p["Arn"])
        expect_error("NoSuchEntity", 404, iam.get_policy, PolicyArn=p["Arn"])
        expect_error("NoSuchEntity", 404, iam.delete_policy, PolicyArn=p["Arn"])
        limit = [f"arn:aws:iam::aws:policy/Quota{i}" for i in range(9)]
        for arn in limit:
            iam.attach_role_policy(RoleName="lambda-exec", PolicyArn=arn)
        msg = expect_error("LimitExceeded", 409, iam.attach_role_policy, RoleName="lambda-exec", PolicyArn=ADMIN)
        check("PoliciesPerRole" in msg, msg)
        for arn in limit:
            iam.detach_role_policy(RoleName="lambda-exec", PolicyArn=arn)

    @case("pagination: Marker/MaxItems, boto3's paginators, the CLI's paging")
    def _():
        for i in range(7):
            iam.create_role(RoleName=f"page-{i}", Path="/paged/", AssumeRolePolicyDocument=json.dumps(TRUST))
        seen, marker, pages = [], None, 0
        while True:
            kw = {"PathPrefix": "/paged/", "MaxItems": 3}
            if marker:
                kw["Marker"] = marker
            r = iam.list_roles(**kw)
            pages += 1
            seen += [x["RoleName"] for x in r["Roles"]]
            check("Tags" not in r["Roles"][0] and "RoleLastUsed" not in r["Roles"][0], r["Roles"][0])
            if not r["IsTruncated"]:
                check("Marker" not in r, r)
                break
            marker = r["Marker"]
        check(pages == 3 and seen == [f"page-{i}" for i in range(7)], (pages, seen))
        pag = iam.get_paginator("list_roles").paginate(PathPrefix="/paged/", PaginationConfig={"PageSize": 2})
        names = [x["RoleName"] for page in pag for x in page["Roles"]]
        check(names == [f"page-{i}" for i in range(7)], names)
        out = aws("iam", "list-roles", "--path-prefix", "/paged/", "--page-size", "2")
        check([x["RoleName"] for x in out["Roles"]] == [f"page-{i}" for i in range(7)], out)
        for i in range(7):
            iam.delete_role(RoleName=f"page-{i}")
        check(iam.list_roles(PathPrefix="/paged/")["Roles"] == [], "deleted")

    @case("the AWS CLI: create-role from a file, put-role-policy, attach, get, errors, delete")
    def _():
        trust = write("trust.json", json.dumps(TRUST, indent=2))
        policy = write("policy.json", json.dumps(S3_POLICY))
        out = aws("iam", "create-role", "--role-name", "cli-role", "--path", "/cli/",
                  "--assume-role-policy-document", "file://" + trust,
                  "--tags", "Key=made-by,Value=cli")
        check(out["Role"]["Arn"] == role_arn("cli-role", "/cli/"), out)
        check(out["Role"]["AssumeRolePolicyDocument"] == TRUST, out)
        aws("iam", "put-role-policy", "--role-name", "cli-role", "--policy-name", "p",
            "--policy-document", "file://" + policy)
        aws("iam", "attach-role-policy", "--role-name", "cli-role", "--policy-arn", BASIC)
        got = aws("iam", "get-role", "--role-name", "cli-role")
        check(got["Role"]["Tags"] == [{"Key": "made-by", "Value": "cli"}], got)
        pol = aws("iam", "get-role-policy", "--role-name", "cli-role", "--policy-name", "p")
        check(pol["PolicyDocument"] == S3_POLICY, pol)
        att = aws("iam", "list-attached-role-policies", "--role-name", "cli-role")
        check(att["AttachedPolicies"] == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}], att)
        err = aws("iam", "get-role", "--role-name", "nope", ok=False)
        check("NoSuchEntity" in err and "cannot be found" in err, err)
        err = aws("iam", "delete-role", "--role-name", "cli-role", ok=False)
        check("DeleteConflict" in err, err)
        err = aws("iam", "create-role", "--role-name", "cli-bad", "--assume-role-policy-document", "nope", ok=False)
        check("MalformedPolicyDocument" in err, err)
        aws("iam", "detach-role-policy", "--role-name", "cli-role", "--policy-arn", BASIC)
        aws("iam", "delete-role-policy", "--role-name", "cli-role", "--policy-name", "p")
        aws("iam", "delete-role", "--role-name", "cli-role")
        err = aws("iam", "get-role", "--role-name", "cli-role", ok=False)
        check("NoSuchEntity" in err, err)

    @case("STS AssumeRole: a created role, a role never created, the caller identity of a session")
    def _():
        arn = iam.get_role(RoleName="lambda-exec")["Role"]["Arn"]
        role_id = iam.get_role(RoleName="lambda-exec")["Role"]["RoleId"]
        r = sts.assume_role(RoleArn=arn, RoleSessionName="deploy", DurationSeconds=7200)
        c = r["Credentials"]
        check(c["AccessKeyId"].startswith("ASIA") and len(c["AccessKeyId"]) == 20, c)
        check(len(c["SecretAccessKey"]) == 40 and c["SessionToken"], c)
        left = c["Expiration"].timestamp() - time.time()
        check(7000 < left < 7300, c["Expiration"])
        u = r["AssumedRoleUser"]
        check(u["AssumedRoleId"] == f"{role_id}:deploy", u)
        check(u["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/lambda-exec/deploy", u)
        session = boto3.client("sts", endpoint_url=ENDPOINT, region_name="us-east-1",
                               aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                               aws_session_token=c["SessionToken"])
        me = session.get_caller_identity()
        check(me["Arn"] == u["Arn"] and me["UserId"] == u["AssumedRoleId"] and me["Account"] == ACCOUNT, me)
        msg = expect_error("ValidationError", 400, sts.assume_role, RoleArn=arn, RoleSessionName="long",
                           DurationSeconds=10800)
        check("MaxSessionDuration" in msg, msg)
        ghost = sts.assume_role(RoleArn=role_arn("never-created"), RoleSessionName="s1")
        check(ghost["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/never-created/s1", ghost)
        expect_error("ValidationError", 400, sts_raw.assume_role, RoleArn="arn:aws:s3:::some-bucket-name",
                     RoleSessionName="s1")
        expect_error("ValidationError", 400, sts_raw.assume_role, RoleArn=arn, RoleSessionName="x")
        expect_error("MalformedPolicyDocument", 400, sts.assume_role, RoleArn=arn, RoleSessionName="s1",
                     Policy="not json")
        out = aws("sts", "assume-role", "--role-arn", arn, "--role-session-name", "cli")
        check(out["AssumedRoleUser"]["Arn"].endswith("assumed-role/lambda-exec/cli"), out)

    @case("raw unsigned Query requests: GET and POST, unknown and missing actions")
    def _():
        status, body = raw("GET", {"Action": "GetCallerIdentity", "Version": "2011-06-15"})
        check(status == 200 and f"<Account>{ACCOUNT}</Account>" in body, (status, body))
        check(body.startswith('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'), body)
        status, body = raw("POST", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "lambda-exec"})
        check(status == 200 and "<RoleName>lambda-exec</RoleName>" in body, (status, body))
        check("<ResponseMetadata><RequestId>" in body, body)
        status, body = raw("POST", {"Action": "GetRole", "Version": "2010-05-08", "RoleName": "nope"})
        check(status == 404 and "<Code>NoSuchEntity</Code>" in body and "<ErrorResponse>" in body, (status, body))
        status, body = raw("POST", {"Action": "NoSuchAction", "Version": "2010-05-08"})
        check(status == 400 and "InvalidAction" in body, (status, body))
        status, body = raw("POST", {"RoleName": "x"})
        check(status == 400 and "MissingAction" in body, (status, body))

    @case("a Lambda function and a delivery stream take a role made here")
    def _():
        arn = iam.get_role(RoleName="lambda-exec")["Role"]["Arn"]
        with open(HANDLER_PY, "rb") as f:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                info = zipfile.ZipInfo("handler.py")
                info.external_attr = (0o100644) << 16
                z.writestr(info, f.read())
        lam = client("lambda")
        fn = lam.create_function(FunctionName="iam-fn", Runtime="python3.12", Role=arn,
                                 Handler="handler.handler", Code={"ZipFile": buf.getvalue()}, Timeout=10)
        check(fn["Role"] == arn, fn)
        deadline = time.time() + 30
        while lam.get_function_configuration(FunctionName="iam-fn")["State"] != "Active":
            check(time.time() < deadline, "iam-fn Active")
            time.sleep(0.1)
        r = lam.invoke(FunctionName="iam-fn", Payload=json.dumps({"echo": "with a role"}).encode())
        check(json.loads(r["Payload"].read()) == "with a role", r)
        lam.delete_function(FunctionName="iam-fn")
        fh_role = iam.create_role(RoleName="firehose-delivery", AssumeRolePolicyDocument=json.dumps(FIREHOSE_TRUST))
        fh_arn = fh_role["Role"]["Arn"]
        iam.put_role_policy(RoleName="firehose-delivery", PolicyName="s3", PolicyDocument=json.dumps(S3_POLICY))
        fh = client("firehose")
        fh.create_delivery_stream(
            DeliveryStreamName="iam-ds", DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": fh_arn, "BucketARN": "arn:aws:s3:::bucket-iam",
                "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 60}})
        d = fh.describe_delivery_stream(DeliveryStreamName="iam-ds")["DeliveryStreamDescription"]
        dest = d["Destinations"][0]["ExtendedS3DestinationDescription"]
        check(dest["RoleARN"] == fh_arn, dest)
        fh.delete_delivery_stream(DeliveryStreamName="iam-ds")
        iam.delete_role_policy(RoleName="firehose-delivery", PolicyName="s3")
        iam.delete_role(RoleName="firehose-delivery")

    @case("DeleteRole once its policies are gone")
    def _():
        msg = expect_error("DeleteConflict", 409, iam.delete_role, RoleName="lambda-exec")
        check("detach" in msg, msg)
        iam.detach_role_policy(RoleName="lambda-exec", PolicyArn=BASIC)
        msg = expect_error("DeleteConflict", 409, iam.delete_role, RoleName="lambda-exec")
        check(msg == "Cannot delete entity, must delete policies first.", msg)
        iam.delete_role_policy(RoleName="lambda-exec", PolicyName="s3-write")
        iam.delete_role(RoleName="lambda-exec")
        expect_error("NoSuchEntity", 404, iam.get_role, RoleName="lambda-exec")
        expect_error("NoSuchEntity", 404, iam.delete_role, RoleName="lambda-exec")

    @case("a role left for the restart check")
    def _():
        r = iam.create_role(RoleName="kept", Path="/kept/", AssumeRolePolicyDocument=json.dumps(TRUST),
                            MaxSessionDuration=7200, Tags=[{"Key": "survives", "Value": "restart"}])["Role"]
        iam.put_role_policy(RoleName="kept", PolicyName="inline", PolicyDocument=json.dumps(S3_POLICY))
        iam.attach_role_policy(RoleName="kept", PolicyArn=BASIC)
        p = iam.create_policy(PolicyName="kept-policy", PolicyDocument=json.dumps(S3_POLICY))["Policy"]
        iam.attach_role_policy(RoleName="kept", PolicyArn=p["Arn"])
        with open(os.path.join(WORK, "kept.json"), "w") as f:
            json.dump({"RoleId": r["RoleId"], "PolicyArn": p["Arn"], "PolicyId": p["PolicyId"]}, f)


if MODE == "all":
    everything()
elif MODE == "after-restart":
    after_restart()
else:
    raise SystemExit(f"unknown mode {MODE}")

finish()
