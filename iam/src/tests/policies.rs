//! Managed policies, permissions boundaries, quotas, STS, and state across a reopen.

use super::{decoded, text, texts, Fixture, ACCOUNT, POLICY, TRUST};
use crate::query::Params;

#[test]
fn managed_policies_lifecycle() {
    let f = Fixture::new();
    f.create_role("r");
    let x = f.ok(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "s3-all"),
        ("Path", "/app/"),
        ("PolicyDocument", POLICY),
        ("Description", "all of S3"),
    ]);
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/app/s3-all");
    assert_eq!(text(&x, "Arn"), arn);
    assert!(text(&x, "PolicyId").starts_with("ANPA"));
    assert_eq!(text(&x, "DefaultVersionId"), "v1");
    assert_eq!(text(&x, "AttachmentCount"), "0");
    assert_eq!(text(&x, "IsAttachable"), "true");
    let e = f.err(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "S3-ALL"),
        ("PolicyDocument", POLICY),
    ]);
    assert_eq!((e.kind, e.status), ("EntityAlreadyExists", 409));
    let e = f.err(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "p"),
        ("PolicyDocument", "[]"),
    ]);
    assert_eq!(e.kind, "MalformedPolicyDocument");

    let missing = format!("arn:aws:iam::{ACCOUNT}:policy/missing");
    let e = f.err(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", &missing),
    ]);
    assert_eq!((e.kind, e.status), ("NoSuchEntity", 404));
    let e = f.err(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", "arn:aws:s3:::some-bucket"),
    ]);
    assert_eq!((e.kind, e.status), ("InvalidInput", 400));
    let e = f.err(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", "short"),
    ]);
    assert_eq!(e.kind, "ValidationError");

    f.ok(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", &arn),
    ]);
    let basic = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole";
    f.ok(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", basic),
    ]);
    let x = f.ok(&[("Action", "GetPolicy"), ("PolicyArn", &arn)]);
    assert_eq!(text(&x, "AttachmentCount"), "1");
    assert_eq!(text(&x, "Description"), "all of S3");
    let x = f.ok(&[
        ("Action", "GetPolicyVersion"),
        ("PolicyArn", &arn),
        ("VersionId", "v1"),
    ]);
    assert_eq!(decoded(&text(&x, "Document")), POLICY);
    assert_eq!(text(&x, "IsDefaultVersion"), "true");
    let x = f.ok(&[("Action", "GetPolicy"), ("PolicyArn", basic)]);
    assert_eq!(text(&x, "PolicyName"), "AWSLambdaBasicExecutionRole");
    assert_eq!(text(&x, "Path"), "/service-role/");
    assert_eq!(text(&x, "AttachmentCount"), "1");

    let e = f.err(&[("Action", "DeletePolicy"), ("PolicyArn", &arn)]);
    assert_eq!((e.kind, e.status), ("DeleteConflict", 409));

    let all = f.ok(&[("Action", "ListPolicies")]);
    assert_eq!(
        texts(&all, "PolicyName"),
        vec!["AWSLambdaBasicExecutionRole", "s3-all"]
    );
    let local = f.ok(&[("Action", "ListPolicies"), ("Scope", "Local")]);
    assert_eq!(texts(&local, "PolicyName"), vec!["s3-all"]);
    assert!(!local.contains("<Description>"), "{local}");
    let aws = f.ok(&[
        ("Action", "ListPolicies"),
        ("Scope", "AWS"),
        ("MaxItems", "1"),
    ]);
    assert_eq!(texts(&aws, "Arn"), vec![basic]);
    let e = f.err(&[("Action", "ListPolicies"), ("Scope", "Mine")]);
    assert_eq!(e.kind, "ValidationError");

    let attached = f.ok(&[
        ("Action", "ListAttachedRolePolicies"),
        ("RoleName", "r"),
        ("PathPrefix", "/app/"),
    ]);
    assert_eq!(texts(&attached, "PolicyArn"), vec![arn.clone()]);

    f.ok(&[
        ("Action", "DetachRolePolicy"),
        ("RoleName", "r"),
        ("PolicyArn", &arn),
    ]);
    let only = f.ok(&[("Action", "ListPolicies"), ("OnlyAttached", "true")]);
    assert_eq!(
        texts(&only, "PolicyName"),
        vec!["AWSLambdaBasicExecutionRole"]
    );
    f.ok(&[("Action", "DeletePolicy"), ("PolicyArn", &arn)]);
    let e = f.err(&[("Action", "GetPolicy"), ("PolicyArn", &arn)]);
    assert_eq!((e.kind, e.status), ("NoSuchEntity", 404));
    let e = f.err(&[("Action", "DeletePolicy"), ("PolicyArn", &arn)]);
    assert_eq!(e.kind, "NoSuchEntity");
}

#[test]
fn permissions_boundaries_are_recorded_and_hold_their_policy() {
    let f = Fixture::new();
    f.ok(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "boundary"),
        ("PolicyDocument", POLICY),
    ]);
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/boundary");
    f.ok(&[
        ("Action", "CreateRole"),
        ("RoleName", "b"),
        ("AssumeRolePolicyDocument", TRUST),
        ("PermissionsBoundary", &arn),
    ]);
    let x = f.ok(&[("Action", "GetRole"), ("RoleName", "b")]);
    assert_eq!(text(&x, "PermissionsBoundaryArn"), arn);
    let x = f.ok(&[("Action", "GetPolicy"), ("PolicyArn", &arn)]);
    assert_eq!(text(&x, "PermissionsBoundaryUsageCount"), "1");
    assert_eq!(
        f.err(&[("Action", "DeletePolicy"), ("PolicyArn", &arn)])
            .kind,
        "DeleteConflict"
    );
    f.ok(&[("Action", "DeleteRole"), ("RoleName", "b")]);
    f.ok(&[("Action", "DeletePolicy"), ("PolicyArn", &arn)]);
}

#[test]
fn quotas_are_aws_defaults() {
    let f = Fixture::new();
    f.create_role("q");
    for i in 0..10 {
        let arn = format!("arn:aws:iam::aws:policy/P{i}");
        f.ok(&[
            ("Action", "AttachRolePolicy"),
            ("RoleName", "q"),
            ("PolicyArn", &arn),
        ]);
    }
    let e = f.err(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "q"),
        ("PolicyArn", "arn:aws:iam::aws:policy/P10"),
    ]);
    assert_eq!((e.kind, e.status), ("LimitExceeded", 409));
    let half = format!(
        r#"{{"Statement":{{"Effect":"Allow","Action":"*","Resource":"*","Sid":"{}"}}}}"#,
        "a".repeat(6000)
    );
    f.ok(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "q"),
        ("PolicyName", "one"),
        ("PolicyDocument", &half),
    ]);
    f.ok(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "q"),
        ("PolicyName", "one"),
        ("PolicyDocument", &half),
    ]);
    let e = f.err(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "q"),
        ("PolicyName", "two"),
        ("PolicyDocument", &half),
    ]);
    assert_eq!(e.kind, "LimitExceeded");
    let huge = half.replace(&"a".repeat(6000), &"a".repeat(6200));
    let e = f.err(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "huge"),
        ("PolicyDocument", &huge),
    ]);
    assert_eq!(e.kind, "LimitExceeded");
}

#[test]
fn sts_identity_and_assume_role() {
    let f = Fixture::new();
    let x = f
        .call(
            "sts",
            &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
        )
        .unwrap();
    assert_eq!(
        x,
        format!("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:root</Arn><UserId>{ACCOUNT}</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
    );
    let created = f.create_role("deployer");
    let role_id = text(&created, "RoleId");
    let role_arn = text(&created, "Arn");
    let x = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &role_arn),
                ("RoleSessionName", "ci"),
            ],
        )
        .unwrap();
    let key = text(&x, "AccessKeyId");
    assert!(key.starts_with("ASIA") && key.len() == 20, "{key}");
    assert_eq!(text(&x, "SecretAccessKey").len(), 40);
    assert_eq!(text(&x, "AssumedRoleId"), format!("{role_id}:ci"));
    assert_eq!(
        text(&x, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci")
    );
    assert!(text(&x, "Expiration").ends_with('Z'));

    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-amz-security-token",
        text(&x, "SessionToken").parse().unwrap(),
    );
    let me = f
        .answer("sts", "GetCallerIdentity", &Params::default(), &headers)
        .unwrap();
    assert_eq!(
        text(&me, "Arn"),
        format!("arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci")
    );
    assert_eq!(text(&me, "UserId"), format!("{role_id}:ci"));

    let ghost = format!("arn:aws:iam::{ACCOUNT}:role/never-created");
    let x = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &ghost),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "43200"),
            ],
        )
        .unwrap();
    assert!(text(&x, "AssumedRoleId").starts_with("AROA"));
    let e = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &role_arn),
                ("RoleSessionName", "s1"),
                ("DurationSeconds", "7200"),
            ],
        )
        .unwrap_err();
    assert_eq!((e.kind, e.status), ("ValidationError", 400));
    let e = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", "arn:aws:s3:::not-a-role-at-all"),
                ("RoleSessionName", "s1"),
            ],
        )
        .unwrap_err();
    assert_eq!(e.kind, "ValidationError");
    let e = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &ghost),
                ("RoleSessionName", "x"),
            ],
        )
        .unwrap_err();
    assert!(e.message.contains("'roleSessionName'"), "{}", e.message);
    let e = f
        .call(
            "sts",
            &[
                ("Action", "AssumeRole"),
                ("RoleArn", &ghost),
                ("RoleSessionName", "ok"),
                ("Policy", "nope"),
            ],
        )
        .unwrap_err();
    assert_eq!(e.kind, "MalformedPolicyDocument");
    let e = f.call("sts", &[("Action", "CreateRole")]).unwrap_err();
    assert_eq!(e.kind, "InvalidAction");
}

#[test]
fn state_survives_a_reopen() {
    let mut f = Fixture::new();
    let created = f.create_role("durable");
    f.ok(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "durable"),
        ("PolicyName", "p"),
        ("PolicyDocument", POLICY),
    ]);
    f.ok(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "durable"),
        ("PolicyArn", "arn:aws:iam::aws:policy/ReadOnlyAccess"),
    ]);
    f.ok(&[
        ("Action", "CreatePolicy"),
        ("PolicyName", "kept"),
        ("PolicyDocument", POLICY),
    ]);
    f.reopen();
    let got = f.ok(&[("Action", "GetRole"), ("RoleName", "durable")]);
    assert_eq!(text(&got, "RoleId"), text(&created, "RoleId"));
    assert_eq!(text(&got, "CreateDate"), text(&created, "CreateDate"));
    let x = f.ok(&[("Action", "ListRolePolicies"), ("RoleName", "durable")]);
    assert_eq!(texts(&x, "member"), vec!["p"]);
    let x = f.ok(&[
        ("Action", "ListAttachedRolePolicies"),
        ("RoleName", "durable"),
    ]);
    assert_eq!(texts(&x, "PolicyName"), vec!["ReadOnlyAccess"]);
    f.ok(&[
        ("Action", "GetPolicy"),
        ("PolicyArn", &format!("arn:aws:iam::{ACCOUNT}:policy/kept")),
    ]);
}
