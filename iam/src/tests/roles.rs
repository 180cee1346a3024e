//! Roles, their tags and inline policies, paging.

use super::{decoded, text, texts, Fixture, ACCOUNT, POLICY, TRUST};

#[test]
fn create_role_replies_as_aws() {
    let f = Fixture::new();
    let x = f.ok(&[
        ("Action", "CreateRole"),
        ("Version", "2010-05-08"),
        ("RoleName", "lambda-exec"),
        ("Path", "/service-role/"),
        ("AssumeRolePolicyDocument", TRUST),
        ("Description", "runs <functions> & more"),
        ("Tags.member.1.Key", "team"),
        ("Tags.member.1.Value", "data"),
    ]);
    assert!(x.starts_with(
        "<CreateRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><CreateRoleResult><Role><Path>/service-role/</Path><RoleName>lambda-exec</RoleName><RoleId>AROA"
    ), "{x}");
    assert!(x.ends_with(
        "</Role></CreateRoleResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></CreateRoleResponse>"
    ), "{x}");
    let id = text(&x, "RoleId");
    assert_eq!(id.len(), 21);
    assert!(
        id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert_eq!(
        text(&x, "Arn"),
        format!("arn:aws:iam::{ACCOUNT}:role/service-role/lambda-exec")
    );
    let doc = text(&x, "AssumeRolePolicyDocument");
    assert!(doc.starts_with("%7B%22Version%22"), "{doc}");
    assert_eq!(decoded(&doc), TRUST);
    assert_eq!(text(&x, "Description"), "runs <functions> & more");
    assert_eq!(text(&x, "MaxSessionDuration"), "3600");
    let created = text(&x, "CreateDate");
    assert_eq!(created.len(), 20, "{created}");
    assert!(
        created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "{created}"
    );
    assert_eq!(texts(&x, "Key"), vec!["team"]);

    let got = f.ok(&[("Action", "GetRole"), ("RoleName", "LAMBDA-EXEC")]);
    assert_eq!(text(&got, "RoleId"), id);
    assert_eq!(text(&got, "RoleName"), "lambda-exec");
    assert!(got.contains("<RoleLastUsed/>"), "{got}");
}

#[test]
fn role_errors_are_aws_codes() {
    let f = Fixture::new();
    f.create_role("r1");
    let e = f.err(&[
        ("Action", "CreateRole"),
        ("RoleName", "R1"),
        ("AssumeRolePolicyDocument", TRUST),
    ]);
    assert_eq!((e.kind, e.status), ("EntityAlreadyExists", 409));
    assert_eq!(e.message, "Role with name R1 already exists.");

    let e = f.err(&[("Action", "GetRole"), ("RoleName", "nope")]);
    assert_eq!((e.kind, e.status), ("NoSuchEntity", 404));
    assert_eq!(e.message, "The role with name nope cannot be found.");

    let e = f.err(&[
        ("Action", "CreateRole"),
        ("RoleName", "bad name!"),
        ("Path", "nopath"),
        ("AssumeRolePolicyDocument", TRUST),
        ("MaxSessionDuration", "60"),
    ]);
    assert_eq!((e.kind, e.status), ("ValidationError", 400));
    assert!(
        e.message.starts_with("3 validation errors detected: "),
        "{}",
        e.message
    );
    assert!(e.message.contains("Value 'bad name!' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+"), "{}", e.message);
    assert!(e.message.contains("at 'path'") && e.message.contains("at 'maxSessionDuration'"));

    let e = f.err(&[("Action", "CreateRole"), ("RoleName", "r2")]);
    assert_eq!(e.kind, "ValidationError");
    assert!(
        e.message
            .contains("Value null at 'assumeRolePolicyDocument'"),
        "{}",
        e.message
    );

    let long = "r".repeat(65);
    let e = f.err(&[("Action", "GetRole"), ("RoleName", &long)]);
    assert!(e
        .message
        .contains("Member must have length less than or equal to 64"));

    for doc in ["not json", "[]", "{}"] {
        let e = f.err(&[
            ("Action", "CreateRole"),
            ("RoleName", "r3"),
            ("AssumeRolePolicyDocument", doc),
        ]);
        assert_eq!(
            (e.kind, e.status),
            ("MalformedPolicyDocument", 400),
            "{doc}"
        );
    }
    let big = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Sid":"{}"}}]}}"#,
        "x".repeat(2048)
    );
    let e = f.err(&[
        ("Action", "CreateRole"),
        ("RoleName", "r3"),
        ("AssumeRolePolicyDocument", &big),
    ]);
    assert_eq!((e.kind, e.status), ("LimitExceeded", 409));
    assert!(e.message.contains("ACLSizePerRole"));
    let e = f.err(&[
        ("Action", "CreateRole"),
        ("RoleName", "r3"),
        ("AssumeRolePolicyDocument", TRUST),
        ("Tags.member.1.Key", "a"),
        ("Tags.member.1.Value", "1"),
        ("Tags.member.2.Key", "A"),
        ("Tags.member.2.Value", "2"),
    ]);
    assert_eq!((e.kind, e.status), ("InvalidInput", 400));
}

#[test]
fn delete_role_waits_for_its_policies() {
    let f = Fixture::new();
    f.create_role("app");
    f.ok(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "app"),
        ("PolicyName", "inline"),
        ("PolicyDocument", POLICY),
    ]);
    let e = f.err(&[("Action", "DeleteRole"), ("RoleName", "app")]);
    assert_eq!((e.kind, e.status), ("DeleteConflict", 409));
    assert_eq!(
        e.message,
        "Cannot delete entity, must delete policies first."
    );
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    f.ok(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "app"),
        ("PolicyArn", admin),
    ]);
    f.ok(&[
        ("Action", "AttachRolePolicy"),
        ("RoleName", "app"),
        ("PolicyArn", admin),
    ]);
    let listed = f.ok(&[("Action", "ListAttachedRolePolicies"), ("RoleName", "app")]);
    assert_eq!(texts(&listed, "PolicyArn"), vec![admin]);
    assert_eq!(texts(&listed, "PolicyName"), vec!["AdministratorAccess"]);
    f.ok(&[
        ("Action", "DeleteRolePolicy"),
        ("RoleName", "app"),
        ("PolicyName", "INLINE"),
    ]);
    let e = f.err(&[("Action", "DeleteRole"), ("RoleName", "app")]);
    assert_eq!(
        e.message,
        "Cannot delete entity, must detach all policies first."
    );
    f.ok(&[
        ("Action", "DetachRolePolicy"),
        ("RoleName", "app"),
        ("PolicyArn", admin),
    ]);
    let e = f.err(&[
        ("Action", "DetachRolePolicy"),
        ("RoleName", "app"),
        ("PolicyArn", admin),
    ]);
    assert_eq!((e.kind, e.status), ("NoSuchEntity", 404));
    let x = f.ok(&[("Action", "DeleteRole"), ("RoleName", "app")]);
    assert_eq!(
        x,
        "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></DeleteRoleResponse>"
    );
    let e = f.err(&[("Action", "DeleteRole"), ("RoleName", "app")]);
    assert_eq!(e.kind, "NoSuchEntity");
}

#[test]
fn inline_policies_round_trip_url_encoded() {
    let f = Fixture::new();
    f.create_role("r");
    let spaced = "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"kinesis:*\", \"Resource\": \"*\"}\n}";
    f.ok(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "r"),
        ("PolicyName", "streams"),
        ("PolicyDocument", spaced),
    ]);
    let x = f.ok(&[
        ("Action", "GetRolePolicy"),
        ("RoleName", "r"),
        ("PolicyName", "streams"),
    ]);
    assert_eq!(text(&x, "RoleName"), "r");
    assert_eq!(text(&x, "PolicyName"), "streams");
    let doc = text(&x, "PolicyDocument");
    assert!(!doc.contains(' ') && !doc.contains('+'), "{doc}");
    assert_eq!(decoded(&doc), spaced);
    let e = f.err(&[
        ("Action", "GetRolePolicy"),
        ("RoleName", "r"),
        ("PolicyName", "nope"),
    ]);
    assert_eq!(
        (e.kind, e.message.as_str()),
        (
            "NoSuchEntity",
            "The role policy with name nope cannot be found."
        )
    );
    let e = f.err(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "r"),
        ("PolicyName", "bad"),
        ("PolicyDocument", "{\"Statement\": "),
    ]);
    assert_eq!(e.kind, "MalformedPolicyDocument");
    let e = f.err(&[
        ("Action", "PutRolePolicy"),
        ("RoleName", "ghost"),
        ("PolicyName", "p"),
        ("PolicyDocument", POLICY),
    ]);
    assert_eq!(e.kind, "NoSuchEntity");
    let names = f.ok(&[("Action", "ListRolePolicies"), ("RoleName", "r")]);
    assert_eq!(texts(&names, "member"), vec!["streams"]);
    assert_eq!(text(&names, "IsTruncated"), "false");
}

#[test]
fn lists_page_with_markers() {
    let f = Fixture::new();
    for i in 0..7 {
        f.create_role(&format!("role-{i}"));
    }
    f.ok(&[
        ("Action", "CreateRole"),
        ("RoleName", "other"),
        ("Path", "/other/"),
        ("AssumeRolePolicyDocument", TRUST),
    ]);
    let mut names = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut pairs = vec![("Action", "ListRoles"), ("MaxItems", "3")];
        if let Some(m) = &marker {
            pairs.push(("Marker", m.as_str()));
        }
        let x = f.ok(&pairs);
        pages += 1;
        let page = texts(&x, "RoleName");
        assert!(page.len() <= 3);
        names.extend(page);
        assert!(!x.contains("<Tags>") && !x.contains("RoleLastUsed"), "{x}");
        match text(&x, "IsTruncated").as_str() {
            "true" => marker = Some(text(&x, "Marker")),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "other");
    let x = f.ok(&[("Action", "ListRoles"), ("PathPrefix", "/other/")]);
    assert_eq!(texts(&x, "RoleName"), vec!["other"]);
    let e = f.err(&[("Action", "ListRoles"), ("MaxItems", "0")]);
    assert_eq!(e.kind, "ValidationError");
    let e = f.err(&[("Action", "ListRoles"), ("Marker", "%%%")]);
    assert_eq!(e.kind, "ValidationError");
}

#[test]
fn tags_update_and_untag() {
    let f = Fixture::new();
    f.create_role("t");
    f.ok(&[
        ("Action", "TagRole"),
        ("RoleName", "t"),
        ("Tags.member.1.Key", "Env"),
        ("Tags.member.1.Value", "prod"),
        ("Tags.member.2.Key", "team"),
        ("Tags.member.2.Value", "a b"),
    ]);
    f.ok(&[
        ("Action", "TagRole"),
        ("RoleName", "t"),
        ("Tags.member.1.Key", "env"),
        ("Tags.member.1.Value", "dev"),
    ]);
    let x = f.ok(&[("Action", "ListRoleTags"), ("RoleName", "t")]);
    assert_eq!(texts(&x, "Key"), vec!["env", "team"]);
    assert_eq!(texts(&x, "Value"), vec!["dev", "a b"]);
    let x = f.ok(&[
        ("Action", "ListRoleTags"),
        ("RoleName", "t"),
        ("MaxItems", "1"),
    ]);
    assert_eq!(text(&x, "IsTruncated"), "true");
    let m = text(&x, "Marker");
    let x = f.ok(&[
        ("Action", "ListRoleTags"),
        ("RoleName", "t"),
        ("Marker", &m),
    ]);
    assert_eq!(texts(&x, "Key"), vec!["team"]);
    f.ok(&[
        ("Action", "UntagRole"),
        ("RoleName", "t"),
        ("TagKeys.member.1", "ENV"),
        ("TagKeys.member.2", "absent"),
    ]);
    let x = f.ok(&[("Action", "GetRole"), ("RoleName", "t")]);
    assert_eq!(texts(&x, "Key"), vec!["team"]);
    let many: Vec<(String, String)> = (1..=50)
        .flat_map(|i| {
            [
                (format!("Tags.member.{i}.Key"), format!("k{i}")),
                (format!("Tags.member.{i}.Value"), String::new()),
            ]
        })
        .collect();
    let mut pairs: Vec<(&str, &str)> = vec![("Action", "TagRole"), ("RoleName", "t")];
    pairs.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let e = f.err(&pairs);
    assert_eq!((e.kind, e.status), ("LimitExceeded", 409));
    let e = f.err(&[("Action", "TagRole"), ("RoleName", "t")]);
    assert_eq!(e.kind, "ValidationError");
    let e = f.err(&[
        ("Action", "UntagRole"),
        ("RoleName", "ghost"),
        ("TagKeys.member.1", "x"),
    ]);
    assert_eq!(e.kind, "NoSuchEntity");
}

#[test]
fn update_role_and_trust_policy() {
    let f = Fixture::new();
    f.create_role("u");
    let x = f.ok(&[
        ("Action", "UpdateRole"),
        ("RoleName", "u"),
        ("Description", "new"),
        ("MaxSessionDuration", "7200"),
    ]);
    assert!(x.contains("<UpdateRoleResult/>"), "{x}");
    let other = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"firehose.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    f.ok(&[
        ("Action", "UpdateAssumeRolePolicy"),
        ("RoleName", "u"),
        ("PolicyDocument", other),
    ]);
    let x = f.ok(&[("Action", "GetRole"), ("RoleName", "u")]);
    assert_eq!(text(&x, "Description"), "new");
    assert_eq!(text(&x, "MaxSessionDuration"), "7200");
    assert_eq!(decoded(&text(&x, "AssumeRolePolicyDocument")), other);
    let e = f.err(&[
        ("Action", "UpdateRole"),
        ("RoleName", "u"),
        ("MaxSessionDuration", "50000"),
    ]);
    assert_eq!(e.kind, "ValidationError");
    let e = f.err(&[
        ("Action", "UpdateAssumeRolePolicy"),
        ("RoleName", "u"),
        ("PolicyDocument", "nope"),
    ]);
    assert_eq!(e.kind, "MalformedPolicyDocument");
    let e = f.err(&[("Action", "UpdateRole"), ("RoleName", "ghost")]);
    assert_eq!(e.kind, "NoSuchEntity");
}
